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

from app import i18n
from app.config import Settings
from app.deps import services

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
# Customer pages speak the customer's language (app.i18n): _() and {% trans %} in templates.
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
)
templates.env.globals["html_lang"] = i18n.html_lang
templates.env.globals["page_path"] = page_path
templates.env.globals["current_language"] = i18n.current
templates.env.globals["languages"] = i18n.LANGUAGES
# A text known only at run time (a page title, a notice), translated when the catalog has it.
# Never _() on such a value: Jinja marks what _() returns as safe, and a title can be a
# customer's own text. This filter's result is escaped like any other value.
templates.env.filters["translate"] = i18n.gettext
templates.env.filters["localdatetime"] = i18n.local_datetime
templates.env.filters["localdate"] = i18n.local_date
templates.env.filters["localnumber"] = i18n.local_number


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
    400: i18n.N_("We could not sign you in"),
    401: i18n.N_("Not signed in"),
    403: i18n.N_("Not allowed"),
    404: i18n.N_("Not found"),
    429: i18n.N_("Too many attempts"),
    502: i18n.N_("A service we depend on is not answering"),
}


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    locale = i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
    context = {"demo": services(request).get(Settings).demo, **context}
    with i18n.speaking(locale):
        response = templates.TemplateResponse(
            request, name, context, status_code=status_code, headers=headers
        )
        response.headers.setdefault("Content-Language", i18n.html_lang())
    response.headers.setdefault("Vary", "Accept-Language, Cookie")
    return response


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
            "title": title or _TITLES.get(status_code, i18n.N_("Something went wrong")),
            "message": as_sentence(message),
            "status_code": status_code,
            "retry_url": retry_url,
            "home_url": home_url,
            "signout_url": signout_url,
        },
        status_code=status_code,
    )
