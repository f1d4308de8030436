"""Cached tenant rows never let an old secret work after a reinstall."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Callable
from typing import cast

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.crypto import SecretBox
from app.db import OpenSession, create_engine
from app.tenants.cache import FAILURES_PER_LOG_LINE, TenantCache
from tests.conftest import InstalledTenant, install_tenant, settle_tenant_cache
from tests.support.connect_tokens import InstallSigner, tenant_token


async def test_cached_tenant_serves_repeat_requests(
    client: httpx.AsyncClient, tenant: InstalledTenant, app: FastAPI
) -> None:
    cache: TenantCache = app.state.services.get(TenantCache)
    if not cache.active:
        pytest.skip("on PostgreSQL the cache is active only while its LISTEN connection is up")
    headers = {"Authorization": f"JWT {tenant.context_token()}"}
    for _ in range(3):
        assert (await client.get("/api/admin/presets", headers=headers)).status_code == 200
    assert cache.hits >= 2


async def test_reinstall_evicts_at_once(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    signer: InstallSigner,
    key_cdn: respx.Route,
    app: FastAPI,
) -> None:
    old = {"Authorization": f"JWT {tenant.context_token()}"}
    assert (await client.get("/api/admin/presets", headers=old)).status_code == 200
    new_secret = secrets.token_urlsafe(32)
    assert (
        await install_tenant(client, signer, client_key=tenant.client_key, shared_secret=new_secret)
    ).status_code == 204
    assert (await client.get("/api/admin/presets", headers=old)).status_code == 401
    tenant.jira.shared_secret = new_secret
    new = {"Authorization": f"JWT {tenant_token(client_key=tenant.client_key, secret=new_secret)}"}
    assert (await client.get("/api/admin/presets", headers=new)).status_code == 200


async def test_disable_evicts_at_once(client: httpx.AsyncClient, tenant: InstalledTenant) -> None:
    from app.connect.jwt import query_string_hash
    from tests.conftest import install_body

    headers = {"Authorization": f"JWT {tenant.context_token()}"}
    assert (await client.get("/api/admin/presets", headers=headers)).status_code == 200
    token = tenant.context_token(qsh=query_string_hash("POST", "/lifecycle/disabled"))
    await client.post(
        "/lifecycle/disabled",
        json=install_body(tenant.client_key, tenant.shared_secret),
        headers={"Authorization": f"JWT {token}"},
    )
    assert (await client.get("/api/admin/presets", headers=headers)).status_code == 401


async def test_a_read_that_raced_an_eviction_is_not_cached(
    tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    cache = TenantCache(distributed=False)

    class EvictDuringRead:
        """A session whose read is overtaken by an eviction (as a NOTIFY would)."""

        def __init__(self, inner: AsyncSession) -> None:
            self.inner = inner

        async def __aenter__(self) -> EvictDuringRead:
            await self.inner.__aenter__()
            return self

        async def __aexit__(self, *exc: object) -> None:
            await self.inner.__aexit__(*exc)

        async def execute(self, *args: object, **kwargs: object) -> object:
            result = await self.inner.execute(*args, **kwargs)  # type: ignore[arg-type]
            cache.evict(tenant.client_key)
            return result

        def expunge(self, obj: object) -> None:
            self.inner.expunge(obj)

    racing = cast(OpenSession, lambda: EvictDuringRead(session()))
    assert await cache.get(racing, tenant.client_key) is not None
    assert not cache.holds(client_key=tenant.client_key)
    assert await cache.get(session, tenant.client_key) is not None
    assert cache.holds(client_key=tenant.client_key)


async def test_cached_rows_are_read_without_a_session(
    tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    cache = TenantCache(distributed=False)
    opened = 0

    def counting() -> AsyncSession:
        nonlocal opened
        opened += 1
        return session()

    first = await cache.get(counting, tenant.client_key)
    again = await cache.get(counting, tenant.client_key)
    assert first is again
    assert opened == 1


async def test_decrypted_secret_is_kept_only_while_its_row_is_cached(
    tenant: InstalledTenant, session: async_sessionmaker[AsyncSession], app: FastAPI
) -> None:
    cache = TenantCache(distributed=False)
    box = app.state.services.get(SecretBox)
    row = await cache.get(session, tenant.client_key)
    assert row is not None
    assert cache.shared_secret(row, box) == tenant.shared_secret
    assert cache.holds_secret(row)
    assert cache.secrets_held == 1
    cache.evict(tenant.client_key)
    assert cache.secrets_held == 0
    # A row that is not the cached one (read while evicted) is decrypted, not remembered.
    assert cache.shared_secret(row, box) == tenant.shared_secret
    assert cache.secrets_held == 0


async def _wait_until(condition: Callable[[], bool], *, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - polling another task's state
            await asyncio.sleep(0.02)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A quick heartbeat: a lost listener connection is noticed within the test's patience.
    return settings.model_copy(update={"tenant_cache_heartbeat_seconds": 0.05})


async def _listener_pid(session: async_sessionmaker[AsyncSession]) -> int:
    async with session() as s:
        pids = (
            await s.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND (query LIKE 'LISTEN%' OR query = 'SELECT 1') AND pid <> pg_backend_pid()"
                )
            )
        ).all()
    assert len(pids) == 1, pids
    return int(pids[0])


async def test_a_lost_listener_stops_caching_until_it_is_back(
    app: FastAPI,
    tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    if session.kw["bind"].dialect.name != "postgresql":
        pytest.skip("the LISTEN connection exists on PostgreSQL only")
    cache: TenantCache = app.state.services.get(TenantCache)
    await _wait_until(lambda: cache.active, seconds=5)
    await asyncio.sleep(0.2)  # several heartbeats: the connection is proven alive, and kept
    assert cache.active
    async with session() as s:
        await s.execute(
            text("SELECT pg_terminate_backend(:p)"), {"p": await _listener_pid(session)}
        )
    await _wait_until(lambda: not cache.active, seconds=5)
    # Deaf to other instances' changes: every lookup goes to the database meanwhile.
    misses = cache.misses
    for _ in range(2):
        assert await cache.get(session, tenant.client_key) is not None
    assert cache.misses == misses + 2
    await _wait_until(lambda: cache.active, seconds=10)  # it reconnects by itself
    await settle_tenant_cache(cache, session)  # and hears announcements again


async def test_a_database_outage_logs_a_line_a_minute_not_a_trace_every_retry(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        engine = create_engine(f"postgresql+asyncpg://u:p@127.0.0.1:{port}/db")
        cache = TenantCache(distributed=True, reconnect_seconds=0.001)
        listener = asyncio.create_task(cache.listen_forever(engine))
        try:
            await _wait_until(lambda: cache.failed_attempts > 2 * FAILURES_PER_LOG_LINE, seconds=20)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await engine.dispose()
    lines = [r for r in caplog.records if r.name == "app.tenants.cache"]
    assert [r.getMessage().split(";")[0].split(" (")[0] for r in lines] == [
        "tenant cache listener lost its connection",
        "tenant cache listener still cannot connect",
        "tenant cache listener still cannot connect",
    ]
    assert lines[0].exc_info is not None  # the first failure has its trace
    assert all(r.exc_info is None for r in lines[1:])
    assert not cache.active


async def test_announcements_listen_to_the_apps_own_sessions_only(
    tenant: InstalledTenant, app: FastAPI
) -> None:
    """Listeners on SQLAlchemy's global Session class fired for every session in the
    process, another app's or a tool's included; they now belong to one sessionmaker."""
    from app.db import create_sessionmaker
    from app.models import TenantSettings
    from app.tenants.changes import watch

    heard: list[str] = []
    watched = create_sessionmaker(app.state.services.get(AsyncEngine))
    watch(watched, evict=heard.append)
    other = create_sessionmaker(app.state.services.get(AsyncEngine))
    async with other() as s:
        s.add(TenantSettings(tenant_id=tenant.tenant_id, landing="jsm_portal"))
        await s.commit()
    assert heard == []
    async with watched() as s:
        row = await s.get(TenantSettings, tenant.tenant_id)
        assert row is not None
        row.landing = "app_portal"
        await s.commit()
    assert heard == [f"t:{tenant.tenant_id}"]
