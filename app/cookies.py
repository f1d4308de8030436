"""The app's two browser cookies and their attributes.

* flow cookie: binds a login's server-side state to this browser; ``Path=/oidc`` (only the
  callback needs it), 10 minutes, ``SameSite=Lax`` so it rides along on the IdP's top-level
  redirect back to us.
* portal session cookie: ``Path=/portal/{tenant_id}`` so it never reaches another tenant's
  pages; ``SameSite=Lax``; server-side expiry.

Both are HttpOnly and Secure (``__Secure-`` prefixed) except on a plain-http loopback dev URL.
"""

from __future__ import annotations

from fastapi import Request, Response

from app.config import Settings

FLOW_MAX_AGE = 600


def flow_cookie_name(settings: Settings) -> str:
    return "__Secure-sso_flow" if settings.secure_cookies else "sso_flow"


def session_cookie_name(settings: Settings) -> str:
    return "__Secure-portal_session" if settings.secure_cookies else "portal_session"


def _path(settings: Settings, path: str) -> str:
    return f"{settings.base_path}{path}"


def read_flow_cookie(request: Request, settings: Settings) -> str | None:
    return request.cookies.get(flow_cookie_name(settings))


def set_flow_cookie(response: Response, settings: Settings, value: str) -> None:
    response.set_cookie(
        flow_cookie_name(settings),
        value,
        max_age=FLOW_MAX_AGE,
        path=_path(settings, "/oidc"),
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def read_session_cookie(request: Request, settings: Settings) -> str | None:
    return request.cookies.get(session_cookie_name(settings))


def set_session_cookie(
    response: Response, settings: Settings, *, tenant_id: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        session_cookie_name(settings),
        value,
        max_age=max_age,
        path=_path(settings, f"/portal/{tenant_id}"),
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings, *, tenant_id: str) -> None:
    response.delete_cookie(
        session_cookie_name(settings),
        path=_path(settings, f"/portal/{tenant_id}"),
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
