"""SAML Web Browser SSO as a sign-in flow: what ``app.login`` calls to start one at an IdP and
to finish it at our ACS, with the same state store as OpenID Connect (``app.idps.states``).

* Start: a fresh flow state; the browser goes to the IdP's SSO URL with an AuthnRequest
  whose ``ID`` is derived from the state and with the state as ``RelayState``.
* Finish: the posted ``RelayState`` names the state, which ``app.login`` has already checked
  and spent (this browser's, for this IdP, once). The Response must answer exactly that
  request (``InResponseTo``); its Assertion ID is remembered until it expires, so the same
  Assertion cannot be accepted twice on any instance. The attributes become claims that the
  admin's attribute mapping reads, as an ID token's claims are read.

The customer link is bound to (IdP entity id, NameID) when the NameID is persistent, else to
the email, which counts only where the admin trusts the IdP's addresses (``trust_email``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import urls
from app.crypto import SecretBox
from app.db import DATABASE_FAILURES
from app.errors import LoginError
from app.idps.mapping import effective_mapping, map_identity
from app.idps.presets import (
    NAME_ID_FORMAT_FIELD,
    PRESETS,
    SAML_ATTRIBUTE_NAMES,
    SHA1_FIELD,
    SIGNED_FIELD,
    UNSOLICITED_FIELD,
)
from app.idps.repository import get_idp, idps_of_preset
from app.idps.states import CompletedLogin, FlowStart, Purpose, create_state
from app.models import IdentityProvider, LoginState, Tenant
from app.saml import authn, sp_keys
from app.saml.logout import (
    IdpLogoutRequest,
    SessionHandle,
    logout_request,
    logout_response,
    read_idp_logout_request,
    redirect_url,
    verified_redirect_message,
)
from app.saml.metadata import IdpMetadata, MetadataError, fetch_metadata, parse_metadata
from app.saml.response import (
    SamlIdentity,
    SamlResponseError,
    ServiceProvider,
    SignedPart,
    TrustedIdp,
    decode_post,
    verify_response,
)
from app.saml.xml import UnsafeXmlError

EMAIL_NAME_ID = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
# Where an IdP configuration keeps what its metadata said (read when the admin saved it).
METADATA_KEY = "idp_metadata"

logger = logging.getLogger(__name__)

RememberAssertion = Callable[[str, datetime], Awaitable[bool]]
DecryptionKeys = Callable[[], Awaitable[Sequence[rsa.RSAPrivateKey]]]
# Reads the IdP's metadata URL again; the configuration as it is now, or None when nothing
# new could be read.
RefreshMetadata = Callable[[], Awaitable[IdentityProvider | None]]


@dataclass(frozen=True, slots=True)
class SamlIdpConfig:
    entity_id: str
    sso_url: str
    certificates: tuple[x509.Certificate, ...]
    want_authn_requests_signed: bool
    signed: SignedPart
    allow_sha1: bool


def saml_config(idp: IdentityProvider) -> SamlIdpConfig:
    """The IdP configuration's SAML side, or a ``LoginError`` when it was never completed."""
    stored = idp.settings.get(METADATA_KEY)
    if not isinstance(stored, dict) or not stored.get("sso_url"):
        raise LoginError("this sign-in option is not ready yet: its SAML metadata is missing")
    signed = idp.settings.get(SIGNED_FIELD) or "either"
    return SamlIdpConfig(
        entity_id=str(stored["entity_id"]),
        sso_url=str(stored["sso_url"]),
        certificates=tuple(
            x509.load_pem_x509_certificate(pem.encode()) for pem in stored["certificates"]
        ),
        want_authn_requests_signed=bool(stored.get("want_authn_requests_signed")),
        signed=cast(
            SignedPart, signed if signed in ("assertion", "response", "both") else "either"
        ),
        allow_sha1=idp.settings.get(SHA1_FIELD) == "accept",
    )


# An IdP's metadata URL is read again at most this often when a signature fails to verify
# (a rotated certificate), and on the schedule its validUntil/cacheDuration set.
MIN_REFETCH = timedelta(minutes=1)
REFRESH_CHECK_SECONDS = 15 * 60


