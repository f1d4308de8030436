"""Every SQL statement about form submissions: a portal form reaches Jira once.

Each rendered form carries a random token (``new_token``). Before Jira is asked, the post
claims the token; a second post of the same form then finds the claim and is sent to the
request the first one raised, or told it is on its way. A post that fails gives its claim
back, so the customer can send the form again; a claim left by a post that died half-way is
taken over after ``ABANDONED_AFTER``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import OpenSession, insert_for
from app.idps.repository import digest
from app.models import FormSubmission, table_of

ABANDONED_AFTER = timedelta(minutes=2)  # far beyond what Jira's calls may take (see jsm/)
KEPT_FOR = timedelta(days=1)
_SUBMISSIONS = table_of(FormSubmission)


def new_token() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Claim:
    """What a post may do: go ahead (``ours``), go to the request it already raised
    (``request_key``), or wait for the post before it (neither)."""

    ours: bool
    request_key: str | None = None


async def claim(open_session: OpenSession, tenant_id: str, token: str, *, now: datetime) -> Claim:
    """Claim the form's token in a short transaction of its own, committed at once: the same
    form posted again, on this instance or another, must see the claim while this post is
    still with Jira (the request's own session commits only when the request is done)."""
    async with open_session() as session:
        result = await _claim(session, tenant_id, digest(token), now=now)
        await session.commit()
        return result


async def _claim(session: AsyncSession, tenant_id: str, token_hash: str, *, now: datetime) -> Claim:
    inserted = await session.execute(
        insert_for(session)(_SUBMISSIONS)
        .values(token_hash=token_hash, tenant_id=tenant_id, created_at=now)
        .on_conflict_do_nothing(index_elements=[_SUBMISSIONS.c.token_hash])
        # A row back, not rowcount: psycopg reports no rowcount for an INSERT.
        .returning(_SUBMISSIONS.c.token_hash)
    )
    if inserted.first() is not None:
        return Claim(ours=True)
    row = (
        await session.execute(
            select(_SUBMISSIONS.c.created_at, _SUBMISSIONS.c.request_key).where(
                _SUBMISSIONS.c.tenant_id == tenant_id, _SUBMISSIONS.c.token_hash == token_hash
            )
        )
    ).one_or_none()
    if row is None:  # another tenant's token: not this form
        return Claim(ours=False)
    if row.request_key is not None:
        return Claim(ours=False, request_key=row.request_key)
    if row.created_at > now - ABANDONED_AFTER:
        return Claim(ours=False)
    taken = await session.execute(
        update(_SUBMISSIONS)
        .where(
            _SUBMISSIONS.c.token_hash == token_hash,
            _SUBMISSIONS.c.created_at == row.created_at,
            _SUBMISSIONS.c.request_key.is_(None),
        )
        .values(created_at=now)
    )
    return Claim(ours=taken.rowcount == 1)  # type: ignore[attr-defined]


async def finish(session: AsyncSession, tenant_id: str, token: str, *, request_key: str) -> None:
    await session.execute(
        update(_SUBMISSIONS)
        .where(_SUBMISSIONS.c.tenant_id == tenant_id, _SUBMISSIONS.c.token_hash == digest(token))
        .values(request_key=request_key)
    )


async def give_back(open_session: OpenSession, tenant_id: str, token: str) -> None:
    """The post failed: the form may be sent again (its own transaction, like the claim)."""
    async with open_session() as session:
        await session.execute(
            delete(_SUBMISSIONS).where(
                _SUBMISSIONS.c.tenant_id == tenant_id, _SUBMISSIONS.c.token_hash == digest(token)
            )
        )
        await session.commit()


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    """Submissions older than ``KEPT_FOR`` (the housekeeping purge)."""
    result = await session.execute(
        delete(FormSubmission).where(FormSubmission.created_at < now - KEPT_FOR)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
