"""Announcing a change to a tenant's rows, to this process's caches and every other instance.

A write calls ``announce_tenant_change`` (a tenant row) or ``announce_config_change`` (its IdPs
or settings, where the ORM flush does not see the write) in its own transaction: on PostgreSQL
a ``NOTIFY`` goes out with that transaction and reaches every instance only if it commits; in
this process the eviction waits in the session until the commit (see ``app.tenants.cache``).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from app.models import DeskAccess, IdentityProvider, TenantSettings

CHANNEL = "portal_sso_tenants"
PENDING_EVICTIONS = "portal_sso_tenant_evictions"
_CONFIG_MODELS = (IdentityProvider, TenantSettings, DeskAccess)
# NOTIFY payloads: a tenant named by its clientKey, or by its id.
BY_KEY, BY_ID = "c:", "t:"


async def _announce(session: AsyncSession, payload: str) -> None:
    session.sync_session.info.setdefault(PENDING_EVICTIONS, set()).add(payload)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :key)"), {"channel": CHANNEL, "key": payload}
        )


async def announce_tenant_change(session: AsyncSession, client_key: str | None) -> None:
    """Call in the transaction that changes a tenant row (by its Connect clientKey; a Forge
    tenant has none and is announced by its id): evictions follow its commit."""
    if client_key is not None:
        await _announce(session, BY_KEY + client_key)


async def announce_config_change(session: AsyncSession, tenant_id: str) -> None:
    """For IdP or settings writes the ORM flush does not see (bulk UPDATE or DELETE)."""
    await _announce(session, BY_ID + tenant_id)


def watch(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    evict: Callable[[str], None] | None = None,
) -> None:
    """Announce changes made through this sessionmaker's sessions (the app's own Session
    class, never SQLAlchemy's global one): an ORM flush that writes an IdP or a tenant's
    settings announces its tenant by itself, and once a transaction commits ``evict`` gets each
    announcement it made (a rollback forgets them)."""
    session_class = sessionmaker.kw["sync_session_class"]
    event.listen(session_class, "after_flush", _announce_config_writes)
    event.listen(session_class, "after_rollback", _forget_after_rollback)

    def after_commit(session: Session) -> None:
        for payload in session.info.pop(PENDING_EVICTIONS, ()):
            if evict is not None:
                evict(payload)

    event.listen(session_class, "after_commit", after_commit)


def _announce_config_writes(session: Session, _flush_context: Any) -> None:
    """An IdP or the settings of a tenant were written: announce that tenant (the NOTIFY goes
    out with this transaction; it is delivered, and applied here, only if it commits)."""
    tenant_ids = {
        obj.tenant_id
        for obj in chain(session.new, session.dirty, session.deleted)
        if isinstance(obj, _CONFIG_MODELS)
    }
    pending = session.info.setdefault(PENDING_EVICTIONS, set())
    for tenant_id in sorted(tenant_ids):
        payload = BY_ID + tenant_id
        if payload in pending:
            continue
        pending.add(payload)
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_notify(:channel, :key)"), {"channel": CHANNEL, "key": payload}
            )


def _forget_after_rollback(session: Session) -> None:
    session.info.pop(PENDING_EVICTIONS, None)
