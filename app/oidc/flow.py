"""The authorization-code flow with PKCE (RFC 7636), state, nonce and RFC 9207 ``iss``.

``start_login`` stores the flow state server side (any instance can finish the flow) and
returns the IdP URL to send the browser to. ``complete_login`` checks the callback in a fixed
order, stopping at the first failure:

1. state known, unused, unexpired, from this browser, for this IdP (then consumed);
2. the IdP's ``error`` parameter;
3. RFC 9207 ``iss`` (must match when present; required when the IdP advertises it);
4. the code is redeemed; the ID token is validated fully (no userinfo call before that);
5. userinfo, only when required claims are missing (or for plain OAuth 2.0), with a ``sub``
   that must equal the ID token's;
6. attribute mapping, which requires a verified email.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from app import urls
from app.crypto import SecretBox
from app.errors import IdentityProviderError, LoginError
from app.identity import MappedIdentity
from app.idps.mapping import effective_mapping, map_identity
from app.idps.presets import COGNITO_ISSUER, PRESETS, ROUTING_FIELD, cognito_region
from app.idps.states import CompletedLogin, FlowStart, Purpose, create_state
from app.models import IdentityProvider, LoginState, Tenant
from app.oidc.metadata import MetadataCache, ProviderMetadata, unreachable
from app.oidc.validation import IdTokenError, UnknownSigningKeyError, validate_id_token


class IssuerNotPinnedError(LoginError):
    code = "issuer_not_pinned"


def callback_url(app_base_url: str, idp_id: str) -> str:
    return urls.callback_url(app_base_url, idp_id)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def request_scopes(idp: IdentityProvider, kind: str) -> str:
    scopes = idp.scopes.split() or ["openid", "profile", "email"]
    if kind != "oauth2" and "openid" not in scopes:
        scopes.insert(0, "openid")
    return " ".join(dict.fromkeys(scopes))


async def start_login(
    session: AsyncSession,
    *,
    tenant: Tenant,
    idp: IdentityProvider,
    metadata: ProviderMetadata,
    purpose: Purpose,
    app_base_url: str,
    box: SecretBox,
    browser_id: str | None,
    service_desk_id: str | None = None,
    return_path: str | None = None,
    login_hint: str | None = None,
    now: datetime | None = None,
) -> FlowStart:
    """Store the flow's state and return where to send the browser.

    ``login_hint`` is the address the customer typed to pick this IdP: OpenID Connect's
    ``login_hint`` (Core 3.1.2.1) hands it on, so the IdP's sign-in page can fill it in."""
    if purpose == "login" and metadata.kind == "cognito" and not metadata.issuers():
        raise IssuerNotPinnedError(
            "this sign-in option is not ready yet: an administrator must run Test connection "
            "for it first"
        )
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)
    created = await create_state(
        session,
        tenant_id=tenant.id,
        idp_id=idp.id,
        purpose=purpose,
        browser_id=browser_id,
        service_desk_id=service_desk_id,
        return_path=return_path,
        nonce=nonce,
        code_verifier_encrypted=box.encrypt(verifier),
        now=now,
    )
    state, browser_id = created.state, created.browser_id
    params = {
        "response_type": "code",
        "client_id": idp.client_id,
        "redirect_uri": callback_url(app_base_url, idp.id),
        "scope": request_scopes(idp, metadata.kind),
        "state": state,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if metadata.kind != "oauth2":
        params["nonce"] = nonce
        if login_hint:
            params["login_hint"] = login_hint
    routing = PRESETS[idp.preset].routing_parameter
    if routing and (upstream := idp.settings.get(ROUTING_FIELD)):
        # The vendor's own parameter (Cognito's identity_provider, Keycloak's kc_idp_hint...):
        # straight to that upstream provider, past the vendor's sign-in page.
        params[routing] = str(upstream)
    separator = "&" if urlsplit(metadata.authorization_endpoint).query else "?"
    return FlowStart(
        authorize_url=f"{metadata.authorization_endpoint}{separator}{urlencode(params)}",
        browser_id=browser_id,
    )


def check_authorization_response(params: Mapping[str, str], *, metadata: ProviderMetadata) -> str:
    """Steps 2 and 3: the IdP's error, RFC 9207 ``iss``; returns the code."""
    error = params.get("error")
    if error:
        description = params.get("error_description", "")
        detail = f"{error}: {description}" if description else error
        raise LoginError(f"the identity provider refused the sign-in ({detail[:300]})")
    iss = params.get("iss")
    if iss is not None:
        if iss not in metadata.issuers():
            raise LoginError("the sign-in response came from another issuer (RFC 9207 iss)")
    elif metadata.iss_parameter_supported:
        raise LoginError("the sign-in response lacks the issuer the provider promised (RFC 9207)")
    code = params.get("code")
    if not code:
        raise LoginError("the sign-in response carries no authorization code")
    return code


async def redeem_code(
    http: httpx.AsyncClient,
    *,
    idp: IdentityProvider,
    metadata: ProviderMetadata,
    client_secret: str | None,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> dict[str, Any]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    headers = {"Accept": "application/json"}
    if client_secret and idp.token_auth_method == "client_secret_post":  # noqa: S105 - a method name
        form |= {"client_id": idp.client_id, "client_secret": client_secret}
    elif client_secret:
        # RFC 6749 2.3.1: form-encode id and secret before base64.
        pair = f"{quote(idp.client_id, safe='')}:{quote(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form["client_id"] = idp.client_id
    try:
        response = await http.post(metadata.token_endpoint, data=form, headers=headers)
    except httpx.HTTPError as e:
        raise unreachable("token endpoint", e) from e
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        description = body.get("error_description") if isinstance(body, dict) else None
        detail = (
            ": ".join(str(part) for part in (error, description) if part)
            or f"HTTP {response.status_code}"
        )
        raise IdentityProviderError(
            f"the identity provider did not accept the sign-in code ({detail[:300]})"
        )
    if not isinstance(body.get("access_token"), str):
        raise IdentityProviderError("the identity provider's token response has no access token")
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise IdentityProviderError("the identity provider's token response is not a bearer token")
    return body


async def fetch_userinfo(
    http: httpx.AsyncClient, *, metadata: ProviderMetadata, access_token: str
) -> dict[str, Any]:
    if not metadata.userinfo_endpoint:
        raise IdentityProviderError("the identity provider has no userinfo endpoint")
    try:
        # The access token goes in the Authorization header only (RFC 6750 2.1), never a URL.
        response = await http.get(
            metadata.userinfo_endpoint,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
    except httpx.HTTPError as e:
        raise unreachable("userinfo endpoint", e) from e
    if response.status_code != 200:
        raise IdentityProviderError(
            f"the identity provider's userinfo endpoint answered HTTP {response.status_code}"
        )
    try:
        claims = response.json()
    except ValueError as e:
        raise IdentityProviderError("the identity provider's userinfo is not JSON") from e
    if not isinstance(claims, dict):
        raise IdentityProviderError("the identity provider's userinfo is not a JSON object")
    return claims


def userinfo_required(
    claims: Mapping[str, Any],
    mapping: Mapping[str, str],
    *,
    defaults: Mapping[str, str],
    trust_email: bool,
) -> bool:
    """Fetch userinfo only when the ID token lacks what the login cannot do without: the
    email (and its verification, unless trusted) or a claim the admin mapped explicitly."""
    required = {mapping.get("email", "email")}
    if not trust_email:
        required.add(mapping.get("email_verified", "email_verified"))
    required |= {claim for key, claim in mapping.items() if claim and defaults.get(key) != claim}
    return any(claim not in claims for claim in required)


async def _validated_id_token(
    *,
    id_token: str,
    idp: IdentityProvider,
    metadata: ProviderMetadata,
    cache: MetadataCache,
    nonce: str,
    access_token: str,
    issuers: frozenset[str],
    jwks_uri: str,
    now: datetime,
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "issuers": issuers,
        "client_id": idp.client_id,
        "nonce": nonce,
        "allowed_algorithms": metadata.id_token_algorithms,
        "access_token": access_token,
        "require_token_use": "id" if metadata.kind == "cognito" else None,
        "now": now,
    }
    keys = await cache.signing_keys(jwks_uri)
    try:
        return validate_id_token(id_token, keys=keys, **options)
    except UnknownSigningKeyError:
        # The provider may have rotated its keys since we cached them: refresh once.
        keys = await cache.signing_keys(jwks_uri, force=True)
        return validate_id_token(id_token, keys=keys, **options)


async def learn_cognito_issuer(
    *, id_token: str, idp: IdentityProvider, cache: MetadataCache
) -> tuple[str, str]:
    """Bootstrap a Cognito IdP configured without pool id or issuer (test logins only).

    The issuer must have Cognito's shape and the domain's region; its discovery document must
    name it exactly and point its authorize and token endpoints at the configured domain.
    The caller then verifies the token against the discovered JWKS before pinning anything.
    """
    try:
        claimed = jwt.decode(id_token, options={"verify_signature": False}).get("iss")
    except jwt.InvalidTokenError as e:
        raise IdTokenError("the ID token is malformed") from e
    if not isinstance(claimed, str) or (match := COGNITO_ISSUER.fullmatch(claimed)) is None:
        raise IdTokenError("the ID token's issuer is not an AWS Cognito user pool")
    domain = str(idp.settings.get("domain", ""))
    region = cognito_region(domain)
    if region is not None and match["region"] != region:
        raise IdTokenError("the ID token's user pool is in another region than the Cognito domain")
    document = await cache.discovery(claimed)
    for name in ("authorization_endpoint", "token_endpoint"):
        endpoint = document.get(name)
        if not isinstance(endpoint, str) or urlsplit(endpoint).netloc.lower() != domain.lower():
            raise IdTokenError(
                f"the user pool's {name.replace('_', ' ')} is not on the Cognito domain {domain}"
            )
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise IdTokenError("the user pool's discovery document has no jwks_uri")
    cache.check_endpoint(jwks_uri, "key set (JWKS)")
    return claimed, jwks_uri


async def complete_login(
    *,
    idp: IdentityProvider,
    state: LoginState,
    params: Mapping[str, str],
    http: httpx.AsyncClient,
    cache: MetadataCache,
    box: SecretBox,
    app_base_url: str,
    now: datetime | None = None,
) -> CompletedLogin:
    """Steps 2 to 6 for a state that ``check_state`` has already accepted and consumed."""
    now = now or datetime.now(UTC)
    metadata = await cache.metadata(idp)
    code = check_authorization_response(params, metadata=metadata)
    tokens = await redeem_code(
        http,
        idp=idp,
        metadata=metadata,
        client_secret=box.decrypt(idp.client_secret_encrypted)
        if idp.client_secret_encrypted
        else None,
        code=code,
        redirect_uri=callback_url(app_base_url, idp.id),
        code_verifier=box.decrypt(state.code_verifier_encrypted),
    )
    access_token: str = tokens["access_token"]
    preset = PRESETS[idp.preset]
    mapping = effective_mapping(preset.default_mapping, idp.attribute_mapping)
    learned: tuple[str, str] | None = None
    id_token: str | None = None
    id_claims: dict[str, Any] = {}

    if metadata.kind == "oauth2":
        claims = await fetch_userinfo(http, metadata=metadata, access_token=access_token)
        subject_claim = mapping.get("subject", "sub")
        subject = claims.get(subject_claim)
        if isinstance(subject, int) and not isinstance(subject, bool):
            subject = str(subject)
        if not isinstance(subject, str) or not subject:
            raise LoginError("the identity provider's user info has no subject")
        identity, mapping_error = _mapped(claims, mapping, str(metadata.issuer), subject, idp)
        return CompletedLogin(
            purpose=state.purpose,  # type: ignore[arg-type]
            state=state,
            identity=identity,
            mapping_error=mapping_error,
            claims=claims,
            id_token=None,
            userinfo_used=True,
        )

    raw_id_token = tokens.get("id_token")
    if not isinstance(raw_id_token, str):
        raise IdTokenError("the identity provider returned no ID token")
    id_token = raw_id_token
    issuers = metadata.issuers()
    if issuers:
        jwks_uri = _jwks_for(id_token, metadata)
    elif state.purpose == "test":
        learned = await learn_cognito_issuer(id_token=id_token, idp=idp, cache=cache)
        issuers, jwks_uri = frozenset({learned[0]}), learned[1]
    else:
        raise IssuerNotPinnedError(
            "this sign-in option is not ready yet: an administrator must run Test connection "
            "for it first"
        )
    id_claims = await _validated_id_token(
        id_token=id_token,
        idp=idp,
        metadata=metadata,
        cache=cache,
        nonce=state.nonce,
        access_token=access_token,
        issuers=issuers,
        jwks_uri=jwks_uri,
        now=now,
    )
    claims = dict(id_claims)
    userinfo_used = False
    if userinfo_required(
        claims, mapping, defaults=preset.default_mapping, trust_email=idp.trust_email
    ):
        info = await fetch_userinfo(http, metadata=metadata, access_token=access_token)
        # Core 5.3.2: the userinfo sub must equal the ID token's, or it is someone else.
        if info.get("sub") != id_claims["sub"]:
            raise LoginError("the identity provider's user info is about another user")
        claims = info | id_claims
        userinfo_used = True
    identity, mapping_error = _mapped(claims, mapping, id_claims["iss"], id_claims["sub"], idp)
    return CompletedLogin(
        purpose=state.purpose,  # type: ignore[arg-type]
        state=state,
        identity=identity,
        mapping_error=mapping_error,
        claims=claims,
        id_token=id_token,
        learned_issuer=learned[0] if learned else None,
        learned_jwks_uri=learned[1] if learned else None,
        userinfo_used=userinfo_used,
    )


def _mapped(
    claims: Mapping[str, Any],
    mapping: Mapping[str, str],
    issuer: str,
    subject: str,
    idp: IdentityProvider,
) -> tuple[MappedIdentity | None, LoginError | None]:
    # A test login shows the claims even when they cannot be mapped; a real login stops.
    try:
        return map_identity(
            claims, mapping, issuer=issuer, subject=subject, trust_email=idp.trust_email
        ), None
    except LoginError as e:
        return None, e


def _jwks_for(id_token: str, metadata: ProviderMetadata) -> str:
    """Cognito by pool id: the key set lives under whichever of the two AWS issuer hosts
    signed the token (both are AWS's, and the issuer is checked against them after)."""
    if metadata.accepted_issuers:
        try:
            claimed = jwt.decode(id_token, options={"verify_signature": False}).get("iss")
        except jwt.InvalidTokenError as e:
            raise IdTokenError("the ID token is malformed") from e
        if claimed in metadata.accepted_issuers:
            return f"{claimed}/.well-known/jwks.json"
        raise IdTokenError("the ID token was issued by another issuer")
    if metadata.jwks_uri is None:
        raise IdentityProviderError("the identity provider has no key set (JWKS)")
    return metadata.jwks_uri
