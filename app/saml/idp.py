"""Portal SSO as a SAML 2.0 identity provider, for one service provider per site: Atlassian
Guard's customer SSO (the "Guard bridge", DESIGN.md). This module is the protocol only:
reading Atlassian's AuthnRequest, writing the signed Response, and the IdP metadata that
Guard's admin imports. Choosing the upstream provider, and whose email may be asserted, is
the login use case's.

The rules (DESIGN.md, Guard bridge rules):
* An AuthnRequest is answered only when its Issuer is the registered SP entity id, its
  AssertionConsumerServiceURL, when given, is the registered ACS URL (exact string), and its
  IssueInstant is recent; the Response goes to the registered ACS, never to a URL the request
  names. Its ID is single use (the caller remembers it).
* The Response: NameID = the email (emailAddress format), Audience = the SP entity id,
  Recipient and Destination = the ACS, InResponseTo, valid 5 minutes, an AuthnStatement with a
  SessionIndex, name and email attributes; the Assertion signed (RSA-SHA256, exclusive c14n),
  and the Response too.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import XMLSigner  # type: ignore[attr-defined]

from app.errors import LoginError
from app.saml.authn import InflateError, inflate
from app.saml.logout import LogoutError, verified_redirect_message
from app.saml.response import SamlResponseError, verified_root
from app.saml.xml import UnsafeXmlError, parse_untrusted, text_of, xs_datetime

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML}
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

REQUEST_MAX_AGE = timedelta(minutes=5)
MAX_REQUEST_ID = 256  # xs:ID; ours are 33 characters, Atlassian's are of that order
CLOCK_SKEW = timedelta(minutes=2)
ASSERTION_LIFETIME = timedelta(minutes=5)


class AuthnRequestError(LoginError):
    """An AuthnRequest this IdP does not answer; nothing is posted anywhere."""

    code = "saml_authn_request_refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.audit_detail = f"{message} ({reason})"


@dataclass(frozen=True, slots=True)
class RegisteredSp:
    """The one SP a site registered (Guard's entity id and ACS, pasted by the admin)."""

    entity_id: str
    acs_url: str


@dataclass(frozen=True, slots=True)
class SpRequest:
    id: str
    issue_instant: datetime
    # The SP wants the customer to sign in afresh: no session from before the request.
    force_authn: bool = False


@dataclass(frozen=True, slots=True)
class AssertedCustomer:
    email: str
    display_name: str
    first_name: str | None = None
    last_name: str | None = None


def decode_request(value: str, *, binding: str) -> bytes:
    """A ``SAMLRequest`` field: deflated and base64 over HTTP-Redirect, base64 over POST."""
    try:
        raw = base64.b64decode("".join(value.split()), validate=True)
        return inflate(raw) if binding == REDIRECT_BINDING else raw
    except (binascii.Error, ValueError, InflateError) as e:
        raise AuthnRequestError("unreadable", "this sign-in request could not be read") from e


def parse_request(
    *,
    binding: str,
    saml_request: str,
    raw_query: str,
    sp_certificate: x509.Certificate | None,
) -> etree._Element:
    """The AuthnRequest's XML; when the SP registered a certificate, only once its signature
    verifies (the query's ``Signature`` over HTTP-Redirect, an enveloped one over POST), and
    an unsigned request is refused."""
    if sp_certificate is not None and binding == REDIRECT_BINDING:
        try:
            return verified_redirect_message(
                raw_query, field="SAMLRequest", certificates=[sp_certificate]
            )
        except LogoutError as e:
            raise AuthnRequestError(
                e.reason, "this sign-in request's signature could not be verified"
            ) from e
    try:
        root = parse_untrusted(decode_request(saml_request, binding=binding))
    except UnsafeXmlError as e:
        raise AuthnRequestError("unsafe_xml", "this sign-in request could not be read") from e
    if sp_certificate is not None:
        try:
            return verified_root(
                root, tag=f"{{{SAMLP}}}AuthnRequest", certificates=[sp_certificate]
            )
        except SamlResponseError as e:
            raise AuthnRequestError(
                e.reason, "this sign-in request's signature could not be verified"
            ) from e
    return root


def read_authn_request(
    root: etree._Element, *, sp: RegisteredSp, sso_url: str, now: datetime
) -> SpRequest:
    """The AuthnRequest, checked against the registered SP and sent to ``sso_url`` (its
    Destination, when it names one: SAML Core 3.2.1); ``AuthnRequestError`` if not."""
    if root.tag != f"{{{SAMLP}}}AuthnRequest" or not root.get("ID"):
        raise AuthnRequestError("not_an_authn_request", "this sign-in request could not be read")
    if len(str(root.get("ID"))) > MAX_REQUEST_ID:
        raise AuthnRequestError("long_request_id", "this sign-in request could not be read")
    if text_of(root.find("saml:Issuer", NS)) != sp.entity_id:
        raise AuthnRequestError(
            "unregistered_issuer",
            "this sign-in request comes from a service this site has not registered",
        )
    destination = root.get("Destination")
    if destination is not None and destination != sso_url:
        raise AuthnRequestError(
            "wrong_destination", "this sign-in request was meant for another service"
        )
    acs = root.get("AssertionConsumerServiceURL")
    if acs is not None and acs != sp.acs_url:
        raise AuthnRequestError(
            "unregistered_acs", "this sign-in request asks for an answer at an unregistered address"
        )
    try:
        issued = xs_datetime(root.get("IssueInstant"))
    except ValueError as e:
        raise AuthnRequestError("bad_instant", "this sign-in request could not be read") from e
    if issued is None or issued < now - REQUEST_MAX_AGE or issued > now + CLOCK_SKEW:
        raise AuthnRequestError("stale_request", "this sign-in request has expired; start again")
    return SpRequest(
        id=str(root.get("ID")),
        issue_instant=issued,
        force_authn=root.get("ForceAuthn") in ("true", "1"),
    )


def _instant(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_response(
    *,
    idp_entity_id: str,
    sp: RegisteredSp,
    request: SpRequest,
    customer: AssertedCustomer,
    signing_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    now: datetime,
    authn_instant: datetime | None = None,
    session_index: str | None = None,
) -> bytes:
    """The Response for Atlassian's ACS: the Assertion signed, then the Response.
    ``authn_instant``: when the customer signed in upstream (a reused session's start)."""
    nsmap = {"samlp": SAMLP, "saml": SAML}
    response = etree.Element(f"{{{SAMLP}}}Response", nsmap=nsmap)
    response.set("ID", f"_{secrets.token_hex(16)}")
    response.set("Version", "2.0")
    response.set("IssueInstant", _instant(now))
    response.set("Destination", sp.acs_url)
    response.set("InResponseTo", request.id)
    etree.SubElement(response, f"{{{SAML}}}Issuer").text = idp_entity_id
    status = etree.SubElement(response, f"{{{SAMLP}}}Status")
    etree.SubElement(status, f"{{{SAMLP}}}StatusCode", Value=SUCCESS)
    assertion = etree.SubElement(response, f"{{{SAML}}}Assertion")
    assertion.set("ID", f"_{secrets.token_hex(16)}")
    assertion.set("Version", "2.0")
    assertion.set("IssueInstant", _instant(now))
    etree.SubElement(assertion, f"{{{SAML}}}Issuer").text = idp_entity_id
    subject = etree.SubElement(assertion, f"{{{SAML}}}Subject")
    etree.SubElement(subject, f"{{{SAML}}}NameID", Format=EMAIL_FORMAT).text = customer.email
    confirmation = etree.SubElement(
        subject, f"{{{SAML}}}SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"
    )
    data = etree.SubElement(confirmation, f"{{{SAML}}}SubjectConfirmationData")
    data.set("InResponseTo", request.id)
    data.set("NotOnOrAfter", _instant(now + ASSERTION_LIFETIME))
    data.set("Recipient", sp.acs_url)
    conditions = etree.SubElement(assertion, f"{{{SAML}}}Conditions")
    conditions.set("NotBefore", _instant(now - timedelta(seconds=30)))
    conditions.set("NotOnOrAfter", _instant(now + ASSERTION_LIFETIME))
    restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
    etree.SubElement(restriction, f"{{{SAML}}}Audience").text = sp.entity_id
    statement = etree.SubElement(assertion, f"{{{SAML}}}AuthnStatement")
    statement.set("AuthnInstant", _instant(authn_instant or now))
    statement.set("SessionIndex", session_index or f"_{secrets.token_hex(16)}")
    context = etree.SubElement(statement, f"{{{SAML}}}AuthnContext")
    etree.SubElement(
        context, f"{{{SAML}}}AuthnContextClassRef"
    ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
    attributes = etree.SubElement(assertion, f"{{{SAML}}}AttributeStatement")
    for name, value in (
        ("email", customer.email),
        ("name", customer.display_name),
        ("givenname", customer.first_name),
        ("surname", customer.last_name),
    ):
        if value:
            attribute = etree.SubElement(attributes, f"{{{SAML}}}Attribute", Name=name)
            etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = value
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    response = _signed(response, assertion, key=signing_key, pem=pem)
    return etree.tostring(_signed(response, response, key=signing_key, pem=pem))


def _signed(
    root: etree._Element, element: etree._Element, *, key: rsa.RSAPrivateKey, pem: str
) -> etree._Element:
    """``root``'s document with ``element`` signed, the Signature right after its Issuer
    (where SAML's schema puts it); signxml returns a new tree."""
    issuer = element.find(f"{{{SAML}}}Issuer")
    if issuer is None:
        raise ValueError("an element to sign has no Issuer")
    issuer.addnext(etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS}, Id="placeholder"))
    signer = XMLSigner(
        signature_algorithm="rsa-sha256", digest_algorithm="sha256", c14n_algorithm=EXC_C14N
    )
    signed: etree._Element = signer.sign(
        root,
        key=key,
        cert=pem,
        reference_uri=f"#{element.get('ID')}",
        id_attribute="ID",
        always_add_key_value=False,
    )
    return signed


def idp_metadata(
    *, entity_id: str, sso_url: str, certificates: Sequence[x509.Certificate]
) -> bytes:
    """Our IdP metadata for Guard's admin: entity id, the SSO URL for both bindings, and the
    signing certificates (the next one beside the current during a rotation)."""
    root = etree.Element(f"{{{MD}}}EntityDescriptor", nsmap={"md": MD, "ds": DS})
    root.set("entityID", entity_id)
    descriptor = etree.SubElement(root, f"{{{MD}}}IDPSSODescriptor")
    descriptor.set("protocolSupportEnumeration", SAMLP)
    descriptor.set("WantAuthnRequestsSigned", "false")
    for certificate in certificates:
        key = etree.SubElement(descriptor, f"{{{MD}}}KeyDescriptor", use="signing")
        data = etree.SubElement(etree.SubElement(key, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
        etree.SubElement(data, f"{{{DS}}}X509Certificate").text = base64.b64encode(
            certificate.public_bytes(serialization.Encoding.DER)
        ).decode()
    etree.SubElement(descriptor, f"{{{MD}}}NameIDFormat").text = EMAIL_FORMAT
    for binding in (REDIRECT_BINDING, POST_BINDING):
        service = etree.SubElement(descriptor, f"{{{MD}}}SingleSignOnService")
        service.set("Binding", binding)
        service.set("Location", sso_url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
