"""Helpers for SAML sign-ins through the app: what the browser carries between our
AuthnRequest, the test IdP and our ACS."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from lxml import etree

from app.saml.authn import inflate
from tests.support.saml_idp import SigningIdp


def request_of(location: str) -> tuple[str, str]:
    """(the AuthnRequest's ID, the RelayState) from the redirect to the IdP."""
    query = parse_qs(urlsplit(location).query)
    request = etree.fromstring(inflate(base64.b64decode(query["SAMLRequest"][0])))
    return str(request.get("ID")), query["RelayState"][0]


async def post_to_acs(
    client: httpx.AsyncClient, acs_url: str, document: bytes, relay_state: str | None
) -> httpx.Response:
    form = {"SAMLResponse": base64.b64encode(document).decode()}
    if relay_state is not None:
        form["RelayState"] = relay_state
    return await client.post(urlsplit(acs_url).path, data=form)


def answer(
    saml_idp: SigningIdp, configured: dict[str, Any], request_id: str | None, **fields: Any
) -> bytes:
    values: dict[str, Any] = {
        "acs_url": configured["acs_url"],
        "audience": configured["sp_entity_id"],
        "in_response_to": request_id,
        "attributes": {
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": [
                "Ann@Example.com"
            ],
            "displayName": ["Ann Example"],
        },
    }
    return saml_idp.signed_response(**(values | fields))


def sp_certificates(metadata: bytes, use: str) -> list[x509.Certificate]:
    root = etree.fromstring(metadata)
    return [
        x509.load_der_x509_certificate(base64.b64decode(text.text or ""))
        for key in root.iter("{urn:oasis:names:tc:SAML:2.0:metadata}KeyDescriptor")
        if key.get("use") == use
        for text in key.iter("{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
    ]
