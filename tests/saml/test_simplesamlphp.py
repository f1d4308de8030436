"""Against a real IdP: SimpleSAMLphp's metadata is read by our parser, an AuthnRequest we
build takes a user through its login form, and the Response it signs passes our verifier,
while the same Response tampered with, replayed to another request or posted to another
SP is refused."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from html import unescape

import httpx
import pytest
from lxml import etree

from app.saml.authn import redirect
from app.saml.metadata import IdpMetadata, parse_metadata
from app.saml.response import (
    SamlResponseError,
    ServiceProvider,
    TrustedIdp,
    decode_post,
    verify_response,
)
from tests.support.simplesamlphp import (
    MAIL,
    PASSWORD,
    USER,
    SimpleSamlPhp,
    available,
    start_simplesamlphp,
)

pytestmark = pytest.mark.skipif(
    not available(), reason="needs Debian's simplesamlphp and php-cli (scripts/install-system-deps)"
)

SP = ServiceProvider(
    entity_id="https://sso.example.test/saml/idp-1/metadata",
    acs_url="https://sso.example.test/saml/idp-1/acs",
)


@pytest.fixture(scope="module")
def simplesamlphp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleSamlPhp]:
    yield from start_simplesamlphp(
        tmp_path_factory.mktemp("simplesamlphp"), sp_entity_id=SP.entity_id, acs_url=SP.acs_url
    )


@pytest.fixture(scope="module")
def metadata(simplesamlphp: SimpleSamlPhp) -> IdpMetadata:
    # SimpleSAMLphp serves plain http on loopback, as development settings allow.
    return parse_metadata(httpx.get(simplesamlphp.metadata_url).content, allow_http_loopback=True)


def form_field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}"\s+value="([^"]*)"', html)
    assert found, f"no {name} in the page"
    return unescape(found.group(1))


def sign_in(metadata: IdpMetadata, *, relay_state: str = "relay-1") -> tuple[str, str, str]:
    """(request id, the base64 SAMLResponse, RelayState) after a user signs in at the IdP's
    own form, as a browser would."""
    start = redirect(
        sp_entity_id=SP.entity_id,
        acs_url=SP.acs_url,
        sso_url=metadata.sso_url,
        relay_state=relay_state,
        signing_key=None,
    )
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        login_page = browser.get(start.url)
        assert login_page.status_code == 200, login_page.text[:500]
        answer = browser.post(
            str(login_page.url),
            data={
                "username": USER,
                "password": PASSWORD,
                "AuthState": form_field(login_page.text, "AuthState"),
            },
        )
    assert answer.status_code == 200, answer.text[:500]
    assert SP.acs_url in answer.text  # the auto-submitting form posts to our ACS
    return (
        start.request_id,
        form_field(answer.text, "SAMLResponse"),
        form_field(answer.text, "RelayState"),
    )


def test_its_metadata_is_read(simplesamlphp: SimpleSamlPhp, metadata: IdpMetadata) -> None:
    assert metadata.entity_id == simplesamlphp.entity_id
    assert metadata.sso_url == simplesamlphp.sso_url
    assert len(metadata.signing_certificates) == 1


def test_a_user_signed_in_there_is_verified_here(metadata: IdpMetadata) -> None:
    request_id, saml_response, relay_state = sign_in(metadata)
    trusted = TrustedIdp(
        metadata.entity_id,
        [c.certificate for c in metadata.signing_certificates],
        require="both",  # SimpleSAMLphp here signs the Response and the Assertion
    )
    identity = verify_response(
        decode_post(saml_response), sp=SP, idp=trusted, expected_request_id=request_id
    )
    assert relay_state == "relay-1"
    assert identity.issuer == metadata.entity_id
    assert identity.in_response_to == request_id
    assert identity.name_id  # persistent: SimpleSAMLphp's targeted id for this SP
    assert identity.persistent
    assert identity.attributes["mail"] == [MAIL]
    assert identity.attributes["displayName"] == ["Ann Example"]


def test_its_response_is_refused_for_another_request_tampered_or_another_sp(
    metadata: IdpMetadata,
) -> None:
    request_id, saml_response, _ = sign_in(metadata)
    document = decode_post(saml_response)
    trusted = TrustedIdp(metadata.entity_id, [c.certificate for c in metadata.signing_certificates])
    with pytest.raises(SamlResponseError) as error:
        verify_response(document, sp=SP, idp=trusted, expected_request_id="_another-request")
    assert error.value.reason == "wrong_in_response_to"

    other_sp = ServiceProvider(SP.entity_id, "https://sso.example.test/saml/idp-2/acs")
    with pytest.raises(SamlResponseError) as error:
        verify_response(document, sp=other_sp, idp=trusted, expected_request_id=request_id)
    assert error.value.reason == "wrong_destination"

    root = etree.fromstring(document)
    for value in root.iter("{urn:oasis:names:tc:SAML:2.0:assertion}AttributeValue"):
        if value.text == MAIL:
            value.text = "admin@example.com"
    with pytest.raises(SamlResponseError) as error:
        verify_response(etree.tostring(root), sp=SP, idp=trusted, expected_request_id=request_id)
    assert error.value.reason == "bad_signature"
    assert base64.b64encode(document).decode() == "".join(saml_response.split())
