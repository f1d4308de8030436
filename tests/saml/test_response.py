"""Verifying a SAML Response: what a real IdP sends passes, and each attack that broke SAML
libraries is refused with its own reason (one test per way a Response can fail)."""

from __future__ import annotations

import base64
import copy
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from app.saml.encryption import DecryptionError
from app.saml.response import (
    SamlIdentity,
    SamlResponseError,
    SamlStatusError,
    ServiceProvider,
    TrustedIdp,
    decode_post,
    verify_response,
)
from tests.support.keys import rsa_2048
from tests.support.saml_idp import DS, SAML, SAMLP, SigningIdp, q, self_signed

SP = ServiceProvider(
    entity_id="https://sso.example.test/saml/idp-1/metadata",
    acs_url="https://sso.example.test/saml/idp-1/acs",
)
REQUEST_ID = "_request-1"


@pytest.fixture(scope="module")
def idp() -> SigningIdp:
    return SigningIdp()


@pytest.fixture(scope="module")
def other_idp() -> SigningIdp:
    return SigningIdp(entity_id="https://other-idp.example.test/saml")


def trusted(idp: SigningIdp, **overrides: object) -> TrustedIdp:
    return TrustedIdp(idp.entity_id, [idp.certificate], **overrides)  # type: ignore[arg-type]


def fields(**overrides: object) -> dict[str, object]:
    return {
        "acs_url": SP.acs_url,
        "audience": SP.entity_id,
        "in_response_to": REQUEST_ID,
        "attributes": {"mail": ["ann@example.com"]},
    } | overrides


def verify(
    document: bytes,
    idp: SigningIdp,
    *,
    expected: str | None = REQUEST_ID,
    now: datetime | None = None,
    **trust: object,
) -> SamlIdentity:
    return verify_response(
        document, sp=SP, idp=trusted(idp, **trust), expected_request_id=expected, now=now
    )


def refused(reason: str, document: bytes, idp: SigningIdp, **kwargs: object) -> None:
    with pytest.raises(SamlResponseError) as error:
        verify(document, idp, **kwargs)  # type: ignore[arg-type]
    assert error.value.reason == reason
    assert error.value.status_code == 400
    # The customer's page says the same for every forgery: nothing to probe with.
    assert error.value.message == "the sign-in answer could not be verified"


def assertion_of(root: etree._Element) -> etree._Element:
    found = root.find(q(SAML, "Assertion"))
    assert found is not None
    return found


# --- what passes ------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", ["assertion", "response", "both"])
def test_a_signed_response_gives_the_identity_it_carries(idp: SigningIdp, signed: str) -> None:
    identity = verify(idp.signed_response(sign=signed, **fields()), idp)
    assert identity.issuer == idp.entity_id
    assert identity.name_id == "user-1"
    assert identity.persistent
    assert identity.attributes == {"mail": ["ann@example.com"]}
    assert identity.in_response_to == REQUEST_ID
    assert identity.session_index


def test_during_a_rollover_either_certificate_is_trusted(idp: SigningIdp) -> None:
    new = SigningIdp(entity_id=idp.entity_id)
    document = new.signed_response(**fields())
    identity = verify_response(
        document,
        sp=SP,
        idp=TrustedIdp(idp.entity_id, [idp.certificate, new.certificate]),
        expected_request_id=REQUEST_ID,
    )
    assert identity.name_id == "user-1"


def test_an_unsolicited_response_answers_no_request(idp: SigningIdp) -> None:
    document = idp.signed_response(**fields(in_response_to=None))
    assert verify(document, idp, expected=None).in_response_to is None


def test_the_post_binding_field_is_base64(idp: SigningIdp) -> None:
    document = idp.signed_response(**fields())
    assert decode_post(base64.b64encode(document).decode()) == document
    with pytest.raises(SamlResponseError) as error:
        decode_post("not base64!")
    assert error.value.reason == "not_base64"


# --- signatures -------------------------------------------------------------------------------


def test_an_unsigned_response_is_refused(idp: SigningIdp) -> None:
    refused("not_signed_as_required", idp.signed_response(sign="none", **fields()), idp)


def test_a_signature_that_does_not_verify_is_refused(idp: SigningIdp) -> None:
    root = etree.fromstring(idp.signed_response(**fields()))
    value = root.find(f".//{q(DS, 'SignatureValue')}")
    assert value is not None
    value.text = base64.b64encode(b"\x00" * 256).decode()
    refused("bad_signature", etree.tostring(root), idp)


