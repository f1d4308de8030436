"""On SQLite, writers of one process queue on a lock instead of SQLite's sleeping busy
handler; however a transaction ends, the next writer goes on."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import LoginEvent
from tests.conftest import InstalledTenant


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the writer lock exists on SQLite only")


def event(tenant: InstalledTenant, outcome: str = "success") -> dict[str, object]:
    return {"tenant_id": tenant.tenant_id, "outcome": outcome, "purpose": "login"}


async def write(
    session: async_sessionmaker[AsyncSession], tenant: InstalledTenant, *, hold: float = 0.0
) -> None:
    async with session() as s:
        await s.execute(insert(LoginEvent), event(tenant))
        await asyncio.sleep(hold)  # keep the transaction (and the write lock) open a while
        await s.commit()


async def test_concurrent_writers_all_succeed(
    sqlite_only: None, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    await asyncio.gather(*(write(session, tenant, hold=0.005) for _ in range(20)))
    async with session() as s:
        assert await s.scalar(select(func.count()).select_from(LoginEvent)) == 20


@pytest.mark.parametrize("ending", ["rollback", "close", "error"])
async def test_the_lock_is_released_however_a_transaction_ends(
    sqlite_only: None,
    tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
    ending: str,
) -> None:
    s = session()
    await s.execute(insert(LoginEvent), event(tenant))
    if ending == "rollback":
        await s.rollback()
    elif ending == "error":
        with pytest.raises(IntegrityError):
            await s.execute(insert(LoginEvent), {**event(tenant), "tenant_id": "no-such-tenant"})
        await s.rollback()
    await s.close()
    # A leaked lock would hold the next writer for the full 30 s timeout.
    await asyncio.wait_for(write(session, tenant), timeout=5)


async def test_a_waiting_writer_goes_on_when_the_first_commits(
    sqlite_only: None, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    async with session() as first:
        await first.execute(insert(LoginEvent), event(tenant))
        second = asyncio.create_task(write(session, tenant))
        await asyncio.sleep(0.2)
        assert not second.done()  # queued behind the open transaction
        await first.commit()
    await asyncio.wait_for(second, timeout=5)


async def test_returning_a_connection_uses_the_current_pool_event_signatures(
    sqlite_only: None, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    # A listener in SQLAlchemy's deprecated form warns on every return of a connection; under
    # the test suite's warnings-as-errors that made the pool discard each connection instead.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await write(session, tenant)
        s = session()
        await s.execute(insert(LoginEvent), event(tenant))
        await s.close()  # returned mid-transaction: the pool resets it
    assert [str(w.message) for w in caught] == []
