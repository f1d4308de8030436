"""The admin JSON API (``/api/admin``), called by the admin iframe with a context JWT."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter
from pydantic_core import to_json

from app.admin.deps import AdminJWT
from app.admin.desk_access import describe as describe_access
from app.admin.providers import (
    MAX_DOMAINS,
    DomainName,
    IdpInput,
    create_test_ticket,
    describe_idp,
    require_idp,
    save_idp,
)
from app.admin.schemas import (
    GuardBridgeView,
    IdpView,
    LoginsPage,
    PortalView,
    PresetView,
    SettingsView,
    SiteView,
    SpKeyView,
    TestLinkView,
    VerifyView,
)
from app.config import Settings
from app.crypto import SecretBox
from app.db import SessionDep
from app.deps import HttpDep, SecretBoxDep, SettingsDep, services
from app.errors import InvalidInputError, JiraError, NotFoundError
from app.forge.auth import link_problem
from app.idps import repository
from app.idps.presets import PRESETS
from app.jsm import platform_api
from app.jsm import repository as jsm_repository
from app.jsm.directory import JiraDirectory
from app.jsm.provisioning import describe_settings
from app.login import access
from app.login.audit import recent_logins
from app.login.guard import certificate_problem, describe_bindings, describe_bridge_setting
from app.login.tenant_config import TenantConfig, tenant_config
from app.models import TenantSettings
from app.saml import sp_keys
from app.saml.metadata import fetch_metadata
from app.urls import (
    desk_url,
    saml_idp_metadata_url,
    saml_idp_sso_url,
    secure_endpoint_error,
    test_login_url,
)

router = APIRouter(prefix="/api/admin", tags=["admin"])
_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9-]+(\.[a-z0-9-]+)+$")


def _describe_presets() -> list[dict[str, Any]]:
    return [
        {
            "key": preset.key,
            "label": preset.label,
            "kind": preset.kind,
            "fields": [
                {
                    "name": f.name,
                    "label": f.label,
                    "required": f.required,
                    "help": f.help,
                    "default": f.default,
                    "kind": f.kind,
                    "choices": [{"value": v, "label": label} for v, label in f.choices],
                }
                for f in preset.fields
            ],
            "default_mapping": dict(preset.default_mapping),
        }
        for preset in PRESETS.values()
    ]


# The presets are constant data: serialise them once, not on every call.
_PRESETS_JSON = json.dumps(_describe_presets(), separators=(",", ":")).encode()


@router.get("/presets", response_model=list[PresetView])
async def list_presets(context: AdminJWT) -> Response:
    del context
    return Response(_PRESETS_JSON, media_type="application/json")


@router.get("/site", response_model=SiteView)
async def site(context: AdminJWT) -> dict[str, Any]:
    """Which site this is and how the app reaches it, with anything the admin should act on."""
    tenant = context.tenant
    return {
        "site_url": tenant.portal_base_url or None,
        "platform": tenant.platform,
        "warning": link_problem(tenant) if tenant.is_forge else None,
    }


@router.get("/idps", response_model=list[IdpView], response_model_exclude_unset=True)
async def list_idps(request: Request, context: AdminJWT, settings: SettingsDep) -> Response:
    config = await _site_config(request, context.tenant.id)

    def render() -> bytes:
        views = [describe_idp(idp, app_base_url=settings.app_base_url) for idp in config.idps]
        return _IDP_LIST.dump_json(_IDP_LIST.validate_python(views), exclude_unset=True)

    return Response(config.rendered("idps", render), media_type="application/json")


# What FastAPI would do with the route's response model, done once per configuration
# snapshot: the admin pages read these on every load, and the validation and encoding were
# a fifth of such a request's time (bench/jwt.py, py-spy).
_IDP_LIST = TypeAdapter(list[IdpView])
_SETTINGS = TypeAdapter(SettingsView)


async def _site_config(request: Request, tenant_id: str) -> TenantConfig:
    """The site's providers and settings as logins see them: from the per-process cache,
    which every write evicts at its commit (on every instance: ``app.tenants.cache``), so an
    admin's read-back shows their write. The admin pages read it on every load."""
    config = await tenant_config(request, tenant_id)
    if config is None:  # uninstalled between the token's check and here
        raise NotFoundError("this site is no longer installed")
    return config


@router.post("/idps", status_code=201, response_model=IdpView, response_model_exclude_unset=True)
async def create_idp(
    body: IdpInput,
    context: AdminJWT,
    session: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
    http: HttpDep,
) -> dict[str, Any]:
    idp = await save_idp(
        session,
        context.tenant.id,
        body,
        box=box,
        allow_http_loopback=settings.dev_allow_http_loopback,
        fetch_metadata=partial(fetch_metadata, http),
    )
    return describe_idp(idp, app_base_url=settings.app_base_url)


