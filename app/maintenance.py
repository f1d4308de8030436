"""Housekeeping: purge what has expired, and a tenant's data on request (GDPR)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import DATABASE_FAILURES
from app.models import (
    CustomerLink,
    FormSubmission,
    IdentityProvider,
    LoginEvent,
    LoginState,
    PersonalDataReport,
    PortalSession,
    Tenant,
    TenantSettings,
    TestTicket,
)
from app.portal import submissions
from app.tenants.changes import announce_tenant_change

logger = logging.getLogger(__name__)


# Login activity kept per site, newest first, whatever its age: a site whose sign-ins all
# fail (its own IdP, say) writes a row each, and 90 days of that at the rate limit would be
# over a hundred million rows in a database every site shares.
MAX_LOGIN_EVENTS_PER_TENANT = 100_000


async def purge_expired(
    session: AsyncSession,
    *,
    now: datetime | None = None,
    audit_retention: timedelta = timedelta(days=90),
    uninstalled_retention: timedelta = timedelta(days=30),
    max_login_events: int = MAX_LOGIN_EVENTS_PER_TENANT,
) -> dict[str, int]:
    """Delete expired login states, sessions and test tickets, old audit rows, and tenants
    uninstalled for longer than the retention (with everything they own)."""
    now = now or datetime.now(UTC)
    counts: dict[str, int] = {}
    statements: dict[str, Any] = {
        "login_states": delete(LoginState).where(LoginState.expires_at < now),
        "portal_sessions": delete(PortalSession).where(PortalSession.expires_at < now),
        "test_tickets": delete(TestTicket).where(TestTicket.expires_at < now),
        "form_submissions": submissions.expired(now),
        "login_events": delete(LoginEvent).where(LoginEvent.occurred_at < now - audit_retention),
    }
    for name, statement in statements.items():
        result = await session.execute(statement)
        counts[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    counts["login_events"] += await _trim_login_events(session, keep=max_login_events)
    stale = (
        await session.scalars(
            select(Tenant.id).where(
                Tenant.installed.is_(False), Tenant.uninstalled_at < now - uninstalled_retention
            )
        )
    ).all()
    for tenant_id in stale:
        await delete_tenant_data(session, tenant_id)
    counts["tenants"] = len(stale)
    return counts


async def _trim_login_events(session: AsyncSession, *, keep: int) -> int:
    """Delete each site's login activity beyond its newest ``keep`` rows."""
    crowded = (
        await session.scalars(
            select(LoginEvent.tenant_id).group_by(LoginEvent.tenant_id).having(func.count() > keep)
        )
    ).all()
    trimmed = 0
    for tenant_id in crowded:
        # The id of the oldest row to keep (ids grow with time).
        oldest_kept = await session.scalar(
            select(LoginEvent.id)
            .where(LoginEvent.tenant_id == tenant_id)
            .order_by(LoginEvent.id.desc())
            .offset(keep - 1)
            .limit(1)
        )
        if oldest_kept is None:
            continue
        result = await session.execute(
            delete(LoginEvent).where(LoginEvent.tenant_id == tenant_id, LoginEvent.id < oldest_kept)
        )
        trimmed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return trimmed


_OWNED = (
    FormSubmission,
    PersonalDataReport,
    LoginState,
    TestTicket,
    PortalSession,
    LoginEvent,
    CustomerLink,
    TenantSettings,
    IdentityProvider,
)


async def delete_tenant_data(session: AsyncSession, tenant_id: str) -> None:
    """Everything the app holds about a tenant, and the tenant itself."""
    from app.models import ManagedOrganization

    for model in (*_OWNED, ManagedOrganization):
        await session.execute(delete(model).where(model.tenant_id == tenant_id))
    client_key = await session.scalar(select(Tenant.client_key).where(Tenant.id == tenant_id))
    await session.execute(delete(Tenant).where(Tenant.id == tenant_id))
    if client_key is not None:
        await announce_tenant_change(session, client_key)


async def export_tenant_data(session: AsyncSession, tenant_id: str) -> dict[str, Any]:
    """The tenant's data as JSON-ready dicts; secrets are left out."""
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError(tenant_id)

    def row(obj: Any, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        values = {}
        for column in obj.__table__.columns:
            if column.name in skip or column.name.endswith("_encrypted"):
                continue
            value = getattr(obj, column.key)
            values[column.name] = value.isoformat() if isinstance(value, datetime) else value
        return values

    export: dict[str, Any] = {"tenant": row(tenant)}
    for name, model in (
        ("identity_providers", IdentityProvider),
        ("settings", TenantSettings),
        ("customer_links", CustomerLink),
        ("login_events", LoginEvent),
    ):
        rows = (await session.scalars(select(model).where(model.tenant_id == tenant_id))).all()
        export[name] = [row(item) for item in rows]
    return export


async def purge_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    interval_seconds: float,
    uninstalled_days: float,
) -> None:
    """The bounded background task: one purge per interval, each in its own transaction."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            async with sessionmaker() as session:
                counts = await purge_expired(
                    session, uninstalled_retention=timedelta(days=uninstalled_days)
                )
                await session.commit()
        except DATABASE_FAILURES:
            logger.warning("purge failed; will retry at the next interval", exc_info=True)
            continue
        if any(counts.values()):
            logger.info("purged expired data: %s", counts)
