"""Each way an incoming Connect token can fail, one test each (pure functions, fixed clock)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.connect.jwt import (
    CONTEXT_QSH,
    TokenError,
    canonical_request,
    install_token_kid,
    query_string_hash,
    relative_path,
    sign_tenant_request,
    unverified_issuer,
    verify_install_token,
    verify_tenant_token,
)
from tests.support.connect_tokens import InstallSigner, tenant_token

BASE = "https://sso.example.test"
CLIENT_KEY = "jira:1234"
SECRET = "a-shared-secret-that-is-long-enough-for-hs256"
PATH = "/lifecycle/installed"


def _now() -> datetime:
    return datetime.now(UTC)


def verify_install(signer: InstallSigner, token: str, **kwargs: object) -> object:
    options: dict[str, object] = {
        "public_key": signer.private_key.public_key(),
        "app_base_url": BASE,
        "client_key": CLIENT_KEY,
        "method": "POST",
        "path": PATH,
    }
    options.update(kwargs)
    return verify_install_token(token, **options)  # type: ignore[arg-type]


def install(signer: InstallSigner, **overrides: object) -> str:
    claims: dict[str, object] = {"client_key": CLIENT_KEY, "aud": BASE, "path": PATH}
    claims.update(overrides)
    return signer.token(**claims)  # type: ignore[arg-type]


def test_valid_install_token_is_accepted(signer: InstallSigner) -> None:
    claims = verify_install(signer, install(signer))
    assert claims.issuer == CLIENT_KEY  # type: ignore[attr-defined]


@pytest.mark.parametrize("aud", [BASE, BASE + "/", [BASE, "https://other.test"], [BASE + "/"]])
def test_install_audience_forms_accepted(signer: InstallSigner, aud: object) -> None:
    verify_install(signer, install(signer, aud=aud))


def test_install_rejects_hs256(signer: InstallSigner) -> None:
    token = jwt.encode(
        {"iss": CLIENT_KEY, "aud": BASE, "exp": 9999999999, "qsh": query_string_hash("POST", PATH)},
        "an-hmac-secret-long-enough-for-pyjwt-to-be-happy",
        algorithm="HS256",
        headers={"kid": signer.kid},
    )
    with pytest.raises(TokenError, match="RS256"):
        verify_install(signer, token)


def test_install_rejects_unsigned_alg_none(signer: InstallSigner) -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": signer.kid}).encode())
    body = base64.urlsafe_b64encode(json.dumps({"iss": CLIENT_KEY, "aud": BASE}).encode())
    token = f"{header.decode().rstrip('=')}.{body.decode().rstrip('=')}."
    with pytest.raises(TokenError, match="RS256"):
        verify_install(signer, token)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_install_rejects_hs256_signed_with_the_public_key(signer: InstallSigner) -> None:
    # Algorithm confusion: the attacker signs HS256 with the PEM of the public key.
    header = _b64(json.dumps({"alg": "HS256", "kid": signer.kid}).encode())
    body = _b64(
        json.dumps(
            {
                "iss": CLIENT_KEY,
                "aud": BASE,
                "exp": 9999999999,
                "qsh": query_string_hash("POST", PATH),
            }
        ).encode()
    )
    mac = hmac.new(signer.public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(TokenError, match="RS256"):
        verify_install(signer, f"{header}.{body}.{_b64(mac)}")


@pytest.mark.parametrize("kid", ["", "../../etc/passwd", "a/b", "key.pem", "a%2Fb", "x" * 129])
def test_install_rejects_malformed_kid(signer: InstallSigner, kid: str) -> None:
    token = jwt.encode(
        {"iss": CLIENT_KEY}, signer.private_key, algorithm="RS256", headers={"kid": kid}
    )
    with pytest.raises(TokenError, match="key id"):
        install_token_kid(token)


def test_install_rejects_missing_kid(signer: InstallSigner) -> None:
    token = jwt.encode({"iss": CLIENT_KEY}, signer.private_key, algorithm="RS256")
    with pytest.raises(TokenError, match="key id"):
        install_token_kid(token)


def test_install_rejects_bad_signature(signer: InstallSigner) -> None:
    other = InstallSigner(kid=signer.kid)
    with pytest.raises(TokenError, match="signature"):
        verify_install(signer, install(other))


def test_install_rejects_tampered_payload(signer: InstallSigner) -> None:
    header, _, signature = install(signer).split(".")
    forged = (
        base64.urlsafe_b64encode(
            json.dumps({"iss": "jira:evil", "aud": BASE, "exp": 9999999999}).encode()
        )
        .decode()
        .rstrip("=")
    )
    with pytest.raises(TokenError, match="signature"):
        verify_install(signer, f"{header}.{forged}.{signature}")


def test_install_rejects_expired(signer: InstallSigner) -> None:
    token = install(signer)
    with pytest.raises(TokenError, match="expired"):
        verify_install(signer, token, now=_now() + timedelta(minutes=10))


def test_install_accepts_within_leeway(signer: InstallSigner) -> None:
    token = install(signer)
    verify_install(signer, token, now=_now() + timedelta(seconds=190), leeway=30)


def test_install_rejects_missing_exp(signer: InstallSigner) -> None:
    with pytest.raises(TokenError, match="expiry"):
        verify_install(signer, install(signer, exp=None))


@pytest.mark.parametrize("aud", ["https://evil.test", [], ["https://evil.test", BASE], None])
def test_install_rejects_wrong_audience(signer: InstallSigner, aud: object) -> None:
    with pytest.raises(TokenError, match="audience"):
        verify_install(signer, install(signer, aud=aud))


def test_install_rejects_wrong_qsh(signer: InstallSigner) -> None:
    token = signer.token(client_key=CLIENT_KEY, aud=BASE, path="/lifecycle/uninstalled")
    with pytest.raises(TokenError, match="query string hash"):
        verify_install(signer, token)


def test_install_rejects_issuer_not_client_key(signer: InstallSigner) -> None:
    with pytest.raises(TokenError, match="clientKey"):
        verify_install(signer, install(signer), client_key="jira:someone-else")


def test_install_rejects_rs256_from_an_unrelated_key() -> None:
    signer = InstallSigner()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(TokenError, match="signature"):
        verify_install(signer, install(signer), public_key=other.public_key())


def test_install_rejects_malformed_header(signer: InstallSigner) -> None:
    with pytest.raises(TokenError, match="malformed token"):
        install_token_kid("not-a-token")


def test_install_rejects_signed_payload_that_is_not_a_json_object(signer: InstallSigner) -> None:
    token = jwt.api_jws.encode(
        b'["iss", "jira:1234"]', signer.private_key, algorithm="RS256", headers={"kid": signer.kid}
    )
    with pytest.raises(TokenError, match="install token is invalid"):
        verify_install(signer, token)


# --- tenant (HS256) tokens -------------------------------------------------------------


def verify_tenant(token: str, **kwargs: object) -> object:
    options: dict[str, object] = {
        "shared_secret": SECRET,
        "client_key": CLIENT_KEY,
        "expected_qsh": CONTEXT_QSH,
    }
    options.update(kwargs)
    return verify_tenant_token(token, **options)  # type: ignore[arg-type]


def test_tenant_token_accepted() -> None:
    claims = verify_tenant(tenant_token(client_key=CLIENT_KEY, secret=SECRET, sub="acc-1"))
    assert claims.subject == "acc-1"  # type: ignore[attr-defined]


def test_tenant_token_wrong_secret() -> None:
    with pytest.raises(TokenError, match="signature"):
        verify_tenant(
            tenant_token(
                client_key=CLIENT_KEY, secret="another-secret-entirely-different-from-the-real-one"
            )
        )


def test_tenant_token_rs256_refused(signer: InstallSigner) -> None:
    token = jwt.encode(
        {"iss": CLIENT_KEY, "exp": 9999999999, "qsh": CONTEXT_QSH},
        signer.private_key,
        algorithm="RS256",
    )
    with pytest.raises(TokenError, match="HS256"):
        verify_tenant(token)


def test_tenant_token_expired() -> None:
    token = tenant_token(client_key=CLIENT_KEY, secret=SECRET)
    with pytest.raises(TokenError, match="expired"):
        verify_tenant(token, now=_now() + timedelta(hours=1))


def test_tenant_token_without_exp() -> None:
    with pytest.raises(TokenError, match="expiry"):
        verify_tenant(tenant_token(client_key=CLIENT_KEY, secret=SECRET, exp=None))


def test_tenant_token_not_yet_valid() -> None:
    token = tenant_token(client_key=CLIENT_KEY, secret=SECRET, nbf=int(_now().timestamp()) + 3600)
    with pytest.raises(TokenError, match="not valid yet"):
        verify_tenant(token)


def test_tenant_token_with_malformed_not_before() -> None:
    token = tenant_token(client_key=CLIENT_KEY, secret=SECRET, nbf="now")
    with pytest.raises(TokenError, match="malformed not-before"):
        verify_tenant(token)


def test_tenant_token_wrong_issuer() -> None:
    with pytest.raises(TokenError, match="issuer"):
        verify_tenant(tenant_token(client_key="jira:other", secret=SECRET))


def test_page_token_refused_where_context_qsh_required() -> None:
    token = tenant_token(
        client_key=CLIENT_KEY, secret=SECRET, qsh=query_string_hash("GET", "/admin")
    )
    with pytest.raises(TokenError, match="query string hash"):
        verify_tenant(token)


def test_context_token_refused_on_a_page() -> None:
    token = tenant_token(client_key=CLIENT_KEY, secret=SECRET)
    with pytest.raises(TokenError, match="query string hash"):
        verify_tenant(token, expected_qsh=query_string_hash("GET", "/admin"))


@pytest.mark.parametrize("claims", [{"qsh": "q\u00df"}, {"iss": "jira:\u00e9"}], ids=["qsh", "iss"])
def test_non_ascii_claims_are_refused_not_crashed_on(claims: dict[str, str]) -> None:
    token = tenant_token(client_key=CLIENT_KEY, secret=SECRET, **claims)
    with pytest.raises(TokenError):
        verify_tenant(token)


def test_tenant_token_missing_qsh() -> None:
    with pytest.raises(TokenError, match="qsh"):
        verify_tenant(tenant_token(client_key=CLIENT_KEY, secret=SECRET, qsh=None))


def _unsigned(payload: bytes) -> str:
    """A token with this raw payload (never verified: the issuer is read first)."""
    segment = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{segment}.sig"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "malformed token"),
        ("one-part", "malformed token"),
        ("two.parts", "malformed token"),
        ("f.o.u.r", "malformed token"),
        ("eyJhbGciOiJIUzI1NiJ9.%%%.sig", "malformed token"),
        (_unsigned(b"not json"), "malformed token"),
        (_unsigned(b"\xff\xfe"), "malformed token"),
        (_unsigned(b"[1, 2]"), "malformed token"),
        (_unsigned(b"{}"), "no issuer"),
        (_unsigned(b'{"iss": ""}'), "no issuer"),
        (_unsigned(b'{"iss": 42}'), "no issuer"),
    ],
    ids=[
        "empty",
        "one-part",
        "two-parts",
        "four-parts",
        "not-base64",
        "not-json",
        "not-utf8",
        "json-array",
        "no-iss",
        "empty-iss",
        "numeric-iss",
    ],
)
def test_issuer_of_a_malformed_token_is_refused(token: str, reason: str) -> None:
    with pytest.raises(TokenError, match=reason):
        unverified_issuer(token)


def test_tenant_token_with_a_signed_payload_that_is_not_a_json_object() -> None:
    token = jwt.api_jws.encode(b'["iss", "jira:1234"]', SECRET, algorithm="HS256")
    with pytest.raises(TokenError, match="token is invalid"):
        verify_tenant(token)


# --- canonical request and outgoing tokens ---------------------------------------------


def test_canonical_request_encodes_ampersand_in_path() -> None:
    assert canonical_request("get", "/a&b/", "z=1&a=2") == "GET&/a%26b&a=2&z=1"


def test_relative_path_strips_context_path() -> None:
    assert relative_path("/jira/rest/api/3/myself", "/jira") == "/rest/api/3/myself"
    assert relative_path("/jiraX/rest", "/jira") == "/jiraX/rest"
    assert relative_path("/rest", "") == "/rest"


def test_signed_outgoing_request_claims() -> None:
    now = _now()
    token = sign_tenant_request(
        app_key="app",
        client_key=CLIENT_KEY,
        shared_secret=SECRET,
        method="GET",
        path="/rest/api/3/myself",
        query="a=1",
        now=now,
    )
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["iss"] == "app"
    assert claims["aud"] == [CLIENT_KEY]
    assert claims["exp"] - claims["iat"] == 180
    assert claims["qsh"] == query_string_hash("GET", "/rest/api/3/myself", "a=1")
