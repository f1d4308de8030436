"""Jinja2 environment (autoescaping on) and the customer-facing error page."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC_DIR = Path(__file__).parent / "static"


def page_path(request: Request) -> str:
    """This request's path and query as the browser knows it (APP_BASE_URL's prefix included),
    for links back to it."""
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


@pass_context
def path_for(context: dict[str, Any], name: str, /, **params: Any) -> str:
    """``url_for`` without scheme and host: those come from whatever the proxy forwards (its
    own Host, plain http), and a page must link to its own origin whatever they are."""
    request: Request = context["request"]
    root: str = request.scope.get("root_path", "")
    return root + str(request.app.url_path_for(name, **params))


templates.env.globals["path_for"] = path_for


@functools.cache
def static_version(name: str) -> str:
    """A digest of the file's content: its URL changes with every release that changes it."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


@pass_context
def static_path(context: dict[str, Any], name: str) -> str:
    """A static file's path, versioned by content (see ``VersionedStaticFiles``): after an
    upgrade, a browser never runs the admin page's old script against the new API."""
    return f"{path_for(context, 'static', path=name)}?v={static_version(name)}"


templates.env.globals["static_path"] = static_path

_TITLES = {
    400: "We could not sign you in",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    429: "Too many attempts",
    502: "A service we depend on is not answering",
}


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=headers
    )


def as_sentence(message: str) -> str:
    """Error reasons are written as clauses ("this help center no longer exists"), which the
    JSON API returns as they are; a page shows them as a sentence."""
    message = message.strip()
    if not message:
        return message
    return message[:1].upper() + message[1:] + ("" if message.endswith((".", "!", "?")) else ".")


def render_error(
    request: Request,
    *,
    status_code: int,
    message: str,
    title: str | None = None,
    retry_url: str | None = None,
    home_url: str | None = None,
    signout_url: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {
            "title": title or _TITLES.get(status_code, "Something went wrong"),
            "message": as_sentence(message),
            "status_code": status_code,
            "retry_url": retry_url,
            "home_url": home_url,
            "signout_url": signout_url,
        },
        status_code=status_code,
    )
