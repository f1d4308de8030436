"""Verify a SAML Response (Web Browser SSO profile, HTTP-POST binding) and return the identity
its signature covers.

The rules, each failing with its own ``SamlResponseError`` code (and test):

* Parsed by ``app.saml.xml`` (no DOCTYPE, entities, network; size and depth bounded).
* A ``samlp:Response`` of version 2.0 whose ``StatusCode`` is Success; any other status is a
  ``SamlStatusError`` whose message the customer's page shows.
* Exactly one ``saml:Assertion`` (or one ``saml:EncryptedAssertion``, decrypted with our
  keys by ``app.saml.encryption``) in the whole document, a child of the Response.
* Signatures verified by signxml against the certificates of the IdP configuration the ACS
  URL names, never a certificate from the message's ``KeyInfo``. The signature must be a
  child of the element it signs and reference that element's ``ID``; what is read afterwards
  is read only from what signxml returns as signed (its defence against signature
  wrapping). ``require`` says which element must be signed; SHA-1 only when allowed.
* Issuer (Response and Assertion) is the IdP's entity id; Destination and the bearer
  ``SubjectConfirmationData``'s Recipient are our ACS URL; ``InResponseTo`` is the request
  this browser started (or absent, when unsolicited responses are allowed);
  ``NotBefore``/``NotOnOrAfter`` hold within ``clock_skew``; every ``AudienceRestriction``
  names our entity id.
* The NameID and attribute values are single text nodes (``text_of``): a comment or a
  processing instruction inside them cannot shorten what is read.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import (  # type: ignore[attr-defined]
    DigestAlgorithm,
    InvalidInput,
    InvalidSignature,
    SignatureConfiguration,
    SignatureMethod,
    XMLVerifier,
)
from signxml.exceptions import InvalidCertificate, InvalidDigest

from app.errors import LoginError
from app.saml.encryption import DecryptionError, decrypt_assertion
from app.saml.xml import MAX_DOCUMENT_BYTES, UnsafeXmlError, parse_untrusted, text_of, xs_datetime

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS}
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"

SignedPart = Literal["assertion", "response", "either", "both"]

_SHA2_METHODS = frozenset(m for m in SignatureMethod if "SHA1" not in m.name)
_SHA2_DIGESTS = frozenset(d for d in DigestAlgorithm if "SHA1" not in d.name)


class SamlResponseError(LoginError):
    """The Response was refused. ``reason`` is for the login activity and the logs; the
    message is what the customer's page says (the same for every forgery)."""

    code = "saml_response_refused"

    def __init__(self, reason: str, message: str = "the sign-in answer could not be verified"):
        super().__init__(message)
        self.reason = reason
        self.audit_detail = f"{message} ({reason})"


class SamlStatusError(LoginError):
    """The IdP answered with a status other than Success (the customer cancelled, say)."""

    code = "idp_refused"

    def __init__(self, status: str, detail: str | None) -> None:
        readable = status.rsplit(":", 1)[-1]
        super().__init__(
            f"your identity provider did not sign you in ({readable})"
            + (f": {detail}" if detail else "")
        )
        self.status = status


@dataclass(frozen=True, slots=True)
class ServiceProvider:
    entity_id: str
    acs_url: str


@dataclass(frozen=True, slots=True)
class TrustedIdp:
    """What the IdP configuration named by the ACS URL trusts."""

    entity_id: str
    certificates: Sequence[x509.Certificate]
    require: SignedPart = "either"
    allow_sha1: bool = False
    clock_skew: timedelta = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class SamlIdentity:
    issuer: str
    name_id: str
    name_id_format: str | None
    assertion_id: str
    not_on_or_after: datetime
    in_response_to: str | None
    session_index: str | None
    attributes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def persistent(self) -> bool:
        return self.name_id_format == PERSISTENT


