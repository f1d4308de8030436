"""The AuthnRequest over HTTP-Redirect: what the IdP receives, signed when it asks, and the
inflation of Redirect-binding messages bounded against deflate bombs."""

from __future__ import annotations

import base64
import zlib
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from app.saml.authn import MAX_INFLATED_BYTES, RSA_SHA256, InflateError, inflate, redirect
from tests.support.keys import rsa_2048

SSO = "https://idp.example.test/sso"
ACS = "https://sso.example.test/saml/idp-1/acs"
ENTITY = "https://sso.example.test/saml/idp-1/metadata"


def request_in(url: str) -> etree._Element:
    query = parse_qs(urlsplit(url).query)
    return etree.fromstring(inflate(base64.b64decode(query["SAMLRequest"][0])))


def test_the_idp_receives_a_request_naming_our_acs_and_entity_id() -> None:
    sent = redirect(
        sp_entity_id=ENTITY, acs_url=ACS, sso_url=SSO, relay_state="r1", signing_key=None
    )
    assert sent.url.startswith(f"{SSO}?SAMLRequest=")
    request = request_in(sent.url)
    assert request.get("ID") == sent.request_id
    assert request.get("AssertionConsumerServiceURL") == ACS
    assert request.get("Destination") == SSO
    issuer = request.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer")
    assert issuer is not None
    assert issuer.text == ENTITY
    assert parse_qs(urlsplit(sent.url).query)["RelayState"] == ["r1"]
    assert "Signature" not in parse_qs(urlsplit(sent.url).query)


def test_each_request_has_its_own_id() -> None:
    ids = {
        redirect(
            sp_entity_id=ENTITY, acs_url=ACS, sso_url=SSO, relay_state=None, signing_key=None
        ).request_id
        for _ in range(20)
    }
    assert len(ids) == 20
    assert all(not i[0].isdigit() for i in ids)  # an xs:ID


def test_a_signed_request_signs_the_query_exactly_as_sent() -> None:
    key = rsa_2048()
    sent = redirect(
        sp_entity_id=ENTITY, acs_url=ACS, sso_url=SSO, relay_state="r 1", signing_key=key
    )
    query = urlsplit(sent.url).query
    signed_part, _, signature = query.rpartition("&Signature=")
    assert signed_part.endswith("&SigAlg=" + quote(RSA_SHA256, safe=""))
    raw = base64.b64decode(parse_qs(query)["Signature"][0])
    key.public_key().verify(raw, signed_part.encode(), padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        key.public_key().verify(
            raw, signed_part.replace("r%201", "r%202").encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    assert signature


def test_a_deflate_bomb_is_refused() -> None:
    compressor = zlib.compressobj(wbits=-15)
    bomb = compressor.compress(b"A" * (MAX_INFLATED_BYTES * 40)) + compressor.flush()
    assert len(bomb) < 20_000
    with pytest.raises(InflateError):
        inflate(bomb)


def test_garbage_is_not_inflated() -> None:
    with pytest.raises(InflateError):
        inflate(b"not deflate at all")