@router.get("/idps/{idp_id}", response_model=IdpView, response_model_exclude_unset=True)
async def get_idp(
    idp_id: str, context: AdminJWT, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    idp = await require_idp(session, context.tenant.id, idp_id)
    return describe_idp(idp, app_base_url=settings.app_base_url)


@router.put("/idps/{idp_id}", response_model=IdpView, response_model_exclude_unset=True)
async def update_idp(
    idp_id: str,
    body: IdpInput,
    context: AdminJWT,
    session: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
    http: HttpDep,
) -> dict[str, Any]:
    idp = await require_idp(session, context.tenant.id, idp_id)
    idp = await save_idp(
        session,
        context.tenant.id,
        body,
        box=box,
        allow_http_loopback=settings.dev_allow_http_loopback,
        idp=idp,
        fetch_metadata=partial(fetch_metadata, http),
    )
    return describe_idp(idp, app_base_url=settings.app_base_url)


def _describe_keys(keys: list[sp_keys.ActiveKey]) -> list[dict[str, Any]]:
    return [
        {
            "id": key.id,
            "subject": key.certificate.subject.rfc4514_string(),
            "not_after": key.certificate.not_valid_after_utc.isoformat(),
            "created_at": key.created_at.isoformat(),
            "signing": index == 0,
            "certificate_pem": key.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        }
        for index, key in enumerate(keys)
    ]


@router.get("/saml/sp-keys", response_model=list[SpKeyView])
async def list_sp_keys(
    context: AdminJWT, session: SessionDep, box: SecretBoxDep
) -> list[dict[str, Any]]:
    """The site's SAML service-provider keys, the signing one first (none until a SAML IdP
    is added)."""
    return _describe_keys(
        await sp_keys.active_keys(session, context.tenant.id, box=box, create=False)
    )


@router.post("/saml/sp-keys", response_model=list[SpKeyView], status_code=201)
async def add_sp_key(
    context: AdminJWT, session: SessionDep, box: SecretBoxDep
) -> list[dict[str, Any]]:
    """Rotate: a new key signs from now on; the others stay published until retired, so the
    IdPs can import the new certificate first."""
    await sp_keys.rotate(session, context.tenant.id, box=box)
    return _describe_keys(await sp_keys.active_keys(session, context.tenant.id, box=box))


@router.delete("/saml/sp-keys/{key_id}", response_model=list[SpKeyView])
async def retire_sp_key(
    key_id: str, context: AdminJWT, session: SessionDep, box: SecretBoxDep
) -> list[dict[str, Any]]:
    """Retire an older key once every IdP uses the new certificate."""
    await sp_keys.retire(session, context.tenant.id, key_id, now=datetime.now(UTC))
    return _describe_keys(
        await sp_keys.active_keys(session, context.tenant.id, box=box, create=False)
    )


@router.delete("/idps/{idp_id}", status_code=204)
async def delete_idp(
    idp_id: str, context: AdminJWT, session: SessionDep, confirm: bool = False
) -> Response:
    """Delete a provider. Where desks' access rules name it, the first call answers 409 with
    those desks (and which it would lock out: those it is the only provider of, which are
    turned off); ``?confirm=true`` then deletes it and updates them."""
    await require_idp(session, context.tenant.id, idp_id)
    named = await access.desks_naming(session, context.tenant.id, idp_id)
    if named and not confirm:
        return JSONResponse(
            {
                "error": "confirm_needed",
                "message": "desks' access rules name this provider; confirm to delete it",
                "desks": [
                    {"service_desk_id": row.service_desk_id, "locked_out": row.idps == [idp_id]}
                    for row in named
                ],
            },
            status_code=409,
        )
    for row in named:
        if row.idps == [idp_id]:
            # Its only provider gone: off, never "any provider" (an empty list's meaning).
            row.mode = "off"
        row.idps = [i for i in row.idps if i != idp_id]
    if not await repository.delete_idp(session, context.tenant.id, idp_id):
        raise NotFoundError("no such identity provider")
    return Response(status_code=204)


@router.post("/idps/{idp_id}/test", response_model=TestLinkView)
async def test_idp(
    idp_id: str, context: AdminJWT, session: SessionDep, settings: SettingsDep
) -> dict[str, str]:
    idp = await require_idp(session, context.tenant.id, idp_id)
    ticket = await create_test_ticket(
        session, context.tenant.id, idp, created_by=context.account_id
    )
    return {"url": test_login_url(settings.app_base_url, ticket)}


@router.get("/logins", response_model=LoginsPage)
async def list_logins(
    context: AdminJWT,
    session: SessionDep,
    limit: int = 50,
    # An id from next_before: login event ids are positive and fit the id column (int4).
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    limit = max(1, min(limit, 200))
    rows = await recent_logins(session, context.tenant.id, limit=limit, before_id=before)
    page = {
        "logins": [
            {
                "id": row.id,
                "time": row.occurred_at.isoformat(),
                "outcome": row.outcome,
                "reason": row.reason,
                "email": row.email,
                "account_id": row.account_id,
                "idp_id": row.idp_id,
                "idp_name": row.idp_name,
                "purpose": row.purpose,
            }
            for row in rows
        ],
        "next_before": rows[-1].id if len(rows) == limit else None,
    }
    # Typed columns, so no response validation: it cost as much as reading the rows.
    return Response(to_json(page), media_type="application/json")


class GuardBridgeInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    enabled: bool = False
    sp_entity_id: str = Field(default="", max_length=1000)
    acs_url: str = Field(default="", max_length=2048)
    sp_certificate: str | None = Field(default=None, max_length=20_000)
    bound_domains_only: bool = False


class SettingsInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    jira_auth: Literal["app", "api_token"] | None = None
    service_account_email: str | None = Field(default=None, max_length=320)
    service_account_token: SecretStr | None = Field(default=None, max_length=2000)
    landing: Literal["app_portal", "jsm_portal"] | None = None
    allowed_email_domains: list[DomainName] | None = Field(default=None, max_length=MAX_DOMAINS)
    auto_create_customers: bool | None = None
    organization_sync: bool | None = None
    guard_bridge: GuardBridgeInput | None = None


# Optional in a PUT (leave out what does not change), but never null.
_REQUIRED_SETTINGS = ("jira_auth", "landing", "auto_create_customers", "organization_sync")


def _describe_settings(settings: TenantSettings) -> dict[str, Any]:
    return {**describe_settings(settings), "guard_bridge": describe_bridge_setting(settings)}


@router.get("/settings", response_model=SettingsView)
async def get_settings(request: Request, context: AdminJWT) -> Response:
    config = await _site_config(request, context.tenant.id)

    def render() -> bytes:
        return _SETTINGS.dump_json(_SETTINGS.validate_python(_describe_settings(config.settings)))

    return Response(config.rendered("settings", render), media_type="application/json")


@router.put("/settings", response_model=SettingsView)
async def put_settings(
    body: SettingsInput,
    request: Request,
    context: AdminJWT,
    session: SessionDep,
    box: SecretBoxDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    current = await jsm_repository.settings_for_update(session, context.tenant.id)
    given = body.model_dump(exclude_unset=True, exclude={"service_account_token"})
    fields: dict[str, str] = {
        name: "choose a value; this setting cannot be empty"
        for name in _REQUIRED_SETTINGS
        if name in given and given[name] is None
    }
    domains = [d.strip().lower() for d in given.get("allowed_email_domains") or [] if d.strip()]
    for domain in domains:
        if not _DOMAIN.fullmatch(domain):
            fields["allowed_email_domains"] = f"{domain!r} is not a domain like example.com"
    email = given.get("service_account_email", current.service_account_email)
    if email and "@" not in email:
        fields["service_account_email"] = "enter the service account's email address"
    token = body.service_account_token.get_secret_value() if body.service_account_token else ""
    if given.get("jira_auth", current.jira_auth) == "api_token":
        if not email:
            fields["service_account_email"] = "enter the service account's email address"
        if not token and not current.service_account_token_encrypted:
            fields["service_account_token"] = "enter an API token of the service account"  # noqa: S105
    if "guard_bridge" in given:
        given["guard_bridge"] = bridge_input(
            body.guard_bridge,
            fields,
            allow_http_loopback=settings.dev_allow_http_loopback,
        )
    if fields:
        raise InvalidInputError("some fields need attention", fields=fields)
    for name, value in given.items():
        setattr(current, name, domains if name == "allowed_email_domains" else value)
    if token:
        current.service_account_token_encrypted = box.encrypt(token)
    await session.flush()
    directory: JiraDirectory = services(request).get(JiraDirectory)
    directory.forget(context.tenant.id)
    return _describe_settings(current)


def bridge_input(
    body: GuardBridgeInput | None, fields: dict[str, str], *, allow_http_loopback: bool
) -> dict[str, Any]:
    """The ``guard_bridge`` setting to store; problems go into ``fields``."""
    if body is None:
        fields["guard_bridge"] = "give the bridge's settings, or leave them out"
        return {}
    value = body.model_dump()
    if body.acs_url:
        problem = secure_endpoint_error(body.acs_url, allow_http_loopback=allow_http_loopback)
        if problem:
            fields["guard_bridge.acs_url"] = f"the ACS URL {problem}"
    if body.enabled and not body.sp_entity_id:
        fields["guard_bridge.sp_entity_id"] = (
            "paste the SP entity ID that Atlassian Administration shows for this provider"
        )
    if body.enabled and not body.acs_url:
        fields["guard_bridge.acs_url"] = (
            "paste the SP Assertion Consumer Service URL that Atlassian Administration shows"
        )
    if body.sp_certificate:
        problem = certificate_problem(body.sp_certificate)
        if problem:
            fields["guard_bridge.sp_certificate"] = problem
        else:
            value["sp_certificate"] = body.sp_certificate.strip()
    else:
        value["sp_certificate"] = None
    return value


@router.get("/guard-bridge", response_model=GuardBridgeView)
async def get_guard_bridge(
    context: AdminJWT, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> dict[str, Any]:
    """The Guard bridge's set-up: what to copy into Atlassian Guard (the site's signing key
    is made on the first call, as for the metadata URL), and whose email it asserts."""
    return await _bridge_view(session, context.tenant.id, settings=settings, box=box)


@router.post("/guard-bridge/keys", response_model=GuardBridgeView, status_code=201)
async def prepare_guard_key(
    context: AdminJWT, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> dict[str, Any]:
    """Rotation, step 1: a next key, published in the metadata, not yet signing."""
    await sp_keys.prepare_next_idp_key(session, context.tenant.id, box=box)
    return await _bridge_view(session, context.tenant.id, settings=settings, box=box)


@router.post("/guard-bridge/keys/switch", response_model=GuardBridgeView)
async def switch_guard_key(
    context: AdminJWT, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> dict[str, Any]:
    """Rotation, step 2, once Guard has the next certificate: it signs; the old is retired."""
    await sp_keys.switch_idp_key(session, context.tenant.id, box=box, now=datetime.now(UTC))
    return await _bridge_view(session, context.tenant.id, settings=settings, box=box)


async def _bridge_view(
    session: SessionDep, tenant_id: str, *, settings: Settings, box: SecretBox
) -> dict[str, Any]:
    keys = await sp_keys.active_keys(session, tenant_id, box=box, purpose=sp_keys.IDP)
    idps = await repository.list_idps(session, tenant_id)
    tenant_settings = await jsm_repository.get_settings(session, tenant_id)
    signing = sp_keys.idp_signing_key(keys)
    return {
        "entity_id": saml_idp_metadata_url(settings.app_base_url, tenant_id),
        "sso_url": saml_idp_sso_url(settings.app_base_url, tenant_id),
        "metadata_url": saml_idp_metadata_url(settings.app_base_url, tenant_id),
        # The signing key first; a next key, published but not signing, behind it.
        "keys": _describe_keys([signing, *(key for key in keys if key is not signing)]),
        "setting": describe_bridge_setting(tenant_settings),
        **describe_bindings(idps),
    }


@router.post("/settings/verify", response_model=VerifyView, response_model_exclude_unset=True)
async def verify_jira_connection(
    request: Request, context: AdminJWT, session: SessionDep
) -> dict[str, Any]:
    """Call Jira with the configured credentials and report who the app is there."""
    directory: JiraDirectory = services(request).get(JiraDirectory)
    jira = await directory.client(session, context.tenant)
    try:
        me = await platform_api.myself(jira)
    except JiraError as e:
        return {"ok": False, "message": e.message}
    admin = bool(me.account_id) and await directory.check_admin(
        jira, context.tenant, str(me.account_id)
    )
    return {
        "ok": True,
        "account_id": me.account_id,
        "display_name": me.display_name,
        "is_admin": admin,
    }


@router.get("/portals", response_model=list[PortalView])
async def list_portals(
    request: Request, context: AdminJWT, session: SessionDep, settings: SettingsDep
) -> list[dict[str, Any]]:
    directory: JiraDirectory = services(request).get(JiraDirectory)
    jira = await directory.client(session, context.tenant)
    desks = await directory.service_desks(jira, context.tenant, fresh=True)
    rules = await access.site_rules(session, context.tenant.id)
    return [
        {
            "service_desk_id": desk.id,
            "portal_id": desk.portal_id,
            "project_key": desk.project_key,
            "name": desk.name,
            "substitute_link": desk_url(settings.app_base_url, context.tenant.id, desk.id),
            "access": describe_access(desk.id, rules.get(desk.id)),
        }
        for desk in desks
    ]
