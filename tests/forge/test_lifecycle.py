"""Forge calling the remote: install and upgrade events, the hourly token refresh and
``preUninstall``; each refusal with its own reason, writing nothing."""

from __future__ import annotations

import time

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import ForgeInstallation, IdentityProvider, Tenant
from tests.support.forge_fixtures import (
    ADMIN,
    ForgeTenant,
    idp_body,
    install_forge_site,
    send_install,
    site_jira,
    tenant_row,
)
from tests.support.forge_platform import FakeForge, ForgeSite, SigningKey, new_app_id, new_site
from tests.support.login_fixtures import count

pytestmark = pytest.mark.usefixtures("forge_jwks")


async def test_an_install_event_creates_the_site_with_its_token_and_url(
    forge_tenant: ForgeTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    row = await tenant_row(session, forge_tenant.tenant_id)
    assert row.platform == "forge"
    assert row.cloud_id == forge_tenant.site.cloud_id
    assert row.installation_id == forge_tenant.site.installation_id
    assert row.api_base_url == forge_tenant.site.api_base_url
    assert row.client_key is None
    assert row.app_token_encrypted is not None
    assert "eyJ" not in row.app_token_encrypted  # encrypted at rest
    # Learned after the answer, from Jira's serverInfo through the app token.
    assert row.base_url == forge_tenant.site.site_url
    assert forge_tenant.jira.count("GET", "/rest/api/3/serverInfo") == 1


async def test_a_redelivered_install_event_changes_nothing(
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    created = await client.post("/api/admin/idps", json=idp_body(), headers=forge_tenant.headers())
    assert created.status_code == 201, created.text
    links = (await client.get("/api/admin/portals", headers=forge_tenant.headers())).json()
    for _ in range(2):  # Forge retries an event up to 4 times
        again = await send_install(client, forge, forge_tenant.site)
        assert again.status_code == 200, again.text
    assert await count(session, Tenant) == 1
    assert await count(session, ForgeInstallation) == 1
    assert await count(session, IdentityProvider, tenant_id=forge_tenant.tenant_id) == 1
    after = (await client.get("/api/admin/portals", headers=forge_tenant.headers())).json()
    assert after == links
    assert links[0]["substitute_link"].endswith(f"/portal/{forge_tenant.tenant_id}/7")


async def test_the_upgraded_event_answers_ok(
    client: httpx.AsyncClient, forge: FakeForge, forge_tenant: ForgeTenant
) -> None:
    response = await client.post(
        "/forge/lifecycle",
        json=forge.lifecycle_event(forge_tenant.site, "avi:forge:upgraded:app"),
        headers=forge.headers(forge_tenant.site),
    )
    assert response.status_code == 200
    assert response.json() == {"status": "upgraded"}


async def test_an_unknown_event_type_is_refused(
    client: httpx.AsyncClient, forge: FakeForge, forge_tenant: ForgeTenant
) -> None:
    response = await client.post(
        "/forge/lifecycle",
        json=forge.lifecycle_event(forge_tenant.site, "avi:jira:created:issue"),
        headers=forge.headers(forge_tenant.site),
    )
    assert response.status_code == 422
    assert "avi:forge:installed:app" in response.json()["message"]


async def test_calls_for_an_installation_that_was_never_installed_are_refused(
    client: httpx.AsyncClient,
    forge: FakeForge,
    network: respx.MockRouter,
    session: async_sessionmaker[AsyncSession],
) -> None:
    site = new_site()
    site_jira(forge, site, network)
    for path, body in (
        ("/forge/lifecycle", forge.lifecycle_event(site, "avi:forge:upgraded:app")),
        ("/forge/token-refresh", {}),
        ("/forge/pre-uninstall", {}),
    ):
        response = await client.post(
            path, json=body, headers=forge.headers(site, app_token=forge.app_token(site))
        )
        assert response.status_code == 401, path
        assert response.json()["message"] == "this installation is not known to Portal SSO"
    admin = await client.get("/api/admin/idps", headers=forge.headers(site, principal=ADMIN))
    assert admin.status_code == 401
    assert await count(session, Tenant) == 0


@pytest.mark.parametrize(
    "problem",
    ["another-key", "another-app", "expired", "api-host", "no-token"],
)
async def test_a_bad_invocation_token_installs_nothing(
    client: httpx.AsyncClient,
    forge: FakeForge,
    session: async_sessionmaker[AsyncSession],
    problem: str,
) -> None:
    site = new_site()
    claims = forge.fit_claims(site)
    if problem == "another-key":
        token = forge.sign(claims, key=SigningKey(kid=forge.key.kid))
    elif problem == "another-app":
        token = FakeForge(app_id=new_app_id(), keys=forge.keys).fit(site)
    elif problem == "expired":
        token = forge.sign(claims | {"exp": int(time.time()) - 60})
    elif problem == "api-host":
        claims["app"]["apiBaseUrl"] = "https://attacker.example/ex/jira/1"
        token = forge.sign(claims)
    else:
        token = ""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/forge/lifecycle", json=forge.lifecycle_event(site), headers=headers
    )
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "unauthorized"
    assert "Traceback" not in response.text
    assert await count(session, Tenant) == 0


async def test_forge_routes_do_not_exist_without_a_forge_app_id(
    app: FastAPI, client: httpx.AsyncClient, forge: FakeForge
) -> None:
    app.state.services.add(
        app.state.services.get(Settings).model_copy(update={"forge_app_id": None})
    )
    site = new_site()
    response = await client.post(
        "/forge/lifecycle", json=forge.lifecycle_event(site), headers=forge.headers(site)
    )
    assert response.status_code == 404
    admin = await client.get("/api/admin/idps", headers=forge.headers(site, principal=ADMIN))
    assert admin.status_code == 401


async def test_the_later_token_wins_and_a_call_without_one_erases_nothing(
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    site = forge_tenant.site
    long_lived = forge.app_token(site, lifetime=3 * 3600)
    response = await client.post(
        "/forge/token-refresh", json={}, headers=forge.headers(site, app_token=long_lived)
    )
    assert response.status_code == 200
    stored = await tenant_row(session, forge_tenant.tenant_id)
    # An older token (earlier expiry), from whichever route, does not replace it...
    short = forge.app_token(site, lifetime=600)
    await client.get(
        "/api/admin/idps", headers=forge.headers(site, principal=ADMIN, app_token=short)
    )
    await client.post("/forge/token-refresh", json={}, headers=forge.headers(site, app_token=short))
    # ...and a call without one never erases it.
    await client.post("/forge/token-refresh", json={}, headers=forge.headers(site))
    kept = await tenant_row(session, forge_tenant.tenant_id)
    assert kept.app_token_encrypted == stored.app_token_encrypted
    assert kept.app_token_expires_at == stored.app_token_expires_at
    # Jira is called with the kept token.
    forge.issued_tokens[site.cloud_id] = {long_lived: time.time() + 3 * 3600}
    listed = await client.get("/api/admin/portals", headers=forge.headers(site, principal=ADMIN))
    assert listed.status_code == 200, listed.text


async def test_a_token_claiming_more_than_four_hours_is_kept_for_four(
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    token = forge.app_token(forge_tenant.site, lifetime=48 * 3600)
    await client.post(
        "/forge/token-refresh", json={}, headers=forge.headers(forge_tenant.site, app_token=token)
    )
    row = await tenant_row(session, forge_tenant.tenant_id)
    assert row.app_token_expires_at is not None
    assert row.app_token_expires_at.timestamp() <= time.time() + 4 * 3600 + 5


async def test_the_site_url_is_learned_by_a_later_trigger_when_jira_refused_at_first(
    client: httpx.AsyncClient,
    forge: FakeForge,
    network: respx.MockRouter,
    session: async_sessionmaker[AsyncSession],
) -> None:
    """The app's permissions reach Jira a little after the install event: an early 401 is
    not fatal, the next trigger tries again."""
    site = new_site()
    jira = site_jira(forge, site, network)
    jira.fail("GET", "/rest/api/3/serverInfo", 401, message="not yet")
    response = await send_install(client, forge, site)
    assert response.status_code == 200
    installed = await install_forge_site(client, forge, network, session, site)
    assert (await tenant_row(session, installed.tenant_id)).base_url == site.site_url


async def test_pre_uninstall_retires_the_installation(
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    site = forge_tenant.site
    response = await client.post("/forge/pre-uninstall", json={}, headers=forge.headers(site))
    assert response.status_code == 200
    row = await tenant_row(session, forge_tenant.tenant_id)
    assert not row.installed
    assert row.app_token_encrypted is None
    # The admin API, a replayed event, and an install event for the retired id: refused.
    admin = await client.get("/api/admin/idps", headers=forge_tenant.headers())
    assert admin.status_code == 401
    assert admin.json()["message"] == "this installation was uninstalled"
    replay = await client.post("/forge/pre-uninstall", json={}, headers=forge.headers(site))
    assert replay.status_code == 401
    reinstall = await send_install(client, forge, site)
    assert reinstall.status_code == 401
    assert reinstall.json()["message"] == "this installation was uninstalled"
    assert not (await tenant_row(session, forge_tenant.tenant_id)).installed


async def test_a_new_installation_on_the_same_site_gets_its_configuration_back(
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    network: respx.MockRouter,
    session: async_sessionmaker[AsyncSession],
) -> None:
    created = await client.post("/api/admin/idps", json=idp_body(), headers=forge_tenant.headers())
    assert created.status_code == 201
    await client.post("/forge/pre-uninstall", json={}, headers=forge.headers(forge_tenant.site))
    again = ForgeSite(
        cloud_id=forge_tenant.site.cloud_id,
        installation_id=new_site().installation_id,
        site_url=forge_tenant.site.site_url,
    )
    reinstalled = await install_forge_site(client, forge, network, session, again)
    assert reinstalled.tenant_id == forge_tenant.tenant_id
    idps = await client.get("/api/admin/idps", headers=reinstalled.headers())
    assert [idp["id"] for idp in idps.json()] == [created.json()["id"]]
    # The old installation's tokens stay refused.
    old = await client.get("/api/admin/idps", headers=forge_tenant.headers())
    assert old.status_code == 401


async def test_an_uninstalled_forge_site_is_purged_after_the_retention_with_all_it_owns(
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    from datetime import UTC, datetime, timedelta

    from app.maintenance import purge_expired

    await client.post("/api/admin/idps", json=idp_body(), headers=forge_tenant.headers())
    await client.post("/forge/pre-uninstall", json={}, headers=forge.headers(forge_tenant.site))
    async with session() as s:
        kept = await purge_expired(s, now=datetime.now(UTC) + timedelta(days=29))
        await s.commit()
    assert kept["tenants"] == 0
    async with session() as s:
        purged = await purge_expired(s, now=datetime.now(UTC) + timedelta(days=31))
        await s.commit()
    assert purged["tenants"] == 1
    for model in (Tenant, IdentityProvider):
        assert await count(session, model) == 0
    # The retired installation id outlives its site's data: it stays refused for good.
    assert await count(session, ForgeInstallation) == 1
    assert (await send_install(client, forge, forge_tenant.site)).status_code == 401
    # A new installation on the same site starts afresh.
    fresh = ForgeSite(forge_tenant.site.cloud_id, new_site().installation_id, "https://x")
    assert (await send_install(client, forge, fresh)).status_code == 200


async def test_admin_calls_a_few_seconds_apart_do_not_each_rewrite_the_token(
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    """Every invokeRemote call brings a token a little younger than the last; storing each
    would make every admin read a write that evicts the site's cached configuration."""
    site = forge_tenant.site
    first = forge.app_token(site, lifetime=3600)
    await client.post("/forge/token-refresh", json={}, headers=forge.headers(site, app_token=first))
    stored = await tenant_row(session, forge_tenant.tenant_id)
    nearly_same = forge.app_token(site, lifetime=3600 + 20)
    await client.get(
        "/api/admin/idps", headers=forge.headers(site, principal=ADMIN, app_token=nearly_same)
    )
    assert (await tenant_row(session, forge_tenant.tenant_id)).app_token_encrypted == (
        stored.app_token_encrypted
    )
    later = forge.app_token(site, lifetime=3600 + 600)
    await client.get(
        "/api/admin/idps", headers=forge.headers(site, principal=ADMIN, app_token=later)
    )
    kept = await tenant_row(session, forge_tenant.tenant_id)
    assert kept.app_token_expires_at > stored.app_token_expires_at  # type: ignore[operator]


@pytest.mark.parametrize(
    "path", ["/forge/lifecycle", "/forge/token-refresh", "/forge/pre-uninstall"]
)
async def test_an_admin_page_token_cannot_reach_forges_event_endpoints(
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    session: async_sessionmaker[AsyncSession],
    path: str,
) -> None:
    """The admin page's user could aim invokeRemote at any path of the remote: its FIT (the
    admin page's module, a principal) is refused there, and nothing changes."""
    before = await tenant_row(session, forge_tenant.tenant_id)
    response = await client.post(
        path, json=forge.lifecycle_event(forge_tenant.site), headers=forge_tenant.headers()
    )
    assert response.status_code == 403
    assert response.json()["message"] == "this token belongs to the admin page, not to an event"
    after = await tenant_row(session, forge_tenant.tenant_id)
    assert after.installed
    assert after.installation_id == before.installation_id
    assert after.app_token_encrypted == before.app_token_encrypted
