"""Identity-provider configuration: validation (per-field messages) and persistence."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import new_opaque_id
from app.crypto import SecretBox
from app.errors import InvalidInputError, NotFoundError
from app.idps import repository
from app.idps.mapping import MAPPABLE, effective_mapping
from app.idps.presets import (
    DEFAULT_SCOPES,
    PRESETS,
    ROUTING_FIELD,
    SHA1_FIELD,
    SIGNED_FIELD,
    field_error,
    normalise_issuer,
)
from app.models import IdentityProvider, TestTicket
from app.saml import sp_keys
from app.saml.login import METADATA_KEY, service_provider, stored_metadata
from app.saml.metadata import MetadataError, SigningCertificate, parse_metadata
from app.saml.xml import MAX_DOCUMENT_BYTES, UnsafeXmlError
from app.urls import callback_url, secure_endpoint_error, signed_out_url

TEST_TICKET_LIFETIME = timedelta(minutes=5)
PRESET_FIELDS = (
    "domain",
    "issuer",
    "tenant",
    "user_pool_id",
    "authorization_server",
    "base_url",
    "realm",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    ROUTING_FIELD,
    "metadata_url",
    "metadata_xml",
    "name_id_format",
    "idp_initiated",
    "entity_id",
    SIGNED_FIELD,
    SHA1_FIELD,
)
# RFC 6749 3.3 scope-token characters.
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9-]+(\.[a-z0-9-]+)+$")


# Bounds on what one site stores: the app caches each site's providers in every process it
# serves, so what an admin saves is held in memory beside every other site's.
MAX_IDPS_PER_TENANT = 20
MAX_DOMAINS = 200
ClaimName = Annotated[str, StringConstraints(max_length=200)]
DomainName = Annotated[str, StringConstraints(max_length=253)]


class IdpInput(BaseModel):
    """The body of POST/PUT /api/admin/idps. On PUT, absent fields keep their stored value
    and an absent or empty client_secret keeps the stored secret."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, max_length=100)
    preset: str | None = None
    client_id: str | None = Field(default=None, max_length=255)
    client_secret: SecretStr | None = Field(default=None, max_length=2000)
    scopes: str | None = Field(default=None, max_length=500)
    logout_url: str | None = Field(default=None, max_length=1000)
    # Keys are checked against MAPPABLE, so their number is bounded too.
    attribute_mapping: dict[str, ClaimName] | None = None
    email_domains: list[DomainName] | None = Field(default=None, max_length=MAX_DOMAINS)
    enabled: bool | None = None
    trust_email: bool | None = None
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = None
    domain: str | None = Field(default=None, max_length=253)
    issuer: str | None = Field(default=None, max_length=1000)
    tenant: str | None = Field(default=None, max_length=100)
    user_pool_id: str | None = Field(default=None, max_length=100)
    authorization_server: str | None = Field(default=None, max_length=100)
    base_url: str | None = Field(default=None, max_length=1000)
    realm: str | None = Field(default=None, max_length=100)
    authorization_endpoint: str | None = Field(default=None, max_length=1000)
    token_endpoint: str | None = Field(default=None, max_length=1000)
    userinfo_endpoint: str | None = Field(default=None, max_length=1000)
    identity_provider: str | None = Field(default=None, max_length=100)
    # SAML 2.0: the IdP's metadata (a URL, or the document pasted) and the signature rules.
    metadata_url: str | None = Field(default=None, max_length=1000)
    metadata_xml: str | None = Field(default=None, max_length=MAX_DOCUMENT_BYTES)
    entity_id: str | None = Field(default=None, max_length=1000)
    name_id_format: str | None = Field(default=None, max_length=20)
    idp_initiated: str | None = Field(default=None, max_length=20)
    signed: str | None = Field(default=None, max_length=20)
    sha1: str | None = Field(default=None, max_length=20)


