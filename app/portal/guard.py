"""The Guard bridge's HTTP side (the use case is ``app.login.guard``).

* ``/saml-idp/{tenant_id}/metadata``: our IdP metadata, for Guard's admin.
* ``/saml-idp/{tenant_id}/sso`` (HTTP-Redirect and HTTP-POST): Atlassian's AuthnRequest,
  checked and parked; the browser goes on to the journey's page under the site's portal path,
  where the portal session cookie lives (it is not sent to ``/saml-idp``).
* ``/portal/{tenant_id}/guard/{token}``: with a Portal SSO session of the site, the signed
  Response, posted to the registered ACS by an auto-submitting form; without one, the sign-in
  choice of a substitute link, whose login comes back to this page.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.config import Settings
from app.db import SessionDep
from app.deps import SecretBoxDep, SettingsDep, services
from app.errors import NotFoundError
from app.i18n import N_
from app.login import guard
from app.login.routes import begin_login, client_of
from app.login.service import LoginService
from app.login.tenant_config import TenantConfig, tenant_config
from app.models import GuardRequest, IdentityProvider, Tenant
from app.observability import set_tenant
from app.portal.routes import (
    current_session,
    login_hint_of,
    portal_config,
    route_by_email,
    start_customer_login,
)
from app.saml import sp_keys
from app.saml.idp import POST_BINDING, REDIRECT_BINDING, AuthnRequestError, idp_metadata
from app.templating import render, render_error
from app.urls import portal_url, saml_idp_metadata_url, saml_idp_sso_url

logger = logging.getLogger(__name__)

router = APIRouter(tags=["guard bridge"])

# SAML Bindings (3.4.3, 3.5.3) caps RelayState at 80 bytes, but it is the SP's opaque value,
# returned unchanged, and SPs built on OAuth-style state values exceed the cap: a bound, not
# the spec's figure, so an over-long one from Atlassian does not stop its customers.
MAX_RELAY_STATE = 1024
MAX_SAML_REQUEST = 100_000


def journey_url(base: str, tenant_id: str, token: str) -> str:
    return f"{portal_url(base, tenant_id)}/guard/{token}"


async def _installed(request: Request, tenant_id: str) -> TenantConfig:
    config = await tenant_config(request, tenant_id)
    if config is None or not config.tenant.active:
        raise NotFoundError("this site has not installed Portal SSO")
    set_tenant(config.tenant.id)
    return config


@router.get("/saml-idp/{tenant_id}/metadata", include_in_schema=False)
async def guard_bridge_metadata(
    tenant_id: str, request: Request, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> Response:
    """Served once the site is installed (the admin copies it into Guard before turning the
    bridge on). The site's signing key is made on the first request; during a rotation the
    next key's certificate is published beside the current one."""
    tenant = (await _installed(request, tenant_id)).tenant
    keys = await sp_keys.active_keys(session, tenant.id, box=box, purpose=sp_keys.IDP)
    await session.commit()
    return Response(
        idp_metadata(
            entity_id=saml_idp_metadata_url(settings.app_base_url, tenant.id),
            sso_url=saml_idp_sso_url(settings.app_base_url, tenant.id),
            certificates=[key.certificate for key in reversed(keys)],
        ),
        media_type="application/samlmetadata+xml",
        headers={
            "Content-Disposition": f'attachment; filename="portal-sso-idp-{tenant.id}.xml"',
            "Cache-Control": "no-cache",
        },
    )


