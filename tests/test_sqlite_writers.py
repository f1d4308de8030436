"""On SQLite, writers of one process queue on a lock instead of SQLite's sleeping busy
handler; however a transaction ends, the next writer goes on."""

from __future__ import annotations

import asyncio
import random
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


async def test_a_writer_cancelled_while_waiting_ends_cancelled_and_frees_the_lock(
    sqlite_only: None, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    # Cancellation mid-statement (a shutdown, a client gone) invalidates the connection; the
    # transaction's end must then neither mask the cancellation nor keep the lock.
    first = session()
    await first.execute(insert(LoginEvent), event(tenant))  # holds the write lock
    waiting = asyncio.create_task(write(session, tenant))
    await asyncio.sleep(0.05)  # the second writer now waits for the lock
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await first.commit()
    await first.close()
    await asyncio.wait_for(write(session, tenant), 5)
    async with session() as s:
        assert await s.scalar(select(func.count()).select_from(LoginEvent)) == 2


async def test_writers_cancelled_at_any_moment_stop_and_never_keep_the_lock(
    sqlite_only: None, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    # Shutdown cancels background writers wherever they are. Cancelled as the lock was being
    # granted, a writer once swallowed the cancellation and ran on (asyncio.wait_for on 3.11).
    async def keep_writing() -> None:
        while True:
            await write(session, tenant)

    rng = random.Random(7)
    for _ in range(150):
        writers = [asyncio.create_task(keep_writing()) for _ in range(2)]
        await asyncio.sleep(rng.random() * 0.01)
        for writer in writers:
            writer.cancel()
        done, _pending = await asyncio.wait(writers, timeout=5)
        assert len(done) == 2, "a cancelled writer kept running"
        assert all(writer.cancelled() for writer in writers)
    await asyncio.wait_for(write(session, tenant), 5)  # and the lock is free
