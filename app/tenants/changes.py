"""Announcing a change to a tenant's rows, to this process's caches and every other instance.

A write calls ``announce_tenant_change`` (a tenant row) or ``announce_config_change`` (its IdPs
or settings, where the ORM flush does not see the write) in its own transaction: on PostgreSQL
a ``NOTIFY`` goes out with that transaction and reaches every instance only if it commits; in
this process the eviction waits in the session until the commit (see ``app.tenants.cache``).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CHANNEL = "portal_sso_tenants"
PENDING_EVICTIONS = "portal_sso_tenant_evictions"
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
