"""The whole journey on the fake Forge platform: install event, an admin adds a Cognito-style
provider through the FIT-authenticated admin API, a customer signs in through the substitute
link and is created in JSM through Bearer-authenticated calls, the hourly trigger refreshes
the token, ``preUninstall``, and then sign-ins are refused with a clear page."""

from __future__ import annotations

import html
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import CustomerLink, PortalSession
from tests.oidc.test_cognito import DOMAIN, POOL, cognito_op
from tests.support.forge_fixtures import ForgeTenant, tenant_row
from tests.support.forge_platform import FakeForge
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import DESK_ID, callback, count, start

pytestmark = pytest.mark.usefixtures("forge_jwks")


@pytest.fixture
def cognito(network: respx.MockRouter) -> HostileOP:
    provider = cognito_op()
    provider.mount(network)
    return provider


async def add_cognito(
    client: httpx.AsyncClient, forge_tenant: ForgeTenant, op: HostileOP
) -> dict[str, Any]:
    response = await client.post(
        "/api/admin/idps",
        json={
            "name": "Acme customers",
            "preset": "cognito",
            "domain": DOMAIN,
            "user_pool_id": POOL,
            "client_id": op.client_id,
            "client_secret": op.client_secret,
        },
        headers=forge_tenant.headers(),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_install_configure_sign_in_refresh_and_uninstall(
    app: FastAPI,
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    cognito: HostileOP,
    session: async_sessionmaker[AsyncSession],
) -> None:
    jira = forge_tenant.jira
    idp = await add_cognito(client, forge_tenant, cognito)
    assert idp["callback_url"].endswith(f"/oidc/{idp['id']}/callback")
    [portal] = (await client.get("/api/admin/portals", headers=forge_tenant.headers())).json()
    link = portal["substitute_link"]

    # A customer opens the substitute link and signs in at Cognito.
    location = await start(client, forge_tenant, DESK_ID)
    assert location.startswith(f"https://{DOMAIN}/oauth2/authorize?")
    signed_in = await callback(client, cognito.authorize(location))
    assert signed_in.status_code == 303, signed_in.text
    [account] = [a for a in jira.accounts.values() if a.email == "grace@example.com"]
    assert account.account_id in jira.desks[DESK_ID].customers
    assert jira.count("POST", "/rest/servicedeskapi/customer") == 1
    assert await count(session, CustomerLink, tenant_id=forge_tenant.tenant_id) == 1
    portal_page = await client.get(link.removeprefix("https://sso.example.test"))
    assert portal_page.status_code == 200
    assert "IT Help" in portal_page.text

    # Hours later, the scheduled trigger brings a fresh token; Jira calls use it.
    before = await tenant_row(session, forge_tenant.tenant_id)
    fresh = forge.app_token(forge_tenant.site, lifetime=4 * 3600)
    refreshed = await client.post(
        "/forge/token-refresh", json={}, headers=forge.headers(forge_tenant.site, app_token=fresh)
    )
    assert refreshed.status_code == 200
    after = await tenant_row(session, forge_tenant.tenant_id)
    assert after.app_token_expires_at > before.app_token_expires_at  # type: ignore[operator]
    forge.issued_tokens[forge_tenant.site.cloud_id] = {
        fresh: forge.issued_tokens[forge_tenant.site.cloud_id][fresh]
    }
    listed = await client.get("/api/admin/portals", headers=forge_tenant.headers(token=False))
    assert listed.status_code == 200, listed.text

    # The admin uninstalls the app: sign-ins are refused with a page, nothing provisioned.
    gone = await client.post(
        "/forge/pre-uninstall", json={}, headers=forge.headers(forge_tenant.site)
    )
    assert gone.status_code == 200
    customers = jira.count("POST", "/rest/servicedeskapi/customer")
    other_browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=str(client.base_url)
    )
    async with other_browser:
        refused = await other_browser.get(f"/portal/{forge_tenant.tenant_id}/{DESK_ID}")
    assert refused.status_code == 404
    assert refused.headers["content-type"].startswith("text/html")
    assert "This portal link is not valid" in html.unescape(refused.text)
    assert "location" not in refused.headers
    # The signed-in customer's session no longer opens the portal either.
    assert (await client.get(link.removeprefix("https://sso.example.test"))).status_code == 404
    assert jira.count("POST", "/rest/servicedeskapi/customer") == customers
    assert await count(session, PortalSession, tenant_id=forge_tenant.tenant_id) <= 1


async def test_with_no_valid_app_token_a_customer_gets_a_page_and_nothing_is_provisioned(
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    cognito: HostileOP,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await add_cognito(client, forge_tenant, cognito)
    location = await start(client, forge_tenant, DESK_ID)  # the desk is known and cached
    await _lapse_app_token(session, forge_tenant.tenant_id)
    response = await callback(client, cognito.authorize(location))
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "hourly refresh" in html.unescape(response.text)
    assert "Traceback" not in response.text
    assert forge_tenant.jira.accounts == {}
    assert await count(session, CustomerLink) == 0
    assert await count(session, PortalSession) == 0


async def test_with_no_valid_app_token_the_service_account_is_used_when_set(
    client: httpx.AsyncClient,
    network: respx.MockRouter,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    cognito: HostileOP,
    session: async_sessionmaker[AsyncSession],
) -> None:
    forge_tenant.jira.service_account = ("svc@acme.com", "api-token-value")
    saved = await client.put(
        "/api/admin/settings",
        json={
            "jira_auth": "app",
            "service_account_email": "svc@acme.com",
            "service_account_token": "api-token-value",
        },
        headers=forge_tenant.headers(),
    )
    assert saved.status_code == 200, saved.text
    await add_cognito(client, forge_tenant, cognito)
    location = await start(client, forge_tenant, DESK_ID)
    await _lapse_app_token(session, forge_tenant.tenant_id)
    # API tokens work on the site's own URL: the fake site answers there too.
    forge_tenant.jira.base_url = forge_tenant.site.site_url
    forge_tenant.jira.mount(network)
    response = await callback(client, cognito.authorize(location))
    assert response.status_code == 303, response.text
    assert [a.email for a in forge_tenant.jira.accounts.values()] == ["grace@example.com"]


async def _lapse_app_token(session: async_sessionmaker[AsyncSession], tenant_id: str) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from app.models import Tenant
    from app.tenants.changes import announce_config_change

    async with session() as s:
        await s.execute(
            update(Tenant)
            .where(Tenant.id == tenant_id)
            .values(app_token_expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        # As the hours passing would: every cached copy of the site's row sees it.
        await announce_config_change(s, tenant_id)
        await s.commit()