def _validate(
    values: dict[str, Any], *, has_secret: bool, allow_http_loopback: bool
) -> dict[str, str]:
    errors: dict[str, str] = {}

    def url_error(value: str) -> str | None:
        return secure_endpoint_error(value, allow_http_loopback=allow_http_loopback)

    if not values.get("name"):
        errors["name"] = "enter a name customers will recognise"
    preset = PRESETS.get(values.get("preset") or "")
    if preset is None:
        errors["preset"] = "choose one of: " + ", ".join(PRESETS)
        return errors
    if preset.kind == "saml":
        if bool(values["settings"].get("metadata_url")) == bool(
            values["settings"].get("metadata_xml")
        ):
            errors["metadata_url"] = (
                "give the metadata URL, or paste the metadata XML (one of them)"
            )
    elif not values.get("client_id"):
        errors["client_id"] = "enter the client (application) ID from your identity provider"
    if preset.kind != "saml" and not has_secret:
        # Confidential clients only: the secret proves to the IdP that the code is redeemed
        # by this app (PKCE is used as well).
        errors["client_secret"] = "enter the client secret of a confidential app client"  # noqa: S105
    for spec in preset.fields:
        value = values["settings"].get(spec.name) or ""
        if not value:
            if spec.required:
                errors[spec.name] = f"enter the {spec.label.lower()}"
            continue
        message = field_error(spec, value, url_error=url_error, allow_loopback=allow_http_loopback)
        if message:
            errors[spec.name] = message
    scopes = values.get("scopes") or ""
    if not all(_SCOPE_TOKEN.fullmatch(token) for token in scopes.split()):
        errors["scopes"] = "separate scopes with spaces; quotes and backslashes are not allowed"
    if values.get("logout_url"):
        message = url_error(values["logout_url"])
        if message:
            errors["logout_url"] = message
    for key in values.get("attribute_mapping") or {}:
        if key not in MAPPABLE:
            errors["attribute_mapping"] = f"unknown attribute {key!r}; use: {', '.join(MAPPABLE)}"
    for domain in values.get("email_domains") or []:
        if not _DOMAIN.fullmatch(domain):
            errors["email_domains"] = f"{domain!r} is not a domain like example.com"
    for name in ("enabled", "trust_email", "token_auth_method"):
        if values.get(name) is None:  # given as null: leave it out to keep the current value
            errors[name] = "choose a value; this setting cannot be empty"
    return errors


def _merged(idp: IdentityProvider | None, data: IdpInput) -> dict[str, Any]:
    given = data.model_dump(exclude_unset=True, exclude={"client_secret"})
    settings = dict(idp.settings) if idp else {}
    if "preset" in given and idp is not None and given["preset"] != idp.preset:
        settings = {}
    for name in PRESET_FIELDS:
        if name in given:
            settings[name] = given.pop(name) or None
    if settings.get("issuer"):
        settings["issuer"] = normalise_issuer(str(settings["issuer"]))
    if settings.get("domain"):
        settings["domain"] = str(settings["domain"]).lower().removeprefix("https://").rstrip("/")
    base: dict[str, Any] = {
        "name": idp.name if idp else None,
        "preset": idp.preset if idp else None,
        "client_id": idp.client_id if idp else None,
        "scopes": idp.scopes if idp else DEFAULT_SCOPES,
        "logout_url": idp.logout_url if idp else None,
        "attribute_mapping": dict(idp.attribute_mapping or {}) if idp else {},
        "email_domains": list(idp.email_domains) if idp else [],
        "enabled": idp.enabled if idp else True,
        "trust_email": idp.trust_email if idp else False,
        "token_auth_method": idp.token_auth_method if idp else "client_secret_basic",
    }
    base.update(given)
    # Only the chosen preset's fields: a value its form does not have would do nothing, yet
    # read back as if it did.
    preset = PRESETS.get(base["preset"] or "")
    known = {spec.name for spec in preset.fields} if preset else set(PRESET_FIELDS)
    if preset is not None and preset.kind == "saml":
        known.add(METADATA_KEY)  # what the metadata said, read when it was last given
        base["client_id"] = ""
    base["settings"] = {k: v for k, v in settings.items() if v and k in known}
    base["attribute_mapping"] = base["attribute_mapping"] or {}  # null: the preset's defaults
    base["email_domains"] = [d.strip().lower() for d in base["email_domains"] or [] if d.strip()]
    base["scopes"] = " ".join((base["scopes"] or DEFAULT_SCOPES).split())
    return base


