"""A SAML IdP for tests: builds Web Browser SSO Responses as SAML 2.0 Core and the Web SSO
profile shape them, signed with signxml (exclusive c14n, RSA-SHA256) by a key and
self-signed certificate of its own, with knobs for what the attacks in tests change.

It assumes what real IdPs (AD FS, Entra ID, Okta, SimpleSAMLphp) do: the Signature sits right
after the signed element's Issuer, references the element's ``ID`` with an enveloped and an
exclusive-c14n transform, and carries the certificate in ``KeyInfo``."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner  # type: ignore[attr-defined]

from tests.support.keys import rsa_2048

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


class LegacySha1Signer(XMLSigner):  # type: ignore[misc]
    """Signs with SHA-1, as IdPs configured years ago still do (signxml refuses by default)."""

    def check_deprecated_methods(self) -> None:
        pass


def self_signed(key: rsa.RSAPrivateKey, name: str, *, days: int = 365) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )


def instant(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


@dataclass
class SigningIdp:
    entity_id: str = "https://idp.example.test/saml"
    sso_url: str = "https://idp.example.test/sso"
    key: rsa.RSAPrivateKey = field(default_factory=rsa_2048)
    certificate: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.certificate = self_signed(self.key, self.entity_id)

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def metadata(
        self,
        *,
        extra_certificates: tuple[x509.Certificate, ...] = (),
        slo_url: str | None = None,
    ) -> bytes:
        root = etree.Element(q(MD, "EntityDescriptor"), nsmap={"md": MD, "ds": DS})
        root.set("entityID", self.entity_id)
        descriptor = etree.SubElement(root, q(MD, "IDPSSODescriptor"))
        descriptor.set("protocolSupportEnumeration", SAMLP)
        for certificate in (self.certificate, *extra_certificates):
            key = etree.SubElement(descriptor, q(MD, "KeyDescriptor"), use="signing")
            data = etree.SubElement(etree.SubElement(key, q(DS, "KeyInfo")), q(DS, "X509Data"))
            etree.SubElement(data, q(DS, "X509Certificate")).text = base64.b64encode(
                certificate.public_bytes(serialization.Encoding.DER)
            ).decode()
        if slo_url:
            logout = etree.SubElement(descriptor, q(MD, "SingleLogoutService"))
            logout.set("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
            logout.set("Location", slo_url)
        service = etree.SubElement(descriptor, q(MD, "SingleSignOnService"))
        service.set("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
        service.set("Location", self.sso_url)
        return etree.tostring(root)

    def response_tree(
        self,
        *,
        acs_url: str,
        audience: str,
        name_id: str = "user-1",
        name_id_format: str = PERSISTENT,
        in_response_to: str | None = None,
        attributes: dict[str, list[str]] | None = None,
        now: datetime | None = None,
        lifetime: timedelta = timedelta(minutes=5),
        status: str = "urn:oasis:names:tc:SAML:2.0:status:Success",
        issuer: str | None = None,
    ) -> etree._Element:
        """An unsigned Response (sign it with ``sign``)."""
        now = now or datetime.now(UTC)
        nsmap = {"samlp": SAMLP, "saml": SAML}
        response = etree.Element(q(SAMLP, "Response"), nsmap=nsmap)
        response.set("ID", f"_r{secrets.token_hex(16)}")
        response.set("Version", "2.0")
        response.set("IssueInstant", instant(now))
        response.set("Destination", acs_url)
        if in_response_to:
            response.set("InResponseTo", in_response_to)
        etree.SubElement(response, q(SAML, "Issuer")).text = issuer or self.entity_id
        status_element = etree.SubElement(response, q(SAMLP, "Status"))
        etree.SubElement(status_element, q(SAMLP, "StatusCode"), Value=status)
        assertion = etree.SubElement(response, q(SAML, "Assertion"))
        assertion.set("ID", f"_a{secrets.token_hex(16)}")
        assertion.set("Version", "2.0")
        assertion.set("IssueInstant", instant(now))
        etree.SubElement(assertion, q(SAML, "Issuer")).text = issuer or self.entity_id
        subject = etree.SubElement(assertion, q(SAML, "Subject"))
        name = etree.SubElement(subject, q(SAML, "NameID"), Format=name_id_format)
        name.text = name_id
        confirmation = etree.SubElement(
            subject, q(SAML, "SubjectConfirmation"), Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"
        )
        data = etree.SubElement(confirmation, q(SAML, "SubjectConfirmationData"))
        data.set("NotOnOrAfter", instant(now + lifetime))
        data.set("Recipient", acs_url)
        if in_response_to:
            data.set("InResponseTo", in_response_to)
        conditions = etree.SubElement(assertion, q(SAML, "Conditions"))
        conditions.set("NotBefore", instant(now - timedelta(seconds=30)))
        conditions.set("NotOnOrAfter", instant(now + lifetime))
        restriction = etree.SubElement(conditions, q(SAML, "AudienceRestriction"))
        etree.SubElement(restriction, q(SAML, "Audience")).text = audience
        statement = etree.SubElement(assertion, q(SAML, "AuthnStatement"))
        statement.set("AuthnInstant", instant(now))
        statement.set("SessionIndex", f"_s{secrets.token_hex(8)}")
        context = etree.SubElement(statement, q(SAML, "AuthnContext"))
        etree.SubElement(
            context, q(SAML, "AuthnContextClassRef")
        ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        if attributes:
            attribute_statement = etree.SubElement(assertion, q(SAML, "AttributeStatement"))
            for attribute_name, values in attributes.items():
                attribute = etree.SubElement(
                    attribute_statement, q(SAML, "Attribute"), Name=attribute_name
                )
                for value in values:
                    etree.SubElement(attribute, q(SAML, "AttributeValue")).text = value
        return response

    def sign(
        self,
        element: etree._Element,
        *,
        key: rsa.RSAPrivateKey | None = None,
        certificate: x509.Certificate | None = None,
        algorithm: Literal["rsa-sha256", "rsa-sha1"] = "rsa-sha256",
    ) -> etree._Element:
        """``element`` (a Response or an Assertion inside one) signed in place: the
        Signature right after its Issuer. Returns the element's new tree root."""
        key = key or self.key
        certificate = certificate or self.certificate
        placeholder = etree.Element(q(DS, "Signature"), nsmap={"ds": DS}, Id="placeholder")
        element.find(q(SAML, "Issuer")).addnext(placeholder)  # type: ignore[union-attr]
        root = element.getroottree().getroot()
        signer = (LegacySha1Signer if algorithm == "rsa-sha1" else XMLSigner)(
            signature_algorithm=algorithm,
            digest_algorithm="sha1" if algorithm == "rsa-sha1" else "sha256",
            c14n_algorithm=EXC_C14N,
        )
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        signed_root = signer.sign(
            root,
            key=key,
            cert=pem,
            reference_uri=f"#{element.get('ID')}",
            id_attribute="ID",
            always_add_key_value=False,
        )
        return signed_root  # type: ignore[no-any-return]

    def encrypted_response(
        self,
        recipient: x509.Certificate,
        *,
        sign: str = "assertion",
        content: str = "aes256-gcm",
        key_transport: str = "rsa-oaep-mgf1p",
        tamper: bool = False,
        **fields: object,
    ) -> bytes:
        """A Response whose Assertion is encrypted for ``recipient`` (XML Encryption 1.1, as
        AD FS and Entra ID send it): the content key wrapped with RSA, the Assertion (signed
        first when ``sign`` says so) encrypted with AES-GCM or AES-CBC."""
        response = self.response_tree(**fields)  # type: ignore[arg-type]
        if sign in ("assertion", "both"):
            response = self.sign(response.find(q(SAML, "Assertion")))  # type: ignore[arg-type]
        assertion = response.find(q(SAML, "Assertion"))
        assert assertion is not None
        plaintext = etree.tostring(assertion)
        size = {"128": 16, "192": 24, "256": 32}[content[3:6]]
        content_key = secrets.token_bytes(size)
        if content.endswith("gcm"):
            iv = secrets.token_bytes(12)
            ciphertext = iv + AESGCM(content_key).encrypt(iv, plaintext, None)
            content_uri = f"{XENC11}{content}"
        else:
            iv = secrets.token_bytes(16)
            padder = sym_padding.PKCS7(128).padder()
            padded = padder.update(plaintext) + padder.finalize()
            encryptor = Cipher(algorithms.AES(content_key), modes.CBC(iv)).encryptor()
            ciphertext = iv + encryptor.update(padded) + encryptor.finalize()
            content_uri = f"{XENC}{content}"
        if tamper:
            ciphertext = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
        public_key = recipient.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        if key_transport == "rsa-1_5":
            wrapped = public_key.encrypt(content_key, asym_padding.PKCS1v15())
        else:
            wrapped = public_key.encrypt(
                content_key,
                # rsa-oaep-mgf1p is OAEP with SHA-1 (XML Encryption 5.4.2); SHA-1's collisions
                # do not weaken OAEP.
                asym_padding.OAEP(
                    mgf=asym_padding.MGF1(hashes.SHA1()),  # noqa: S303
                    algorithm=hashes.SHA1(),  # noqa: S303
                    label=None,
                ),
            )
        nsmap = {"xenc": XENC, "ds": DS}
        encrypted = etree.Element(q(SAML, "EncryptedAssertion"))
        data = etree.SubElement(
            encrypted, q(XENC, "EncryptedData"), nsmap=nsmap, Type=f"{XENC}Element"
        )
        etree.SubElement(data, q(XENC, "EncryptionMethod"), Algorithm=content_uri)
        key_info = etree.SubElement(data, q(DS, "KeyInfo"))
        encrypted_key = etree.SubElement(key_info, q(XENC, "EncryptedKey"))
        etree.SubElement(
            encrypted_key, q(XENC, "EncryptionMethod"), Algorithm=f"{XENC}{key_transport}"
        )
        key_data = etree.SubElement(encrypted_key, q(XENC, "CipherData"))
        etree.SubElement(key_data, q(XENC, "CipherValue")).text = base64.b64encode(wrapped).decode()
        cipher_data = etree.SubElement(data, q(XENC, "CipherData"))
        etree.SubElement(cipher_data, q(XENC, "CipherValue")).text = base64.b64encode(
            ciphertext
        ).decode()
        response.replace(assertion, encrypted)
        if sign in ("response", "both"):
            response = self.sign(response)
        return etree.tostring(response)

    def signed_response(self, *, sign: str = "assertion", **fields: object) -> bytes:
        response = self.response_tree(**fields)  # type: ignore[arg-type]
        if sign in ("assertion", "both"):
            response = self.sign(response.find(q(SAML, "Assertion")))  # type: ignore[arg-type]
        if sign in ("response", "both"):
            response = self.sign(response)
        return etree.tostring(response)
