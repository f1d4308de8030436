"""Engine and session factories; the request session commits on success, else rolls back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import URL, event, make_url
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from app.deps import services
from app.sqlite_inline import inline_connector


class DatabaseUnreachableError(Exception):
    """The database server could not be reached while connecting (refused, unreachable,
    timed out). asyncpg raises these as a plain ``OSError``, which SQLAlchemy passes on
    unwrapped; the engine's connect hook raises this instead, so that an ``OSError`` from
    anything else (a missing file, a socket outside the database) is never reported as the
    database being down."""


# What a database that is down or failing over raises.
DATABASE_FAILURES: tuple[type[Exception], ...] = (SQLAlchemyError, DatabaseUnreachableError)

OpenSession = Callable[[], AbstractAsyncContextManager[AsyncSession]]
"""Opens a session on demand (an ``async_sessionmaker``): for code that needs the database
only sometimes, such as a cache miss."""


def insert_for(session: AsyncSession) -> Callable[[Any], Any]:
    """The dialect's ``insert``, which has ``on_conflict_do_update``/``do_nothing``: one
    statement, so two requests writing the same key at once both succeed."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert
    return sqlite_insert


# A server that accepts connections but does not answer (a failover, a full backlog) held
# each request for asyncpg's default 60 s, or psycopg's 130 s; fail sooner with the 503 page.
CONNECT_TIMEOUT_SECONDS = 10


def create_engine(
    database_url: str, *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS
) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        url = make_url(database_url)
        # Statements run on the event loop, not on a thread per connection (app.sqlite_inline).
        engine = create_async_engine(
            url,
            async_creator=inline_connector(
                url.database or ":memory:", uri=url.query.get("uri") == "true"
            ),
        )
        _one_writer_at_a_time(engine)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers run beside the single writer; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL never corrupts the database; it skips the fsync per commit
            # (a power cut may lose the last commits), which bounds login throughput.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # pool_recycle instead of pre_ping: a ping is a round trip on every checkout.
    # Up to 20 connections a process, all kept: with overflow connections beyond a smaller
    # pool, every burst above it opened a connection (a PostgreSQL backend, a TLS context)
    # and closed it on return; under 32 concurrent admin reads that was 4 % of the worker's
    # time plus a backend start per request (py-spy, bench/jwt.py).
    engine = create_async_engine(
        database_url,
        pool_recycle=1800,
        pool_size=20,
        max_overflow=0,
        connect_args=_connect_timeout(make_url(database_url), connect_timeout),
    )

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as e:  # TimeoutError and ConnectionRefusedError are ones
            raise DatabaseUnreachableError(f"{type(e).__name__}: {e}") from e

    return engine


def _connect_timeout(url: URL, seconds: float) -> dict[str, Any]:
    if url.get_driver_name() == "asyncpg":
        return {"timeout": seconds}
    if "connect_timeout" in url.query:
        return {}  # the operator's own, in libpq's name
    return {"connect_timeout": int(seconds)}


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
_HOLDS_WRITE_LOCK = "portal_sso_holds_write_lock"
WRITE_LOCK_TIMEOUT_SECONDS = 30.0


def _one_writer_at_a_time(engine: AsyncEngine) -> None:
    """SQLite has one writer; the others wait in its busy handler, which sleeps in growing
    steps (up to 100 ms a time), so under concurrent logins a few waited seconds. Inside one
    process, writers instead queue on an asyncio lock, taken at a transaction's first write
    and released when it ends; SQLite's own locking still arbitrates between processes.

    As with SQLite's own lock, a request must not wait for a second connection while its
    transaction holds the write lock (read caches before writing, as the login path does)."""
    lock = asyncio.Lock()

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _take(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn.info.get(_HOLDS_WRITE_LOCK) or not statement.lstrip()[:7].upper().startswith(
            _WRITES
        ):
            return
        # Runs inside SQLAlchemy's greenlet: await_only waits on the event loop.
        await_only(_acquire())
        conn.info[_HOLDS_WRITE_LOCK] = True

    async def _acquire() -> None:
        # Not asyncio.wait_for: on Python 3.11 a cancellation that arrives as the lock is
        # granted is swallowed there, and the cancelled task runs on holding the lock.
        async with asyncio.timeout(WRITE_LOCK_TIMEOUT_SECONDS):
            await lock.acquire()

    def _release(info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_WRITE_LOCK, False):
            lock.release()

    @event.listens_for(engine.sync_engine, "commit")
    @event.listens_for(engine.sync_engine, "rollback")
    def _end(conn: Any) -> None:
        # A statement cancelled mid-way invalidates its connection (the pool's "invalidate"
        # event below has released the lock then); reading .info there would raise and mask
        # the cancellation.
        if not conn.invalidated:
            _release(conn.info)

    # A connection returned or dropped with its transaction still open ends it too. Each
    # listener has its event's exact signature: SQLAlchemy takes a two-argument `reset`
    # listener for its deprecated form and warns on every call.
    @event.listens_for(engine.sync_engine.pool, "reset")
    def _reset(_dbapi_connection: Any, record: Any, _reset_state: Any) -> None:
        _release(record.info)

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            _release(record.info)

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def _invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        _release(record.info)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions of a Session class of their own, so that what listens to their events (the
    tenant cache's announcements) listens to this sessionmaker's sessions alone."""
    session_class = type("AppSession", (Session,), {})
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=session_class)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = services(request).get(async_sessionmaker)
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": commit before the response is built, so a failed commit is a failed
# request instead of a 2xx that silently lost its writes (FastAPI's default "request" scope
# runs this exit code after the response has been sent).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
