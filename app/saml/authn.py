"""The AuthnRequest, sent over the HTTP-Redirect binding (SAML Bindings 3.4): DEFLATE, then
base64, then the query string, and, when the IdP wants signed requests, the SP's RSA-SHA256
signature over ``SAMLRequest=…&RelayState=…&SigAlg=…`` exactly as sent (3.4.4.1).

The request's ``ID`` is what the Response's ``InResponseTo`` must carry; the caller stores it
server side with the browser's flow state, as the OIDC state is stored."""

from __future__ import annotations

import base64
import secrets
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
UNSPECIFIED_NAME_ID = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAME_ID_FORMATS = {
    "unspecified": UNSPECIFIED_NAME_ID,
    "persistent": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "emailAddress": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
}


@dataclass(frozen=True, slots=True)
class AuthnRedirect:
    request_id: str
    url: str


def new_request_id() -> str:
    """An xs:ID (it must not start with a digit) with 128 bits of randomness."""
    return f"_{secrets.token_hex(16)}"


def authn_request(
    *,
    request_id: str,
    sp_entity_id: str,
    acs_url: str,
    sso_url: str,
    now: datetime,
    name_id_format: str = UNSPECIFIED_NAME_ID,
) -> bytes:
    root = etree.Element(f"{{{SAMLP}}}AuthnRequest", nsmap={"samlp": SAMLP, "saml": SAML})
    root.set("ID", request_id)
    root.set("Version", "2.0")
    root.set("IssueInstant", now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    root.set("Destination", sso_url)
    root.set("AssertionConsumerServiceURL", acs_url)
    root.set("ProtocolBinding", POST_BINDING)
    etree.SubElement(root, f"{{{SAML}}}Issuer").text = sp_entity_id
    policy = etree.SubElement(root, f"{{{SAMLP}}}NameIDPolicy")
    policy.set("Format", name_id_format)
    policy.set("AllowCreate", "true")
    return etree.tostring(root)


def redirect(
    *,
    sp_entity_id: str,
    acs_url: str,
    sso_url: str,
    relay_state: str | None,
    signing_key: rsa.RSAPrivateKey | None,
    request_id: str | None = None,
    name_id_format: str = UNSPECIFIED_NAME_ID,
    now: datetime | None = None,
) -> AuthnRedirect:
    """The URL that sends the browser to the IdP with an AuthnRequest (``request_id``, or a
    fresh one)."""
    request_id = request_id or new_request_id()
    document = authn_request(
        request_id=request_id,
        sp_entity_id=sp_entity_id,
        acs_url=acs_url,
        sso_url=sso_url,
        now=now or datetime.now(UTC),
        name_id_format=name_id_format,
    )
    compressor = zlib.compressobj(wbits=-15)  # raw DEFLATE (RFC 1951), no zlib header
    deflated = compressor.compress(document) + compressor.flush()
    fields = [("SAMLRequest", base64.b64encode(deflated).decode())]
    if relay_state is not None:
        fields.append(("RelayState", relay_state))
    query = urlencode(fields, quote_via=quote)
    if signing_key is not None:
        query += "&" + urlencode([("SigAlg", RSA_SHA256)], quote_via=quote)
        signature = signing_key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())
        query += "&" + urlencode(
            [("Signature", base64.b64encode(signature).decode())], quote_via=quote
        )
    separator = "&" if "?" in sso_url else "?"
    return AuthnRedirect(request_id, f"{sso_url}{separator}{query}")


# A Redirect-binding message is a few kB; one that inflates past this is a deflate bomb.
MAX_INFLATED_BYTES = 256 * 1024


class InflateError(ValueError):
    """A Redirect-binding message that is not DEFLATE, or inflates too far."""


def inflate(deflated: bytes) -> bytes:
    """A Redirect-binding message, inflated within ``MAX_INFLATED_BYTES``."""
    decompressor = zlib.decompressobj(wbits=-15)
    try:
        inflated = decompressor.decompress(deflated, MAX_INFLATED_BYTES)
    except zlib.error as e:
        raise InflateError("not a DEFLATE stream") from e
    if decompressor.unconsumed_tail or not decompressor.eof:
        raise InflateError("the message inflates too far, or is cut short")
    return inflated
