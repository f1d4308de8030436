"""Requests from the app to Jira carry a Connect JWT whose qsh covers the path relative to
the tenant's baseUrl (which may include a context path)."""

from __future__ import annotations

import httpx
import jwt
import pytest
import respx

from app.connect.auth import ConnectJWTAuth
from app.connect.jwt import query_string_hash

SECRET = "tenant-shared-secret-of-a-realistic-length-123"


@pytest.mark.parametrize(
    ("base_url", "request_url", "expected_path"),
    [
        (
            "https://acme.atlassian.net",
            "https://acme.atlassian.net/rest/api/3/myself",
            "/rest/api/3/myself",
        ),
        (
            "https://corp.example/jira",
            "https://corp.example/jira/rest/api/3/myself",
            "/rest/api/3/myself",
        ),
    ],
)
async def test_outgoing_request_is_signed_relative_to_base_url(
    base_url: str, request_url: str, expected_path: str
) -> None:
    seen: list[httpx.Request] = []
    with respx.mock(assert_all_mocked=True) as router:
        router.get(url__startswith=request_url).mock(
            side_effect=lambda request: seen.append(request) or httpx.Response(200, json={})
        )
        auth = ConnectJWTAuth(
            app_key="app-key", client_key="jira:1", shared_secret=SECRET, base_url=base_url
        )
        async with httpx.AsyncClient(auth=auth) as http:
            await http.get(request_url, params={"query": "a b", "start": 0})
    header = seen[0].headers["Authorization"]
    assert header.startswith("JWT ")
    claims = jwt.decode(header[4:], SECRET, algorithms=["HS256"], audience="jira:1")
    assert claims["iss"] == "app-key"
    assert claims["qsh"] == query_string_hash("GET", expected_path, "query=a+b&start=0")