def test_an_empty_signature_is_refused(idp: SigningIdp) -> None:
    root = etree.fromstring(idp.signed_response(**fields()))
    signature = root.find(f".//{q(DS, 'Signature')}")
    assert signature is not None
    for child in list(signature):
        signature.remove(child)
    refused("bad_signature", etree.tostring(root), idp)


def test_a_changed_name_id_breaks_the_signature(idp: SigningIdp) -> None:
    root = etree.fromstring(idp.signed_response(**fields()))
    name_id = root.find(f".//{q(SAML, 'NameID')}")
    assert name_id is not None
    name_id.text = "admin"
    refused("bad_signature", etree.tostring(root), idp)


def test_a_response_resigned_with_the_attackers_key_and_certificate_is_refused(
    idp: SigningIdp,
) -> None:
    attacker = rsa_2048()
    certificate = self_signed(attacker, idp.entity_id)  # same name, other key, in KeyInfo
    tree = idp.response_tree(**fields(name_id="admin"))  # type: ignore[arg-type]
    signed = idp.sign(assertion_of(tree), key=attacker, certificate=certificate)
    refused("bad_signature", etree.tostring(signed), idp)


def test_a_valid_response_of_another_configured_idp_is_refused_here(
    idp: SigningIdp, other_idp: SigningIdp
) -> None:
    document = other_idp.signed_response(**fields())
    refused("bad_signature", document, idp)


def test_a_response_signed_by_our_idp_but_naming_another_issuer_is_refused(idp: SigningIdp) -> None:
    document = idp.signed_response(**fields(issuer="https://other-idp.example.test/saml"))
    refused("wrong_issuer", document, idp)


def test_sha1_is_refused_unless_allowed_for_the_idp(idp: SigningIdp) -> None:
    tree = idp.response_tree(**fields())  # type: ignore[arg-type]
    document = etree.tostring(idp.sign(assertion_of(tree), algorithm="rsa-sha1"))
    refused("bad_signature", document, idp)
    assert verify(document, idp, allow_sha1=True).name_id == "user-1"


@pytest.mark.parametrize(
    ("require", "signed", "accepted"),
    [
        ("response", "assertion", False),
        ("response", "response", True),
        ("assertion", "response", False),
        ("both", "assertion", False),
        ("both", "response", False),
        ("both", "both", True),
        ("either", "assertion", True),
    ],
)
def test_the_admin_chooses_which_element_must_be_signed(
    idp: SigningIdp, require: str, signed: str, accepted: bool
) -> None:
    document = idp.signed_response(sign=signed, **fields())
    if accepted:
        assert verify(document, idp, require=require).name_id == "user-1"
    else:
        refused("not_signed_as_required", document, idp, require=require)


# --- signature wrapping (XSW) -----------------------------------------------------------------


def evil_assertion(original: etree._Element, *, same_id: bool) -> etree._Element:
    evil = copy.deepcopy(original)
    for signature in evil.findall(q(DS, "Signature")):
        evil.remove(signature)
    name_id = evil.find(f".//{q(SAML, 'NameID')}")
    assert name_id is not None
    name_id.text = "admin"
    if not same_id:
        evil.set("ID", "_evil")
    return evil


@pytest.mark.parametrize("same_id", [True, False])
def test_a_second_unsigned_assertion_beside_the_signed_one_is_refused(
    idp: SigningIdp, same_id: bool
) -> None:
    root = etree.fromstring(idp.signed_response(**fields()))
    signed = assertion_of(root)
    signed.addprevious(evil_assertion(signed, same_id=same_id))
    refused("not_one_assertion", etree.tostring(root), idp)


