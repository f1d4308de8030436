"""The one outbound HTTP client serves every tenant: it keeps no cookies."""

from __future__ import annotations

import httpx
import respx
from fastapi import FastAPI


async def test_cookies_set_by_one_site_never_reach_another(
    app: FastAPI, network: respx.MockRouter
) -> None:
    network.get("https://acme.atlassian.net/rest/api/3/myself").respond(
        200,
        json={},
        headers={"Set-Cookie": "tenant.session=acme-secret; Domain=.atlassian.net; Path=/; Secure"},
    )
    other = network.get("https://globex.atlassian.net/rest/api/3/myself").respond(200, json={})
    http: httpx.AsyncClient = app.state.http
    await http.get("https://acme.atlassian.net/rest/api/3/myself")
    await http.get("https://globex.atlassian.net/rest/api/3/myself")
    assert "cookie" not in other.calls.last.request.headers
    assert len(http.cookies.jar) == 0  # nothing kept, so nothing grows either
