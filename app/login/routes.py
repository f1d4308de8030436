"""The sign-in's HTTP side: the identity provider's callback, the admin's one-time test link,
and ``begin_login``, the redirect to the IdP that the portal's entry pages answer with. Each
parses the request, calls ``LoginService``, and turns its outcome into cookies and a page."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from app.config import Settings
from app.cookies import (
    clear_session_cookie,
    read_flow_cookie,
    set_flow_cookie,
    set_session_cookie,
)
from app.db import SessionDep
from app.deps import SecretBoxDep, SettingsDep, services
from app.errors import NotFoundError
from app.i18n import N_
from app.idps import repository
from app.idps.presets import PRESETS
from app.idps.states import FlowStart
from app.login.service import (
    Client,
    LoginService,
    Outcome,
    Refused,
    Returning,
    SignedIn,
    explain,
)
from app.login.sessions import end_sessions_named
from app.models import IdentityProvider, Tenant
from app.saml import sp_keys
from app.saml.login import (
    idp_logout_answer,
    is_flow_state,
    read_logout_request,
    service_provider,
)
from app.saml.logout import LogoutError
from app.saml.sp_metadata import sp_metadata
from app.templating import as_sentence, render, render_error
from app.tenants import repository as tenants
from app.urls import saml_slo_url, signed_out_url

logger = logging.getLogger(__name__)

router = APIRouter(tags=["login"])


async def get_login_service(request: Request) -> LoginService:
    service: LoginService = services(request).get(LoginService)
    return service


LoginDep = Annotated[LoginService, Depends(get_login_service)]


def client_of(request: Request) -> Client:
    return Client(
        host=request.client.host if request.client else "unknown",
        forwarded_for=request.headers.get("x-forwarded-for"),
    )


def _to_idp(start: FlowStart, settings: Settings) -> Response:
    response = RedirectResponse(start.authorize_url, status_code=303)
    set_flow_cookie(response, settings, start.browser_id)
    response.headers["Cache-Control"] = "no-store"
    return response


async def begin_login(
    request: Request,
    session: SessionDep,
    *,
    tenant: Tenant,
    idp: IdentityProvider,
    service_desk_id: str | None = None,
    return_path: str | None = None,
    login_hint: str | None = None,
) -> Response:
    """A customer's login at ``idp``: the redirect there, with this browser's flow cookie."""
    service = await get_login_service(request)
    start = await service.start(
        session,
        tenant=tenant,
        idp=idp,
        purpose="login",
        client=client_of(request),
        browser_id=read_flow_cookie(request, service.settings),
        service_desk_id=service_desk_id,
        return_path=return_path,
        login_hint=login_hint,
    )
    return _to_idp(start, service.settings)


@router.get("/oidc/test/{ticket}", include_in_schema=False)
async def start_test_login(
    ticket: str, request: Request, session: SessionDep, settings: SettingsDep, login: LoginDep
) -> Response:
    start = await login.start_test(
        session,
        ticket=ticket,
        client=client_of(request),
        browser_id=read_flow_cookie(request, settings),
    )
    return _to_idp(start, settings)


@router.get("/oidc/{idp_id}/callback", include_in_schema=False)
async def callback(
    idp_id: str, request: Request, session: SessionDep, settings: SettingsDep, login: LoginDep
) -> Response:
    outcome = await login.complete(
        session,
        idp_id=idp_id,
        params=dict(request.query_params.items()),
        browser_id=read_flow_cookie(request, settings),
        client=client_of(request),
    )
    return _answer(request, outcome, settings)


@router.get("/saml/{idp_id}/metadata", include_in_schema=False)
async def saml_metadata(
    idp_id: str, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> Response:
    """Our SAML metadata for one IdP configuration, for that IdP's admin to import."""
    idp = await repository.get_idp_for_callback(session, idp_id)
    tenant = await tenants.get_by_id(session, idp.tenant_id) if idp is not None else None
    if idp is None or tenant is None or not tenant.active or PRESETS[idp.preset].kind != "saml":
        raise NotFoundError("no SAML identity provider is configured here")
    sp = service_provider(settings.app_base_url, idp.id)
    keys = await sp_keys.active_keys(session, tenant.id, box=box, create=False)
    certificates = [key.certificate for key in keys]
    return Response(
        sp_metadata(
            entity_id=sp.entity_id,
            acs_url=sp.acs_url,
            signing_certificates=certificates,
            encryption_certificates=certificates,
            slo_url=saml_slo_url(settings.app_base_url, idp.id) if certificates else None,
        ),
        media_type="application/samlmetadata+xml",
        headers={
            "Content-Disposition": f'attachment; filename="portal-sso-sp-{idp.id}.xml"',
            "Cache-Control": "no-cache",
        },
    )


