"""Jinja2 environment (autoescaping on) and the customer-facing error page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

_TITLES = {
    400: "We could not sign you in",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    429: "Too many attempts",
    502: "A service we depend on is not answering",
}


def render(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def render_error(
    request: Request,
    *,
    status_code: int,
    message: str,
    title: str | None = None,
    retry_url: str | None = None,
    home_url: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {
            "title": title or _TITLES.get(status_code, "Something went wrong"),
            "message": message,
            "status_code": status_code,
            "retry_url": retry_url,
            "home_url": home_url,
        },
        status_code=status_code,
    )
