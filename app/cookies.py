"""The app's two browser cookies and their attributes.

* flow cookie: binds a login's server-side state to this browser; 10 minutes,
  ``SameSite=Lax`` so it rides along on the IdP's top-level redirect back to us.
* portal session cookie, one per tenant (its id in the name, so sessions at two sites live
  side by side); ``SameSite=Lax``; server-side expiry.

Both are HttpOnly and Secure. At the root of an https APP_BASE_URL they carry the
``__Host-`` prefix, which browsers accept only from this host, with ``Path=/`` and no
``Domain``: a sibling subdomain cannot plant a flow cookie it knows (login CSRF) or its own
session (session fixation). Under a path prefix, which ``__Host-`` does not allow, they are
``__Secure-`` and scoped to the app's paths (``/sso/oidc``, ``/sso/portal/<tenant>``), so
other applications on the host do not receive them. On a plain-http loopback development
URL they have no prefix and are not Secure.
"""

from __future__ import annotations

from fastapi import Request, Response

from app.config import Settings
from app.urls import portal_url

FLOW_MAX_AGE = 600


def _host_only(settings: Settings) -> bool:
    return settings.secure_cookies and not settings.base_path


def _prefix(settings: Settings) -> str:
    if _host_only(settings):
        return "__Host-"
    return "__Secure-" if settings.secure_cookies else ""


def _path(settings: Settings, path: str) -> str:
    return "/" if _host_only(settings) else f"{settings.base_path}{path}"


def flow_cookie_name(settings: Settings) -> str:
    return f"{_prefix(settings)}sso_flow"


def session_cookie_name(settings: Settings, tenant_id: str) -> str:
    return f"{_prefix(settings)}portal_session_{tenant_id}"


def read_flow_cookie(request: Request, settings: Settings) -> str | None:
    return request.cookies.get(flow_cookie_name(settings))


def set_flow_cookie(response: Response, settings: Settings, value: str) -> None:
    response.set_cookie(
        flow_cookie_name(settings),
        value,
        max_age=FLOW_MAX_AGE,
        # Both protocols' answers come back under the app's path: /oidc/... and /saml/...
        path=_path(settings, "/"),
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def read_session_cookie(request: Request, settings: Settings, tenant_id: str) -> str | None:
    return request.cookies.get(session_cookie_name(settings, tenant_id))


def set_session_cookie(
    response: Response, settings: Settings, *, tenant_id: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        session_cookie_name(settings, tenant_id),
        value,
        max_age=max_age,
        path=_path(settings, portal_url("", tenant_id)),
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings, *, tenant_id: str) -> None:
    response.delete_cookie(
        session_cookie_name(settings, tenant_id),
        path=_path(settings, portal_url("", tenant_id)),
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
