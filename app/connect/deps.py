"""FastAPI dependencies that authenticate requests from Jira with the tenant's HS256 JWT.

* ``TenantJWT``: iframe page loads. Token in the ``jwt`` query parameter; qsh must be the hash
  of this request (path relative to APP_BASE_URL).
* ``ContextJWT``: admin JSON API calls from our iframe. ``Authorization: JWT <token>``; qsh must
  be the literal ``context-qsh`` (the token ``AP.context.getToken()`` returns).

Either way the tenant must be installed and enabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.connect.jwt import (
    CONTEXT_QSH,
    TokenClaims,
    TokenError,
    check_token_lifetime,
    query_string_hash,
    relative_path,
    unverified_issuer,
    verify_tenant_token,
)
from app.connect.verified_tokens import VerifiedTokens
from app.crypto import SecretBox
from app.deps import services
from app.models import Tenant
from app.observability import set_tenant
from app.tenants import repository as tenants
from app.tenants.cache import TenantCache


@dataclass(frozen=True, slots=True)
class TenantContext:
    tenant: Tenant
    claims: TokenClaims

    @property
    def account_id(self) -> str | None:
        """The Atlassian account of the user in the iframe (``sub``)."""
        return self.claims.subject


def request_target(request: Request, settings: Settings) -> tuple[str, str]:
    """(path relative to the app base URL, raw query string) as the client sent them."""
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return relative_path(path, settings.base_path), query


def bearer_jwt(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.upper() == "JWT" and token.strip():
        return token.strip()
    return None


async def authenticate_tenant_token(
    session: AsyncSession,
    *,
    token: str | None,
    expected_qsh: str,
    settings: Settings,
    box: SecretBox,
    require_active: bool = True,
) -> TenantContext:
    """Full verification against the tenant row read in ``session`` (no cache): for the
    lifecycle callbacks, which must see the row they are about to change."""
    if not token:
        raise TokenError("missing token")
    tenant = await tenants.get_by_client_key(session, unverified_issuer(token))
    if tenant is None or tenant.client_key is None or tenant.shared_secret_encrypted is None:
        raise TokenError("unknown tenant")
    claims = verify_tenant_token(
        token,
        shared_secret=box.decrypt(tenant.shared_secret_encrypted),
        client_key=tenant.client_key,
        expected_qsh=expected_qsh,
        leeway=settings.jwt_leeway_seconds,
    )
    set_tenant(tenant.id)
    if require_active and not tenant.active:
        raise TokenError("the app is not installed or not enabled on this site")
    return TenantContext(tenant=tenant, claims=claims)


async def authenticate_cached(
    request: Request, *, token: str | None, expected_qsh: str
) -> TenantContext:
    """The same checks, for the hot paths: the tenant row from the process cache (a database
    session only on a miss) and a token seen before not verified twice (see
    ``verified_tokens``). Expiry and the tenant's status are checked on every request."""
    if not token:
        raise TokenError("missing token")
    held = services(request)
    settings = held.get(Settings)
    cache = held.get(TenantCache)
    memo = held.get(VerifiedTokens)
    remembered = memo.get(token, expected_qsh=expected_qsh)
    client_key = remembered[1].issuer if remembered else unverified_issuer(token)
    tenant = await cache.get(held.get(async_sessionmaker), client_key)
    if tenant is None or tenant.client_key is None or tenant.shared_secret_encrypted is None:
        raise TokenError("unknown tenant")
    if remembered and remembered[0] == tenant.shared_secret_encrypted:
        claims = remembered[1]
        try:
            check_token_lifetime(claims, leeway=settings.jwt_leeway_seconds)
        except TokenError:
            memo.forget(token)
            raise
    else:
        claims = verify_tenant_token(
            token,
            shared_secret=cache.shared_secret(tenant, held.get(SecretBox)),
            client_key=tenant.client_key,
            expected_qsh=expected_qsh,
            leeway=settings.jwt_leeway_seconds,
        )
        memo.remember(
            token,
            secret_encrypted=tenant.shared_secret_encrypted,
            expected_qsh=expected_qsh,
            claims=claims,
        )
    set_tenant(tenant.id)
    if not tenant.active:
        raise TokenError("the app is not installed or not enabled on this site")
    return TenantContext(tenant=tenant, claims=claims)


# Hot paths: these take only the request (each extra dependency costs FastAPI real time).
async def tenant_from_page_token(request: Request) -> TenantContext:
    path, query = request_target(request, services(request).get(Settings))
    return await authenticate_cached(
        request,
        token=request.query_params.get("jwt"),
        expected_qsh=query_string_hash(request.method, path, query),
    )


async def tenant_from_context_token(request: Request) -> TenantContext:
    return await authenticate_cached(request, token=bearer_jwt(request), expected_qsh=CONTEXT_QSH)


TenantJWT = Annotated[TenantContext, Depends(tenant_from_page_token)]
ContextJWT = Annotated[TenantContext, Depends(tenant_from_context_token)]
