"""The app's own URLs, built in one place, and the URL safety rules every trust boundary
shares.

* The app's URLs: each ``*_url`` function takes a ``base``, APP_BASE_URL for an absolute URL
  (links given to IdPs, admins and customers) or its path (``Settings.base_path``) for a
  redirect inside the app; ``PORTAL_DESK_PATH`` recognises a desk's pages.
* Outbound endpoints (a tenant's Jira, an IdP) must be https; plain http only for loopback
  hosts and only when DEV_ALLOW_HTTP_LOOPBACK is set.
* Return paths supplied by a browser are accepted only as same-origin relative paths.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

# --- the app's own URLs ------------------------------------------------------------------


def portal_url(base: str, tenant_id: str) -> str:
    """A site's portal, under which its session cookie lives."""
    return f"{base}/portal/{tenant_id}"


def desk_url(base: str, tenant_id: str, desk_id: str) -> str:
    """A desk's home: the substitute link."""
    return f"{portal_url(base, tenant_id)}/{desk_id}"


def signed_out_url(base: str, tenant_id: str) -> str:
    return f"{portal_url(base, tenant_id)}/signed-out"


def callback_url(base: str, idp_id: str) -> str:
    """The OpenID Connect redirect URI registered at the IdP."""
    return f"{base}/oidc/{idp_id}/callback"


def saml_sp_entity_id(base: str, idp_id: str) -> str:
    """Our SAML entity id for one IdP configuration: the URL of our metadata for it."""
    return f"{base}/saml/{idp_id}/metadata"


def saml_acs_url(base: str, idp_id: str) -> str:
    """Where that IdP posts its Responses (HTTP-POST binding)."""
    return f"{base}/saml/{idp_id}/acs"


def saml_slo_url(base: str, idp_id: str) -> str:
    """Where that IdP sends its LogoutRequests and LogoutResponses (HTTP-Redirect)."""
    return f"{base}/saml/{idp_id}/slo"


def saml_idp_metadata_url(base: str, tenant_id: str) -> str:
    """The Guard bridge's IdP entity id: the URL of its metadata."""
    return f"{base}/saml-idp/{tenant_id}/metadata"


def saml_idp_sso_url(base: str, tenant_id: str) -> str:
    return f"{base}/saml-idp/{tenant_id}/sso"


def test_login_url(base: str, ticket: str) -> str:
    return f"{base}/oidc/test/{ticket}"


# A desk's pages (its home and below), and the two forms that carry files.
PORTAL_DESK_PATH = re.compile(r"^(/portal/[A-Za-z0-9_-]+/[0-9]+)/")
UPLOAD_FORM_PATH = re.compile(
    r"/portal/[A-Za-z0-9_-]+/[0-9]+/(create/[0-9]+|requests/[A-Z0-9_]+-[0-9]+/comments)"
)

_LOOPBACK_NAMES = {"localhost", "localhost."}


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Every login checks its IdP's endpoints again (they may come from a refreshed discovery
# document); the answer depends on the URL alone, so it is remembered.
@lru_cache(maxsize=1024)
def secure_endpoint_error(url: str, *, allow_http_loopback: bool) -> str | None:
    """Why ``url`` may not be used as an outbound endpoint, or None when it may."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    del port
    if not parts.hostname:
        return "must be an absolute URL"
    if parts.username or parts.password:
        return "must not carry credentials"
    if parts.fragment:
        return "must not carry a fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and allow_http_loopback and is_loopback_host(parts.hostname):
        return None
    return "must use https"


def host_allowed(host: str, patterns: list[str]) -> bool:
    """Shell-style host patterns (``*.atlassian.net``); a bare ``*`` never matches a dot."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            suffix = pattern[1:]
            label = host[: -len(suffix)] if host.endswith(suffix) else ""
            if label and "." not in label and fnmatchcase(label, "*"):
                return True
        elif fnmatchcase(host, pattern):
            return True
    return False


def app_path(scope: Mapping[str, Any]) -> str:
    """The request path as the app's routes see it: without the ASGI ``root_path`` (the
    path prefix of APP_BASE_URL, see ``app.main.PathPrefix``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :] or "/"
    return path


_UNSAFE_RETURN = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_return_path(value: str | None) -> str | None:
    """``value`` when it is a same-origin relative path, else None.

    Refuses scheme-relative (``//host``), backslash tricks (``/\\host``), absolute URLs,
    control characters, and the same hidden behind percent-encoding.
    """
    if not value or len(value) > 2048:
        return None
    decoded = value
    for _ in range(3):  # catch double and triple encoding too
        decoded_next = unquote(decoded)
        if decoded_next == decoded:
            break
        decoded = decoded_next
    for candidate in (value, decoded):
        if not candidate.startswith("/") or candidate.startswith("//"):
            return None
        if _UNSAFE_RETURN.search(candidate):
            return None
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return None
    return value
