"""SQLite statements run on the event loop (app.sqlite_inline): a database locked by another
process makes a statement wait without stopping the loop, then go on; what cannot succeed by
waiting fails at once."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from app import sqlite_inline
from app.db import create_engine, create_sessionmaker


async def test_a_write_waits_for_another_process_lock_while_the_loop_runs_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    sessions = create_sessionmaker(engine)
    async with sessions() as s:
        await s.execute(text("CREATE TABLE t (n INTEGER)"))
        await s.commit()
    other = sqlite3.connect(path, check_same_thread=False)  # another process's connection
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    other.execute("INSERT INTO t VALUES (1)")
    ticks = 0

    async def loop_is_alive() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def write() -> None:
        async with sessions() as s:
            await s.execute(text("INSERT INTO t VALUES (2)"))
            await s.commit()

    ticker = asyncio.create_task(loop_is_alive())
    writer = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not writer.done()  # still waiting for the lock ...
    assert ticks >= 10  # ... while the loop serves everything else
    threading.Thread(target=other.commit).start()
    await asyncio.wait_for(writer, 5)
    ticker.cancel()
    async with sessions() as s:
        assert (await s.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all() == [1, 2]
    other.close()
    await engine.dispose()


def _failing(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


async def test_a_stale_snapshot_fails_at_once() -> None:
    calls = 0

    def statement() -> None:
        nonlocal calls
        calls += 1
        raise _failing(517)  # SQLITE_BUSY_SNAPSHOT: waiting cannot help

    with pytest.raises(sqlite3.OperationalError):
        await sqlite_inline._patiently(statement)
    assert calls == 1


async def test_a_lock_that_is_never_released_fails_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sqlite_inline, "BUSY_TIMEOUT_SECONDS", 0.2)
    calls = 0

    def statement() -> None:
        nonlocal calls
        calls += 1
        raise _failing(sqlite3.SQLITE_BUSY)

    started = asyncio.get_running_loop().time()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await sqlite_inline._patiently(statement)
    assert 0.2 <= asyncio.get_running_loop().time() - started < 1
    assert calls > 2
