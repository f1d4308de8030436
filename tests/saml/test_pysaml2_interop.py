"""Interop with pysaml2, a second, independent SAML implementation (it signs and encrypts
through xmlsec1): the Responses its IdP builds pass our verifier, decrypt with our key, and
are refused once tampered with; SHA-1, its default, is refused unless allowed, and so is its
3DES encryption."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from app.saml.encryption import DecryptionError
from app.saml.login import saml_claims
from app.saml.response import SamlResponseError, ServiceProvider, TrustedIdp, verify_response
from app.saml.sp_metadata import sp_metadata
from tests.support.saml_idp import self_signed

pytestmark = pytest.mark.skipif(
    shutil.which("xmlsec1") is None, reason="pysaml2 needs xmlsec1 (scripts/install-system-deps)"
)

IDP_ENTITY_ID = "https://pysaml2-idp.example.test/idp"
SP = ServiceProvider(
    entity_id="https://sso.example.test/saml/idp-1/metadata",
    acs_url="https://sso.example.test/saml/idp-1/acs",
)
REQUEST_ID = "_request-1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


class Pysaml2Idp:
    def __init__(self, folder: Path) -> None:
        from saml2 import BINDING_HTTP_REDIRECT
        from saml2.config import IdPConfig
        from saml2.server import Server

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.certificate = self_signed(key, "pysaml2-idp")
        self.sp_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.sp_certificate = self_signed(self.sp_key, "our-sp")
        (folder / "idp.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        (folder / "idp.crt").write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        (folder / "sp.xml").write_bytes(
            sp_metadata(
                entity_id=SP.entity_id,
                acs_url=SP.acs_url,
                signing_certificates=[self.sp_certificate],
                encryption_certificates=[self.sp_certificate],
            )
        )
        config = IdPConfig()
        config.load(
            {
                "entityid": IDP_ENTITY_ID,
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [
                                ("https://pysaml2-idp.example.test/sso", BINDING_HTTP_REDIRECT)
                            ]
                        },
                        "policy": {"default": {"lifetime": {"minutes": 5}}},
                    }
                },
                "key_file": str(folder / "idp.key"),
                "cert_file": str(folder / "idp.crt"),
                "metadata": {"local": [str(folder / "sp.xml")]},
                "xmlsec_binary": shutil.which("xmlsec1"),
            }
        )
        self.server = Server(config=config)

    def response(self, **options: Any) -> bytes:
        from saml2.saml import AUTHN_PASSWORD_PROTECTED, NAMEID_FORMAT_PERSISTENT, NameID

        built = self.server.create_authn_response(
            identity={"mail": ["ann@example.com"], "displayName": ["Ann Example"]},
            in_response_to=REQUEST_ID,
            destination=SP.acs_url,
            sp_entity_id=SP.entity_id,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text="ann-1"),
            authn={"class_ref": AUTHN_PASSWORD_PROTECTED},
            **options,
        )
        return str(built).encode()

    def trusted(self, **rules: Any) -> TrustedIdp:
        return TrustedIdp(IDP_ENTITY_ID, [self.certificate], **rules)


@pytest.fixture(scope="module")
def pysaml2_idp(tmp_path_factory: pytest.TempPathFactory) -> Pysaml2Idp:
    return Pysaml2Idp(tmp_path_factory.mktemp("pysaml2"))


SHA256_SIGNED = {"sign_alg": RSA_SHA256, "digest_alg": SHA256}


@pytest.mark.parametrize(
    ("options", "require"),
    [
        ({"sign_response": True, "sign_assertion": True}, "both"),
        ({"sign_response": False, "sign_assertion": True}, "assertion"),
        ({"sign_response": True, "sign_assertion": False}, "response"),
    ],
)
def test_its_signed_responses_pass(
    pysaml2_idp: Pysaml2Idp, options: dict[str, Any], require: str
) -> None:
    document = pysaml2_idp.response(**options, **SHA256_SIGNED)
    identity = verify_response(
        document, sp=SP, idp=pysaml2_idp.trusted(require=require), expected_request_id=REQUEST_ID
    )
    assert (identity.issuer, identity.name_id, identity.persistent) == (
        IDP_ENTITY_ID,
        "ann-1",
        True,
    )
    claims = saml_claims(identity)  # it names attributes by urn:oid, as federations do
    assert claims["email"] == "ann@example.com"
    assert claims["name"] == "Ann Example"


def test_its_sha1_default_is_refused_unless_allowed(pysaml2_idp: Pysaml2Idp) -> None:
    document = pysaml2_idp.response(sign_response=True, sign_assertion=True)
    assert b"xmldsig#rsa-sha1" in document
    with pytest.raises(SamlResponseError) as error:
        verify_response(document, sp=SP, idp=pysaml2_idp.trusted(), expected_request_id=REQUEST_ID)
    assert error.value.reason == "bad_signature"
    allowed = pysaml2_idp.trusted(allow_sha1=True)
    assert verify_response(document, sp=SP, idp=allowed, expected_request_id=REQUEST_ID).name_id


def test_its_tampered_responses_are_refused(pysaml2_idp: Pysaml2Idp) -> None:
    document = pysaml2_idp.response(sign_response=True, sign_assertion=True, **SHA256_SIGNED)
    root = etree.fromstring(document)
    for value in root.iter("{urn:oasis:names:tc:SAML:2.0:assertion}AttributeValue"):
        if value.text == "ann@example.com":
            value.text = "admin@example.com"
    with pytest.raises(SamlResponseError) as error:
        verify_response(
            etree.tostring(root),
            sp=SP,
            idp=pysaml2_idp.trusted(require="both"),
            expected_request_id=REQUEST_ID,
        )
    assert error.value.reason == "bad_signature"


def test_its_triple_des_encryption_is_refused_as_unsupported(pysaml2_idp: Pysaml2Idp) -> None:
    """pysaml2 encrypts assertions with 3DES-CBC, and no option changes that; 3DES is
    deprecated (64-bit blocks, Sweet32), so such an Assertion is refused by name. AD FS and
    Entra ID encrypt with AES-256, which ``tests/saml/test_response.py`` covers."""
    pem = pysaml2_idp.sp_certificate.public_bytes(serialization.Encoding.PEM).decode()
    document = pysaml2_idp.response(
        sign_response=True,
        sign_assertion=True,
        encrypt_assertion=True,
        encrypt_cert_assertion=pem,
        **SHA256_SIGNED,
    )
    assert b"xmlenc#tripledes-cbc" in document
    with pytest.raises(DecryptionError) as error:
        verify_response(
            document,
            sp=SP,
            idp=pysaml2_idp.trusted(),
            expected_request_id=REQUEST_ID,
            decryption_keys=[pysaml2_idp.sp_key],
        )
    assert error.value.reason == "unsupported_encryption"
