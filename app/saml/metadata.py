"""An IdP's SAML metadata (SAML 2.0 Metadata, OASIS saml-metadata-2.0-os), read into what the
service provider needs: the entity id, the single sign-on and logout endpoints for the
HTTP-Redirect binding, the signing certificates (several at once during a rollover) and
whether the IdP wants signed AuthnRequests.

The document may be a single ``EntityDescriptor`` or an ``EntitiesDescriptor`` (a federation's
aggregate, as Shibboleth federations publish); then ``entity_id`` picks the IdP."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from cryptography import x509
from lxml import etree
from pydantic import TypeAdapter, ValidationError

from app.errors import AppError
from app.saml.xml import parse_untrusted, xs_datetime
from app.urls import secure_endpoint_error

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"md": MD, "ds": DS}
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"

# Without validUntil or cacheDuration, metadata fetched from a URL is refreshed daily.
DEFAULT_CACHE = timedelta(hours=24)
# A certificate expiring within this is flagged on the admin page.
EXPIRY_WARNING = timedelta(days=30)


class MetadataError(AppError):
    """The metadata cannot be used; the message says why, for the admin."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=422)


@dataclass(frozen=True, slots=True)
class SigningCertificate:
    certificate: x509.Certificate

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def expires_soon(self, *, now: datetime) -> bool:
        return self.not_after - now < EXPIRY_WARNING

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()


@dataclass(frozen=True, slots=True)
class IdpMetadata:
    entity_id: str
    sso_url: str
    slo_url: str | None
    signing_certificates: tuple[SigningCertificate, ...]
    want_authn_requests_signed: bool
    valid_until: datetime | None
    cache_duration: timedelta | None

    def refresh_after(self, *, fetched_at: datetime) -> datetime:
        """When metadata fetched at ``fetched_at`` should be fetched again."""
        due = fetched_at + (self.cache_duration or DEFAULT_CACHE)
        return min(due, self.valid_until) if self.valid_until else due


async def fetch_metadata(http: httpx.AsyncClient, url: str) -> bytes:
    """The document at an IdP's metadata URL (through the shared client: its address policy,
    size and time limits), or ``MetadataError`` saying why not."""
    try:
        response = await http.get(url, headers={"Accept": "application/samlmetadata+xml, */*"})
    except httpx.HTTPError as e:
        raise MetadataError("the metadata URL could not be reached") from e
    if response.status_code != 200:
        raise MetadataError(f"the metadata URL answered HTTP {response.status_code}")
    return response.content


def parse_metadata(
    document: bytes,
    *,
    entity_id: str | None = None,
    now: datetime | None = None,
    allow_http_loopback: bool = False,
) -> IdpMetadata:
    """The IdP described by ``document``, or ``MetadataError`` saying what is missing.

    Its SSO and SLO URLs are where customers' browsers are sent: like every endpoint an
    admin gives, they must be https (plain http on loopback only in development)."""
    now = now or datetime.now(UTC)
    root = parse_untrusted(document)
    if root.tag == f"{{{MD}}}EntitiesDescriptor":
        candidates = root.findall(".//md:EntityDescriptor", NS)
    elif root.tag == f"{{{MD}}}EntityDescriptor":
        candidates = [root]
    else:
        raise MetadataError("this is not SAML metadata (no EntityDescriptor)")
    idps = [e for e in candidates if _idp_descriptor(e) is not None]
    if entity_id is not None:
        idps = [e for e in idps if e.get("entityID") == entity_id]
    if not idps:
        raise MetadataError(
            "the metadata describes no SAML 2.0 identity provider"
            + (f" with entity id {entity_id}" if entity_id else "")
        )
    if len(idps) > 1:
        raise MetadataError(
            "the metadata describes several identity providers; give the entity id of yours"
        )
    entity = idps[0]
    descriptor = _idp_descriptor(entity)
    if descriptor is None:  # filtered above; this satisfies the type checker
        raise MetadataError("the metadata describes no SAML 2.0 identity provider")
    valid_until = _earliest(_instant(root.get("validUntil")), _instant(entity.get("validUntil")))
    if valid_until is not None and valid_until <= now:
        raise MetadataError(f"the metadata expired on {valid_until:%Y-%m-%d} (validUntil)")
    sso = _endpoint(descriptor, "SingleSignOnService")
    if sso is None:
        raise MetadataError(
            "the identity provider offers no single sign-on over the HTTP-Redirect binding"
        )
    slo = _endpoint(descriptor, "SingleLogoutService")
    for label, url in (("sign-in", sso), ("sign-out", slo)):
        if url is not None and (
            problem := secure_endpoint_error(url, allow_http_loopback=allow_http_loopback)
        ):
            raise MetadataError(f"the identity provider's {label} URL {problem}")
    certificates = _signing_certificates(descriptor)
    if not certificates:
        raise MetadataError("the metadata has no signing certificate for the identity provider")
    return IdpMetadata(
        entity_id=str(entity.get("entityID") or ""),
        sso_url=sso,
        slo_url=slo,
        signing_certificates=certificates,
        want_authn_requests_signed=descriptor.get("WantAuthnRequestsSigned") in ("true", "1"),
        valid_until=valid_until,
        cache_duration=_earliest_duration(
            _duration(root.get("cacheDuration")), _duration(entity.get("cacheDuration"))
        ),
    )


def _idp_descriptor(entity: etree._Element) -> etree._Element | None:
    for descriptor in entity.findall("md:IDPSSODescriptor", NS):
        if SAML2_PROTOCOL in (descriptor.get("protocolSupportEnumeration") or "").split():
            return descriptor
    return None


def _endpoint(descriptor: etree._Element, kind: str) -> str | None:
    for service in descriptor.findall(f"md:{kind}", NS):
        location = (service.get("Location") or "").strip()
        if service.get("Binding") == REDIRECT_BINDING and location:
            return location
    return None


def _signing_certificates(descriptor: etree._Element) -> tuple[SigningCertificate, ...]:
    found: list[SigningCertificate] = []
    for key in descriptor.findall("md:KeyDescriptor", NS):
        if key.get("use") not in (None, "signing"):
            continue  # encryption only
        for text in key.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS):
            der = base64.b64decode("".join((text.text or "").split()), validate=True)
            try:
                certificate = x509.load_der_x509_certificate(der)
            except ValueError as e:
                raise MetadataError("a signing certificate in the metadata is unreadable") from e
            if all(c.certificate != certificate for c in found):
                found.append(SigningCertificate(certificate))
    return tuple(found)


def _instant(value: str | None) -> datetime | None:
    try:
        return xs_datetime(value)
    except ValueError as e:
        raise MetadataError(f"the metadata has an unreadable date: {(value or '')[:40]}") from e


def _earliest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _earliest_duration(*values: timedelta | None) -> timedelta | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _duration(value: str | None) -> timedelta | None:
    """An xs:duration (``PT6H``, ``P1D``), read by Pydantic's ISO 8601 parser (a year counts
    365 days and a month 30, close enough for a cache lifetime)."""
    if not value:
        return None
    try:
        return _DURATION.validate_python(value.strip())
    except ValidationError as e:
        raise MetadataError(f"the metadata has an unreadable cacheDuration: {value[:40]}") from e


_DURATION = TypeAdapter(timedelta)