def stored_metadata(metadata: IdpMetadata, *, read_at: datetime) -> dict[str, Any]:
    """What an IdP configuration keeps of its metadata (``METADATA_KEY``)."""
    return {
        "entity_id": metadata.entity_id,
        "sso_url": metadata.sso_url,
        "slo_url": metadata.slo_url,
        "want_authn_requests_signed": metadata.want_authn_requests_signed,
        "certificates": [
            c.certificate.public_bytes(serialization.Encoding.PEM).decode()
            for c in metadata.signing_certificates
        ],
        "read_at": read_at.isoformat(),
        "refresh_after": metadata.refresh_after(fetched_at=read_at).isoformat(),
    }


async def refresh_metadata(
    idp: IdentityProvider,
    http: httpx.AsyncClient,
    *,
    now: datetime,
    force: bool = False,
    allow_http_loopback: bool = False,
) -> bool:
    """Read the IdP's metadata URL again into ``idp.settings`` (the caller flushes); False
    when it has no URL, was tried less than ``MIN_REFETCH`` ago, is not due (unless
    ``force``), or cannot be read now (what was read before stays)."""
    url = idp.settings.get("metadata_url")
    if not url:
        return False
    stored = idp.settings.get(METADATA_KEY) or {}
    last_try = _instant(stored.get("tried_at")) or _instant(stored.get("read_at"))
    if last_try is not None and now - last_try < MIN_REFETCH:
        return False
    due = _instant(stored.get("refresh_after"))
    if not force and due is not None and due > now:
        return False
    try:
        metadata = parse_metadata(
            await fetch_metadata(http, str(url)),
            entity_id=idp.settings.get("entity_id") or None,
            now=now,
            allow_http_loopback=allow_http_loopback,
        )
    except (MetadataError, UnsafeXmlError) as e:
        logger.warning("SAML metadata of IdP %s not refreshed: %s", idp.id, e.message)
        idp.settings = {**idp.settings, METADATA_KEY: {**stored, "tried_at": now.isoformat()}}
        return False
    idp.settings = {**idp.settings, METADATA_KEY: stored_metadata(metadata, read_at=now)}
    return True


async def refresh_all_metadata_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    *,
    allow_http_loopback: bool,
) -> None:
    """The background task: every quarter of an hour, the SAML IdPs whose metadata is due
    (each in its own transaction, so one slow IdP delays only itself)."""
    while True:
        await asyncio.sleep(REFRESH_CHECK_SECONDS)
        try:
            async with sessionmaker() as session:
                ids = [(i.tenant_id, i.id) for i in await idps_of_preset(session, "saml")]
            for tenant_id, idp_id in ids:
                async with sessionmaker() as session:
                    idp = await get_idp(session, tenant_id, idp_id)
                    if idp is not None:
                        await refresh_metadata(
                            idp,
                            http,
                            now=datetime.now(UTC),
                            allow_http_loopback=allow_http_loopback,
                        )
                        await session.commit()
        except DATABASE_FAILURES:
            logger.warning("SAML metadata refresh failed; retrying later", exc_info=True)


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


async def sp_initiated_logout_url(
    session: AsyncSession,
    *,
    idp: IdentityProvider,
    handle: SessionHandle | None,
    app_base_url: str,
    box: SecretBox,
    now: datetime | None = None,
) -> str | None:
    """Where to send a customer who signs out so the IdP ends its session too: its SLO
    endpoint with our signed LogoutRequest; None when the IdP offers no Single Logout, the
    session names no NameID, or the site has no key to sign with."""
    stored = idp.settings.get(METADATA_KEY)
    slo_url = stored.get("slo_url") if isinstance(stored, dict) else None
    if not slo_url or handle is None:
        return None
    keys = await sp_keys.active_keys(session, idp.tenant_id, box=box, create=False)
    if not keys:
        return None
    document = logout_request(
        sp_entity_id=urls.saml_sp_entity_id(app_base_url, idp.id),
        destination=str(slo_url),
        handle=handle,
        now=now or datetime.now(UTC),
    )
    return redirect_url(
        str(slo_url), field="SAMLRequest", document=document, signing_key=keys[0].private_key
    )


