"""The HTTP layer around the routes: the app class that carries APP_BASE_URL's path prefix,
the request body limit, and static files versioned by content."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.portal.pages import MAX_UPLOAD_BYTES
from app.urls import UPLOAD_FORM_PATH, app_path

MAX_BODY_BYTES = 1024 * 1024
DEFAULT_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class VersionedStaticFiles(StaticFiles):
    """Pages link static files with their content's digest (``static_path``), so a versioned
    URL may be cached for good; any other request revalidates (its ETag makes that a 304).
    Without a Cache-Control, browsers guessed freshness from Last-Modified and could keep an
    old admin script for days after an upgrade."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            versioned = bool(query.get("v"))
            response.headers["Cache-Control"] = (
                "public, max-age=31536000, immutable" if versioned else "no-cache"
            )
        return response


class PathPrefix:
    """APP_BASE_URL's path (``/sso``), which the proxy in front strips, put back as the ASGI
    ``root_path``: routes still match without it, and every URL the app builds from the
    request (``url_for``, ``request.url``) carries it, so the browser never leaves the app."""

    def __init__(self, app: Any, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Already there when uvicorn runs with --root-path set to the same prefix.
        if scope["type"] == "http" and scope.get("root_path") != self.prefix:
            scope = {
                **scope,
                "root_path": self.prefix,
                "path": self.prefix + scope["path"],
                "raw_path": self.prefix.encode() + scope.get("raw_path", b""),
            }
        await self.app(scope, receive, send)


class PortalSSO(FastAPI):
    """FastAPI with ``PathPrefix`` around the whole middleware stack: outside Starlette's
    own outermost error middleware too, whose page for an unexpected error otherwise links
    its stylesheet without the prefix."""

    path_prefix = ""

    def build_middleware_stack(self) -> Any:
        stack = super().build_middleware_stack()
        return PathPrefix(stack, prefix=self.path_prefix) if self.path_prefix else stack


# The forms that carry files: a new request, and a comment.


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (413) as they are read: nothing this app
    accepts comes near 1 MiB (a comment is at most 32,000 characters) but the files a
    customer attaches to a request or a comment, which have their own limit; without a bound a
    signed-in customer could post a body of any size into memory. The refusal is raised to
    the route reading the body, so the usual handlers answer with a page or a JSON error
    (FastAPI's own max_body_size answers in plain text whatever the route)."""

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _limit(self, scope: dict[str, Any]) -> int:
        # A form with files: the files' limit, and room for the other fields.
        if scope.get("method") == "POST" and UPLOAD_FORM_PATH.fullmatch(app_path(scope)):
            return MAX_UPLOAD_BYTES + self.max_bytes
        return self.max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        too_large = declared is not None and declared.isdigit() and int(declared) > limit
        seen = 0

        async def bounded_receive() -> dict[str, Any]:
            nonlocal seen
            if too_large:
                raise StarletteHTTPException(413)
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # chunked, or more than it declared
                    raise StarletteHTTPException(413)
            return message

        await self.app(scope, bounded_receive, send)
