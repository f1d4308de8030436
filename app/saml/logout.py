"""Single Logout over the HTTP-Redirect binding (SAML Profiles 4.4, Bindings 3.4).

* Ours: when a customer signs out, a ``LogoutRequest`` naming their NameID and SessionIndex
  goes to the IdP's SLO endpoint, signed with the site's SP key; the IdP answers with a
  ``LogoutResponse`` at our SLO URL.
* The IdP's: a ``LogoutRequest`` arriving at our SLO URL ends the sessions it names, but only
  when its Redirect-binding signature verifies with the certificates of the IdP configuration
  the URL names (never a key the message brings), its Issuer is that IdP and it has not
  expired; the answer goes back to the SLO endpoint from the IdP's metadata, never to a URL
  the request carries.

The Redirect binding signs the query string as sent (Bindings 3.4.4.1): ``SAMLRequest`` (or
``SAMLResponse``), ``RelayState`` if present, and ``SigAlg``, URL-encoded as they arrived, so
the signed string is rebuilt from the raw query, not from decoded values.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote, urlencode

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from app.errors import LoginError
from app.saml.authn import RSA_SHA256, InflateError, inflate
from app.saml.xml import UnsafeXmlError, parse_untrusted, text_of, xs_datetime

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS = {"samlp": SAMLP, "saml": SAML}
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
CLOCK_SKEW = timedelta(minutes=2)


class LogoutError(LoginError):
    """A logout message we do not act on; the reason is for the logs."""

    code = "saml_logout_refused"

    def __init__(self, reason: str) -> None:
        super().__init__("this sign-out message could not be verified")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SessionHandle:
    """What a LogoutRequest names: the customer's NameID at the IdP and their session."""

    name_id: str
    name_id_format: str | None
    session_index: str | None


@dataclass(frozen=True, slots=True)
class IdpLogoutRequest:
    id: str
    handle: SessionHandle


def _instant(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _encoded(document: bytes) -> str:
    compressor = zlib.compressobj(wbits=-15)
    return base64.b64encode(compressor.compress(document) + compressor.flush()).decode()


def redirect_url(
    endpoint: str, *, field: str, document: bytes, signing_key: rsa.RSAPrivateKey
) -> str:
    """``endpoint`` with the message deflated, encoded and signed (RSA-SHA256)."""
    query = urlencode([(field, _encoded(document)), ("SigAlg", RSA_SHA256)], quote_via=quote)
    signature = signing_key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())
    query += "&" + urlencode([("Signature", base64.b64encode(signature).decode())], quote_via=quote)
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def _message(tag: str, *, sp_entity_id: str, destination: str, now: datetime) -> etree._Element:
    """A protocol message's envelope: ID, version, instant, destination, our Issuer."""
    root = etree.Element(f"{{{SAMLP}}}{tag}", nsmap={"samlp": SAMLP, "saml": SAML})
    root.set("ID", f"_{secrets.token_hex(16)}")
    root.set("Version", "2.0")
    root.set("IssueInstant", _instant(now))
    root.set("Destination", destination)
    etree.SubElement(root, f"{{{SAML}}}Issuer").text = sp_entity_id
    return root


def logout_request(
    *, sp_entity_id: str, destination: str, handle: SessionHandle, now: datetime
) -> bytes:
    root = _message("LogoutRequest", sp_entity_id=sp_entity_id, destination=destination, now=now)
    root.set("NotOnOrAfter", _instant(now + timedelta(minutes=5)))
    name_id = etree.SubElement(root, f"{{{SAML}}}NameID")
    if handle.name_id_format:
        name_id.set("Format", handle.name_id_format)
    name_id.text = handle.name_id
    if handle.session_index:
        etree.SubElement(root, f"{{{SAMLP}}}SessionIndex").text = handle.session_index
    return etree.tostring(root)


def logout_response(
    *, sp_entity_id: str, destination: str, in_response_to: str, now: datetime
) -> bytes:
    root = _message("LogoutResponse", sp_entity_id=sp_entity_id, destination=destination, now=now)
    root.set("InResponseTo", in_response_to)
    status = etree.SubElement(root, f"{{{SAMLP}}}Status")
    etree.SubElement(status, f"{{{SAMLP}}}StatusCode", Value=SUCCESS)
    return etree.tostring(root)


def verified_redirect_message(
    raw_query: str,
    *,
    field: str,
    certificates: Sequence[x509.Certificate],
    allow_sha1: bool = False,
) -> etree._Element:
    """The message in a Redirect-binding query, once its signature verifies with one of
    ``certificates``; ``LogoutError`` otherwise (unsigned ones included)."""
    raw = {}
    for part in raw_query.split("&"):
        name, _, value = part.partition("=")
        if name in raw:
            raise LogoutError("duplicate_parameter")
        raw[name] = value
    if field not in raw or "Signature" not in raw or "SigAlg" not in raw:
        raise LogoutError("not_signed")
    algorithm = unquote(raw["SigAlg"])
    digest: hashes.HashAlgorithm
    if algorithm == RSA_SHA256:
        digest = hashes.SHA256()
    elif algorithm == RSA_SHA1 and allow_sha1:
        digest = hashes.SHA1()  # noqa: S303 - only where the admin allowed SHA-1
    else:
        raise LogoutError("signature_algorithm_refused")
    signed = "&".join(
        f"{name}={raw[name]}" for name in (field, "RelayState", "SigAlg") if name in raw
    ).encode()
    try:
        signature = base64.b64decode(unquote(raw["Signature"]), validate=True)
    except (binascii.Error, ValueError) as e:
        raise LogoutError("bad_signature") from e
    for certificate in certificates:
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            continue
        try:
            key.verify(signature, signed, padding.PKCS1v15(), digest)
        except InvalidSignature:
            continue
        try:
            message = base64.b64decode(unquote(raw[field]), validate=True)
            return parse_untrusted(inflate(message))
        except (binascii.Error, ValueError, InflateError, UnsafeXmlError) as e:
            raise LogoutError("unreadable_message") from e
    raise LogoutError("bad_signature")


def read_idp_logout_request(
    root: etree._Element, *, idp_entity_id: str, slo_url: str, now: datetime
) -> IdpLogoutRequest:
    """The checks after the signature: what it is, who sent it, where to, and when."""
    if root.tag != f"{{{SAMLP}}}LogoutRequest" or not root.get("ID"):
        raise LogoutError("not_a_logout_request")
    if text_of(root.find("saml:Issuer", NS)) != idp_entity_id:
        raise LogoutError("wrong_issuer")
    destination = root.get("Destination")
    if destination is not None and destination != slo_url:
        raise LogoutError("wrong_destination")
    try:
        until = xs_datetime(root.get("NotOnOrAfter"))
    except ValueError as e:
        raise LogoutError("bad_instant") from e
    if until is not None and now - CLOCK_SKEW >= until:
        raise LogoutError("expired")
    name_id_element = root.find("saml:NameID", NS)
    name_id = text_of(name_id_element)
    if not name_id or name_id_element is None:
        raise LogoutError("no_name_id")
    return IdpLogoutRequest(
        id=str(root.get("ID")),
        handle=SessionHandle(
            name_id=name_id,
            name_id_format=name_id_element.get("Format"),
            session_index=text_of(root.find("samlp:SessionIndex", NS)),
        ),
    )
