"""Login activity in the admin API: newest first, paged by id, one tenant's only."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.login.audit import record_login
from tests.conftest import InstalledTenant


async def record(session: async_sessionmaker[AsyncSession], tenant_id: str, *emails: str) -> None:
    async with session() as s:
        for email in emails:
            await record_login(
                s, tenant_id, idp_id="idp-1", idp_name="Acme", outcome="success", email=email
            )
        await s.commit()


async def test_login_activity_pages_newest_first_and_shows_one_tenant_only(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    other_tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    other = other_tenant
    await record(session, tenant.tenant_id, "a@example.com", "b@example.com")
    await record(session, other.tenant_id, "theirs@example.org")
    await record(session, tenant.tenant_id, "c@example.com")

    first = await client.get(
        "/api/admin/logins", params={"limit": 2}, headers=tenant.admin_headers()
    )
    assert first.status_code == 200
    page = first.json()
    assert [e["email"] for e in page["logins"]] == ["c@example.com", "b@example.com"]
    assert page["logins"][0]["outcome"] == "success"
    second = await client.get(
        "/api/admin/logins",
        params={"limit": 2, "before": page["next_before"]},
        headers=tenant.admin_headers(),
    )
    assert [e["email"] for e in second.json()["logins"]] == ["a@example.com"]
    assert second.json()["next_before"] is None
    theirs = await client.get("/api/admin/logins", headers=other.admin_headers())
    assert [e["email"] for e in theirs.json()["logins"]] == ["theirs@example.org"]


@pytest.mark.parametrize("before", ["99999999999999999999", "-1", "0", "abc"])
async def test_a_bad_page_cursor_is_a_clear_error(
    client: httpx.AsyncClient, tenant: InstalledTenant, before: str
) -> None:
    response = await client.get(
        "/api/admin/logins", params={"before": before}, headers=tenant.admin_headers()
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    assert "before" in response.json()["fields"]