async def idp_logout_answer(
    session: AsyncSession,
    *,
    idp: IdentityProvider,
    request: IdpLogoutRequest,
    app_base_url: str,
    box: SecretBox,
    now: datetime,
) -> str | None:
    """Our signed LogoutResponse to the IdP's SLO endpoint (from its metadata)."""
    stored = idp.settings.get(METADATA_KEY)
    slo_url = stored.get("slo_url") if isinstance(stored, dict) else None
    keys = await sp_keys.active_keys(session, idp.tenant_id, box=box, create=False)
    if not slo_url or not keys:
        return None
    document = logout_response(
        sp_entity_id=urls.saml_sp_entity_id(app_base_url, idp.id),
        destination=str(slo_url),
        in_response_to=request.id,
        now=now,
    )
    return redirect_url(
        str(slo_url), field="SAMLResponse", document=document, signing_key=keys[0].private_key
    )


def read_logout_request(
    idp: IdentityProvider, raw_query: str, *, app_base_url: str, now: datetime
) -> IdpLogoutRequest:
    """The IdP's LogoutRequest from the query it came in, verified (``LogoutError``)."""
    config = saml_config(idp)
    root = verified_redirect_message(
        raw_query,
        field="SAMLRequest",
        certificates=config.certificates,
        allow_sha1=config.allow_sha1,
    )
    return read_idp_logout_request(
        root,
        idp_entity_id=config.entity_id,
        slo_url=urls.saml_slo_url(app_base_url, idp.id),
        now=now,
    )


def saml_unsolicited_allowed(idp: IdentityProvider) -> bool:
    return PRESETS[idp.preset].kind == "saml" and idp.settings.get(UNSOLICITED_FIELD) == "accept"


# What ``create_state`` hands out (``secrets.token_urlsafe(32)``), carried as RelayState.
_FLOW_STATE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def is_flow_state(relay_state: str) -> bool:
    """Whether a RelayState has the shape of our flow state (then the Response must answer
    that sign-in); anything else can only be an IdP-initiated sign-in."""
    return bool(_FLOW_STATE.fullmatch(relay_state))


def service_provider(app_base_url: str, idp_id: str) -> ServiceProvider:
    return ServiceProvider(
        entity_id=urls.saml_sp_entity_id(app_base_url, idp_id),
        acs_url=urls.saml_acs_url(app_base_url, idp_id),
    )


def request_id_for(state: str) -> str:
    """The AuthnRequest's ID for a flow state: an xs:ID (a state is URL-safe base64, which
    may start with a digit or a hyphen, so it gets a prefix)."""
    return f"_{state}"


async def start_saml_login(
    session: AsyncSession,
    *,
    tenant: Tenant,
    idp: IdentityProvider,
    purpose: Purpose,
    app_base_url: str,
    box: SecretBox,
    browser_id: str | None,
    service_desk_id: str | None = None,
    return_path: str | None = None,
    now: datetime | None = None,
) -> FlowStart:
    config = saml_config(idp)
    signing_key = None
    if config.want_authn_requests_signed:
        signing_key = (await sp_keys.active_keys(session, tenant.id, box=box))[0].private_key
    created = await create_state(
        session,
        tenant_id=tenant.id,
        idp_id=idp.id,
        purpose=purpose,
        browser_id=browser_id,
        service_desk_id=service_desk_id,
        return_path=return_path,
        now=now,
    )
    sp = service_provider(app_base_url, idp.id)
    sent = authn.redirect(
        sp_entity_id=sp.entity_id,
        acs_url=sp.acs_url,
        sso_url=config.sso_url,
        relay_state=created.state,
        signing_key=signing_key,
        request_id=request_id_for(created.state),
        name_id_format=authn.NAME_ID_FORMATS.get(
            str(idp.settings.get(NAME_ID_FORMAT_FIELD) or ""), authn.UNSPECIFIED_NAME_ID
        ),
        now=now,
    )
    return FlowStart(authorize_url=sent.url, browser_id=created.browser_id)


