"""Forge Invocation Tokens (FIT): the verification of every call Forge makes to this remote.

Forge sends ``Authorization: Bearer <FIT>`` on each remote call (UI ``invokeRemote``, events,
scheduled triggers, ``preUninstall``). It is an RS256 JWT signed with Forge's keys, which sign
every app's FITs alike: so the audience and ``app.id`` must both be this app, or a token
genuinely signed for another app would work here. Everything the service learns about the
site comes from the verified claims (Atlassian, "Forge remote essentials", the invocation
contract), never from a request body:

* ``app.installationId``: which installation (one per site and install; a reinstall has a new
  one);
* the cloud id: ``context.cloudId`` and/or ``app.installation.contexts[].cloudId``; when both
  are there they must agree;
* ``app.apiBaseUrl`` (and each context's ``apiBaseUrl``): where Jira is called with the app
  system token. Each must be on a host in ``FORGE_API_HOSTS``, so a token can never point the
  service's calls (with a token in them) at another host;
* ``principal``: the Atlassian account of the user in a UI invocation; absent for events.

Each check is a pure, keyword-only function with an injectable clock (``now=``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt

from app.crypto import SIGNATURE_ONLY, audiences
from app.errors import AuthenticationError
from app.urls import host_allowed, secure_endpoint_error

FIT_ISSUER = "forge/invocation-token"
FIT_ALGORITHM = "RS256"
# The invocation contract allows little clock skew: Forge mints a FIT per call.
LEEWAY_SECONDS = 10
_KID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,256}$")
_CLOUD_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_INSTALLATION_ID = re.compile(r"^[A-Za-z0-9:/._-]{1,255}$")


class InvocationTokenError(AuthenticationError):
    """A FIT failed verification. The message is a short reason, safe to show."""


@dataclass(frozen=True, slots=True)
class Invocation:
    """What a verified FIT says about the call."""

    installation_id: str
    cloud_id: str
    api_base_url: str
    principal: str | None
    module_key: str | None
    claims: dict[str, Any]


def invocation_token_kid(token: str) -> str:
    """The header checks, done before any key is looked up: RS256 only, a sane ``kid``."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as e:
        raise InvocationTokenError("malformed invocation token") from e
    if header.get("alg") != FIT_ALGORITHM:
        raise InvocationTokenError("invocation token must be signed with RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise InvocationTokenError("invocation token key id is missing or malformed")
    return kid


def verify_invocation_token(
    token: str,
    *,
    public_key: Any,
    app_id: str,
    api_hosts: list[str],
    allow_http_loopback: bool = False,
    leeway: int = LEEWAY_SECONDS,
    now: datetime | None = None,
) -> Invocation:
    """Verify a FIT in full; raise ``InvocationTokenError`` with the first reason it fails."""
    invocation_token_kid(token)
    try:
        claims: dict[str, Any] = jwt.decode(
            token, public_key, algorithms=[FIT_ALGORITHM], options=SIGNATURE_ONLY
        )
    except jwt.InvalidSignatureError as e:
        raise InvocationTokenError("invocation token signature is invalid") from e
    except jwt.InvalidTokenError as e:
        raise InvocationTokenError("invocation token is invalid") from e
    check_invocation_lifetime(claims, now=now, leeway=leeway)
    if claims.get("iss") != FIT_ISSUER:
        raise InvocationTokenError("invocation token issuer is not Forge")
    if app_id not in audiences(claims.get("aud")):
        raise InvocationTokenError("invocation token is for another app")
    app = claims.get("app")
    if not isinstance(app, dict) or app.get("id") != app_id:
        raise InvocationTokenError("invocation token is for another app")
    installation_id = app.get("installationId")
    if not isinstance(installation_id, str) or not _INSTALLATION_ID.fullmatch(installation_id):
        raise InvocationTokenError("invocation token names no installation")
    contexts = _installation_contexts(app)
    api_base_url = app.get("apiBaseUrl")
    if not isinstance(api_base_url, str):
        raise InvocationTokenError("invocation token has no apiBaseUrl")
    for url in [api_base_url, *(c["apiBaseUrl"] for c in contexts if "apiBaseUrl" in c)]:
        check_api_base_url(url, api_hosts=api_hosts, allow_http_loopback=allow_http_loopback)
    cloud_id = _cloud_id(claims, contexts)
    principal = claims.get("principal")
    if principal is not None and (not isinstance(principal, str) or not principal):
        raise InvocationTokenError("invocation token principal is malformed")
    module = app.get("module")
    module_key = module.get("key") if isinstance(module, dict) else None
    return Invocation(
        installation_id=installation_id,
        cloud_id=cloud_id,
        api_base_url=api_base_url.rstrip("/"),
        principal=principal,
        module_key=module_key if isinstance(module_key, str) else None,
        claims=claims,
    )


def check_invocation_lifetime(
    claims: dict[str, Any], *, now: datetime | None = None, leeway: int = LEEWAY_SECONDS
) -> None:
    """``exp`` required; ``nbf`` and ``iat`` checked when present (RFC 7519 4.1.4-4.1.6)."""
    current = (now or datetime.now(UTC)).timestamp()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise InvocationTokenError("invocation token has no expiry")
    if current > exp + leeway:
        raise InvocationTokenError("invocation token has expired")
    for name in ("nbf", "iat"):
        if name not in claims:
            continue
        value = claims[name]
        if not _numeric_date(value):
            raise InvocationTokenError(f"invocation token has a malformed {name}")
        if current + leeway < value:
            raise InvocationTokenError("invocation token is not valid yet")


def check_api_base_url(url: str, *, api_hosts: list[str], allow_http_loopback: bool) -> None:
    """An ``apiBaseUrl`` the service may send the app's token to: https on an allowed host
    (``http://`` only for a loopback host, and only with ``DEV_ALLOW_HTTP_LOOPBACK``)."""
    reason = secure_endpoint_error(url, allow_http_loopback=allow_http_loopback)
    parts = urlsplit(url)
    if reason is None and not host_allowed(parts.hostname or "", api_hosts):
        reason = "host is not in FORGE_API_HOSTS"
    if reason is None and (parts.query or parts.fragment or parts.username or parts.password):
        reason = "carries a query, fragment or credentials"
    if reason is not None:
        raise InvocationTokenError(f"invocation token apiBaseUrl {reason}")


def _numeric_date(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _installation_contexts(app: dict[str, Any]) -> list[dict[str, Any]]:
    installation = app.get("installation")
    if installation is None:
        return []
    contexts = installation.get("contexts") if isinstance(installation, dict) else None
    if contexts is None:
        return []
    if not isinstance(contexts, list) or not all(isinstance(c, dict) for c in contexts):
        raise InvocationTokenError("invocation token installation contexts are malformed")
    for context in contexts:
        for name in ("apiBaseUrl", "cloudId"):
            if name in context and not isinstance(context[name], str):
                raise InvocationTokenError(f"invocation token context {name} is malformed")
    return contexts


def _cloud_id(claims: dict[str, Any], contexts: list[dict[str, Any]]) -> str:
    context = claims.get("context")
    named = set()
    if isinstance(context, dict) and context.get("cloudId") is not None:
        named.add(context["cloudId"])
    named.update(c["cloudId"] for c in contexts if "cloudId" in c)
    if len(named) != 1:
        raise InvocationTokenError(
            "invocation token names no site" if not named else "invocation token names two sites"
        )
    cloud_id = named.pop()
    if not isinstance(cloud_id, str) or not _CLOUD_ID.fullmatch(cloud_id):
        raise InvocationTokenError("invocation token cloud id is malformed")
    return cloud_id
