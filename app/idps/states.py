"""A sign-in flow's server-side state, whatever the protocol: created when the browser is sent
to the IdP, spent when the IdP's answer comes back (the OIDC ``state``; SAML's RelayState, with
the AuthnRequest's ID derived from it). Single use, short-lived, bound to one browser (by the
hash of its flow cookie), one tenant and one IdP; any instance can finish the flow."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import same_secret
from app.errors import LoginError, LoginStateError
from app.identity import MappedIdentity
from app.idps import repository
from app.models import LoginState

STATE_LIFETIME = timedelta(minutes=10)
Purpose = Literal["login", "test"]


@dataclass(frozen=True, slots=True)
class FlowStart:
    """Where to send the browser, and the flow cookie it must keep."""

    authorize_url: str
    browser_id: str


@dataclass(frozen=True, slots=True)
class CompletedLogin:
    """What a protocol hands the login use case once the IdP's answer is verified."""

    purpose: Purpose
    state: LoginState
    identity: MappedIdentity | None
    mapping_error: LoginError | None
    claims: dict[str, Any]
    id_token: str | None
    # Set when a Cognito test login learned the issuer (to pin on the IdP).
    learned_issuer: str | None = None
    learned_jwks_uri: str | None = None
    userinfo_used: bool = False


@dataclass(frozen=True, slots=True)
class NewState:
    state: str
    browser_id: str


async def create_state(
    session: AsyncSession,
    *,
    tenant_id: str,
    idp_id: str,
    purpose: Purpose,
    browser_id: str | None,
    service_desk_id: str | None,
    return_path: str | None,
    nonce: str = "",
    code_verifier_encrypted: str = "",
    now: datetime | None = None,
) -> NewState:
    """Store a new flow's state (the browser keeps ``browser_id`` in its flow cookie)."""
    now = now or datetime.now(UTC)
    browser_id = browser_id or secrets.token_urlsafe(32)
    state = secrets.token_urlsafe(32)
    await repository.save_login_state(
        session,
        state_hash=repository.digest(state),
        tenant_id=tenant_id,
        idp_id=idp_id,
        purpose=purpose,
        service_desk_id=service_desk_id,
        return_path=return_path,
        browser_hash=repository.digest(browser_id),
        nonce=nonce,
        code_verifier_encrypted=code_verifier_encrypted,
        created_at=now,
        expires_at=now + STATE_LIFETIME,
    )
    return NewState(state, browser_id)


class RefusedStateError(LoginStateError):
    """A state of ours, refused: it names the login (tenant, desk) it belonged to."""

    def __init__(self, message: str, *, state: LoginState) -> None:
        super().__init__(message)
        self.state = state


async def check_state(
    session: AsyncSession,
    *,
    idp_id: str,
    state: str | None,
    browser_id: str | None,
    now: datetime,
) -> LoginState:
    """Step 1: the state must be ours, fresh, unused, from this browser and for this IdP.

    The happy path is one conditional UPDATE; only a refused state is read again, to say why.
    """
    if not state:
        raise LoginStateError("the sign-in response carries no state")
    if browser_id:
        spent = await repository.consume_login_state(
            session,
            repository.digest(state),
            idp_id=idp_id,
            browser_hash=repository.digest(browser_id),
            now=now,
        )
        if spent is not None:
            return spent
    row = await repository.get_login_state(session, state)
    if row is None:
        raise LoginStateError("this sign-in link is unknown or has already been cleaned up")
    if row.used_at is not None:
        # Typically the browser's Back button after signing in: the IdP, still signed in,
        # sends the old state again. The page then offers a fresh start at the same desk.
        raise RefusedStateError("this sign-in response has already been used", state=row)
    if row.expires_at <= now:
        raise RefusedStateError("this sign-in took too long and has expired", state=row)
    if not browser_id or not same_secret(row.browser_hash, repository.digest(browser_id)):
        raise RefusedStateError("this sign-in was started in another browser", state=row)
    if row.idp_id != idp_id:
        raise RefusedStateError(
            "this sign-in response came back to the wrong identity provider", state=row
        )
    # Every condition held when read again: another request spent it in between.
    raise RefusedStateError("this sign-in response has already been used", state=row)
