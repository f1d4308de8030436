"""Routes of the login flow: the per-IdP callback and the admin's one-time test URL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from prometheus_client import Counter as PromCounter

from app.audit import record_login
from app.config import Settings
from app.cookies import read_flow_cookie, set_flow_cookie, set_session_cookie
from app.crypto import SecretBox, same_secret
from app.db import SessionDep
from app.deps import HttpDep, SecretBoxDep, SettingsDep
from app.errors import AppError, LoginError, NotFoundError
from app.models import IdentityProvider, LoginState, Tenant
from app.observability import Metrics, set_tenant
from app.oidc import repository
from app.oidc.flow import (
    CompletedLogin,
    RefusedStateError,
    check_state,
    complete_login,
    start_login,
)
from app.oidc.mapping import MappedIdentity
from app.oidc.metadata import MetadataCache
from app.oidc.provisioning import CustomerProvisioner
from app.portal.sessions import create_session
from app.ratelimit import LoginRateLimiter, TooManyLoginsError, forwarded_by_untrusted_proxy
from app.templating import as_sentence, render, render_error
from app.tenant_config import tenant_config
from app.tenants import repository as tenants

router = APIRouter(tags=["login"])
logger = logging.getLogger(__name__)

# Hints for the errors admins meet while wiring an IdP (shown on test and login pages).
IDP_ERROR_HINTS = {
    "redirect_mismatch": "the callback URL is not in the app client's Allowed callback URLs",
    "invalid_client": "the client ID or client secret is wrong, or the app client has no secret",
    "unauthorized_client": "the app client does not allow the authorization code grant",
    "invalid_scope": "a requested scope is not allowed for this app client",
    "access_denied": "the sign-in was cancelled or refused at the identity provider",
    "invalid_grant": "the sign-in code was already used or has expired; try again",
}


def _count_login(request: Request, *, outcome: str, idp_id: str, reason: str | None = None) -> None:
    metrics: Metrics = request.app.state.metrics
    metrics.logins.labels(outcome, idp_id).inc()
    logger.info("login", extra={"outcome": outcome, "idp_id": idp_id, "reason": reason})


def explain(message: str) -> str:
    for code, hint in IDP_ERROR_HINTS.items():
        if code in message:
            return f"{message}. Likely cause: {hint}."
    return message


def _check_rate(
    request: Request, tenant_id: str, limiter: LoginRateLimiter, limited: PromCounter
) -> None:
    """Count one attempt from this client; past the limit, count that in ``limited`` and
    raise ``TooManyLoginsError`` (a 429 page)."""
    client = request.client.host if request.client else "unknown"
    if forwarded_by_untrusted_proxy(request.headers.get("x-forwarded-for"), client):
        _warn_untrusted_proxy(client)
    try:
        limiter.check(tenant_id, client)
    except TooManyLoginsError:
        limited.inc()
        raise


_warned_proxies: set[str] = set()


def _warn_untrusted_proxy(address: str) -> None:
    # Once per proxy address, and for a few addresses at most: anyone can send the header.
    if address in _warned_proxies or len(_warned_proxies) >= 8:
        return
    _warned_proxies.add(address)
    logger.warning(
        "requests arrive through a proxy at %s that FORWARDED_ALLOW_IPS does not list: the "
        "per-IP login limit counts all of its customers as that one address",
        address,
    )


async def begin_login(
    request: Request,
    session: SessionDep,
    *,
    settings: Settings,
    box: SecretBox,
    tenant: Tenant,
    idp: IdentityProvider,
    purpose: str,
    service_desk_id: str | None = None,
    return_path: str | None = None,
    login_hint: str | None = None,
) -> Response:
    if purpose == "login":
        metrics: Metrics = request.app.state.metrics
        _check_rate(
            request, tenant.id, request.app.state.login_limiter, metrics.login_starts_limited
        )
    cache: MetadataCache = request.app.state.metadata
    metadata = await cache.metadata(idp)
    start = await start_login(
        session,
        tenant=tenant,
        idp=idp,
        metadata=metadata,
        purpose="test" if purpose == "test" else "login",
        app_base_url=settings.app_base_url,
        box=box,
        browser_id=read_flow_cookie(request, settings),
        service_desk_id=service_desk_id,
        return_path=return_path,
        login_hint=login_hint,
    )
    response = RedirectResponse(start.authorize_url, status_code=303)
    set_flow_cookie(response, settings, start.browser_id)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/oidc/test/{ticket}", include_in_schema=False)
async def start_test_login(
    ticket: str, request: Request, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> Response:
    row = await repository.consume_test_ticket(session, ticket, now=datetime.now(UTC))
    if row is None:
        raise LoginError(
            "this test link has expired or was already used; start Test connection again from the admin page"
        )
    tenant = await tenants.get_by_id(session, row.tenant_id)
    idp = await repository.get_idp(session, row.tenant_id, row.idp_id)
    if tenant is None or not tenant.active or idp is None:
        raise NotFoundError("this identity provider no longer exists")
    return await begin_login(
        request, session, settings=settings, box=box, tenant=tenant, idp=idp, purpose="test"
    )


def _retry_url(settings: Settings, state: LoginState | None) -> str | None:
    if state is None or state.purpose != "login" or not state.service_desk_id:
        return None
    return f"{settings.app_base_url}/portal/{state.tenant_id}/{state.service_desk_id}"


async def _fail(
    request: Request,
    session: SessionDep,
    *,
    error: AppError,
    tenant_id: str,
    idp: IdentityProvider,
    settings: Settings,
    state: LoginState | None,
    identity: MappedIdentity | None = None,
) -> HTMLResponse:
    """Undo whatever the attempt wrote, keep the audit row, and show a readable page."""
    # Read what the page and the audit row need before the rollback expires these objects.
    idp_id, idp_name = idp.id, idp.name
    purpose = state.purpose if state else "login"
    _count_login(request, outcome="failure", idp_id=idp_id, reason=error.code)
    retry_url = _retry_url(settings, state)
    await session.rollback()
    await record_login(
        session,
        tenant_id,
        idp_id=idp_id,
        idp_name=idp_name,
        outcome="failure",
        reason=error.message,
        email=identity.email if identity else None,
        subject=identity.subject if identity else None,
        purpose=purpose,
    )
    await session.commit()
    return render_error(
        request,
        status_code=error.status_code,
        message=explain(error.message),
        title="We could not sign you in",
        retry_url=retry_url,
    )


@router.get("/oidc/{idp_id}/callback", include_in_schema=False)
async def callback(
    idp_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
    http: HttpDep,
) -> Response:
    params = dict(request.query_params.items())
    now = datetime.now(UTC)
    try:
        state = await check_state(
            session,
            idp_id=idp_id,
            state=params.get("state"),
            browser_id=read_flow_cookie(request, settings),
            now=now,
        )
    except AppError as e:
        # Refused before we know whose login this is: find out from the IdP, for the audit.
        idp = await repository.get_idp_for_callback(session, idp_id)
        if idp is None:
            raise NotFoundError("this sign-in provider does not exist") from None
        tenant = await tenants.get_by_id(session, idp.tenant_id)
        if tenant is None or not tenant.active:
            raise NotFoundError("sign-in is not available for this site") from None
        set_tenant(tenant.id)
        known = e.state if isinstance(e, RefusedStateError) else None
        if known is not None and known.tenant_id != tenant.id:
            known = None  # another tenant's: its page names nothing of it
        if known is not None and _spent_by_this_browser(request, settings, known):
            # The Back button after signing in (or a double submit at the IdP): the IdP, still
            # signed in there, sends this browser's spent state once more. Nothing is redeemed
            # again; the customer goes where the login was going, where their session lets
            # them in (or a fresh login starts), and the admin's login activity gets no
            # failure. The session cookie is not sent here under a path prefix, so it is the
            # landing page that decides.
            return _landing_redirect(settings, known)
        # Anyone can send made-up or replayed states here, and each refusal is audited:
        # past the limit, answer 429 and write nothing.
        metrics: Metrics = request.app.state.metrics
        _check_rate(
            request, tenant.id, request.app.state.refusal_limiter, metrics.refused_callbacks_limited
        )
        # A refused state of this tenant's names its desk: the page offers a fresh start there.
        return await _fail(
            request, session, error=e, tenant_id=tenant.id, idp=idp, settings=settings, state=known
        )
    # The state is spent whatever happens next: commit that before anything can fail.
    await session.commit()
    set_tenant(state.tenant_id)
    if state.purpose == "login":
        # Logins read the cached configuration; a test writes to its IdP, so it reads afresh.
        config = await tenant_config(request, state.tenant_id)
        tenant, found = (config.tenant, config.idp(idp_id)) if config else (None, None)
    else:
        tenant = await tenants.get_by_id(session, state.tenant_id)
        found = await repository.get_idp_for_callback(session, idp_id)
    if tenant is None or not tenant.active or found is None:
        raise NotFoundError("sign-in is not available for this site")
    idp = found
    if state.purpose == "login" and not idp.enabled:
        return await _fail(
            request,
            session,
            error=LoginError("this sign-in option has been switched off by your administrator"),
            tenant_id=tenant.id,
            idp=idp,
            settings=settings,
            state=state,
        )

    cache: MetadataCache = request.app.state.metadata
    try:
        completed = await complete_login(
            idp=idp,
            state=state,
            params=params,
            http=http,
            cache=cache,
            box=box,
            app_base_url=settings.app_base_url,
            now=now,
        )
    except AppError as e:
        return await _fail(
            request, session, error=e, tenant_id=tenant.id, idp=idp, settings=settings, state=state
        )
    if completed.purpose == "test":
        return await _test_result(request, session, tenant=tenant, idp=idp, completed=completed)

    provisioner: CustomerProvisioner = request.app.state.provisioner
    identity = completed.identity
    try:
        if identity is None:
            raise completed.mapping_error or LoginError("the sign-in could not be completed")
        account_id = await provisioner.provision(
            session,
            tenant=tenant,
            idp=idp,
            identity=identity,
            service_desk_id=state.service_desk_id,
        )
    except AppError as e:
        return await _fail(
            request,
            session,
            error=e,
            tenant_id=tenant.id,
            idp=idp,
            settings=settings,
            state=state,
            identity=identity,
        )
    lifetime = timedelta(hours=settings.portal_session_hours)
    new = await create_session(
        session,
        tenant.id,
        idp=idp,
        identity=identity,
        account_id=account_id,
        id_token_encrypted=box.encrypt(completed.id_token) if completed.id_token else None,
        lifetime=lifetime,
        now=now,
    )
    await record_login(
        session,
        tenant.id,
        idp_id=idp.id,
        idp_name=idp.name,
        outcome="success",
        email=identity.email,
        subject=identity.subject,
        account_id=account_id,
    )
    _count_login(request, outcome="success", idp_id=idp.id)
    response = _landing_redirect(settings, state)
    set_session_cookie(
        response,
        settings,
        tenant_id=tenant.id,
        value=new.token,
        max_age=int(lifetime.total_seconds()),
    )
    return response


def _landing_redirect(settings: Settings, state: LoginState) -> Response:
    """Where a customer's login was going: the page they asked for, or the desk's home."""
    target = state.return_path or (
        f"{settings.base_path}/portal/{state.tenant_id}/{state.service_desk_id}"
    )
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


def _spent_by_this_browser(request: Request, settings: Settings, state: LoginState) -> bool:
    """Whether this browser started the customer login that spent ``state``."""
    browser_id = read_flow_cookie(request, settings)
    if state.purpose != "login" or state.used_at is None or not browser_id:
        return False
    return same_secret(state.browser_hash, repository.digest(browser_id))


async def _test_result(
    request: Request,
    session: SessionDep,
    *,
    tenant: Tenant,
    idp: IdentityProvider,
    completed: CompletedLogin,
) -> HTMLResponse:
    if completed.learned_issuer:
        idp.pinned_issuer = completed.learned_issuer
        idp.pinned_jwks_uri = completed.learned_jwks_uri
    idp.last_test_claims = _json_safe(completed.claims)
    idp.last_tested_at = datetime.now(UTC)
    identity = completed.identity
    await record_login(
        session,
        tenant.id,
        idp_id=idp.id,
        idp_name=idp.name,
        outcome="success" if identity else "failure",
        reason=completed.mapping_error.message if completed.mapping_error else None,
        email=identity.email if identity else None,
        subject=identity.subject if identity else None,
        purpose="test",
    )
    return render(
        request,
        "oidc/test_result.html",
        {
            "title": f"Test connection: {idp.name}",
            "idp": idp,
            "claims": sorted(completed.claims.items()),
            "identity": identity,
            "mapping_error": as_sentence(explain(completed.mapping_error.message))
            if completed.mapping_error
            else None,
            "learned_issuer": completed.learned_issuer,
            "userinfo_used": completed.userinfo_used,
        },
    )


def _json_safe(claims: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        if isinstance(value, str | int | float | bool | list | dict) or value is None
        else str(value)
        for key, value in claims.items()
    }
