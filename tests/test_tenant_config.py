"""Logins read a tenant's IdPs and settings from a per-process cache; every admin change
(and nothing that is rolled back) takes effect on the next request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.models import IdentityProvider
from app.tenants.cache import TenantCache
from tests.conftest import InstalledTenant, settle_tenant_cache
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import callback, create_idp, failures, login, start


@pytest.fixture
def cache(app: FastAPI) -> TenantCache:
    cache: TenantCache = app.state.services.get(TenantCache)
    if not cache.active:
        pytest.skip("on PostgreSQL the cache is active only while its LISTEN connection is up")
    return cache


async def test_logins_read_the_configuration_once(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    cache: TenantCache,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await settle_tenant_cache(cache, session)  # the IdP's creation has been announced and applied
    await start(client, tenant)
    misses = cache.misses
    for _ in range(3):
        client.cookies.clear()
        assert (await login(client, tenant, op)).status_code == 303
    assert cache.misses == misses


async def test_switching_an_idp_off_applies_to_the_next_login(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    cache: TenantCache,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await settle_tenant_cache(cache, session)
    await start(client, tenant)
    assert cache.holds(tenant_id=tenant.tenant_id)
    switched = await client.put(
        f"/api/admin/idps/{idp['id']}", headers=tenant.admin_headers(), json={"enabled": False}
    )
    assert switched.status_code == 200
    assert not cache.holds(tenant_id=tenant.tenant_id)
    assert (await client.get(f"/portal/{tenant.tenant_id}/7")).status_code == 503


async def test_a_login_started_before_the_switch_cannot_finish(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    cache: TenantCache,
) -> None:
    authorize = await start(client, tenant)
    await client.put(
        f"/api/admin/idps/{idp['id']}", headers=tenant.admin_headers(), json={"enabled": False}
    )
    response = await callback(client, op.authorize(authorize))
    assert response.status_code == 400
    assert "switched off" in response.text


async def test_deleting_and_adding_idps_apply_at_once(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    cache: TenantCache,
) -> None:
    await start(client, tenant)
    second = await create_idp(
        client,
        tenant,
        name="Second OP",
        preset="oidc",
        issuer=op.issuer,
        client_id=op.client_id,
        client_secret=op.client_secret,
    )
    picker = await client.get(f"/portal/{tenant.tenant_id}/7")
    assert picker.status_code == 200  # two IdPs: the customer chooses
    assert "Second OP" in picker.text
    deleted = await client.delete(f"/api/admin/idps/{second['id']}", headers=tenant.admin_headers())
    assert deleted.status_code == 204
    assert (await client.get(f"/portal/{tenant.tenant_id}/7")).status_code == 303


async def test_new_settings_apply_to_the_next_login(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    cache: TenantCache,
    session: async_sessionmaker[AsyncSession],
) -> None:
    assert (await login(client, tenant, op)).status_code == 303
    saved = await client.put(
        "/api/admin/settings",
        headers=tenant.admin_headers(),
        json={"allowed_email_domains": ["corp.example"]},
    )
    assert saved.status_code == 200, saved.text
    client.cookies.clear()
    refused = await login(client, tenant, op)
    assert refused.status_code == 403
    assert any("email address" in reason for reason in await failures(session))


async def test_a_rolled_back_change_evicts_nothing(
    tenant: InstalledTenant,
    client: httpx.AsyncClient,
    idp: dict[str, Any],
    app: FastAPI,
    cache: TenantCache,
) -> None:
    await settle_tenant_cache(cache, app.state.services.get(async_sessionmaker))
    await start(client, tenant)
    async with app.state.services.get(async_sessionmaker)() as session:
        row = await session.get(IdentityProvider, idp["id"])
        assert row is not None
        row.name = "Renamed"
        await session.flush()
        await session.rollback()
    assert cache.holds(tenant_id=tenant.tenant_id)


async def test_a_returning_login_runs_five_statements(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    app: FastAPI,
    cache: TenantCache,
) -> None:
    """A regression guard for the login path's cost: the state written, then spent; the
    customer's link read; the portal session and the audit row written. Nothing else."""
    assert (await login(client, tenant, op)).status_code == 303  # first login provisions
    await settle_tenant_cache(cache, app.state.services.get(async_sessionmaker))
    client.cookies.clear()
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()[:3]))

    engine = app.state.services.get(AsyncEngine).sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert (await login(client, tenant, op)).status_code == 303
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements == [
        "INSERT INTO login_states",
        "UPDATE login_states SET",
        "SELECT customer_links.tenant_id, customer_links.issuer,",
        "INSERT INTO portal_sessions",
        "INSERT INTO login_events",
    ]
