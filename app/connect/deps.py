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

from app.config import Settings
from app.connect import tenants
from app.connect.jwt import (
    CONTEXT_QSH,
    TokenClaims,
    TokenError,
    query_string_hash,
    relative_path,
    unverified_issuer,
    verify_tenant_token,
)
from app.connect.tenant_cache import TenantCache
from app.crypto import SecretBox
from app.db import SessionDep
from app.deps import SecretBoxDep, SettingsDep
from app.models import Tenant
from app.observability import set_tenant


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
    session: SessionDep,
    *,
    token: str | None,
    expected_qsh: str,
    settings: Settings,
    box: SecretBox,
    require_active: bool = True,
    cache: TenantCache | None = None,
) -> TenantContext:
    if not token:
        raise TokenError("missing token")
    client_key = unverified_issuer(token)
    if cache is not None:
        tenant = await cache.get(session, client_key)
    else:
        tenant = await tenants.get_by_client_key(session, client_key)
    if tenant is None:
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


async def tenant_from_page_token(
    request: Request, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> TenantContext:
    path, query = request_target(request, settings)
    return await authenticate_tenant_token(
        session,
        token=request.query_params.get("jwt"),
        expected_qsh=query_string_hash(request.method, path, query),
        settings=settings,
        box=box,
        cache=request.app.state.tenant_cache,
    )


async def tenant_from_context_token(
    request: Request, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> TenantContext:
    return await authenticate_tenant_token(
        session,
        token=bearer_jwt(request),
        expected_qsh=CONTEXT_QSH,
        settings=settings,
        box=box,
        cache=request.app.state.tenant_cache,
    )


TenantJWT = Annotated[TenantContext, Depends(tenant_from_page_token)]
ContextJWT = Annotated[TenantContext, Depends(tenant_from_context_token)]
