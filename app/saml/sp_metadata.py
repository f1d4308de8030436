"""The service provider's metadata for one IdP configuration (SAML Metadata 2.0,
``SPSSODescriptor``), which the IdP's admin imports: our entity id, the ACS for the HTTP-POST
binding, the NameID formats we take, whether our AuthnRequests are signed, and our signing
and encryption certificates (during a key rotation, the old and the new ones together)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
NAME_ID_FORMATS = (
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
)


def sp_metadata(
    *,
    entity_id: str,
    acs_url: str,
    signing_certificates: Sequence[x509.Certificate],
    encryption_certificates: Sequence[x509.Certificate] = (),
    slo_url: str | None = None,
) -> bytes:
    """The metadata document, UTF-8 with an XML declaration."""
    root = etree.Element(f"{{{MD}}}EntityDescriptor", nsmap={"md": MD, "ds": DS})
    root.set("entityID", entity_id)
    descriptor = etree.SubElement(root, f"{{{MD}}}SPSSODescriptor")
    descriptor.set("protocolSupportEnumeration", SAMLP)
    descriptor.set("AuthnRequestsSigned", "true" if signing_certificates else "false")
    descriptor.set("WantAssertionsSigned", "true")
    for use, certificates in (
        ("signing", signing_certificates),
        ("encryption", encryption_certificates),
    ):
        for certificate in certificates:
            key = etree.SubElement(descriptor, f"{{{MD}}}KeyDescriptor", use=use)
            data = etree.SubElement(etree.SubElement(key, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
            etree.SubElement(data, f"{{{DS}}}X509Certificate").text = base64.b64encode(
                certificate.public_bytes(serialization.Encoding.DER)
            ).decode()
    if slo_url:
        logout = etree.SubElement(descriptor, f"{{{MD}}}SingleLogoutService")
        logout.set("Binding", REDIRECT_BINDING)
        logout.set("Location", slo_url)
    for name_id_format in NAME_ID_FORMATS:
        etree.SubElement(descriptor, f"{{{MD}}}NameIDFormat").text = name_id_format
    service = etree.SubElement(descriptor, f"{{{MD}}}AssertionConsumerService")
    service.set("Binding", POST_BINDING)
    service.set("Location", acs_url)
    service.set("index", "0")
    service.set("isDefault", "true")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