@pytest.mark.parametrize("hiding_place", ["Extensions", "StatusDetail", "Object"])
def test_the_signed_assertion_moved_away_for_an_unsigned_one_is_refused(
    idp: SigningIdp, hiding_place: str
) -> None:
    """XSW3-8 and their 2025 variants: the signed original hidden in Extensions, in
    StatusDetail or in the Signature's own Object, an unsigned one where the reader looks."""
    root = etree.fromstring(idp.signed_response(**fields()))
    signed = assertion_of(root)
    evil = evil_assertion(signed, same_id=True)
    root.replace(signed, evil)
    if hiding_place == "Extensions":
        holder = etree.Element(q(SAMLP, "Extensions"))
        root.find(q(SAML, "Issuer")).addnext(holder)  # type: ignore[union-attr]
    elif hiding_place == "StatusDetail":
        holder = etree.SubElement(root.find(q(SAMLP, "Status")), q(SAMLP, "StatusDetail"))  # type: ignore[arg-type]
    else:
        signature = signed.find(q(DS, "Signature"))
        assert signature is not None
        evil.append(copy.deepcopy(signature))
        holder = etree.SubElement(evil.find(q(DS, "Signature")), q(DS, "Object"))  # type: ignore[arg-type]
    holder.append(signed)
    refused("not_one_assertion", etree.tostring(root), idp)


def test_a_signed_response_wrapped_inside_a_forged_one_is_refused(idp: SigningIdp) -> None:
    """XSW1/XSW2: the genuine signed Response moved inside a forged Response."""
    genuine = etree.fromstring(idp.signed_response(sign="response", **fields()))
    forged = idp.response_tree(**fields(name_id="admin"))  # type: ignore[arg-type]
    forged.set("ID", genuine.get("ID"))  # type: ignore[arg-type]
    signature = genuine.find(q(DS, "Signature"))
    assert signature is not None
    forged.find(q(SAML, "Issuer")).addnext(copy.deepcopy(signature))  # type: ignore[union-attr]
    extensions = etree.Element(q(SAMLP, "Extensions"))
    forged.find(q(DS, "Signature")).addnext(extensions)  # type: ignore[union-attr]
    extensions.append(genuine)
    with pytest.raises(SamlResponseError) as error:
        verify(etree.tostring(forged), idp)
    assert error.value.reason in ("not_one_assertion", "bad_signature")


def test_a_signature_referencing_another_element_than_its_parent_is_refused(
    idp: SigningIdp,
) -> None:
    """The Response's Signature must sign the Response: here it is the Assertion's signature
    copied up, referencing the Assertion."""
    root = etree.fromstring(idp.signed_response(sign="assertion", **fields()))
    signature = assertion_of(root).find(q(DS, "Signature"))
    assert signature is not None
    root.find(q(SAML, "Issuer")).addnext(copy.deepcopy(signature))  # type: ignore[union-attr]
    with pytest.raises(SamlResponseError) as error:
        verify(etree.tostring(root), idp, require="response")
    assert error.value.reason in ("bad_signature", "signature_covers_another_element")


# --- hostile XML ------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&lol3;</samlp:Response>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&xxe;</samlp:Response>"""

