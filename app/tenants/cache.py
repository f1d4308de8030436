"""A per-process cache of tenant rows and tenant configuration, invalidated across instances.

Every Connect-JWT request needs the tenant's row (its secret and status), and every login its
identity providers and settings. Reading them from the database each time costs round trips;
caching them must not let an old secret work after a reinstall, nor a disabled IdP start a
login. So:

* every tenant write is followed, after its commit, by a local eviction, and on PostgreSQL by
  a ``NOTIFY`` sent in the same transaction (delivered only once it commits) to every instance.
  Tenant rows are announced explicitly (``announce_tenant_change``); any ORM flush that
  writes an ``IdentityProvider`` or ``TenantSettings`` announces its tenant by itself;
* each instance ``LISTEN``s on a dedicated connection; while that connection is down it stops
  caching and reads the database;
* a generation counter stops a read that began before an eviction from storing its (stale)
  row after it; entries also expire after a short TTL as a backstop.

Cached objects are detached snapshots shared by concurrent requests: read them, never change
them (writes go through a session's own fresh rows).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.bounded import put_bounded
from app.crypto import SecretBox
from app.db import OpenSession
from app.models import Tenant
from app.tenants import repository as tenants
from app.tenants.changes import BY_ID, BY_KEY, CHANNEL

logger = logging.getLogger(__name__)
TTL_SECONDS = 60.0
MAX_ENTRIES = 5000  # per map: tenants active within a TTL, far more than one process serves
HEARTBEAT_SECONDS = 15.0
RECONNECT_SECONDS = 2.0
# While the database is down the listener retries every RECONNECT_SECONDS: the first failure
# is logged with its trace, then one line per this many attempts (about a minute), not a
# trace every 2 s for the whole outage in every worker.
FAILURES_PER_LOG_LINE = 30
T = TypeVar("T")


class TenantCache:
    def __init__(
        self,
        *,
        distributed: bool,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        reconnect_seconds: float = RECONNECT_SECONDS,
    ) -> None:
        self._heartbeat = heartbeat_seconds
        self._reconnect = reconnect_seconds
        # On PostgreSQL other instances may write: cache only while listening.
        self._listening = not distributed
        self._entries: dict[str, tuple[float, Tenant]] = {}
        self._secrets: dict[str, str] = {}
        # By tenant id: (expiry, the tenant's clientKey, a value derived from its rows).
        self._derived: dict[str, tuple[float, str | None, Any]] = {}
        self._generation = 0
        self.hits = 0
        self.misses = 0
        self._failed_attempts = 0  # listener connections in a row that failed

    @property
    def active(self) -> bool:
        return self._listening

    @property
    def failed_attempts(self) -> int:
        """Listener connections in a row that failed (for operators and tests)."""
        return self._failed_attempts

    def holds(self, *, client_key: str | None = None, tenant_id: str | None = None) -> bool:
        """Whether a tenant's row (by clientKey) or its configuration (by id) is cached."""
        if client_key is not None:
            return client_key in self._entries
        return tenant_id in self._derived

    def holds_secret(self, tenant: Tenant) -> bool:
        """Whether ``tenant``'s decrypted shared secret is kept."""
        return tenant.shared_secret_encrypted in self._secrets

    @property
    def secrets_held(self) -> int:
        return len(self._secrets)

    async def get(self, open_session: OpenSession, client_key: str) -> Tenant | None:
        """The tenant's row; a database session is opened only when it is not cached."""
        entry = self._entries.get(client_key)
        if entry is not None and entry[0] > time.monotonic() and self._listening:
            self.hits += 1
            return entry[1]
        self.misses += 1
        generation = self._generation
        async with open_session() as session:
            tenant = await tenants.get_by_client_key(session, client_key)
            if tenant is not None:
                session.expunge(tenant)  # a detached, fully loaded snapshot, shared read-only
        if tenant is not None and self._listening and generation == self._generation:
            put_bounded(
                self._entries,
                client_key,
                (time.monotonic() + TTL_SECONDS, tenant),
                max_entries=MAX_ENTRIES,
            )
        return tenant

    def shared_secret(self, tenant: Tenant, box: SecretBox) -> str:
        """The tenant's decrypted secret, kept while its row is cached (no decryption per
        request). Keyed by the ciphertext, which a reinstall always changes."""
        encrypted = tenant.shared_secret_encrypted
        if encrypted is None or tenant.client_key is None:
            raise TypeError(f"tenant {tenant.id} is not a Connect installation")
        secret = self._secrets.get(encrypted)
        if secret is None:
            secret = box.decrypt(encrypted)
            if self._listening and self._entries.get(tenant.client_key, (0, None))[1] is tenant:
                if len(self._secrets) >= MAX_ENTRIES:
                    self._secrets.clear()
                self._secrets[encrypted] = secret
        return secret

    async def for_tenant(
        self,
        open_session: OpenSession,
        tenant_id: str,
        load: Callable[[AsyncSession], Awaitable[tuple[str | None, T] | None]],
    ) -> T | None:
        """A value built from a tenant's rows by ``load`` (which returns the tenant's clientKey
        with it, or None when there is no such tenant), cached until the tenant changes."""
        entry = self._derived.get(tenant_id)
        if entry is not None and entry[0] > time.monotonic() and self._listening:
            self.hits += 1
            value: T = entry[2]
            return value
        self.misses += 1
        generation = self._generation
        async with open_session() as session:
            loaded = await load(session)
            session.expunge_all()  # detached, fully loaded snapshots, shared read-only
        if loaded is None:
            return None
        if self._listening and generation == self._generation:
            put_bounded(
                self._derived,
                tenant_id,
                (time.monotonic() + TTL_SECONDS, loaded[0], loaded[1]),
                max_entries=MAX_ENTRIES,
            )
        return loaded[1]

    def evict(self, client_key: str | None = None) -> None:
        self._generation += 1
        self._secrets.clear()  # rare (installs, lifecycle events): simply start over
        if client_key is None:
            self._entries.clear()
            self._derived.clear()
            return
        self._entries.pop(client_key, None)
        for tenant_id in [k for k, entry in self._derived.items() if entry[1] == client_key]:
            del self._derived[tenant_id]

    def evict_tenant_id(self, tenant_id: str) -> None:
        self._generation += 1
        self._secrets.clear()
        self._derived.pop(tenant_id, None)
        for key in [k for k, (_, tenant) in self._entries.items() if tenant.id == tenant_id]:
            del self._entries[key]

    def evict_payload(self, payload: str) -> None:
        """Apply one announcement (see ``app.tenants.changes``), heard or committed here."""
        if payload.startswith(BY_ID):
            self.evict_tenant_id(payload.removeprefix(BY_ID))
        elif payload.startswith(BY_KEY):
            self.evict(payload.removeprefix(BY_KEY))
        else:
            self.evict()  # not ours to parse: forget everything rather than keep a stale row

    # --- listening (PostgreSQL) --------------------------------------------------------------
    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.evict_payload(payload)

    async def _listen(self, connection: AsyncConnection) -> None:
        """Serve from cache while this connection hears NOTIFY; return (or raise) when it is
        lost. The two PostgreSQL drivers deliver notifications in their own ways."""
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        if connection.dialect.driver == "psycopg":
            await self._listen_psycopg(driver)
        else:
            await self._listen_asyncpg(driver)

    def _start_serving(self) -> None:
        self.evict()  # anything cached before listening may be stale
        self._listening = True
        if self._failed_attempts:
            logger.warning(
                "tenant cache listener is back after %s failed attempts", self._failed_attempts
            )
            self._failed_attempts = 0

    async def _listen_psycopg(self, driver: Any) -> None:
        # psycopg hands out notifications only outside a transaction block.
        await driver.rollback()
        await driver.set_autocommit(True)
        await driver.execute(f"LISTEN {CHANNEL}")
        self._start_serving()
        while True:
            # The generator ends after a heartbeat; a lost connection raises here.
            async for notification in driver.notifies(timeout=self._heartbeat):
                self.evict_payload(notification.payload)
            # A silently dead connection would deliver no NOTIFY: prove it lives.
            async with asyncio.timeout(5):
                await driver.execute("SELECT 1")

    async def _listen_asyncpg(self, driver: Any) -> None:
        closed = asyncio.Event()
        driver.add_termination_listener(lambda _connection, event=closed: event.set())
        await driver.add_listener(CHANNEL, self._on_notify)
        self._start_serving()
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
            # cancellation that shutdown sends.
            with suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat):
                    await closed.wait()
            if closed.is_set():
                return
            # A silently dead connection would deliver no NOTIFY: prove it lives.
            async with asyncio.timeout(5):
                await driver.fetchval("SELECT 1")

    async def listen_forever(self, engine: AsyncEngine) -> None:
        """Keep a LISTEN connection open; while it is down, nothing is served from cache."""
        while True:
            try:
                async with engine.connect() as connection:
                    try:
                        await self._listen(connection)
                    finally:
                        self._listening = False
                        self.evict()
                        # A LISTEN connection carries session state and may be dead by now:
                        # never hand it back to the pool, where a request would get it next.
                        await connection.invalidate()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._listening = False
                if self._failed_attempts == 0:
                    logger.warning(
                        "tenant cache listener lost its connection; retrying", exc_info=True
                    )
                elif self._failed_attempts % FAILURES_PER_LOG_LINE == 0:
                    logger.warning(
                        "tenant cache listener still cannot connect (%s attempts): %s",
                        self._failed_attempts,
                        type(error).__name__,
                    )
                self._failed_attempts += 1
            await asyncio.sleep(self._reconnect)
