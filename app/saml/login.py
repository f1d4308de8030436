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

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncSession

from app import urls
from app.crypto import SecretBox
from app.errors import LoginError
from app.idps.mapping import effective_mapping, map_identity
from app.idps.presets import (
    NAME_ID_FORMAT_FIELD,
    PRESETS,
    SAML_ATTRIBUTE_NAMES,
    SHA1_FIELD,
    SIGNED_FIELD,
)
from app.idps.states import CompletedLogin, FlowStart, Purpose, create_state
from app.models import IdentityProvider, LoginState, Tenant
from app.saml import authn, sp_keys
from app.saml.response import (
    SamlIdentity,
    SamlResponseError,
    ServiceProvider,
    SignedPart,
    TrustedIdp,
    decode_post,
    verify_response,
)

EMAIL_NAME_ID = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
# Where an IdP configuration keeps what its metadata said (read when the admin saved it).
METADATA_KEY = "idp_metadata"

RememberAssertion = Callable[[str, datetime], Awaitable[bool]]
DecryptionKeys = Callable[[], Awaitable[Sequence[rsa.RSAPrivateKey]]]


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
    now: datetime | None = None,
) -> CompletedLogin:
    """Verify the posted Response for this (already spent) state; ``params`` holds the
    form's ``SAMLResponse`` and the state it came back with. Our keys are loaded only for a
    Response that carries an encrypted Assertion."""
    now = now or datetime.now(UTC)
    config = saml_config(idp)
    document = decode_post(params.get("SAMLResponse", ""))
    keys = await decryption_keys() if b"EncryptedAssertion" in document else ()
    verified = verify_response(
        document,
        sp=service_provider(app_base_url, idp.id),
        idp=TrustedIdp(
            config.entity_id,
            config.certificates,
            require=config.signed,
            allow_sha1=config.allow_sha1,
        ),
        expected_request_id=request_id_for(params.get("state", "")),
        decryption_keys=keys,
        now=now,
    )
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


def _subject(verified: SamlIdentity, claims: dict[str, Any], mapping: dict[str, str]) -> str:
    if verified.persistent:
        return verified.name_id
    email = claims.get(mapping.get("email", "email"))
    return f"email:{str(email).strip().lower()}" if isinstance(email, str) else verified.name_id
