"""Every SQL statement about identity providers, login states and test tickets.

Queries on tenant-owned rows take the tenant id first, so isolation is visible here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import insert_for
from app.models import IdentityProvider, LoginState, SeenAssertion, TestTicket, table_of
from app.tenants.changes import announce_config_change


def digest(value: str) -> str:
    """How a secret a browser holds (state, session, form token) is stored. The same digest as
    plain UTF-8 for any text; a lone surrogate, which a caller can send, digests instead of
    raising."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


async def list_idps(
    session: AsyncSession, tenant_id: str, *, enabled_only: bool = False
) -> Sequence[IdentityProvider]:
    query = select(IdentityProvider).where(IdentityProvider.tenant_id == tenant_id)
    if enabled_only:
        query = query.where(IdentityProvider.enabled.is_(True))
    result = await session.scalars(
        query.order_by(IdentityProvider.position, IdentityProvider.created_at)
    )
    return result.all()


async def idps_of_preset(session: AsyncSession, preset: str) -> Sequence[IdentityProvider]:
    """Every site's IdPs of one preset (for the background refresh of SAML metadata)."""
    result = await session.scalars(
        select(IdentityProvider).where(IdentityProvider.preset == preset)
    )
    return result.all()


async def get_idp(session: AsyncSession, tenant_id: str, idp_id: str) -> IdentityProvider | None:
    return await session.scalar(
        select(IdentityProvider).where(
            IdentityProvider.tenant_id == tenant_id, IdentityProvider.id == idp_id
        )
    )


async def get_idp_for_callback(session: AsyncSession, idp_id: str) -> IdentityProvider | None:
    """The callback URL names only the IdP; its tenant is then checked against the state."""
    return await session.get(IdentityProvider, idp_id)


async def count_idps(session: AsyncSession, tenant_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(IdentityProvider)
        .where(IdentityProvider.tenant_id == tenant_id)
    )
    return int(count or 0)


async def next_position(session: AsyncSession, tenant_id: str) -> int:
    highest = await session.scalar(
        select(func.max(IdentityProvider.position)).where(IdentityProvider.tenant_id == tenant_id)
    )
    return (highest or 0) + 1


async def delete_idp(session: AsyncSession, tenant_id: str, idp_id: str) -> bool:
    result = await session.execute(
        delete(IdentityProvider).where(
            IdentityProvider.tenant_id == tenant_id, IdentityProvider.id == idp_id
        )
    )
    await announce_config_change(session, tenant_id)  # a bulk DELETE: the flush never sees it
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def get_login_state(session: AsyncSession, state: str) -> LoginState | None:
    return await session.get(LoginState, digest(state))


# Built once, on the table rather than the entity: the login path runs these on every login,
# and building a statement, or taking the ORM's path for it, costs more than sending it.
_STATES = table_of(LoginState)
_INSERT_STATE = insert(_STATES)
_SPEND_STATE = (
    update(_STATES)
    .where(
        _STATES.c.state_hash == bindparam("which"),
        _STATES.c.used_at.is_(None),
        _STATES.c.expires_at > bindparam("now"),
        _STATES.c.idp_id == bindparam("for_idp"),
        _STATES.c.browser_hash == bindparam("from_browser"),
    )
    .values(used_at=bindparam("spent_at"))
    .returning(*_STATES.c)
)


async def save_login_state(session: AsyncSession, **values: Any) -> None:
    await session.execute(_INSERT_STATE, values)


async def consume_login_state(
    session: AsyncSession, state_hash: str, *, idp_id: str, browser_hash: str, now: datetime
) -> LoginState | None:
    """Mark the state used and return it, in one statement, if it is unused, unexpired, for
    this IdP and from this browser; None otherwise (``check_state`` then says why).

    The returned state is a detached copy: the row is spent and nothing changes it again."""
    result = await session.execute(
        _SPEND_STATE,
        {
            "which": state_hash,
            "now": now,
            "for_idp": idp_id,
            "from_browser": browser_hash,
            "spent_at": now,
        },
    )
    row = result.one_or_none()
    return LoginState(**row._mapping) if row is not None else None


async def consume_test_ticket(
    session: AsyncSession, ticket: str, *, now: datetime
) -> TestTicket | None:
    row = await session.get(TestTicket, digest(ticket))
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    result = await session.execute(
        update(TestTicket)
        .where(TestTicket.ticket_hash == row.ticket_hash, TestTicket.used_at.is_(None))
        .values(used_at=now)
    )
    return row if result.rowcount == 1 else None  # type: ignore[attr-defined]


async def purge_expired_flows(session: AsyncSession, *, now: datetime) -> dict[str, int]:
    """Login states, test tickets and remembered SAML Assertions past their expiry."""
    states = await session.execute(delete(LoginState).where(LoginState.expires_at < now))
    tickets = await session.execute(delete(TestTicket).where(TestTicket.expires_at < now))
    seen = await session.execute(delete(SeenAssertion).where(SeenAssertion.expires_at < now))
    return {
        "login_states": int(states.rowcount or 0),  # type: ignore[attr-defined]
        "test_tickets": int(tickets.rowcount or 0),  # type: ignore[attr-defined]
        "saml_seen_assertions": int(seen.rowcount or 0),  # type: ignore[attr-defined]
    }


async def remember_assertion(
    session: AsyncSession, *, idp_id: str, assertion_id: str, expires_at: datetime
) -> bool:
    """Record a SAML Assertion as accepted; False when it was accepted before (a replay).
    One statement, so two instances receiving the same Assertion at once cannot both win."""
    insert_for_dialect = insert_for(session)
    result = await session.execute(
        insert_for_dialect(SeenAssertion)
        .values(
            assertion_hash=digest(f"{idp_id}\n{assertion_id}"),
            idp_id=idp_id,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing(index_elements=["assertion_hash"])
        # RETURNING, not rowcount: psycopg reports -1 rows for this statement.
        .returning(SeenAssertion.assertion_hash)
    )
    return result.first() is not None
