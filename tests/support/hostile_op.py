"""An OpenID Provider for tests that can be told to misbehave.

Served through respx at https URLs, it implements discovery, JWKS, the token endpoint (checking
client authentication, redirect_uri and the PKCE verifier like a real OP) and userinfo. Each
knob breaks one thing, so each rejection has its own test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.oidc.validation import token_hash
from tests.support.keys import rsa_2048


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKeyPair:
    kid: str | None
    private_key: rsa.RSAPrivateKey = field(default_factory=rsa_2048)

    def jwk(self) -> dict[str, Any]:
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        data |= {"use": "sig", "alg": "RS256"}
        if self.kid:
            data["kid"] = self.kid
        return data

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str
    subject: str
    claims: dict[str, Any] | None = None  # the user's claims when the code was issued


@dataclass
class HostileOP:
    issuer: str = "https://op.example.test"
    client_id: str = "portal-client"
    client_secret: str = "op-client-secret-value"
    keys: list[SigningKeyPair] = field(default_factory=lambda: [SigningKeyPair(kid="key-1")])
    subject: str = "user-123"
    user_claims: dict[str, Any] = field(
        default_factory=lambda: {
            "email": "Ada@Example.com",
            "email_verified": True,
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
        }
    )
    # --- knobs ---------------------------------------------------------------------------
    discovery_issuer: str | None = None  # a discovery document naming another issuer
    iss_parameter_supported: bool = False
    callback_iss: str | None = None  # RFC 9207 iss to put on the callback
    claim_overrides: dict[str, Any] = field(default_factory=dict)  # None removes a claim
    header_overrides: dict[str, Any] = field(default_factory=dict)
    sign_with: str = "rs256"  # "rs256", "rs384", "none", "hs256-public-key", "foreign-key"
    signing_algs: list[str] = field(default_factory=lambda: ["RS256", "none", "HS256"])
    omit_kid: bool = False
    userinfo_claims: dict[str, Any] | None = None
    authorize_error: str | None = None
    token_error: str | None = None
    token_answer: httpx.Response | None = None  # the token endpoint answers exactly this
    token_body_overrides: dict[str, Any] = field(default_factory=dict)  # None removes a field
    userinfo_answer: httpx.Response | None = None  # the userinfo endpoint answers exactly this
    advertise_userinfo: bool = True
    unreachable: set[str] = field(default_factory=set)  # "token", "userinfo": connection refused
    issue_id_token: bool = True
    # --- what happened ---------------------------------------------------------------------
    grants: dict[str, Grant] = field(default_factory=dict)
    token_calls: int = 0
    userinfo_calls: int = 0
    jwks_calls: int = 0
    discovery_calls: int = 0
    token_requests: list[httpx.Request] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # tokens handed out, to grep logs for
    # Where the endpoints live (a Cognito domain serves them apart from the issuer host).
    endpoint_base: str | None = None
    jwks_path: str = "/jwks"
    extra_claims: dict[str, Any] = field(default_factory=dict)

    def _endpoint(self, plain: str, cognito: str) -> str:
        return (
            f"{self.issuer}{plain}"
            if self.endpoint_base is None
            else f"{self.endpoint_base}{cognito}"
        )

    @property
    def authorization_endpoint(self) -> str:
        return self._endpoint("/authorize", "/oauth2/authorize")

    @property
    def token_endpoint(self) -> str:
        return self._endpoint("/token", "/oauth2/token")

    @property
    def userinfo_endpoint(self) -> str:
        return self._endpoint("/userinfo", "/oauth2/userInfo")

    def discovery_document(self) -> dict[str, Any]:
        return {
            "issuer": self.discovery_issuer or self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": f"{self.issuer}{self.jwks_path}",
            # REQUIRED by OpenID Connect Discovery 1.0 (section 3).
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "end_session_endpoint": self._endpoint("/logout", "/logout"),
            "id_token_signing_alg_values_supported": self.signing_algs,
            "authorization_response_iss_parameter_supported": self.iss_parameter_supported,
        } | ({"userinfo_endpoint": self.userinfo_endpoint} if self.advertise_userinfo else {})

    def mount(self, router: respx.MockRouter) -> None:
        router.get(f"{self.issuer}/.well-known/openid-configuration").mock(
            side_effect=self._discovery
        )
        router.get(f"{self.issuer}{self.jwks_path}").mock(side_effect=self._jwks)
        router.post(self.token_endpoint).mock(side_effect=self._token)
        router.get(self.userinfo_endpoint).mock(side_effect=self._userinfo)

    def misbehave(self, **knobs: Any) -> None:
        """Turn knobs by name (a parametrized test's table); a name that is no knob fails."""
        for name, value in knobs.items():
            if not hasattr(self, name):
                raise AttributeError(f"HostileOP has no knob {name!r}")
            setattr(self, name, value)

    # --- endpoints -------------------------------------------------------------------------
    def _discovery(self, _request: httpx.Request) -> httpx.Response:
        self.discovery_calls += 1
        return httpx.Response(200, json=self.discovery_document())

    def _jwks(self, _request: httpx.Request) -> httpx.Response:
        self.jwks_calls += 1
        return httpx.Response(200, json={"keys": [key.jwk() for key in self.keys]})

    def authorize(self, url: str) -> str:
        """Play the browser at the OP: consent, and return the callback URL it redirects to."""
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == self.authorization_endpoint
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert params["response_type"] == "code"
        assert params["code_challenge_method"] == "S256"
        answer: dict[str, str] = {"state": params["state"]}
        if self.authorize_error:
            answer |= {"error": self.authorize_error, "error_description": "the user said no"}
        else:
            code = secrets.token_urlsafe(16)
            self.grants[code] = Grant(
                client_id=params["client_id"],
                redirect_uri=params["redirect_uri"],
                nonce=params.get("nonce"),
                challenge=params["code_challenge"],
                subject=self.subject,
                claims=dict(self.user_claims),
            )
            answer["code"] = code
        if self.callback_iss is not None:
            answer["iss"] = self.callback_iss
        return f"{params['redirect_uri']}?{urlencode(answer)}"

    def _client_ok(self, request: httpx.Request, form: dict[str, str]) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return client_id == self.client_id and secret == self.client_secret

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_calls += 1
        self.token_requests.append(request)
        if "token" in self.unreachable:
            raise httpx.ConnectError("connection refused", request=request)
        if self.token_answer is not None:
            return self.token_answer
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if self.token_error:
            return httpx.Response(400, json={"error": self.token_error})
        if not self._client_ok(request, form):
            return httpx.Response(401, json={"error": "invalid_client"})
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return httpx.Response(400, json={"error": "invalid_grant"})
        verifier = form.get("code_verifier", "")
        if _b64(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "PKCE"})
        access_token = secrets.token_urlsafe(24)
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        if self.issue_id_token:
            body["id_token"] = self.id_token(grant, access_token)
        for name, value in self.token_body_overrides.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        self.issued.extend(v for v in (access_token, body.get("id_token")) if v)
        return httpx.Response(200, json=body)

    def _userinfo(self, request: httpx.Request) -> httpx.Response:
        self.userinfo_calls += 1
        if "userinfo" in self.unreachable:
            raise httpx.ConnectError("connection refused", request=request)
        if self.userinfo_answer is not None:
            return self.userinfo_answer
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return httpx.Response(401)
        claims = (
            self.userinfo_claims
            if self.userinfo_claims is not None
            else {"sub": self.subject, **self.user_claims}
        )
        return httpx.Response(200, json=claims)

    # --- tokens ----------------------------------------------------------------------------
    def id_token(self, grant: Grant, access_token: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            "at_hash": token_hash(access_token, "RS256"),
            **(grant.claims if grant.claims is not None else self.user_claims),
            **self.extra_claims,
        }
        for name, value in self.claim_overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self.keys[-1]
        headers: dict[str, Any] = {} if self.omit_kid or key.kid is None else {"kid": key.kid}
        headers |= self.header_overrides
        if self.sign_with == "none":
            header = _b64(json.dumps({"alg": "none", **headers}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        if self.sign_with == "hs256-public-key":
            header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", **headers}).encode())
            body = _b64(json.dumps(claims).encode())
            import hmac

            mac = hmac.new(key.public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
            return f"{header}.{body}.{_b64(mac)}"
        signing_key = key.private_key
        if self.sign_with == "foreign-key":
            signing_key = rsa_2048()
        algorithm = "RS384" if self.sign_with == "rs384" else "RS256"
        return jwt.encode(claims, signing_key, algorithm=algorithm, headers=headers)
