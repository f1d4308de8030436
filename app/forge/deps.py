"""FastAPI dependencies for calls from Forge: the verified invocation, the tenant it is about,
and the app system token that came with it.

Every Forge route (lifecycle, triggers, ``preUninstall``) and the admin API over
``invokeRemote`` go through ``verified_invocation``; the Forge routes answer 404 while
``FORGE_APP_ID`` is unset, as if they did not exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.crypto import SecretBox
from app.deps import services
from app.errors import NotFoundError, PermissionDeniedError
from app.forge import repository
from app.forge.keys import ForgeKeys
from app.forge.tokens import (
    Invocation,
    InvocationTokenError,
    invocation_token_kid,
    verify_invocation_token,
)
from app.models import Tenant
from app.observability import set_tenant

logger = logging.getLogger(__name__)
APP_TOKEN_HEADER = "x-forge-oauth-system"  # noqa: S105 - a header name
# The admin page's modules in forge/manifest.yml. A FIT minted for them (an invokeRemote
# call) carries an admin's session, and may reach the admin API only: the page's own user
# could otherwise aim invokeRemote at an event endpoint and, say, retire the installation.
ADMIN_MODULE_KEYS = frozenset({"portal-sso-admin", "admin-api"})
# Atlassian: an app system token lives at most 4 hours (there is no refresh endpoint).
MAX_APP_TOKEN_LIFETIME = timedelta(hours=4)


@dataclass(frozen=True, slots=True)
class ForgeCall:
    invocation: Invocation
    tenant: Tenant

    @property
    def account_id(self) -> str | None:
        return self.invocation.principal


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def verified_invocation(request: Request, *, event: bool = False) -> Invocation:
    """The verified FIT of this call; with ``event``, one that Forge minted for an event or a
    trigger, not for the admin page."""
    invocation = await _verified(request)
    if event:
        context = invocation.claims.get("context")
        keys = {
            invocation.module_key,
            context.get("moduleKey") if isinstance(context, dict) else None,
        }
        if keys & ADMIN_MODULE_KEYS:
            raise PermissionDeniedError("this token belongs to the admin page, not to an event")
    return invocation


async def _verified(request: Request) -> Invocation:
    settings: Settings = services(request).get(Settings)
    if settings.forge_app_id is None:
        raise NotFoundError("Not found.")
    token = bearer_token(request)
    if token is None:
        raise InvocationTokenError("missing invocation token")
    keys: ForgeKeys = services(request).get(ForgeKeys)
    public_key = await keys.get(invocation_token_kid(token))
    return verify_invocation_token(
        token,
        public_key=public_key,
        app_id=settings.forge_app_id,
        api_hosts=settings.forge_api_hosts,
        allow_http_loopback=settings.dev_allow_http_loopback,
    )


async def keep_app_token(
    session: AsyncSession,
    request: Request,
    tenant: Tenant,
    *,
    box: SecretBox,
    now: datetime | None = None,
) -> None:
    """Store the request's ``x-forge-oauth-system`` token when it expires later than the one
    stored. A request without one never erases it; a token whose expiry cannot be read is
    not kept (it cannot be told apart from an expired one)."""
    token = request.headers.get(APP_TOKEN_HEADER, "").strip()
    if not token:
        return
    now = now or datetime.now(UTC)
    expires_at = app_token_expiry(token, now=now)
    if expires_at is None:
        logger.warning("Forge sent an app system token whose expiry cannot be read; not kept")
        return
    kept = await repository.store_app_token(
        session, tenant.id, token_encrypted=box.encrypt(token), expires_at=expires_at
    )
    if kept:  # the row changed under the loaded tenant: Jira calls in this request use it
        await session.refresh(tenant)


def app_token_expiry(token: str, *, now: datetime) -> datetime | None:
    """The token's ``exp``, capped at 4 hours from now; None when unreadable or past.

    The token is Atlassian's to verify (it is sent back to Atlassian, never trusted here);
    it arrived beside a verified invocation token, which is what vouches for it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    expires_at = datetime.fromtimestamp(exp, UTC)
    if expires_at <= now:
        return None
    return min(expires_at, now + MAX_APP_TOKEN_LIFETIME)


async def forge_call(
    request: Request, session: AsyncSession, *, box: SecretBox, event: bool = False
) -> ForgeCall:
    """A verified invocation of an installed tenant, with its app token kept (``event``: see
    ``verified_invocation``)."""
    invocation = await verified_invocation(request, event=event)
    tenant = await repository.tenant_for(
        session, installation_id=invocation.installation_id, cloud_id=invocation.cloud_id
    )
    set_tenant(tenant.id)
    await keep_app_token(session, request, tenant, box=box)
    return ForgeCall(invocation=invocation, tenant=tenant)
