"""Portal sessions: the cookie holds a random token, the database its hash and the facts.

A session belongs to one tenant and expires at a fixed time (default 8 hours) or after an
idle period (default 60 minutes), whichever comes first; expiry is checked server side.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import same_secret
from app.db import OpenSession
from app.identity import MappedIdentity
from app.idps.repository import digest
from app.models import IdentityProvider, PortalSession, table_of
from app.saml.logout import SessionHandle

# Writing last_seen_at on every page view would make every read a write; a minute is enough.
_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str


_INSERT_SESSION = insert(table_of(PortalSession))  # built once, on the table: every login runs it


async def create_session(
    session: AsyncSession,
    tenant_id: str,
    *,
    idp: IdentityProvider,
    identity: MappedIdentity,
    account_id: str,
    id_token_encrypted: str | None,
    lifetime: timedelta,
    now: datetime | None = None,
    saml_session: SessionHandle | None = None,
    claims: dict[str, Any] | None = None,
) -> NewSession:
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    await session.execute(
        _INSERT_SESSION,
        {
            "id_hash": digest(token),
            "tenant_id": tenant_id,
            "idp_id": idp.id,
            "account_id": account_id,
            "issuer": identity.issuer,
            "subject": identity.subject,
            "email": identity.email,
            "display_name": identity.display_name,
            "first_name": identity.first_name[:255] if identity.first_name else None,
            "last_name": identity.last_name[:255] if identity.last_name else None,
            "id_token_encrypted": id_token_encrypted,
            "saml_name_id": saml_session.name_id if saml_session else None,
            "saml_name_id_format": saml_session.name_id_format if saml_session else None,
            "saml_session_index": saml_session.session_index if saml_session else None,
            "claims": claims or {},
            "csrf_token": secrets.token_urlsafe(32),
            "created_at": now,
            "last_seen_at": now,
            "expires_at": now + lifetime,
        },
    )
    return NewSession(token=token)


async def load_session(
    session: AsyncSession,
    tenant_id: str,
    token: str | None,
    *,
    idle_timeout: timedelta,
    now: datetime | None = None,
) -> PortalSession | None:
    """The live session for this tenant, or None (unknown, other tenant, expired, idle)."""
    if not token:
        return None
    now = now or datetime.now(UTC)
    record = await session.get(PortalSession, digest(token))
    if record is None or not same_secret(record.tenant_id, tenant_id):
        return None
    if record.expires_at <= now or record.last_seen_at + idle_timeout <= now:
        await session.delete(record)
        return None
    return record


async def touch_session(
    open_session: OpenSession, record: PortalSession, *, now: datetime | None = None
) -> None:
    """Note that the customer is still here (for the idle timeout), at most once a minute, in
    a short transaction of its own: the request's own transaction then holds no write (on
    SQLite, the one write lock) while it waits for Jira, or while a form claims its token."""
    now = now or datetime.now(UTC)
    if now - record.last_seen_at < _TOUCH_INTERVAL:
        return
    async with open_session() as session:
        await session.execute(
            update(PortalSession)
            .where(PortalSession.id_hash == record.id_hash)
            .values(last_seen_at=now)
        )
        await session.commit()


async def end_session(
    session: AsyncSession, tenant_id: str, token: str | None
) -> PortalSession | None:
    if not token:
        return None
    record = await session.get(PortalSession, digest(token))
    if record is None or record.tenant_id != tenant_id:
        return None
    await session.execute(delete(PortalSession).where(PortalSession.id_hash == record.id_hash))
    return record


async def end_sessions_named(session: AsyncSession, idp_id: str, handle: SessionHandle) -> int:
    """End the sessions an IdP's LogoutRequest names: its NameID, and its SessionIndex when
    it gives one (else every session of that NameID at this IdP)."""
    query = delete(PortalSession).where(
        PortalSession.idp_id == idp_id, PortalSession.saml_name_id == handle.name_id
    )
    if handle.session_index:
        query = query.where(PortalSession.saml_session_index == handle.session_index)
    result = await session.execute(query)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def purge_expired_sessions(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(PortalSession).where(PortalSession.expires_at < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