def _identity(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The settings that say whose accounts sign in: not the upstream provider an IdP routes
    to, which keeps a pinned issuer (the same issuer still signs the tokens)."""
    return {k: v for k, v in (settings or {}).items() if k != ROUTING_FIELD}


FetchMetadata = Callable[[str], Awaitable[bytes]]


async def save_idp(
    session: AsyncSession,
    tenant_id: str,
    data: IdpInput,
    *,
    box: SecretBox,
    allow_http_loopback: bool,
    idp: IdentityProvider | None = None,
    fetch_metadata: FetchMetadata | None = None,
) -> IdentityProvider:
    values = _merged(idp, data)
    secret = data.client_secret.get_secret_value() if data.client_secret else ""
    has_secret = bool(secret) or bool(idp and idp.client_secret_encrypted)
    errors = _validate(values, has_secret=has_secret, allow_http_loopback=allow_http_loopback)
    if errors:
        raise InvalidInputError("some fields need attention", fields=errors)
    if PRESETS[values["preset"]].kind == "saml":
        await _read_saml_metadata(
            values, idp, fetch_metadata, allow_http_loopback=allow_http_loopback
        )
        secret = ""
        # The site's SP key, made now: the metadata the IdP's admin downloads names it.
        await sp_keys.active_keys(session, tenant_id, box=box)
    if idp is None:
        if await repository.count_idps(session, tenant_id) >= MAX_IDPS_PER_TENANT:
            raise InvalidInputError(
                f"a site can have at most {MAX_IDPS_PER_TENANT} identity providers; delete one "
                "you no longer use first"
            )
        idp = IdentityProvider(
            id=new_opaque_id(),
            tenant_id=tenant_id,
            position=await repository.next_position(session, tenant_id),
        )
        session.add(idp)
    identity_changed = _identity(idp.settings) != _identity(values["settings"]) or (
        idp.preset != values["preset"]
    )
    for name in (
        "name",
        "preset",
        "client_id",
        "scopes",
        "logout_url",
        "attribute_mapping",
        "email_domains",
        "enabled",
        "trust_email",
        "token_auth_method",
        "settings",
    ):
        setattr(idp, name, values[name])
    if identity_changed:
        # A pinned issuer belongs to the configuration it was learned for.
        idp.pinned_issuer = None
        idp.pinned_jwks_uri = None
    if secret:
        idp.client_secret_encrypted = box.encrypt(secret)
    await session.flush()
    return idp


SAML_SOURCE_FIELDS = ("metadata_url", "metadata_xml", "entity_id")


async def _read_saml_metadata(
    values: dict[str, Any],
    idp: IdentityProvider | None,
    fetch: FetchMetadata | None,
    *,
    allow_http_loopback: bool,
) -> None:
    """Read the IdP's metadata into ``values["settings"]`` when its source changed (or was
    never read); a metadata URL is fetched now, so a wrong one is caught while the admin is
    still on the form."""
    settings = values["settings"]
    before = idp.settings if idp is not None else {}
    unchanged = all(before.get(f) == settings.get(f) for f in SAML_SOURCE_FIELDS)
    if unchanged and isinstance(settings.get(METADATA_KEY), dict):
        return
    source = "metadata_url" if settings.get("metadata_url") else "metadata_xml"
    try:
        if source == "metadata_url":
            if fetch is None:
                raise MetadataError("the metadata URL cannot be read from here")
            document = await fetch(settings["metadata_url"])
        else:
            document = str(settings["metadata_xml"]).encode()
        metadata = parse_metadata(
            document,
            entity_id=settings.get("entity_id") or None,
            allow_http_loopback=allow_http_loopback,
        )
    except (MetadataError, UnsafeXmlError) as e:
        raise InvalidInputError("some fields need attention", fields={source: e.message}) from e
    settings[METADATA_KEY] = stored_metadata(metadata, read_at=datetime.now(UTC))


def describe_saml(idp: IdentityProvider, *, app_base_url: str) -> dict[str, Any]:
    """What the admin page shows of a SAML IdP: what we read from its metadata (certificate
    expiry flagged 30 days ahead) and what to import into it."""
    sp = service_provider(app_base_url, idp.id)
    described: dict[str, Any] = {
        "sp_entity_id": sp.entity_id,
        "acs_url": sp.acs_url,
        "sp_metadata_url": sp.entity_id,
    }
    stored = idp.settings.get(METADATA_KEY)
    if isinstance(stored, dict):
        now = datetime.now(UTC)
        certificates = [
            SigningCertificate(x509.load_pem_x509_certificate(pem.encode()))
            for pem in stored.get("certificates", [])
        ]
        described["idp_entity_id"] = stored.get("entity_id")
        described["idp_sso_url"] = stored.get("sso_url")
        described["idp_certificates"] = [
            {
                "subject": c.subject,
                "not_after": c.not_after.isoformat(),
                "expires_soon": c.expires_soon(now=now),
            }
            for c in certificates
        ]
    return described


async def require_idp(session: AsyncSession, tenant_id: str, idp_id: str) -> IdentityProvider:
    idp = await repository.get_idp(session, tenant_id, idp_id)
    if idp is None:
        raise NotFoundError("no such identity provider")
    return idp


def describe_idp(idp: IdentityProvider, *, app_base_url: str) -> dict[str, Any]:
    """The API view of an IdP: everything but secrets."""
    preset = PRESETS[idp.preset]
    ready = preset.kind != "cognito" or bool(
        idp.pinned_issuer or idp.settings.get("issuer") or idp.settings.get("user_pool_id")
    )
    saml = describe_saml(idp, app_base_url=app_base_url) if preset.kind == "saml" else {}
    return {
        "id": idp.id,
        "name": idp.name,
        "preset": idp.preset,
        "preset_label": preset.label,
        "client_id": idp.client_id,
        "has_client_secret": bool(idp.client_secret_encrypted),
        "scopes": idp.scopes,
        "logout_url": idp.logout_url,
        "attribute_mapping": effective_mapping(preset.default_mapping, idp.attribute_mapping),
        "email_domains": list(idp.email_domains),
        "enabled": idp.enabled,
        "trust_email": idp.trust_email,
        "token_auth_method": idp.token_auth_method,
        **{name: idp.settings.get(name) for name in PRESET_FIELDS if idp.settings.get(name)},
        "callback_url": callback_url(app_base_url, idp.id),
        "signed_out_url": signed_out_url(app_base_url, idp.tenant_id),
        "pinned_issuer": idp.pinned_issuer,
        "pinned_jwks_uri": idp.pinned_jwks_uri,
        "ready": ready,
        "last_tested_at": idp.last_tested_at.isoformat() if idp.last_tested_at else None,
        "last_test_claim_names": sorted(idp.last_test_claims or {}),
        # A SAML IdP answers at the ACS, which the contract calls its callback URL too.
        **saml,
        **({"callback_url": saml["acs_url"]} if saml else {}),
    }


async def create_test_ticket(
    session: AsyncSession, tenant_id: str, idp: IdentityProvider, *, created_by: str | None
) -> str:
    ticket = secrets.token_urlsafe(32)
    session.add(
        TestTicket(
            ticket_hash=repository.digest(ticket),
            tenant_id=tenant_id,
            idp_id=idp.id,
            created_by=created_by,
            expires_at=datetime.now(UTC) + TEST_TICKET_LIFETIME,
        )
    )
    await session.flush()
    return ticket