async def complete_saml_login(
    *,
    idp: IdentityProvider,
    state: LoginState,
    params: dict[str, str],
    app_base_url: str,
    remember: RememberAssertion,
    decryption_keys: DecryptionKeys,
    refresh: RefreshMetadata,
    unsolicited: bool = False,
    now: datetime | None = None,
) -> CompletedLogin:
    """Verify the posted Response for this (already spent) state; ``params`` holds the
    form's ``SAMLResponse`` and the state it came back with. Our keys are loaded only for a
    Response that carries an encrypted Assertion."""
    now = now or datetime.now(UTC)
    config = saml_config(idp)
    document = decode_post(params.get("SAMLResponse", ""))
    keys = await decryption_keys() if b"EncryptedAssertion" in document else ()

    def verify(config: SamlIdpConfig) -> SamlIdentity:
        return verify_response(
            document,
            sp=service_provider(app_base_url, idp.id),
            idp=TrustedIdp(
                config.entity_id,
                config.certificates,
                require=config.signed,
                allow_sha1=config.allow_sha1,
            ),
            expected_request_id=None if unsolicited else request_id_for(params.get("state", "")),
            decryption_keys=keys,
            now=now,
        )

    try:
        verified = verify(config)
    except SamlResponseError as e:
        # The IdP may have rolled its certificate over: read its metadata again (at most
        # once a minute) and try once more with what it says now.
        if e.reason != "bad_signature" or (refreshed := await refresh()) is None:
            raise
        verified = verify(saml_config(refreshed))
    if not await remember(verified.assertion_id, verified.not_on_or_after):
        raise SamlResponseError("replayed_assertion")
    claims = saml_claims(verified)
    mapping = effective_mapping(PRESETS[idp.preset].default_mapping, idp.attribute_mapping)
    identity = None
    mapping_error: LoginError | None = None
    try:
        identity = map_identity(
            claims,
            mapping,
            issuer=verified.issuer,
            subject=_subject(verified, claims, mapping),
            trust_email=idp.trust_email,
        )
    except LoginError as e:
        mapping_error = e
    return CompletedLogin(
        purpose="test" if state.purpose == "test" else "login",
        state=state,
        identity=identity,
        mapping_error=mapping_error,
        claims=claims,
        id_token=None,
    )


def saml_claims(verified: SamlIdentity) -> dict[str, Any]:
    """The Assertion as claims: the NameID, then every attribute under its own name (one
    value as a string, several as a list), then the well-known names the mapping reads
    (``email``, ``name``, ...) where the IdP sent them under another name."""
    claims: dict[str, Any] = {"NameID": verified.name_id}
    if verified.name_id_format:
        claims["NameIDFormat"] = verified.name_id_format
    if verified.session_index:
        claims["SessionIndex"] = verified.session_index
    for name, values in verified.attributes.items():
        if values:
            claims[name] = values[0] if len(values) == 1 else list(values)
    for friendly, aliases in SAML_ATTRIBUTE_NAMES.items():
        if friendly not in claims:
            for alias in aliases:
                if alias in claims:
                    claims[friendly] = claims[alias]
                    break
    if "email" not in claims and verified.name_id_format == EMAIL_NAME_ID:
        claims["email"] = verified.name_id
    return claims


def saml_session_of(claims: dict[str, Any]) -> SessionHandle | None:
    """What a LogoutRequest for this sign-in must name, from its claims."""
    name_id = claims.get("NameID")
    if not isinstance(name_id, str):
        return None
    name_format, index = claims.get("NameIDFormat"), claims.get("SessionIndex")
    return SessionHandle(
        name_id=name_id,
        name_id_format=name_format if isinstance(name_format, str) else None,
        session_index=index if isinstance(index, str) else None,
    )


def _subject(verified: SamlIdentity, claims: dict[str, Any], mapping: dict[str, str]) -> str:
    if verified.persistent:
        return verified.name_id
    email = claims.get(mapping.get("email", "email"))
    return f"email:{str(email).strip().lower()}" if isinstance(email, str) else verified.name_id
