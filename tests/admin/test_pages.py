"""The admin iframe page and what the browser is told about framing."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.conftest import InstalledTenant
from tests.support.connect_tokens import page_token


async def test_admin_page_may_be_framed_by_the_tenants_jira_only(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    token = page_token(
        client_key=tenant.client_key, secret=tenant.shared_secret, method="GET", path="/admin"
    )
    response = await client.get("/admin", params={"jwt": token})
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors https://acme.atlassian.net" in csp
    assert "script-src 'self' https://connect-cdn.atl-paas.net" in csp
    assert "'unsafe-inline'" not in csp
    assert 'src="https://connect-cdn.atl-paas.net/all.js"' in response.text
    assert 'data-api="/api/admin"' in response.text


async def test_the_rest_of_the_app_may_not_be_framed(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    for path in ("/healthz", f"/portal/{tenant.tenant_id}/signed-out", "/atlassian-connect.json"):
        response = await client.get(path)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_api_docs_only_in_development(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    assert (await client.get("/docs")).status_code == 404
    dev = create_app(settings.model_copy(update={"app_env": "development"}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=dev), base_url="https://x"
    ) as http:
        assert (await http.get("/docs")).status_code == 200
        schema = (await http.get("/openapi.json")).json()
        assert "/api/admin/idps" in schema["paths"]


async def test_private_pages_are_never_cached_and_https_is_pinned(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    portal = await client.get(f"/portal/{tenant.tenant_id}/signed-out")
    assert portal.headers["cache-control"] == "no-store"
    api = await client.get(
        "/api/admin/presets", headers={"Authorization": f"JWT {tenant.context_token()}"}
    )
    assert api.headers["cache-control"] == "no-store"
    static = await client.get("/static/portal.css")
    assert static.headers.get("cache-control") != "no-store"  # public assets may be cached
    assert portal.headers["strict-transport-security"] == "max-age=31536000"
