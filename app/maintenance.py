"""Housekeeping: purge what has expired, on a schedule (each statement is its table's
repository's; a site's data on request is ``app.tenants.repository``'s, for ``app.cli.tenant_data``)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import DATABASE_FAILURES
from app.idps import repository as idp_repository
from app.login import guard
from app.login.audit import purge_old_events
from app.login.sessions import purge_expired_sessions
from app.portal import submissions
from app.tenants import repository as tenants

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
    uninstalled for longer than the retention (with everything they own); each statement is
    its table's repository's."""
    now = now or datetime.now(UTC)
    counts = await idp_repository.purge_expired_flows(session, now=now)
    counts["portal_sessions"] = await purge_expired_sessions(session, now=now)
    counts["form_submissions"] = await submissions.purge_expired(session, now=now)
    counts["guard_requests"] = await guard.purge_expired(session, now=now)
    counts["login_events"] = await purge_old_events(
        session, older_than=now - audit_retention, keep=max_login_events
    )
    stale = await tenants.uninstalled_before(session, now - uninstalled_retention)
    for tenant_id in stale:
        await tenants.delete_tenant_data(session, tenant_id)
    counts["tenants"] = len(stale)
    return counts


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