def decode_post(saml_response: str) -> bytes:
    """The HTTP-POST binding's base64 ``SAMLResponse`` field, decoded."""
    if len(saml_response) > MAX_DOCUMENT_BYTES * 4 // 3 + 4:
        raise SamlResponseError("too_large")
    try:
        return base64.b64decode("".join(saml_response.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise SamlResponseError("not_base64") from e


def verify_response(
    document: bytes,
    *,
    sp: ServiceProvider,
    idp: TrustedIdp,
    expected_request_id: str | None,
    decryption_keys: Sequence[rsa.RSAPrivateKey] = (),
    now: datetime | None = None,
) -> SamlIdentity:
    """The identity in ``document`` (a decoded Response), or ``SamlResponseError``.

    ``expected_request_id``: the AuthnRequest this browser started for this IdP, or None for
    an unsolicited (IdP-initiated) Response, which then must answer no request."""
    now = now or datetime.now(UTC)
    try:
        root = parse_untrusted(document)
    except UnsafeXmlError as e:
        raise SamlResponseError("unsafe_xml") from e
    if root.tag != f"{{{SAMLP}}}Response" or root.get("Version") != "2.0":
        raise SamlResponseError("not_a_response")
    _check_status(root)
    encrypted = root.findall(".//saml:EncryptedAssertion", NS)
    plain = root.findall(".//saml:Assertion", NS)
    if encrypted:
        if len(encrypted) != 1 or plain or root.find("saml:EncryptedAssertion", NS) is None:
            raise SamlResponseError("not_one_assertion")
        response, assertion = _decrypted_parts(root, idp, decryption_keys)
    else:
        if len(plain) != 1 or len(root.findall("saml:Assertion", NS)) != 1:
            raise SamlResponseError("not_one_assertion")
        response, assertion = _signed_parts(root, idp)

    _check_issuer(response, idp, required=False)
    destination = response.get("Destination")
    if destination is not None and destination != sp.acs_url:
        raise SamlResponseError("wrong_destination")
    in_response_to = response.get("InResponseTo")
    if in_response_to is not None and in_response_to != expected_request_id:
        raise SamlResponseError("wrong_in_response_to")

    _check_issuer(assertion, idp, required=True)
    subject = assertion.find("saml:Subject", NS)
    name_id_element = subject.find("saml:NameID", NS) if subject is not None else None
    name_id = text_of(name_id_element)
    if not name_id or name_id_element is None:
        raise SamlResponseError("no_name_id")
    confirmed_until = _bearer_confirmation(subject, sp, idp, expected_request_id, now)
    conditions_until = _check_conditions(assertion, sp, idp, now)
    statement = assertion.find("saml:AuthnStatement", NS)
    if statement is None:
        raise SamlResponseError("no_authn_statement")
    return SamlIdentity(
        issuer=idp.entity_id,
        name_id=name_id,
        name_id_format=name_id_element.get("Format"),
        assertion_id=assertion.get("ID") or "",
        not_on_or_after=min(filter(None, (confirmed_until, conditions_until))),
        in_response_to=expected_request_id,
        session_index=statement.get("SessionIndex"),
        attributes=_attributes(assertion),
    )


def _check_status(root: etree._Element) -> None:
    code = root.find("samlp:Status/samlp:StatusCode", NS)
    if code is None:
        raise SamlResponseError("no_status")
    value = code.get("Value") or ""
    if value != SUCCESS:
        second = code.find("samlp:StatusCode", NS)
        detail = text_of(root.find("samlp:Status/samlp:StatusMessage", NS))
        raise SamlStatusError(
            second.get("Value") or value if second is not None else value,
            detail[:200] if detail else None,
        )


def _signed_parts(root: etree._Element, idp: TrustedIdp) -> tuple[etree._Element, etree._Element]:
    """(Response, Assertion) as read from what the signatures cover."""
    response_signed = root.find("ds:Signature", NS) is not None
    assertion = root.find("saml:Assertion", NS)
    assertion_signed = assertion is not None and assertion.find("ds:Signature", NS) is not None
    _require_signatures(idp, response_signed=response_signed, assertion_signed=assertion_signed)
    if response_signed:
        response = _verified(root, "./", f"{{{SAMLP}}}Response", idp)
        signed_assertions = response.findall("saml:Assertion", NS)
        if len(signed_assertions) != 1 or len(response.findall(".//saml:Assertion", NS)) != 1:
            raise SamlResponseError("not_one_assertion")
        signed_assertion = signed_assertions[0]
        if signed_assertion.find("ds:Signature", NS) is not None:
            signed_assertion = _verified(
                response, f"./{{{SAML}}}Assertion/", f"{{{SAML}}}Assertion", idp
            )
        return response, signed_assertion
    # Only the Assertion is signed: the Response around it is read as sent (its Destination
    # and InResponseTo are checked, but nothing about the customer is taken from it).
    return root, _verified(root, f"./{{{SAML}}}Assertion/", f"{{{SAML}}}Assertion", idp)


def _require_signatures(idp: TrustedIdp, *, response_signed: bool, assertion_signed: bool) -> None:
    """The admin's rule for which element must carry a signature (verified afterwards)."""
    needed = {
        "response": response_signed,
        "assertion": assertion_signed,
        "both": response_signed and assertion_signed,
        "either": response_signed or assertion_signed,
    }[idp.require]
    if not needed:
        raise SamlResponseError("not_signed_as_required")


def _decrypted_parts(
    root: etree._Element, idp: TrustedIdp, keys: Sequence[rsa.RSAPrivateKey]
) -> tuple[etree._Element, etree._Element]:
    """(Response, Assertion) for an encrypted Assertion: the Response's signature checked on
    what was sent (it covers the ciphertext), then the Assertion decrypted with our keys and
    its own signature checked on the plaintext."""
    response_signed = root.find("ds:Signature", NS) is not None
    response = _verified(root, "./", f"{{{SAMLP}}}Response", idp) if response_signed else root
    encrypted = response.findall("saml:EncryptedAssertion", NS)
    if len(encrypted) != 1:
        raise SamlResponseError("not_one_assertion")
    if not keys:
        raise DecryptionError("no_service_provider_key")
    try:
        assertion_root = parse_untrusted(decrypt_assertion(encrypted[0], keys))
    except UnsafeXmlError as e:
        raise DecryptionError("decryption_failed") from e
    if assertion_root.tag != f"{{{SAML}}}Assertion" or assertion_root.findall(
        ".//saml:Assertion", NS
    ):
        raise SamlResponseError("not_one_assertion")
    assertion_signed = assertion_root.find("ds:Signature", NS) is not None
    _require_signatures(idp, response_signed=response_signed, assertion_signed=assertion_signed)
    if assertion_signed:
        return response, _verified(assertion_root, "./", f"{{{SAML}}}Assertion", idp)
    return response, assertion_root


def verified_root(
    document: etree._Element, *, tag: str, certificates: Sequence[x509.Certificate]
) -> etree._Element:
    """A signed message other than a Response (an SP's AuthnRequest to our IdP), verified by
    the same rules: the root element, signed by one of ``certificates``, SHA-2 only."""
    issuer = text_of(document.find("saml:Issuer", NS)) or ""
    return _verified(document, "./", tag, TrustedIdp(entity_id=issuer, certificates=certificates))


def _verified(document: etree._Element, location: str, tag: str, idp: TrustedIdp) -> etree._Element:
    """The element signed by the signature at ``location``, verified with one of the IdP's
    certificates, or ``SamlResponseError``."""
    holder = document if location == "./" else document.find(location.rstrip("/")[2:])
    if holder is None or not holder.get("ID"):
        raise SamlResponseError("signed_element_without_id")
    _check_algorithms(holder.find("ds:Signature", NS))
    config = SignatureConfiguration(
        location=location,
        expect_references=1,
        signature_methods=frozenset(SignatureMethod) if idp.allow_sha1 else _SHA2_METHODS,
        digest_algorithms=frozenset(DigestAlgorithm) if idp.allow_sha1 else _SHA2_DIGESTS,
        # Metadata certificates are trust anchors by configuration, whatever their dates.
        verification_time=None,
    )
    failure: Exception | None = None
    for certificate in idp.certificates:
        try:
            result = XMLVerifier().verify(
                document,
                x509_cert=certificate,
                id_attribute="ID",
                expect_config=config,
            )
        except (
            InvalidSignature,
            InvalidDigest,
            InvalidCertificate,
            InvalidInput,
            etree.DocumentInvalid,  # a Signature that is not one (the schema check)
        ) as e:
            failure = e
            continue
        signed = result.signed_xml if not isinstance(result, list) else None
        if signed is None or signed.tag != tag or signed.get("ID") != holder.get("ID"):
            raise SamlResponseError("signature_covers_another_element")
        return signed
    raise SamlResponseError("bad_signature") from failure


# SAML's profile of XML Signature (SAML Core 5.4.3, 5.4.4): exclusive c14n, the enveloped
# signature transform, nothing else. Checked before signxml runs: XPath, XSLT and other
# transforms are never evaluated, however signxml would treat them.
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ALLOWED_C14N = frozenset({EXC_C14N, EXC_C14N + "WithComments"})
ALLOWED_TRANSFORMS = ALLOWED_C14N | {"http://www.w3.org/2000/09/xmldsig#enveloped-signature"}


def _check_algorithms(signature: etree._Element | None) -> None:
    if signature is None:
        raise SamlResponseError("not_signed_as_required")
    method = signature.find("ds:SignedInfo/ds:CanonicalizationMethod", NS)
    if method is None:
        raise SamlResponseError("bad_signature")  # not a signature at all
    if method.get("Algorithm") not in ALLOWED_C14N:
        raise SamlResponseError("unexpected_transform")
    for transform in signature.iterfind(
        "ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform", NS
    ):
        if transform.get("Algorithm") not in ALLOWED_TRANSFORMS:
            raise SamlResponseError("unexpected_transform")


def _check_issuer(element: etree._Element, idp: TrustedIdp, *, required: bool) -> None:
    issuer = element.find("saml:Issuer", NS)
    if issuer is None:
        if required:
            raise SamlResponseError("wrong_issuer")
        return
    if text_of(issuer) != idp.entity_id:
        raise SamlResponseError("wrong_issuer")


def _bearer_confirmation(
    subject: etree._Element | None,
    sp: ServiceProvider,
    idp: TrustedIdp,
    expected_request_id: str | None,
    now: datetime,
) -> datetime:
    """The bearer confirmation's NotOnOrAfter, once one confirmation passes every check."""
    reasons = []
    for confirmation in (
        subject.findall("saml:SubjectConfirmation", NS) if subject is not None else []
    ):
        if confirmation.get("Method") != BEARER:
            continue
        data = confirmation.find("saml:SubjectConfirmationData", NS)
        if data is None:
            reasons.append("no_confirmation_data")
            continue
        until = _instant(data.get("NotOnOrAfter"))
        if data.get("Recipient") != sp.acs_url:
            reasons.append("wrong_recipient")
        elif until is None or now - idp.clock_skew >= until:
            reasons.append("expired")
        elif (
            start := _instant(data.get("NotBefore"))
        ) is not None and start > now + idp.clock_skew:
            reasons.append("not_yet_valid")
        elif data.get("InResponseTo") != expected_request_id:
            reasons.append("wrong_in_response_to")
        else:
            return until
    raise SamlResponseError(reasons[0] if reasons else "no_bearer_confirmation")


def _check_conditions(
    assertion: etree._Element, sp: ServiceProvider, idp: TrustedIdp, now: datetime
) -> datetime | None:
    conditions = assertion.find("saml:Conditions", NS)
    if conditions is None:
        return None
    start = _instant(conditions.get("NotBefore"))
    if start is not None and start > now + idp.clock_skew:
        raise SamlResponseError("not_yet_valid")
    until = _instant(conditions.get("NotOnOrAfter"))
    if until is not None and now - idp.clock_skew >= until:
        raise SamlResponseError("expired")
    for restriction in conditions.findall("saml:AudienceRestriction", NS):
        audiences = [text_of(a) for a in restriction.findall("saml:Audience", NS)]
        if sp.entity_id not in audiences:
            raise SamlResponseError("wrong_audience")
    return until


def _attributes(assertion: etree._Element) -> dict[str, list[str]]:
    attributes: dict[str, list[str]] = {}
    for attribute in assertion.findall("saml:AttributeStatement/saml:Attribute", NS):
        name = attribute.get("Name")
        if not name:
            continue
        values = [text_of(v) for v in attribute.findall("saml:AttributeValue", NS)]
        attributes.setdefault(name, []).extend(v for v in values if v)
    return attributes


def _instant(value: str | None) -> datetime | None:
    try:
        return xs_datetime(value)
    except ValueError as e:
        raise SamlResponseError("bad_instant") from e
