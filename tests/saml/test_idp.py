"""Portal SSO as the SAML IdP behind Atlassian Guard, the protocol part: Atlassian's
AuthnRequest is answered only for the registered SP, and the Response it gets passes an
independent SP check (our own verifier, with every profile rule) and names the email."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from app.saml.authn import authn_request, redirect
from app.saml.idp import (
    EMAIL_FORMAT,
    POST_BINDING,
    REDIRECT_BINDING,
    AssertedCustomer,
    AuthnRequestError,
    RegisteredSp,
    SpRequest,
    decode_request,
    idp_metadata,
    parse_request,
    read_authn_request,
    signed_response,
)
from app.saml.metadata import parse_metadata
from app.saml.response import ServiceProvider, TrustedIdp, verify_response
from tests.conftest import InstalledTenant
from tests.support.saml_idp import SigningIdp, self_signed

ATLASSIAN = RegisteredSp(
    entity_id="https://auth.atlassian.com/saml/0a1b2c3d-guard",
    acs_url="https://auth.atlassian.com/login/callback?connection=saml-0a1b2c3d",
)
IDP_ENTITY_ID = "https://sso.example.test/saml-idp/tenant-1/metadata"
SSO_URL = "https://sso.example.test/saml-idp/tenant-1/sso"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CERTIFICATE = self_signed(KEY, "Portal SSO IdP tenant-1")
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def atlassians_request(**changes: object) -> bytes:
    values: dict[str, object] = {
        "request_id": "_atl-1",
        "sp_entity_id": ATLASSIAN.entity_id,
        "acs_url": ATLASSIAN.acs_url,
        "sso_url": SSO_URL,
        "now": NOW,
    } | changes
    return authn_request(**values)  # type: ignore[arg-type]


def read(
    document: bytes, *, now: datetime = NOW, certificate: x509.Certificate | None = None
) -> SpRequest:
    """The request as the HTTP-POST binding carries it, parsed and checked."""
    root = parse_request(
        binding=POST_BINDING,
        saml_request=base64.b64encode(document).decode(),
        raw_query="",
        sp_certificate=certificate,
    )
    return read_authn_request(root, sp=ATLASSIAN, sso_url=SSO_URL, now=now)


def test_a_request_from_the_registered_sp_is_read() -> None:
    request = read(atlassians_request())
    assert request.id == "_atl-1"
    assert not request.force_authn


def test_a_request_that_wants_a_fresh_sign_in_says_so() -> None:
    document = atlassians_request().replace(
        b"<samlp:AuthnRequest ", b'<samlp:AuthnRequest ForceAuthn="true" '
    )
    assert read(document).force_authn


# Atlassian's SP, when it signs its AuthnRequests (the admin then registers its certificate).
ATLASSIAN_SIGNER = SigningIdp(entity_id=ATLASSIAN.entity_id)
SP_KEY, SP_CERTIFICATE = ATLASSIAN_SIGNER.key, ATLASSIAN_SIGNER.certificate


def test_a_signed_redirect_request_verifies_with_the_registered_certificate() -> None:
    url = redirect(
        sp_entity_id=ATLASSIAN.entity_id,
        acs_url=ATLASSIAN.acs_url,
        sso_url=SSO_URL,
        relay_state="relay",
        signing_key=SP_KEY,
        request_id="_atl-r",
        now=NOW,
    ).url
    query = url.partition("?")[2]
    saml_request = dict(parse_qsl(query))["SAMLRequest"]

    def check(certificate: x509.Certificate | None, raw_query: str) -> SpRequest:
        root = parse_request(
            binding=REDIRECT_BINDING,
            saml_request=saml_request,
            raw_query=raw_query,
            sp_certificate=certificate,
        )
        return read_authn_request(root, sp=ATLASSIAN, sso_url=SSO_URL, now=NOW)

    assert check(SP_CERTIFICATE, query).id == "_atl-r"
    unsigned = query.partition("&SigAlg=")[0]
    with pytest.raises(AuthnRequestError) as error:
        check(SP_CERTIFICATE, unsigned)
    assert error.value.reason == "not_signed"
    with pytest.raises(AuthnRequestError) as error:
        check(CERTIFICATE, query)  # another key's certificate
    assert error.value.reason == "bad_signature"
    # No certificate registered: the request is read, its signature not needed.
    assert check(None, unsigned).id == "_atl-r"


def test_a_signed_post_request_verifies_and_an_unsigned_one_is_refused() -> None:
    root = etree.fromstring(atlassians_request())
    signed = etree.tostring(ATLASSIAN_SIGNER.sign(root))
    assert read(signed, certificate=SP_CERTIFICATE).id == "_atl-1"
    with pytest.raises(AuthnRequestError) as error:
        read(atlassians_request(), certificate=SP_CERTIFICATE)
    assert error.value.reason == "not_signed_as_required"
    tampered = signed.replace(ATLASSIAN.acs_url.encode(), b"https://evil.example/acs")
    with pytest.raises(AuthnRequestError):
        read(tampered, certificate=SP_CERTIFICATE)


@pytest.mark.parametrize(
    ("changes", "now", "reason"),
    [
        ({"sp_entity_id": "https://evil.example/sp"}, NOW, "unregistered_issuer"),
        ({"acs_url": "https://evil.example/acs"}, NOW, "unregistered_acs"),
        ({"sso_url": "https://other-idp.example/sso"}, NOW, "wrong_destination"),
        ({}, NOW + timedelta(minutes=6), "stale_request"),
        ({}, NOW - timedelta(minutes=5), "stale_request"),  # from the future
    ],
)
def test_a_request_we_do_not_answer(changes: dict[str, object], now: datetime, reason: str) -> None:
    with pytest.raises(AuthnRequestError) as error:
        read(atlassians_request(**changes), now=now)
    assert error.value.reason == reason
    assert error.value.status_code == 400


def test_hostile_xml_is_refused_unread() -> None:
    with pytest.raises(AuthnRequestError) as error:
        read(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    assert error.value.reason == "unsafe_xml"


def test_both_bindings_decode() -> None:
    document = atlassians_request()
    compressor = zlib.compressobj(wbits=-15)
    deflated = compressor.compress(document) + compressor.flush()
    assert decode_request(base64.b64encode(deflated).decode(), binding=REDIRECT_BINDING) == document
    assert decode_request(base64.b64encode(document).decode(), binding=POST_BINDING) == document
    with pytest.raises(AuthnRequestError):
        decode_request("%%%", binding=REDIRECT_BINDING)


def issue(**customer: str) -> bytes:
    request = read(atlassians_request())
    return signed_response(
        idp_entity_id=IDP_ENTITY_ID,
        sp=ATLASSIAN,
        request=request,
        customer=AssertedCustomer(
            email=customer.get("email", "ann@acme.example"),
            display_name="Ann Example",
            first_name="Ann",
            last_name="Example",
        ),
        signing_key=KEY,
        certificate=CERTIFICATE,
        now=NOW,
    )


def test_our_response_passes_an_sp_that_checks_every_rule() -> None:
    identity = verify_response(
        issue(),
        sp=ServiceProvider(ATLASSIAN.entity_id, ATLASSIAN.acs_url),
        idp=TrustedIdp(IDP_ENTITY_ID, [CERTIFICATE], require="both"),
        expected_request_id="_atl-1",
        now=NOW + timedelta(seconds=5),
    )
    assert identity.name_id == "ann@acme.example"
    assert identity.name_id_format == EMAIL_FORMAT
    assert identity.attributes["givenname"] == ["Ann"]
    assert identity.attributes["surname"] == ["Example"]
    assert identity.session_index
    assert identity.not_on_or_after <= NOW + timedelta(minutes=10)


def test_our_response_goes_only_to_the_registered_acs() -> None:
    root = etree.fromstring(issue())
    assert root.get("Destination") == ATLASSIAN.acs_url
    recipients = {
        e.get("Recipient")
        for e in root.iter("{urn:oasis:names:tc:SAML:2.0:assertion}SubjectConfirmationData")
    }
    assert recipients == {ATLASSIAN.acs_url}


def test_our_metadata_reads_back_as_an_idps() -> None:
    metadata = parse_metadata(
        idp_metadata(entity_id=IDP_ENTITY_ID, sso_url=SSO_URL, certificates=[CERTIFICATE])
    )
    assert (metadata.entity_id, metadata.sso_url) == (IDP_ENTITY_ID, SSO_URL)
    assert [c.certificate for c in metadata.signing_certificates] == [CERTIFICATE]


async def test_the_bridges_metadata_is_served_once_the_site_is_installed(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    path = f"/saml-idp/{tenant.tenant_id}/metadata"
    first = await client.get(path)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/samlmetadata+xml"
    metadata = parse_metadata(first.content)
    assert metadata.entity_id == f"https://sso.example.test{path}"
    assert metadata.sso_url == f"https://sso.example.test/saml-idp/{tenant.tenant_id}/sso"
    [certificate] = metadata.signing_certificates
    again = parse_metadata((await client.get(path)).content)
    assert [c.certificate for c in again.signing_certificates] == [certificate.certificate]
    # The IdP key can assert any customer of the site: it is not one of the SP keys.
    sp_keys = await client.get("/api/admin/saml/sp-keys", headers=tenant.admin_headers())
    assert sp_keys.json() == []
    assert (await client.get("/saml-idp/no-such-site/metadata")).status_code == 404
