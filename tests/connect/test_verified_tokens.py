"""A token verified once is remembered, but never beyond what its verification proved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.config import Settings
from app.connect import deps, jwt
from app.connect.jwt import TokenClaims
from app.connect.verified_tokens import VerifiedTokens
from app.tenants.cache import TenantCache
from tests.conftest import InstalledTenant, settle_tenant_cache
from tests.support.connect_tokens import page_token


def _count_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    verified: list[str] = []
    real = deps.verify_tenant_token

    def counting(token: str, **kwargs: object) -> TokenClaims:
        verified.append(token)
        return real(token, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(deps, "verify_tenant_token", counting)
    return verified


async def test_a_reused_token_is_verified_once(
    client: httpx.AsyncClient, tenant: InstalledTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified = _count_verifications(monkeypatch)
    headers = tenant.admin_headers()
    for _ in range(3):
        assert (await client.get("/api/admin/presets", headers=headers)).status_code == 200
    assert len(verified) == 1
    other = tenant.admin_headers(jti="another")
    assert (await client.get("/api/admin/presets", headers=other)).status_code == 200
    assert len(verified) == 2


async def test_a_remembered_token_still_expires(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC)
    token = tenant.context_token(exp=int(now.timestamp()) + 60)
    headers = {"Authorization": f"JWT {token}"}
    assert (await client.get("/api/admin/presets", headers=headers)).status_code == 200
    assert len(app.state.services.get(VerifiedTokens)) == 1

    later = now + timedelta(seconds=60 + app.state.services.get(Settings).jwt_leeway_seconds + 1)
    monkeypatch.setattr(jwt, "_timestamp", lambda _now: later)
    response = await client.get("/api/admin/presets", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["message"]
    assert len(app.state.services.get(VerifiedTokens)) == 0


async def test_a_remembered_page_token_is_no_context_token(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    token = page_token(
        client_key=tenant.client_key, secret=tenant.shared_secret, method="GET", path="/admin"
    )
    assert (await client.get("/admin", params={"jwt": token})).status_code == 200
    response = await client.get("/api/admin/presets", headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 401


async def test_a_remembered_token_of_a_disabled_site_is_refused(
    client: httpx.AsyncClient, tenant: InstalledTenant, app: FastAPI
) -> None:
    headers = tenant.admin_headers()
    assert (await client.get("/api/admin/presets", headers=headers)).status_code == 200
    async with app.state.services.get(async_sessionmaker)() as session:
        from app.tenants import repository as tenants

        await tenants.set_enabled(session, tenant.client_key, enabled=False)
        await session.commit()
    assert (await client.get("/api/admin/presets", headers=headers)).status_code == 401


def test_the_memo_is_bounded_oldest_first() -> None:
    memo = VerifiedTokens(max_entries=2)
    claims = TokenClaims(issuer="jira:a", subject=None, claims={})
    for token in ("t1", "t2", "t3"):
        memo.remember(token, secret_encrypted="s", expected_qsh="q", claims=claims)
    assert len(memo) == 2
    assert memo.get("t1", expected_qsh="q") is None
    assert memo.get("t3", expected_qsh="q") == ("s", claims)
    assert memo.get("t3", expected_qsh="another request") is None


async def test_a_repeated_admin_call_touches_no_database(
    client: httpx.AsyncClient, tenant: InstalledTenant, app: FastAPI
) -> None:
    if not app.state.services.get(TenantCache).active:
        pytest.skip("on PostgreSQL the cache is active only while its LISTEN connection is up")
    await settle_tenant_cache(
        app.state.services.get(TenantCache), app.state.services.get(async_sessionmaker)
    )  # install heard
    headers = tenant.admin_headers()
    assert (await client.get("/api/admin/presets", headers=headers)).status_code == 200
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    engine = app.state.services.get(AsyncEngine).sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            assert (await client.get("/api/admin/presets", headers=headers)).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements == []
