"""The login audit log: every attempt that reached the callback, with its outcome."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select
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


async def recent_logins(
    session: AsyncSession, tenant_id: str, *, limit: int = 50, before_id: int | None = None
) -> Sequence[LoginEvent]:
    query = select(LoginEvent).where(LoginEvent.tenant_id == tenant_id)
    if before_id is not None:
        query = query.where(LoginEvent.id < before_id)
    result = await session.scalars(query.order_by(LoginEvent.id.desc()).limit(limit))
    return result.all()
