"""Purging what expired, and a tenant's data exported or deleted on request (GDPR)."""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import DatabaseUnreachableError
from app.maintenance import purge_expired, purge_forever
from app.models import CustomerLink, IdentityProvider, LoginEvent, LoginState, PortalSession, Tenant
from app.tenants.repository import delete_tenant_data, export_tenant_data
from tests.conftest import InstalledTenant
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import login, start


async def count(session: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def add_expired_login_state(
    session: async_sessionmaker[AsyncSession], tenant: InstalledTenant
) -> None:
    """A login state of the tenant's (first) IdP that expired a day ago."""
    async with session() as s:
        s.add(
            LoginState(
                state_hash="x" * 64,
                tenant_id=tenant.tenant_id,
                idp_id=(await s.scalar(select(IdentityProvider.id))),
                purpose="login",
                browser_hash="y" * 64,
                nonce="n",
                code_verifier_encrypted="v",
                expires_at=datetime.now(UTC) - timedelta(days=1),
            )
        )
        await s.commit()


@pytest.mark.usefixtures("idp")
async def test_purge_removes_only_what_expired(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    session: async_sessionmaker[AsyncSession],
) -> None:
    assert (await login(client, tenant, op)).status_code == 303  # one live session, one event
    client.cookies.clear()
    await start(client, tenant)  # one live login state
    await add_expired_login_state(session, tenant)
    async with session() as s:
        s.add(
            LoginEvent(
                tenant_id=tenant.tenant_id,
                outcome="success",
                occurred_at=datetime.now(UTC) - timedelta(days=200),
            )
        )
        await s.commit()
    assert await count(session, LoginState) == 3
    async with session() as s:
        counts = await purge_expired(s)
        await s.commit()
    assert counts["login_states"] == 1
    assert counts["login_events"] == 1
    assert counts["portal_sessions"] == 0
    assert await count(session, PortalSession) == 1
    assert await count(session, LoginEvent) == 1


@pytest.mark.usefixtures("idp")
async def test_tenants_uninstalled_beyond_retention_are_purged_with_their_data(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await login(client, tenant, op)
    async with session() as s:
        await s.execute(
            update(Tenant).values(
                installed=False, uninstalled_at=datetime.now(UTC) - timedelta(days=10)
            )
        )
        await s.commit()
        assert (await purge_expired(s))["tenants"] == 0
        await s.execute(
            update(Tenant).values(uninstalled_at=datetime.now(UTC) - timedelta(days=31))
        )
        counts = await purge_expired(s)
        await s.commit()
    assert counts["tenants"] == 1
    for model in (Tenant, IdentityProvider, CustomerLink, PortalSession, LoginEvent):
        assert await count(session, model) == 0, model


@pytest.mark.usefixtures("idp")
async def test_export_has_the_data_but_no_secret_and_delete_removes_it(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await login(client, tenant, op)
    async with session() as s:
        export = await export_tenant_data(s, tenant.tenant_id)
    text = json.dumps(export)
    assert export["tenant"]["client_key"] == tenant.client_key
    assert export["customer_links"][0]["email"] == "ada@example.com"
    assert export["identity_providers"][0]["name"] == "Example OP"
    assert tenant.shared_secret not in text
    assert op.client_secret not in text
    assert "_encrypted" not in text
    async with session() as s:
        await delete_tenant_data(s, tenant.tenant_id)
        await s.commit()
    assert await count(session, Tenant) == 0
    assert await count(session, CustomerLink) == 0


async def test_the_operator_command(
    tenant: InstalledTenant,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.cli.tenant_data import run

    monkeypatch.setenv("DATABASE_URL", database_url)
    assert await run("export", tenant.client_key) == 0
    assert json.loads(capsys.readouterr().out)["tenant"]["id"] == tenant.tenant_id
    assert await run("delete", tenant.tenant_id) == 0
    assert await run("export", tenant.tenant_id) == 1


@pytest.mark.usefixtures("idp")
@pytest.mark.parametrize(
    "failure",
    [
        OperationalError("SELECT 1", {}, ConnectionError("the database is restarting")),
        # asyncpg's refusal, as the engine's connect hook raises it.
        DatabaseUnreachableError("ConnectionRefusedError: the database is restarting"),
    ],
)
async def test_the_background_task_purges_each_interval_and_outlives_a_failed_run(
    tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
) -> None:
    await add_expired_login_state(session, tenant)
    runs = 0

    def database_down_once() -> AsyncSession:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise failure
        return session()

    task = asyncio.create_task(
        purge_forever(database_down_once, interval_seconds=0.01, uninstalled_days=30)  # type: ignore[arg-type]
    )
    try:
        for _ in range(300):
            if await count(session, LoginState) == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    assert await count(session, LoginState) == 0
    assert runs >= 2
    assert "purge failed; will retry at the next interval" in caplog.text


async def test_login_activity_is_capped_per_site_keeping_the_newest(
    tenant: InstalledTenant,
    other_tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    """A site whose sign-ins all fail writes a row each: its activity is trimmed to the
    newest rows, and a quieter site keeps all of its own."""
    async with session() as s:
        for n in range(7):
            s.add(LoginEvent(tenant_id=tenant.tenant_id, outcome="failure", reason=f"busy {n}"))
            await s.flush()  # ids in the order written
        for n in range(3):
            s.add(LoginEvent(tenant_id=other_tenant.tenant_id, outcome="success", reason=f"q {n}"))
        await s.commit()
    async with session() as s:
        counts = await purge_expired(s, max_login_events=5)
        await s.commit()
    assert counts["login_events"] == 2
    async with session() as s:
        kept = (
            await s.scalars(
                select(LoginEvent.reason)
                .where(LoginEvent.tenant_id == tenant.tenant_id)
                .order_by(LoginEvent.id)
            )
        ).all()
        assert kept == [f"busy {n}" for n in range(2, 7)]
        assert await count(session, LoginEvent) == 8
