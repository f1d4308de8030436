"""SQLite for the async engine, run on the event loop instead of a thread per connection.

SQLAlchemy's async SQLite dialect drives aiosqlite, which runs each connection's calls on a
thread of its own: every cursor, execute, fetch, close, commit and rollback is a hand-over to
that thread and back. On this project's 2-core machine class one hand-over costs 185 µs,
while the work it carries (a ``SELECT`` by primary key on ``sqlite3``) takes 2.6 µs. A session
with one ``SELECT`` and a commit made about six of them: 1.9 ms of CPU, and under load the
worker spent more in hand-overs and GIL hand-offs than in the app (bench/RESULTS.md).

This module hands SQLAlchemy's aiosqlite adapter (``async_creator``) a connection with
aiosqlite's interface whose coroutines call ``sqlite3`` directly and return without
suspending. What that changes:

* A statement holds the event loop while SQLite runs it. The app's statements are index
  lookups and single-row writes (microseconds); the longest are the hourly purges of old
  rows, one statement each: deleting 100,000 login-activity rows took 0.2 s here, a size met
  only the first time a site's activity is cut to its cap; an hour's expired rows are few.
* SQLite's own busy handler would sleep *on the loop* while another process holds the write
  lock, so connections open with ``timeout=0`` and a statement that meets a locked database
  (``SQLITE_BUSY``) is retried here after an ``asyncio.sleep``, for the same 30 s the
  threaded driver waited. Inside one process writers already queue on an asyncio lock
  (``app.db``); this covers other processes (several workers, the CLI). ``SQLITE_BUSY``
  means the statement did nothing, so running it again is safe. Its extended forms are not
  retried: ``SQLITE_BUSY_SNAPSHOT`` (a stale read snapshot) fails at once, as it did before.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

BUSY_TIMEOUT_SECONDS = 30.0
_FIRST_WAIT, _LONGEST_WAIT = 0.001, 0.05
T = TypeVar("T")


async def _patiently(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``; while the database is locked by another process, try again later."""
    wait, deadline = _FIRST_WAIT, None
    while True:
        try:
            return call(*args)
        except sqlite3.OperationalError as e:
            if getattr(e, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
                raise
            now = asyncio.get_running_loop().time()
            deadline = deadline or now + BUSY_TIMEOUT_SECONDS
            if now >= deadline:
                raise
            await asyncio.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)


class InlineCursor:
    """aiosqlite's ``Cursor`` interface over a ``sqlite3.Cursor``."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        await _patiently(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        # Materialized: a retry must see the same rows again.
        await _patiently(self._cursor.executemany, sql, list(parameters))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> Sequence[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _RunNow:
    """Stands in for aiosqlite's queue to its thread, which SQLAlchemy's adapter uses to set
    the isolation level: runs the call at once and settles its future."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, call = item
        try:
            result = call()
        except BaseException as e:  # handed to the waiting future
            if future is not None:
                future.set_exception(e)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection:
    """The part of aiosqlite's ``Connection`` that SQLAlchemy's adapter uses, over a
    ``sqlite3.Connection``."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._tx = _RunNow()

    @property
    def _connection(self) -> sqlite3.Connection | None:
        # SQLAlchemy's adapter commits and rolls back only while this is set.
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    def cursor(self) -> InlineCursor:
        # Not a coroutine: SQLAlchemy enters what this returns (``__aenter__``), as aiosqlite's
        # awaitable context manager allows.
        return InlineCursor(self._open().cursor())

    async def commit(self) -> None:
        await _patiently(self._open().commit)

    async def rollback(self) -> None:
        self._open().rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        """Close at once (SQLAlchemy's forced termination)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def inline_connector(path: str, *, uri: bool = False) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``: a new inline connection to ``path``."""

    async def connect() -> InlineConnection:
        # check_same_thread: the pool may close a connection from the garbage collector's
        # thread at exit; every statement still runs on the loop's thread.
        connection = await _patiently(
            lambda: sqlite3.connect(path, timeout=0, check_same_thread=False, uri=uri)
        )
        return InlineConnection(connection)

    return connect
