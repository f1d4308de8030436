"""Rows written by two requests at once (two tabs, two instances, two admins): both must
succeed, neither may fail on the other's row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.jsm import repository
from app.models import CustomerLink
from tests.conftest import InstalledTenant


def link(tenant_id: str, *, desks: list[str], created: datetime) -> CustomerLink:
    return CustomerLink(
        tenant_id=tenant_id,
        issuer="https://op.example.test",
        subject="ada",
        account_id="qm:ada",
        email="ada@example.com",
        display_name="Ada Lovelace",
        service_desk_ids=desks,
        organizations=[],
        refreshed_at=created,
        created_at=created,
    )


async def test_two_first_logins_of_one_customer_both_save_their_link(
    tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    first_seen = datetime(2026, 1, 1, tzinfo=UTC)
    later = datetime(2026, 1, 2, tzinfo=UTC)
    async with session() as a, session() as b:
        # Both logins looked and found no link; the first writes, the second writes before
        # the first has committed (it waits on the first's row, or on SQLite's write lock).
        await repository.save_link(a, link(tenant.tenant_id, desks=["7"], created=first_seen))
        second = asyncio.create_task(
            repository.save_link(b, link(tenant.tenant_id, desks=["7", "8"], created=later))
        )
        await asyncio.sleep(0.05)
        await a.commit()
        await second
        await b.commit()
    async with session() as s:
        [saved] = (await s.scalars(select(CustomerLink))).all()
    assert saved.service_desk_ids == ["7", "8"]  # the later write
    assert saved.created_at == first_seen  # when the link was first made


async def test_two_logins_adopting_one_new_organization_agree_on_its_id(
    tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    async with session() as a, session() as b:
        kept = await repository.add_managed_organization(
            a, tenant.tenant_id, name="Acme", organization_id="11"
        )
        second = asyncio.create_task(
            repository.add_managed_organization(
                b, tenant.tenant_id, name="Acme", organization_id="12"
            )
        )
        await asyncio.sleep(0.05)
        await a.commit()
        assert kept == "11"
        assert await second == "11"  # the second login uses the organization already kept
        await b.commit()
    async with session() as s:
        assert await repository.managed_organizations(s, tenant.tenant_id) == {"Acme": "11"}


async def test_two_admins_saving_a_sites_first_settings_at_once_both_succeed(
    tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    async with session() as a, session() as b:
        first = await repository.settings_for_update(a, tenant.tenant_id)
        first.landing = "jsm_portal"
        await a.flush()
        second = asyncio.create_task(repository.settings_for_update(b, tenant.tenant_id))
        await asyncio.sleep(0.05)
        await a.commit()
        row = await second  # waited for the first admin's row, then read it
        assert row.landing == "jsm_portal"
        row.auto_create_customers = False
        await b.commit()
    async with session() as s:
        saved = await repository.get_settings(s, tenant.tenant_id)
    assert (saved.landing, saved.auto_create_customers) == ("jsm_portal", False)