LOWERCASE_DOCTYPE = b"""<!doctype r><samlp:Response
 xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE, LOWERCASE_DOCTYPE])
def test_a_doctype_is_refused_before_parsing(idp: SigningIdp, document: bytes) -> None:
    started = time.perf_counter()
    refused("unsafe_xml", document, idp)
    assert time.perf_counter() - started < 0.5  # never expanded


def test_utf16_cannot_hide_a_doctype(idp: SigningIdp) -> None:
    refused("unsafe_xml", XXE.replace(b'version="1.0"', b"").decode().encode("utf-16"), idp)


def test_a_document_nested_too_deeply_is_refused(idp: SigningIdp) -> None:
    deep = b"<a>" * 200 + b"</a>" * 200
    refused("unsafe_xml", deep, idp)


def test_an_xinclude_is_never_followed(idp: SigningIdp) -> None:
    tree = idp.response_tree(**fields(attributes={"mail": ["placeholder"]}))  # type: ignore[arg-type]
    value = tree.find(f".//{q(SAML, 'AttributeValue')}")
    assert value is not None
    value.text = None
    include = etree.SubElement(value, "{http://www.w3.org/2001/XInclude}include")
    include.set("href", "file:///etc/passwd")
    include.set("parse", "text")
    identity = verify(etree.tostring(idp.sign(assertion_of(tree))), idp)
    assert identity.attributes == {"mail": []}  # the element is not text: nothing is read


def test_a_comment_inside_the_name_id_does_not_shorten_it(idp: SigningIdp) -> None:
    """``victim@example.com<!---->.evil.test`` is one address at evil.test, whatever a
    reader that stops at the first text node would think (c14n drops the comment, so the
    IdP's signature holds)."""
    tree = idp.response_tree(**fields(name_id="victim@example.com"))  # type: ignore[arg-type]
    name_id = tree.find(f".//{q(SAML, 'NameID')}")
    assert name_id is not None
    comment = etree.Comment("")
    comment.tail = ".evil.test"
    name_id.append(comment)
    identity = verify(etree.tostring(idp.sign(assertion_of(tree))), idp)
    assert identity.name_id == "victim@example.com.evil.test"


def test_a_processing_instruction_inside_an_attribute_is_never_read_around(
    idp: SigningIdp,
) -> None:
    """c14n keeps processing instructions and the parser drops them, so the signature no
    longer holds: refused, rather than read as ``victim@example.com``."""
    tree = idp.response_tree(**fields())  # type: ignore[arg-type]
    mail = tree.find(f".//{q(SAML, 'AttributeValue')}")
    assert mail is not None
    mail.text = "victim@example.com"
    instruction = etree.ProcessingInstruction("x")
    instruction.tail = ".evil.test"
    mail.append(instruction)
    refused("bad_signature", etree.tostring(idp.sign(assertion_of(tree))), idp)


# --- the profile's checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"acs_url": "https://sso.example.test/saml/idp-2/acs"}, "wrong_destination"),
        ({"audience": "https://elsewhere.example.test/sp"}, "wrong_audience"),
        ({"in_response_to": "_someone-elses-request"}, "wrong_in_response_to"),
        ({"in_response_to": None}, "wrong_in_response_to"),
    ],
)
def test_a_response_for_somewhere_or_something_else_is_refused(
    idp: SigningIdp, change: dict[str, object], reason: str
) -> None:
    refused(reason, idp.signed_response(**fields(**change)), idp)


def test_a_recipient_other_than_our_acs_is_refused(idp: SigningIdp) -> None:
    tree = idp.response_tree(**fields())  # type: ignore[arg-type]
    data = tree.find(f".//{q(SAML, 'SubjectConfirmationData')}")
    assert data is not None
    data.set("Recipient", "https://attacker.example.test/acs")
    refused("wrong_recipient", etree.tostring(idp.sign(assertion_of(tree))), idp)


def test_a_response_to_a_request_when_none_was_started_is_refused(idp: SigningIdp) -> None:
    refused("wrong_in_response_to", idp.signed_response(**fields()), idp, expected=None)


def test_an_expired_response_is_refused(idp: SigningIdp) -> None:
    document = idp.signed_response(**fields())
    refused("expired", document, idp, now=datetime.now(UTC) + timedelta(minutes=8))


def test_a_response_not_yet_valid_is_refused(idp: SigningIdp) -> None:
    document = idp.signed_response(**fields(now=datetime.now(UTC) + timedelta(minutes=10)))
    refused("not_yet_valid", document, idp)


def test_a_small_clock_skew_is_tolerated(idp: SigningIdp) -> None:
    document = idp.signed_response(**fields(now=datetime.now(UTC) + timedelta(seconds=60)))
    assert verify(document, idp).name_id == "user-1"


def test_a_status_other_than_success_is_explained(idp: SigningIdp) -> None:
    document = idp.signed_response(**fields(status="urn:oasis:names:tc:SAML:2.0:status:Responder"))
    with pytest.raises(SamlStatusError) as error:
        verify(document, idp)
    assert "did not sign you in (Responder)" in error.value.message


@pytest.mark.parametrize(
    "algorithm",
    [
        "http://www.w3.org/TR/1999/REC-xpath-19991116",
        "http://www.w3.org/TR/1999/REC-xslt-19991116",
        "http://www.w3.org/2006/12/xml-c14n11",
    ],
)
def test_a_transform_saml_does_not_use_is_refused_before_verifying(
    idp: SigningIdp, algorithm: str
) -> None:
    root = etree.fromstring(idp.signed_response(**fields()))
    transform = root.find(f".//{q(DS, 'Transform')}")
    assert transform is not None
    transform.set("Algorithm", algorithm)
    refused("unexpected_transform", etree.tostring(root), idp)


# --- encrypted assertions ---------------------------------------------------------------------

# Made here, not from the shared pool: these tests need keys no other fixture holds.
SP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OLD_SP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SP_CERTIFICATE = self_signed(SP_KEY, "sp")


