"""A fake Forge platform: its signing keys and JWKS, Forge Invocation Tokens minted as Forge
mints them, app system tokens, and the calls Forge makes to a remote.

It cannot be the real one (Forge runs only in Atlassian's cloud), so it follows Atlassian's
published documentation, and assumes:

* "Forge remote essentials" / the remote invocation contract: every call carries
  ``Authorization: Bearer <FIT>``; endpoints whose manifest entry enables
  ``auth.appSystemToken`` also carry ``x-forge-oauth-system``; events and scheduled triggers
  are POSTs of the event as JSON; ``invokeRemote({path, method, headers, body})`` becomes
  ``method path`` on the remote with ``body`` as JSON;
* the FIT is RS256, ``kid`` names a key in Forge's JWKS, ``iss`` is
  ``forge/invocation-token``, ``aud`` the app's ARI; ``app`` carries ``id``,
  ``installationId``, ``apiBaseUrl`` (``https://api.atlassian.com/ex/jira/{cloudId}``),
  ``environment``, ``module`` and ``installation.contexts[]`` (each with ``cloudId`` and
  ``apiBaseUrl``); ``context.cloudId`` names the site; ``principal`` is the user's account id
  in UI invocations only; a FIT lives a few minutes;
* the life-cycle event payload ("Life cycle events"): ``id`` (the installation),
  ``installerAccountId``, ``app``, ``environment``, ``eventType``, ``context.cloudId``;
* the app system token is an opaque Bearer token to the remote (here a JWT with ``exp``, as
  Atlassian's are), valid for at most 4 hours on ``api.atlassian.com/ex/jira/{cloudId}``.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
import respx
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.keys import rsa_2048

FIT_ISSUER = "forge/invocation-token"
JWKS_URL = "https://forge.cdn.example.test/.well-known/jwks.json"
API = "https://api.atlassian.com/ex/jira"


def new_app_id() -> str:
    return f"ari:cloud:ecosystem::app/{uuid.uuid4()}"


@dataclass
class ForgeSite:
    cloud_id: str
    installation_id: str
    site_url: str

    @property
    def api_base_url(self) -> str:
        return f"{API}/{self.cloud_id}"


def new_site(site_url: str = "https://acme.atlassian.net") -> ForgeSite:
    return ForgeSite(
        cloud_id=str(uuid.uuid4()),
        installation_id=f"ari:cloud:ecosystem::installation/{uuid.uuid4()}",
        site_url=site_url,
    )


@dataclass
class SigningKey:
    kid: str = field(default_factory=lambda: f"forge/{uuid.uuid4()}")
    private: rsa.RSAPrivateKey = field(default_factory=rsa_2048)

    def jwk(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(
            jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key())
        )
        return value | {"kid": self.kid, "use": "sig", "alg": "RS256"}


@dataclass
class FakeForge:
    app_id: str = field(default_factory=new_app_id)
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey()])
    jwks_fetches: int = 0
    # Tokens issued per cloud id: what the fake api.atlassian.com accepts.
    issued_tokens: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def key(self) -> SigningKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.keys]}

    def mount(self, router: respx.MockRouter) -> respx.Route:
        def serve(_request: Any) -> Any:
            import httpx

            self.jwks_fetches += 1
            return httpx.Response(200, json=self.jwks())

        return router.get(JWKS_URL).mock(side_effect=serve)

    # --- tokens ------------------------------------------------------------------------------
    def fit_claims(
        self,
        site: ForgeSite,
        *,
        principal: str | None = None,
        module_key: str | None = None,
        lifetime: float = 300,
    ) -> dict[str, Any]:
        """Claims as Forge mints them: a UI invocation (with a principal) names the admin
        page's module, an event or trigger its own (keys as in forge/manifest.yml)."""
        if module_key is None:
            module_key = "portal-sso-admin" if principal is not None else "lifecycle-events"
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": FIT_ISSUER,
            "aud": self.app_id,
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime),
            "jti": str(uuid.uuid4()),
            "app": {
                "id": self.app_id,
                "version": "4.0.0",
                "installationId": site.installation_id,
                "apiBaseUrl": site.api_base_url,
                "environment": {"type": "PRODUCTION", "id": str(uuid.uuid4())},
                "module": {"type": "core:endpoint", "key": module_key},
                "installation": {
                    "contexts": [
                        {
                            "cloudId": site.cloud_id,
                            "apiBaseUrl": site.api_base_url,
                            "product": "jira",
                        }
                    ]
                },
            },
            "context": {"cloudId": site.cloud_id, "moduleKey": module_key},
        }
        if principal is not None:
            claims["principal"] = principal
        return claims

    def sign(self, claims: dict[str, Any], *, key: SigningKey | None = None, **header: Any) -> str:
        key = key or self.key
        return jwt.encode(
            claims, key.private, algorithm="RS256", headers={"kid": key.kid, **header}
        )

    def fit(self, site: ForgeSite, *, principal: str | None = None, **overrides: Any) -> str:
        return self.sign(self.fit_claims(site, principal=principal) | overrides)

    def app_token(self, site: ForgeSite, *, lifetime: float = 3600) -> str:
        """An app system token for the site, which the fake API gateway then accepts."""
        exp = time.time() + lifetime
        token = jwt.encode(
            {"iss": "forge", "sub": self.app_id, "aud": site.api_base_url, "exp": int(exp)},
            secrets.token_bytes(32),
            algorithm="HS256",
        )
        self.issued_tokens.setdefault(site.cloud_id, {})[token] = exp
        return token

    def accepts(self, cloud_id: str, token: str) -> bool:
        exp = self.issued_tokens.get(cloud_id, {}).get(token)
        return exp is not None and exp > time.time()

    # --- what Forge sends ----------------------------------------------------------------------
    def headers(
        self,
        site: ForgeSite,
        *,
        principal: str | None = None,
        app_token: str | None = None,
        fit: str | None = None,
    ) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {fit or self.fit(site, principal=principal)}",
            "x-b3-traceid": secrets.token_hex(8),
            "x-b3-spanid": secrets.token_hex(8),
        }
        if app_token is not None:
            headers["x-forge-oauth-system"] = app_token
        return headers

    def lifecycle_event(
        self, site: ForgeSite, event_type: str = "avi:forge:installed:app"
    ) -> dict[str, Any]:
        return {
            "id": site.installation_id,
            "installerAccountId": "557058:admin-account",
            "app": {"id": self.app_id, "version": "4.0.0"},
            "environment": {"id": str(uuid.uuid4())},
            "eventType": event_type,
            "context": {"cloudId": site.cloud_id},
        }
