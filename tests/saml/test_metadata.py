"""Reading an IdP's SAML metadata: what the admin sees and what the service trusts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from app.saml.metadata import MD, MetadataError, parse_metadata
from app.saml.xml import UnsafeXmlError
from tests.support.saml_idp import SigningIdp, q


@pytest.fixture(scope="module")
def idp() -> SigningIdp:
    return SigningIdp()


def test_the_entity_id_sso_url_and_certificate_are_read(idp: SigningIdp) -> None:
    metadata = parse_metadata(idp.metadata())
    assert metadata.entity_id == idp.entity_id
    assert metadata.sso_url == idp.sso_url
    assert [c.certificate for c in metadata.signing_certificates] == [idp.certificate]
    assert metadata.want_authn_requests_signed is False
    assert metadata.slo_url is None


def test_several_signing_certificates_are_all_trusted_during_a_rollover(idp: SigningIdp) -> None:
    new = SigningIdp(entity_id=idp.entity_id)
    metadata = parse_metadata(idp.metadata(extra_certificates=(new.certificate,)))
    assert [c.certificate for c in metadata.signing_certificates] == [
        idp.certificate,
        new.certificate,
    ]


def test_a_certificate_expiring_within_30_days_is_flagged(idp: SigningIdp) -> None:
    [certificate] = parse_metadata(idp.metadata()).signing_certificates
    assert not certificate.expires_soon(now=datetime.now(UTC))
    assert certificate.expires_soon(now=certificate.not_after - timedelta(days=10))


def federation(*idps: SigningIdp) -> bytes:
    root = etree.Element(q(MD, "EntitiesDescriptor"), nsmap={"md": MD})
    for idp in idps:
        root.append(etree.fromstring(idp.metadata()))
    return etree.tostring(root)


def test_in_a_federations_aggregate_the_entity_id_picks_the_idp(idp: SigningIdp) -> None:
    other = SigningIdp(entity_id="https://other.example.test/idp")
    document = federation(idp, other)
    with pytest.raises(MetadataError, match="several identity providers"):
        parse_metadata(document)
    assert parse_metadata(document, entity_id=other.entity_id).entity_id == other.entity_id
    with pytest.raises(MetadataError, match="with entity id https://nowhere"):
        parse_metadata(document, entity_id="https://nowhere.example.test")


def test_expired_metadata_is_refused(idp: SigningIdp) -> None:
    root = etree.fromstring(idp.metadata())
    root.set("validUntil", "2020-01-01T00:00:00Z")
    with pytest.raises(MetadataError, match="expired on 2020-01-01"):
        parse_metadata(etree.tostring(root))


def test_cache_duration_and_valid_until_set_the_next_refresh(idp: SigningIdp) -> None:
    root = etree.fromstring(idp.metadata())
    fetched = datetime(2026, 12, 6, 12, tzinfo=UTC)
    root.set("cacheDuration", "PT6H")
    assert parse_metadata(etree.tostring(root), now=fetched).refresh_after(
        fetched_at=fetched
    ) == fetched + timedelta(hours=6)
    root.set("validUntil", "2026-12-06T14:00:00Z")
    assert parse_metadata(etree.tostring(root), now=fetched).refresh_after(
        fetched_at=fetched
    ) == datetime(2026, 12, 6, 14, tzinfo=UTC)
    root.set("cacheDuration", "soon")
    with pytest.raises(MetadataError, match="cacheDuration"):
        parse_metadata(etree.tostring(root), now=fetched)


def test_metadata_without_a_signing_certificate_is_refused(idp: SigningIdp) -> None:
    root = etree.fromstring(idp.metadata())
    for key in root.iter(q(MD, "KeyDescriptor")):
        key.set("use", "encryption")
    with pytest.raises(MetadataError, match="no signing certificate"):
        parse_metadata(etree.tostring(root))


def test_metadata_without_redirect_sso_is_refused(idp: SigningIdp) -> None:
    document = idp.metadata().replace(b"bindings:HTTP-Redirect", b"bindings:SOAP")
    with pytest.raises(MetadataError, match="HTTP-Redirect"):
        parse_metadata(document)


def test_something_that_is_not_metadata_is_refused() -> None:
    with pytest.raises(MetadataError, match="not SAML metadata"):
        parse_metadata(b"<html><body>login</body></html>")


def test_a_doctype_in_pasted_metadata_is_refused() -> None:
    with pytest.raises(UnsafeXmlError):
        parse_metadata(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("javascript:alert(1)", "sign-in URL must be an absolute URL"),
        ("http://idp.example.test/sso", "sign-in URL must use https"),
        ("https://user:pw@idp.example.test/sso", "sign-in URL must not carry credentials"),
    ],
)
def test_an_sso_url_customers_must_not_be_sent_to_is_refused(
    idp: SigningIdp, location: str, problem: str
) -> None:
    document = idp.metadata().replace(idp.sso_url.encode(), location.encode())
    with pytest.raises(MetadataError, match=problem):
        parse_metadata(document)


def test_an_slo_url_over_plain_http_is_refused(idp: SigningIdp) -> None:
    with pytest.raises(MetadataError, match="sign-out URL must use https"):
        parse_metadata(idp.metadata(slo_url="http://idp.example.test/slo"))
    assert parse_metadata(idp.metadata(slo_url="https://idp.example.test/slo")).slo_url
