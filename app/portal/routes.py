"""The substitute link and the customer's way in and out.

``GET /portal/{tenant_id}/{service_desk_id}`` is the substitute link: with a portal session it
shows the portal; without one it starts a login (one IdP: straight to it; several: a picker,
with email-domain routing when the admin set domains).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import async_sessionmaker

from app import i18n
from app.config import Settings
from app.cookies import clear_session_cookie, read_session_cookie
from app.crypto import SecretBox
from app.db import SessionDep
from app.deps import SecretBoxDep, SettingsDep, services
from app.errors import IdentityProviderError, LoginError, NotFoundError
from app.idps import repository
from app.idps.presets import PRESETS
from app.jsm.directory import JiraDirectory, ServiceDesk
from app.jsm.provisioning import email_domain_allowed
from app.login.routes import begin_login
from app.login.sessions import end_session, load_session, touch_session
from app.login.tenant_config import TenantConfig, tenant_config
from app.models import IdentityProvider, PortalSession, Tenant
from app.observability import set_tenant
from app.oidc.metadata import MetadataCache
from app.saml.login import sp_initiated_logout_url
from app.saml.logout import SessionHandle
from app.templating import render
from app.urls import desk_url, portal_url, safe_return_path, signed_out_url

router = APIRouter(tags=["portal"])
logger = logging.getLogger(__name__)
_DESK_ID = re.compile(r"^[0-9]{1,18}$")


async def portal_config(request: Request, tenant_id: str) -> TenantConfig:
    """The tenant of a portal URL with its IdPs and settings (cached), if it may be used."""
    config = await tenant_config(request, tenant_id)
    if config is not None:
        set_tenant(config.tenant.id)
    if config is None or not config.tenant.installed:
        raise NotFoundError("this portal link is not valid; ask the team that gave it to you")
    if not config.tenant.enabled:
        raise NotFoundError("sign-in to this portal is switched off at the moment")
    return config


async def portal_tenant(request: Request, tenant_id: str) -> Tenant:
    return (await portal_config(request, tenant_id)).tenant


def check_desk_id(service_desk_id: str) -> str:
    if not _DESK_ID.fullmatch(service_desk_id):
        raise NotFoundError("this portal link is not valid; ask the team that gave it to you")
    return service_desk_id


async def existing_desk(
    request: Request, session: SessionDep, tenant: Tenant, service_desk_id: str
) -> ServiceDesk:
    """The desk behind a substitute link; a clear page (no redirect) when it is gone."""
    check_desk_id(service_desk_id)
    directory: JiraDirectory = services(request).get(JiraDirectory)
    return await directory.service_desk(session, tenant, service_desk_id)


async def current_session(
    request: Request, session: SessionDep, settings: Settings, config: TenantConfig
) -> PortalSession | None:
    record = await load_session(
        session,
        config.tenant.id,
        read_session_cookie(request, settings, config.tenant.id),
        idle_timeout=timedelta(minutes=settings.portal_idle_minutes),
    )
    if record is None:
        return None
    idp = config.idp(record.idp_id)
    allowed = email_domain_allowed(record.email, config.settings.allowed_email_domains)
    if idp is None or not idp.enabled or not allowed:
        # An admin who switches a provider off, or takes a domain off the allowed list,
        # expects those customers to be out, not to keep the portal for the rest of their
        # session.
        await session.delete(record)
        return None
    await touch_session(services(request).get(async_sessionmaker), record)
    return record


def tenant_return_path(value: str | None, settings: Settings, tenant_id: str) -> str | None:
    """A return path the customer may be sent to: relative and inside this tenant's portal
    (a public path: under APP_BASE_URL's path prefix, if it has one)."""
    path = safe_return_path(value)
    if path is None or not path.startswith(portal_url(settings.base_path, tenant_id) + "/"):
        return None
    return path


async def start_customer_login(
    request: Request,
    session: SessionDep,
    *,
    settings: Settings,
    tenant: Tenant,
    service_desk_id: str | None,
    return_to: str | None,
    idps: list[IdentityProvider],
    email: str | None = None,
    message: str | None = None,
    login_base: str | None = None,
) -> Response:
    """Sign-in for a desk's page (or, with ``login_base`` and no desk, for the Guard bridge's
    journey): one provider, straight there; several, the picker, whose choices and email
    form lead to ``{login_base}/login``."""
    if not idps:
        return render(
            request,
            "portal/picker.html",
            {
                "title": i18n.N_("Sign in"),
                "idps": [],
                "tenant": tenant,
                "desk_id": service_desk_id,
                "message": None,
            },
            status_code=503,
        )
    if len(idps) == 1:
        return await begin_login(
            request,
            session,
            tenant=tenant,
            idp=idps[0],
            service_desk_id=service_desk_id,
            return_path=return_to,
        )
    routed = any(idp.email_domains for idp in idps)  # email routing only when domains are set
    return render(
        request,
        "portal/picker.html",
        {
            "title": i18n.N_("Sign in"),
            "idps": idps,
            "tenant": tenant,
            "desk_id": service_desk_id,
            "desk_link": login_base
            or desk_url(settings.base_path, tenant.id, service_desk_id or ""),
            "return_to": return_to or "",
            "routed": routed,
            "email": email or "",
            "message": message,
            "return_query": urlencode({"return_to": return_to}) if return_to else "",
        },
    )


LANGUAGE_COOKIE_DAYS = 365


@router.get("/portal/language/{code}", name="choose_language", include_in_schema=False)
async def choose_language(code: str, request: Request, settings: SettingsDep) -> Response:
    """The language switcher: remember the customer's choice (a cookie for this service's
    pages) and go back to the page it was chosen on, never anywhere else."""
    if code not in i18n.LANGUAGES:
        raise NotFoundError("this language is not offered")
    back = safe_return_path(request.query_params.get("next"))
    segments = urlsplit(back or "").path.split("/")
    if (
        back is None
        or not back.startswith(f"{settings.base_path}/portal/")
        or "." in segments
        or ".." in segments
    ):
        raise LoginError("choose your language from a page of the help center")
    response = RedirectResponse(back, status_code=303)
    response.set_cookie(
        i18n.COOKIE,
        code,
        max_age=LANGUAGE_COOKIE_DAYS * 24 * 3600,
        path=f"{settings.base_path}/" if settings.base_path else "/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/portal/{tenant_id}/signed-out", response_class=HTMLResponse, include_in_schema=False)
async def signed_out(tenant_id: str, request: Request) -> HTMLResponse:
    tenant = await portal_tenant(request, tenant_id)
    return render(
        request,
        "portal/signed_out.html",
        {
            "title": i18n.N_("Signed out"),
            "tenant": tenant,
            "idp_session_kept": request.query_params.get("idp_session") == "kept",
        },
    )


@router.get("/portal/{tenant_id}/logout", include_in_schema=False)
async def logout(
    tenant_id: str, request: Request, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> Response:
    tenant = await portal_tenant(request, tenant_id)
    ended = await end_session(session, tenant.id, read_session_cookie(request, settings, tenant.id))
    signed_out = signed_out_url(settings.app_base_url, tenant.id)
    target = signed_out
    if ended is not None:
        idp = await repository.get_idp(session, tenant.id, ended.idp_id)
        if idp is not None and PRESETS[idp.preset].kind == "saml":
            # SAML Single Logout where the IdP offers it; otherwise our session ends, the
            # IdP's may not, and the page says so.
            target = (
                await sp_initiated_logout_url(
                    session,
                    idp=idp,
                    handle=saml_session_of_row(ended),
                    app_base_url=settings.app_base_url,
                    box=box,
                )
                or f"{signed_out}?idp_session=kept"
            )
        elif idp is not None:
            try:
                target = (
                    await idp_logout_url(
                        request,
                        idp,
                        signed_out_url=signed_out,
                        id_token_encrypted=ended.id_token_encrypted,
                        box=box,
                    )
                    or signed_out
                )
            except IdentityProviderError:
                # Our session ends whatever the IdP's state: an unreachable discovery document
                # must not roll the sign-out back and leave the customer signed in.
                logger.warning("IdP sign-out endpoint unavailable; signed out locally only")
    response = RedirectResponse(target, status_code=303)
    clear_session_cookie(response, settings, tenant_id=tenant.id)
    response.headers["Cache-Control"] = "no-store"
    return response


def saml_session_of_row(ended: PortalSession) -> SessionHandle | None:
    if not ended.saml_name_id:
        return None
    return SessionHandle(
        name_id=ended.saml_name_id,
        name_id_format=ended.saml_name_id_format,
        session_index=ended.saml_session_index,
    )


async def idp_logout_url(
    request: Request,
    idp: IdentityProvider,
    *,
    signed_out_url: str,
    id_token_encrypted: str | None,
    box: SecretBox,
) -> str | None:
    """Where to end the IdP session too: Cognito's /logout, or OIDC RP-initiated logout."""
    cache: MetadataCache = services(request).get(MetadataCache)
    metadata = await cache.metadata(idp)
    endpoint = idp.logout_url or metadata.end_session_endpoint
    if not endpoint:
        return None
    if metadata.kind == "cognito":
        # Cognito: client_id + logout_uri (which must be in "Allowed sign-out URLs").
        params = {"client_id": idp.client_id, "logout_uri": signed_out_url}
    elif metadata.kind == "oidc":
        params = {"client_id": idp.client_id, "post_logout_redirect_uri": signed_out_url}
        if id_token_encrypted:
            params["id_token_hint"] = box.decrypt(id_token_encrypted)
    else:
        return endpoint
    separator = "&" if "?" in endpoint else "?"
    return f"{endpoint}{separator}{urlencode(params)}"


@router.get("/portal/{tenant_id}/{service_desk_id}/login/{idp_id}", include_in_schema=False)
async def login_with(
    tenant_id: str,
    service_desk_id: str,
    idp_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    return_to: str | None = None,
) -> Response:
    config = await portal_config(request, tenant_id)
    tenant = config.tenant
    check_desk_id(service_desk_id)
    idp = config.idp(idp_id)
    if idp is None or idp not in config.idps_for(service_desk_id):
        raise NotFoundError("this sign-in option is not available")
    return await begin_login(
        request,
        session,
        tenant=tenant,
        idp=idp,
        service_desk_id=service_desk_id,
        return_path=tenant_return_path(return_to, settings, tenant.id),
    )


def login_hint_of(address: str) -> str | None:
    """The address the customer typed, for their IdP's sign-in page to fill in (they typed
    it once already), unless it holds what no sign-in name holds: spaces or control
    characters."""
    if not address.isprintable() or any(character.isspace() for character in address):
        return None
    return address


@router.post("/portal/{tenant_id}/{service_desk_id}/login", include_in_schema=False)
async def login_by_email(
    tenant_id: str,
    service_desk_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    return_to: Annotated[str | None, Form(max_length=2048)] = None,
) -> Response:
    config = await portal_config(request, tenant_id)
    tenant = config.tenant
    check_desk_id(service_desk_id)
    return_path = tenant_return_path(return_to, settings, tenant.id)
    idp, message = route_by_email(config, email, desk_id=service_desk_id)
    if idp is not None:
        return await begin_login(
            request,
            session,
            tenant=tenant,
            idp=idp,
            service_desk_id=service_desk_id,
            return_path=return_path,
            login_hint=login_hint_of(email.strip()),
        )
    return await start_customer_login(
        request,
        session,
        settings=settings,
        tenant=tenant,
        service_desk_id=service_desk_id,
        return_to=return_path,
        idps=config.idps_for(service_desk_id),
        email=email,
        message=message,
    )


def route_by_email(
    config: TenantConfig, email: str, *, desk_id: str | None = None
) -> tuple[IdentityProvider | None, str]:
    """The one provider (of those the desk accepts) whose ``email_domains`` hold the
    address's domain, or the reason, for the picker, that there is none."""
    address = email.strip()
    domain = address.rpartition("@")[2].lower()
    if domain and not email_domain_allowed(address, config.settings.allowed_email_domains):
        # Said now, not after a sign-in at the IdP that the site would then refuse.
        return None, (
            f"This help center does not accept addresses at {domain}. Use the address your "
            "organization gave you."
        )
    offered = config.idps_for(desk_id) if desk_id else config.enabled_idps
    matches = [idp for idp in offered if domain and domain in idp.email_domains]
    if len(matches) == 1:
        return matches[0], ""
    return None, i18n.N_(
        "We could not tell your sign-in option from that address; choose one below."
    )
