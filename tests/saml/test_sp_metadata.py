"""The SP metadata an IdP's admin imports."""

from __future__ import annotations

import base64

from cryptography import x509
from lxml import etree

from app.saml.sp_metadata import sp_metadata
from tests.support.keys import rsa_2048
from tests.support.saml_idp import DS, MD, q, self_signed

ENTITY = "https://sso.example.test/saml/idp-1/metadata"
ACS = "https://sso.example.test/saml/idp-1/acs"


def certificates_in(root: etree._Element, use: str) -> list[x509.Certificate]:
    return [
        x509.load_der_x509_certificate(base64.b64decode(text.text or ""))
        for key in root.iter(q(MD, "KeyDescriptor"))
        if key.get("use") == use
        for text in key.iter(q(DS, "X509Certificate"))
    ]


def test_the_metadata_names_our_entity_id_and_acs() -> None:
    document = sp_metadata(entity_id=ENTITY, acs_url=ACS, signing_certificates=())
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(document)
    assert root.get("entityID") == ENTITY
    descriptor = root.find(q(MD, "SPSSODescriptor"))
    assert descriptor is not None
    assert descriptor.get("AuthnRequestsSigned") == "false"
    service = descriptor.find(q(MD, "AssertionConsumerService"))
    assert service is not None
    assert service.get("Location") == ACS
    assert service.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def test_during_a_rotation_old_and_new_certificates_are_published_together() -> None:
    old = self_signed(rsa_2048(), "sp-old")
    new = self_signed(rsa_2048(), "sp-new")
    encryption = self_signed(rsa_2048(), "sp-enc")
    root = etree.fromstring(
        sp_metadata(
            entity_id=ENTITY,
            acs_url=ACS,
            signing_certificates=(old, new),
            encryption_certificates=(encryption,),
        )
    )
    assert certificates_in(root, "signing") == [old, new]
    assert certificates_in(root, "encryption") == [encryption]
    descriptor = root.find(q(MD, "SPSSODescriptor"))
    assert descriptor is not None
    assert descriptor.get("AuthnRequestsSigned") == "true"