@router.get("/saml/{idp_id}/slo", include_in_schema=False)
async def single_logout(
    idp_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
) -> Response:
    """Single Logout, HTTP-Redirect binding: the IdP's LogoutRequest (end the sessions it
    names, answer with our signed LogoutResponse) or its LogoutResponse to ours (on to the
    signed-out page). Nothing in either message says where the browser goes."""
    idp = await repository.get_idp_for_callback(session, idp_id)
    tenant = await tenants.get_by_id(session, idp.tenant_id) if idp is not None else None
    if idp is None or tenant is None or not tenant.active or PRESETS[idp.preset].kind != "saml":
        raise NotFoundError("no SAML identity provider is configured here")
    signed_out = signed_out_url(settings.app_base_url, tenant.id)
    if "SAMLRequest" not in request.query_params:
        # The IdP's answer to our LogoutRequest: the customer is signed out here already.
        return RedirectResponse(signed_out, status_code=303, headers={"Cache-Control": "no-store"})
    now = datetime.now(UTC)
    try:
        logout = read_logout_request(
            idp, request.url.query, app_base_url=settings.app_base_url, now=now
        )
    except LogoutError as e:
        logger.warning("SAML LogoutRequest refused for IdP %s: %s", idp.id, e.reason)
        return render_error(
            request, status_code=400, message=e.message, title=N_("We could not sign you out")
        )
    ended = await end_sessions_named(session, idp.id, logout.handle)
    await session.commit()
    logger.info("SAML LogoutRequest ended %d session(s) for IdP %s", ended, idp.id)
    back = await idp_logout_answer(
        session, idp=idp, request=logout, app_base_url=settings.app_base_url, box=box, now=now
    )
    response = RedirectResponse(back or signed_out, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    clear_session_cookie(response, settings, tenant_id=tenant.id)
    return response


MAX_RELAY_STATE = 80

# The form the ACS re-posts to itself when the browser left our flow cookie behind.
RESENT_FIELD = "resent"


@router.post("/saml/{idp_id}/acs", include_in_schema=False)
async def assertion_consumer(
    idp_id: str, request: Request, session: SessionDep, settings: SettingsDep, login: LoginDep
) -> Response:
    """The SAML IdP's answer (HTTP-POST binding).

    The IdP's page posts here from its own site, and browsers do not send a SameSite=Lax
    cookie with a cross-site POST: our flow cookie, which binds the answer to the browser
    that started the sign-in, is missing then. The answer is posted once more, from a page of
    ours (a same-site POST, which carries the cookie); it is checked only then."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if len(fields.get("RelayState", "")) > MAX_RELAY_STATE:
        # Ours are 43 characters; SAML Bindings 3.4.3 caps it at 80 bytes.
        fields.pop("RelayState")
    params = {
        "state": fields.get("RelayState", ""),
        "SAMLResponse": fields.get("SAMLResponse", ""),
    }
    if not is_flow_state(params["state"]):
        # No sign-in of ours to answer (IdP-initiated, RelayState a desk id or nothing): only
        # an IdP that allows it, with a Response answering no request, gets further.
        outcome = await login.complete_unsolicited(
            session, idp_id=idp_id, params=params, client=client_of(request)
        )
        return _answer(request, outcome, settings)
    browser_id = read_flow_cookie(request, settings)
    if browser_id is None and RESENT_FIELD not in fields:
        return render(
            request,
            "saml/post.html",
            {
                "title": N_("Signing you in"),
                "action": request.url.path,
                "fields": {
                    **{
                        name: fields[name]
                        for name in ("SAMLResponse", "RelayState")
                        if name in fields
                    },
                    RESENT_FIELD: "1",
                },
                "message": N_(
                    "Your identity provider has signed you in. If this page stays, continue:"
                ),
            },
            headers={"Cache-Control": "no-store"},
        )
    outcome = await login.complete(
        session,
        idp_id=idp_id,
        params=params,
        browser_id=browser_id,
        client=client_of(request),
        saml_answer=True,
    )
    return _answer(request, outcome, settings)


def _answer(request: Request, outcome: Outcome, settings: Settings) -> Response:
    """The page or redirect for a completed sign-in, whatever the protocol."""
    if isinstance(outcome, Refused):
        return render_error(
            request,
            status_code=outcome.error.status_code,
            message=explain(outcome.error.message),
            title=N_("We could not sign you in"),
            retry_url=outcome.retry_url,
        )
    if isinstance(outcome, Returning | SignedIn):
        response = RedirectResponse(
            outcome.target, status_code=303, headers={"Cache-Control": "no-store"}
        )
        if isinstance(outcome, SignedIn):
            set_session_cookie(
                response,
                settings,
                tenant_id=outcome.tenant_id,
                value=outcome.session_token,
                max_age=outcome.max_age,
            )
        return response
    completed, idp = outcome.completed, outcome.idp
    return render(
        request,
        "oidc/test_result.html",
        {
            "title": f"Test connection: {idp.name}",
            "idp": idp,
            "claims": sorted(completed.claims.items()),
            "identity": completed.identity,
            "mapping_error": as_sentence(explain(completed.mapping_error.message))
            if completed.mapping_error
            else None,
            "learned_issuer": completed.learned_issuer,
            "userinfo_used": completed.userinfo_used,
        },
    )
