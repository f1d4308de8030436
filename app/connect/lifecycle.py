"""Lifecycle callbacks from Jira: installed, uninstalled (RS256), enabled, disabled (HS256)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from app.config import Settings
from app.connect.deps import authenticate_tenant_token, bearer_jwt, request_target
from app.connect.install_keys import InstallKeyStore
from app.connect.jwt import TokenError, install_token_kid, query_string_hash, verify_install_token
from app.db import SessionDep
from app.deps import SecretBoxDep, SettingsDep, services
from app.errors import AppError, InvalidInputError
from app.tenants import repository as tenants
from app.urls import host_allowed, secure_endpoint_error

router = APIRouter(prefix="/lifecycle", tags=["lifecycle"])


class LifecyclePayload(BaseModel):
    """The body Jira posts to every lifecycle URL (only what the app uses)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    client_key: str = Field(alias="clientKey", min_length=1, max_length=255)
    shared_secret: SecretStr | None = Field(default=None, alias="sharedSecret")
    base_url: str = Field(alias="baseUrl", min_length=1, max_length=255)
    display_url: str | None = Field(default=None, alias="displayUrl", max_length=255)
    product_type: str | None = Field(default=None, alias="productType", max_length=32)
    description: str | None = Field(default=None, max_length=255)
    event_type: str | None = Field(default=None, alias="eventType")


def parse_payload(body: bytes) -> LifecyclePayload:
    try:
        return LifecyclePayload.model_validate(json.loads(body))
    except (ValueError, ValidationError) as e:
        raise InvalidInputError("lifecycle payload is not valid JSON of the expected shape") from e


class TenantHostError(AppError):
    status_code = 403
    code = "host_not_allowed"


def check_tenant_urls(payload: LifecyclePayload, settings: Settings) -> None:
    allow_loopback = settings.dev_allow_http_loopback
    reason = secure_endpoint_error(payload.base_url, allow_http_loopback=allow_loopback)
    host = urlsplit(payload.base_url).hostname or ""
    if reason is None and not host_allowed(host, settings.allowed_install_hosts):
        reason = "host is not in ALLOWED_INSTALL_HOSTS"
    if reason is not None:
        raise TenantHostError(f"baseUrl {reason}")
    if payload.display_url:
        reason = secure_endpoint_error(payload.display_url, allow_http_loopback=allow_loopback)
        if reason is not None:
            raise TenantHostError(f"displayUrl {reason}")


async def verify_signed_lifecycle(request: Request, settings: Settings) -> LifecyclePayload:
    """Verify Atlassian's RS256 install token against the body it signs."""
    token = bearer_jwt(request)
    if token is None:
        raise TokenError("missing install token")
    kid = install_token_kid(token)
    payload = parse_payload(await request.body())
    keys: InstallKeyStore = services(request).get(InstallKeyStore)
    public_key = await keys.get(kid)
    path, query = request_target(request, settings)
    verify_install_token(
        token,
        public_key=public_key,
        app_base_url=settings.app_base_url,
        client_key=payload.client_key,
        method=request.method,
        path=path,
        query=query,
        leeway=settings.jwt_leeway_seconds,
    )
    return payload


@router.post("/installed", status_code=204)
async def installed(
    request: Request, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> Response:
    payload = await verify_signed_lifecycle(request, settings)
    check_tenant_urls(payload, settings)
    if payload.shared_secret is None or not payload.shared_secret.get_secret_value():
        raise InvalidInputError("installed payload has no sharedSecret")
    await tenants.upsert_installation(
        session,
        tenants.Installation(
            client_key=payload.client_key,
            shared_secret_encrypted=box.encrypt(payload.shared_secret.get_secret_value()),
            base_url=payload.base_url.rstrip("/"),
            display_url=payload.display_url.rstrip("/") if payload.display_url else None,
            product_type=payload.product_type,
            description=payload.description,
        ),
    )
    return Response(status_code=204)


@router.post("/uninstalled", status_code=204)
async def uninstalled(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    payload = await verify_signed_lifecycle(request, settings)
    await tenants.mark_uninstalled(session, payload.client_key)
    return Response(status_code=204)


async def _verify_tenant_lifecycle(
    request: Request, session: SessionDep, settings: Settings, box: SecretBoxDep
) -> str:
    path, query = request_target(request, settings)
    context = await authenticate_tenant_token(
        session,
        token=bearer_jwt(request),
        expected_qsh=query_string_hash(request.method, path, query),
        settings=settings,
        box=box,
        # `disabled` may race an `uninstalled`; accept it for an inactive tenant too.
        require_active=False,
    )
    payload = parse_payload(await request.body())
    if payload.client_key != context.tenant.client_key:
        raise TokenError("token issuer does not match the clientKey")
    return context.tenant.client_key


@router.post("/enabled", status_code=204)
async def enabled(
    request: Request, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> Response:
    client_key = await _verify_tenant_lifecycle(request, session, settings, box)
    await tenants.set_enabled(session, client_key, enabled=True)
    return Response(status_code=204)


@router.post("/disabled", status_code=204)
async def disabled(
    request: Request, session: SessionDep, settings: SettingsDep, box: SecretBoxDep
) -> Response:
    client_key = await _verify_tenant_lifecycle(request, session, settings, box)
    await tenants.set_enabled(session, client_key, enabled=False)
    return Response(status_code=204)