def verify_encrypted(document: bytes, idp: SigningIdp, **trust: object) -> SamlIdentity:
    return verify_response(
        document,
        sp=SP,
        idp=trusted(idp, **trust),
        expected_request_id=REQUEST_ID,
        decryption_keys=[OLD_SP_KEY, SP_KEY],  # the old key first: each is tried
    )


@pytest.mark.parametrize(
    ("content", "signed"),
    [
        ("aes128-gcm", "assertion"),
        ("aes256-gcm", "response"),
        ("aes256-cbc", "assertion"),
        ("aes128-cbc", "both"),
    ],
)
def test_an_encrypted_assertion_is_decrypted_with_our_key(
    idp: SigningIdp, content: str, signed: str
) -> None:
    document = idp.encrypted_response(SP_CERTIFICATE, sign=signed, content=content, **fields())
    identity = verify_encrypted(document, idp)
    assert identity.name_id == "user-1"
    assert identity.attributes == {"mail": ["ann@example.com"]}


def decryption_refused(reason: str, document: bytes, idp: SigningIdp) -> None:
    with pytest.raises(DecryptionError) as error:
        verify_encrypted(document, idp)
    assert error.value.reason == reason
    assert error.value.message == "the sign-in answer could not be verified"


def test_rsa_1_5_key_transport_is_refused(idp: SigningIdp) -> None:
    document = idp.encrypted_response(SP_CERTIFICATE, key_transport="rsa-1_5", **fields())
    decryption_refused("rsa_1_5_refused", document, idp)


@pytest.mark.parametrize("content", ["aes256-gcm", "aes256-cbc"])
def test_a_tampered_ciphertext_gets_the_one_uniform_answer(idp: SigningIdp, content: str) -> None:
    document = idp.encrypted_response(SP_CERTIFICATE, content=content, tamper=True, **fields())
    with pytest.raises((DecryptionError, SamlResponseError)) as error:
        verify_encrypted(document, idp)
    assert error.value.message == "the sign-in answer could not be verified"


def test_an_assertion_encrypted_for_someone_else_is_refused(idp: SigningIdp) -> None:
    other = self_signed(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), "someone else"
    )
    decryption_refused("decryption_failed", idp.encrypted_response(other, **fields()), idp)


def test_an_unsigned_encrypted_assertion_in_an_unsigned_response_is_refused(
    idp: SigningIdp,
) -> None:
    """Encryption is not authentication: anyone can encrypt for our public key."""
    document = idp.encrypted_response(SP_CERTIFICATE, sign="none", **fields())
    with pytest.raises(SamlResponseError) as error:
        verify_encrypted(document, idp)
    assert error.value.reason == "not_signed_as_required"


def test_without_a_key_of_ours_an_encrypted_assertion_cannot_be_read(idp: SigningIdp) -> None:
    document = idp.encrypted_response(SP_CERTIFICATE, **fields())
    with pytest.raises(DecryptionError) as error:
        verify(document, idp)
    assert error.value.reason == "no_service_provider_key"


def test_a_response_signature_hidden_in_extensions_does_not_count(idp: SigningIdp) -> None:
    """2025 variant: the Response's valid Signature moved into samlp:Extensions, where a
    reader that searches the whole document would still find it."""
    root = etree.fromstring(idp.signed_response(sign="response", **fields()))
    signature = root.find(q(DS, "Signature"))
    assert signature is not None
    extensions = etree.Element(q(SAMLP, "Extensions"))
    signature.addprevious(extensions)
    extensions.append(signature)
    refused("not_signed_as_required", etree.tostring(root), idp, require="response")


def test_an_element_named_assertion_in_another_namespace_is_never_read(
    idp: SigningIdp,
) -> None:
    """Prefix confusion: ``saml:`` bound to another namespace on an element beside the real
    Assertion; only the signed Assertion in SAML's namespace is read."""
    root = etree.fromstring(idp.signed_response(**fields()))
    decoy = etree.fromstring(
        b'<saml:Assertion xmlns:saml="urn:evil"><saml:Subject><saml:NameID>admin'
        b"</saml:NameID></saml:Subject></saml:Assertion>"
    )
    assertion_of(root).addprevious(decoy)
    assert verify(etree.tostring(root), idp).name_id == "user-1"
