"""The admin API called by the Forge admin page through ``invokeRemote``: a FIT whose
principal is a Jira administrator of the installation's site."""

from __future__ import annotations

import time

import httpx
import pytest
import respx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import IdentityProvider
from tests.support.forge_fixtures import (
    NOT_ADMIN,
    ForgeTenant,
    idp_body,
    install_forge_site,
    tenant_row,
)
from tests.support.forge_platform import FakeForge, new_site
from tests.support.login_fixtures import count

pytestmark = pytest.mark.usefixtures("forge_jwks")


async def test_an_admin_configures_the_site_through_invoke_remote(
    client: httpx.AsyncClient, forge_tenant: ForgeTenant
) -> None:
    created = await client.post("/api/admin/idps", json=idp_body(), headers=forge_tenant.headers())
    assert created.status_code == 201, created.text
    assert "client_secret" not in created.json()
    listed = await client.get("/api/admin/idps", headers=forge_tenant.headers())
    assert [idp["id"] for idp in listed.json()] == [created.json()["id"]]
    # The admin check went to Jira through the gateway, with the app token as Bearer.
    assert forge_tenant.jira.count("POST", "/rest/api/3/permissions/check") >= 1


@pytest.mark.parametrize(
    ("principal", "reason"),
    [
        (NOT_ADMIN, "only Jira administrators can configure Portal SSO"),
        (None, "the token names no user"),
    ],
    ids=["not-a-jira-admin", "no-principal"],
)
async def test_a_caller_who_is_not_a_jira_admin_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
    forge_tenant: ForgeTenant,
    session: async_sessionmaker[AsyncSession],
    principal: str | None,
    reason: str,
) -> None:
    response = await client.post(
        "/api/admin/idps", json=idp_body(), headers=forge_tenant.headers(principal=principal)
    )
    assert response.status_code == 403
    assert response.json()["message"] == reason
    assert await count(session, IdentityProvider) == 0


async def test_another_installations_objects_are_not_found(
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    network: respx.MockRouter,
    session: async_sessionmaker[AsyncSession],
) -> None:
    other = await install_forge_site(
        client, forge, network, session, new_site("https://other.atlassian.net")
    )
    theirs = await client.post("/api/admin/idps", json=idp_body(), headers=other.headers())
    idp_id = theirs.json()["id"]
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(
            method,
            f"/api/admin/idps/{idp_id}",
            json=idp_body() if method == "PUT" else None,
            headers=forge_tenant.headers(),
        )
        assert response.status_code == 404, method
    assert (await client.get("/api/admin/idps", headers=forge_tenant.headers())).json() == []
    assert await count(session, IdentityProvider, tenant_id=other.tenant_id) == 1


async def test_when_jira_refuses_the_stored_token_the_admin_is_told_why(
    client: httpx.AsyncClient, forge: FakeForge, forge_tenant: ForgeTenant
) -> None:
    """Jira stopped accepting the token (revoked, or the app uninstalled unannounced)."""
    expired = forge.app_token(forge_tenant.site, lifetime=-60)
    await client.post(
        "/forge/token-refresh",
        json={},
        headers=forge.headers(forge_tenant.site, app_token=expired),
    )
    forge.issued_tokens.clear()  # Jira accepts none of the tokens issued so far
    response = await client.get("/api/admin/idps", headers=forge_tenant.headers(token=False))
    # The token from the install event is still stored, but Jira refuses it now.
    assert response.status_code == 502
    assert "credentials" in response.json()["message"]


async def test_a_lapsed_token_is_not_used_and_the_page_says_so(
    client: httpx.AsyncClient,
    forge_tenant: ForgeTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from app.models import Tenant

    async with session() as s:
        await s.execute(
            update(Tenant)
            .where(Tenant.id == forge_tenant.tenant_id)
            .values(app_token_expires_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        await s.commit()
    calls = len(forge_tenant.jira.calls)
    response = await client.get("/api/admin/idps", headers=forge_tenant.headers(token=False))
    assert response.status_code == 503
    assert "hourly refresh" in response.json()["message"]
    assert len(forge_tenant.jira.calls) == calls  # nothing sent with a lapsed token
    # The next call that brings a token works again.
    assert (await client.get("/api/admin/idps", headers=forge_tenant.headers())).status_code == 200
    assert (
        await tenant_row(session, forge_tenant.tenant_id)
    ).app_token_expires_at.timestamp() > time.time()  # type: ignore[union-attr]
