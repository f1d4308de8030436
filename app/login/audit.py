"""The login audit log: every attempt that reached the callback, with its outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LoginEvent, table_of, utcnow

# Built once, on the table: every login attempt runs it. Inline: nothing reads the new id,
# so PostgreSQL need not send it back (RETURNING).
_INSERT_EVENT = insert(table_of(LoginEvent)).inline()


async def record_login(
    session: AsyncSession,
    tenant_id: str,
    *,
    idp_id: str | None,
    idp_name: str | None,
    outcome: str,
    reason: str | None = None,
    email: str | None = None,
    subject: str | None = None,
    account_id: str | None = None,
    purpose: str = "login",
) -> None:
    await session.execute(
        _INSERT_EVENT,
        {
            "tenant_id": tenant_id,
            "idp_id": idp_id,
            "idp_name": idp_name,
            "occurred_at": utcnow(),
            "outcome": outcome,
            "reason": reason[:500] if reason else None,
            "email": email,
            "subject": subject,
            "account_id": account_id,
            "purpose": purpose,
        },
    )


# What the admin page shows of each login, read as plain rows: building ORM objects for a
# page of 50 was a tenth of the request's time (py-spy under bench/jwt.py).
_SHOWN = (
    LoginEvent.id,
    LoginEvent.occurred_at,
    LoginEvent.outcome,
    LoginEvent.reason,
    LoginEvent.email,
    LoginEvent.account_id,
    LoginEvent.idp_id,
    LoginEvent.idp_name,
    LoginEvent.purpose,
)


async def recent_logins(
    session: AsyncSession, tenant_id: str, *, limit: int = 50, before_id: int | None = None
) -> Sequence[Row[Any]]:
    """A page of the site's login activity, newest first: the columns the admin page shows."""
    query = recent_logins_query(tenant_id, limit=limit, before_id=before_id)
    return (await session.execute(query)).all()


def recent_logins_query(
    tenant_id: str, *, limit: int, before_id: int | None
) -> Select[*tuple[Any, ...]]:
    """Newest first, by id: the index on (tenant_id, id) serves it without a sort."""
    query = select(*_SHOWN).where(LoginEvent.tenant_id == tenant_id)
    if before_id is not None:
        query = query.where(LoginEvent.id < before_id)
    return query.order_by(LoginEvent.id.desc()).limit(limit)


async def purge_old_events(session: AsyncSession, *, older_than: datetime, keep: int) -> int:
    """Login activity older than ``older_than``, and each site's beyond its newest ``keep``."""
    result = await session.execute(delete(LoginEvent).where(LoginEvent.occurred_at < older_than))
    return int(result.rowcount or 0) + await _trim_login_events(session, keep=keep)  # type: ignore[attr-defined]


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
