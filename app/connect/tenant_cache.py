"""A per-process cache of tenant rows for JWT verification, invalidated across instances.

Every Connect-JWT request needs the tenant's row (its secret and status). Reading it from the
database each time costs a round trip; caching it must not let an old secret work after a
reinstall. So:

* every tenant write is followed, after its commit, by a local eviction, and on PostgreSQL by
  a ``NOTIFY`` sent in the same transaction (delivered only once it commits) to every instance;
* each instance ``LISTEN``s on a dedicated connection; while that connection is down it stops
  caching and reads the database;
* a generation counter stops a read that began before an eviction from storing its (stale)
  row after it; entries also expire after a short TTL as a backstop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from contextlib import suppress
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from app.connect import tenants
from app.crypto import SecretBox
from app.db import OpenSession
from app.models import Tenant

logger = logging.getLogger(__name__)
CHANNEL = "portal_sso_tenants"
TTL_SECONDS = 60.0
HEARTBEAT_SECONDS = 15.0
_PENDING = "portal_sso_tenant_evictions"


class TenantCache:
    def __init__(self, *, distributed: bool) -> None:
        # On PostgreSQL other instances may write: cache only while listening.
        self._distributed = distributed
        self._listening = not distributed
        self._entries: dict[str, tuple[float, Tenant]] = {}
        self._secrets: dict[str, str] = {}
        self._generation = 0
        self.hits = 0
        self.misses = 0

    @property
    def active(self) -> bool:
        return self._listening

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
            self._entries[client_key] = (time.monotonic() + TTL_SECONDS, tenant)
        return tenant

    def shared_secret(self, tenant: Tenant, box: SecretBox) -> str:
        """The tenant's decrypted secret, kept while its row is cached (no decryption per
        request). Keyed by the ciphertext, which a reinstall always changes."""
        encrypted = tenant.shared_secret_encrypted
        secret = self._secrets.get(encrypted)
        if secret is None:
            secret = box.decrypt(encrypted)
            if self._listening and self._entries.get(tenant.client_key, (0, None))[1] is tenant:
                self._secrets[encrypted] = secret
        return secret

    def evict(self, client_key: str | None = None) -> None:
        self._generation += 1
        self._secrets.clear()  # rare (installs, lifecycle events): simply start over
        if client_key is None:
            self._entries.clear()
        else:
            self._entries.pop(client_key, None)

    # --- listening (PostgreSQL) --------------------------------------------------------------
    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.evict(payload or None)

    async def listen_forever(self, engine: AsyncEngine) -> None:
        """Keep a LISTEN connection open; while it is down, nothing is served from cache."""
        while True:
            try:
                async with engine.connect() as connection:
                    raw = await connection.get_raw_connection()
                    driver = raw.driver_connection
                    assert driver is not None  # noqa: S101 - asyncpg connection
                    closed = asyncio.Event()
                    driver.add_termination_listener(lambda _connection, event=closed: event.set())
                    await driver.add_listener(CHANNEL, self._on_notify)
                    self.evict()  # anything cached before listening may be stale
                    self._listening = True
                    try:
                        while True:
                            with suppress(TimeoutError):
                                await asyncio.wait_for(closed.wait(), timeout=HEARTBEAT_SECONDS)
                            if closed.is_set():
                                break
                            # A silently dead connection would deliver no NOTIFY: prove it lives.
                            await asyncio.wait_for(driver.fetchval("SELECT 1"), timeout=5)
                    finally:
                        self._listening = False
                        self.evict()
                        with suppress(Exception):
                            await driver.remove_listener(CHANNEL, self._on_notify)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._listening = False
                logger.warning("tenant cache listener lost its connection; retrying", exc_info=True)
            await asyncio.sleep(2.0)


async def announce_tenant_change(session: AsyncSession, client_key: str) -> None:
    """Call in the transaction that changes a tenant: evictions follow its commit."""
    session.sync_session.info.setdefault(_PENDING, set()).add(client_key)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :key)"), {"channel": CHANNEL, "key": client_key}
        )


_caches: weakref.WeakSet[TenantCache] = weakref.WeakSet()


def register(cache: TenantCache) -> None:
    """Evict announced tenant changes from this process's caches once their commit is done."""
    _caches.add(cache)


@event.listens_for(Session, "after_commit")
def _evict_after_commit(session: Session) -> None:
    for client_key in session.info.pop(_PENDING, ()):
        for cache in list(_caches):
            cache.evict(client_key)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