@router.get("/saml-idp/{tenant_id}/sso", include_in_schema=False)
async def sso_redirect(
    tenant_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    params = request.query_params
    return await _receive(
        request,
        session,
        settings,
        tenant_id=tenant_id,
        binding=REDIRECT_BINDING,
        saml_request=params.get("SAMLRequest", ""),
        relay_state=params.get("RelayState"),
    )


@router.post("/saml-idp/{tenant_id}/sso", include_in_schema=False)
async def sso_post(
    tenant_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    saml_request: Annotated[str, Form(alias="SAMLRequest", max_length=MAX_SAML_REQUEST)] = "",
    relay_state: Annotated[str | None, Form(alias="RelayState", max_length=4096)] = None,
) -> Response:
    return await _receive(
        request,
        session,
        settings,
        tenant_id=tenant_id,
        binding=POST_BINDING,
        saml_request=saml_request,
        relay_state=relay_state,
    )


async def _receive(
    request: Request,
    session: SessionDep,
    settings: Settings,
    *,
    tenant_id: str,
    binding: str,
    saml_request: str,
    relay_state: str | None,
) -> Response:
    """Atlassian's AuthnRequest: refused with a page (nothing posted anywhere), or parked and
    the browser sent on to the journey."""
    config = await _installed(request, tenant_id)
    bridge = guard.active_bridge(config.settings)
    if bridge is None:
        raise NotFoundError(
            "signing in to this site's help center through Portal SSO is not switched on"
        )
    login: LoginService = services(request).get(LoginService)
    login.count_sp_request(client_of(request), config.tenant.id)
    try:
        if not saml_request or len(saml_request) > MAX_SAML_REQUEST:
            raise AuthnRequestError("no_request", "this sign-in request could not be read")
        if relay_state is not None and len(relay_state.encode()) > MAX_RELAY_STATE:
            raise AuthnRequestError("long_relay_state", "this sign-in request could not be read")
        token = await guard.receive(
            session,
            tenant_id=config.tenant.id,
            bridge=bridge,
            binding=binding,
            saml_request=saml_request,
            relay_state=relay_state,
            raw_query=request.url.query,
            app_base_url=settings.app_base_url,
            now=datetime.now(UTC),
        )
    except AuthnRequestError as e:
        logger.warning("Guard bridge AuthnRequest refused: %s", e.reason)
        return render_error(
            request, status_code=400, message=e.message, title=N_("We could not sign you in")
        )
    await session.commit()
    return RedirectResponse(
        journey_url(settings.base_path, config.tenant.id, token),
        status_code=303,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/portal/{tenant_id}/guard/{token}", include_in_schema=False)
async def journey(
    tenant_id: str,
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
) -> Response:
    """The journey's page: the answer to Atlassian when the customer is signed in here,
    otherwise their sign-in choice (whose login comes back here)."""
    now = datetime.now(UTC)
    config, bridge, parked = await _journey(request, session, tenant_id, token, now=now)
    record = await current_session(request, session, settings, config)
    idp = config.idp(record.idp_id) if record is not None else None
    if record is None or idp is None or not guard.session_counts(parked, record):
        here = journey_url(settings.base_path, config.tenant.id, token)
        return await start_customer_login(
            request,
            session,
            settings=settings,
            tenant=config.tenant,
            service_desk_id=None,
            return_to=here,
            idps=config.enabled_idps,
            login_base=here,
        )
    try:
        post = await guard.answer(
            session,
            tenant_id=config.tenant.id,
            request=parked,
            record=record,
            idp=idp,
            idps=config.idps,
            bridge=bridge,
            box=box,
            app_base_url=settings.app_base_url,
            now=now,
        )
    except guard.GuardRefusedError as e:
        return render_error(
            request,
            status_code=e.status_code,
            message=e.message,
            title=N_("We could not sign you in to the help center"),
            signout_url=f"{portal_url(settings.base_path, config.tenant.id)}/logout",
        )
    return render(
        request,
        "saml/post.html",
        {
            "title": N_("Signing you in"),
            "action": post.acs_url,
            "fields": post.fields,
            "message": N_("You are signed in. Continuing to the help center…"),
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/portal/{tenant_id}/guard/{token}/login/{idp_id}", include_in_schema=False)
async def journey_login_with(
    tenant_id: str,
    token: str,
    idp_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The picker's choice during the journey: that provider's login, back to the journey."""
    config, _, _ = await _journey(request, session, tenant_id, token, now=datetime.now(UTC))
    idp = config.idp(idp_id)
    if idp is None or not idp.enabled:
        raise NotFoundError("this sign-in option is not available")
    return await _login(request, session, settings, config.tenant, token, idp)


@router.post("/portal/{tenant_id}/guard/{token}/login", include_in_schema=False)
async def journey_login_by_email(
    tenant_id: str,
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Email-domain routing during the journey, as on a substitute link."""
    config, _, _ = await _journey(request, session, tenant_id, token, now=datetime.now(UTC))
    idp, message = route_by_email(config, email)
    here = journey_url(settings.base_path, config.tenant.id, token)
    if idp is None:
        return await start_customer_login(
            request,
            session,
            settings=settings,
            tenant=config.tenant,
            service_desk_id=None,
            return_to=here,
            idps=config.enabled_idps,
            email=email,
            message=message,
            login_base=here,
        )
    return await _login(request, session, settings, config.tenant, token, idp, email)


async def _journey(
    request: Request, session: SessionDep, tenant_id: str, token: str, *, now: datetime
) -> tuple[TenantConfig, guard.GuardBridge, GuardRequest]:
    """The site (installed, its bridge on) and the request a journey's page is about."""
    config = await portal_config(request, tenant_id)
    bridge = guard.active_bridge(config.settings)
    if bridge is None:
        raise NotFoundError(
            "signing in to this site's help center through Portal SSO is not switched on"
        )
    parked = await guard.pending(
        session, tenant_id=config.tenant.id, token=token, bridge=bridge, now=now
    )
    return config, bridge, parked


async def _login(
    request: Request,
    session: SessionDep,
    settings: Settings,
    tenant: Tenant,
    token: str,
    idp: IdentityProvider,
    email: str | None = None,
) -> Response:
    return await begin_login(
        request,
        session,
        tenant=tenant,
        idp=idp,
        return_path=journey_url(settings.base_path, tenant.id, token),
        login_hint=login_hint_of(email.strip()) if email else None,
    )
