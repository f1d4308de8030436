"""One error handler per surface, mapped at the boundary: a JSON error with a reason for the
APIs and lifecycle callbacks, a readable page for iframes and the portal. Never a trace.

``register_error_handlers`` puts them on the app; the hierarchy of expected failures is drawn
in ``app.errors``."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.db import DatabaseUnreachableError
from app.deps import services
from app.errors import AppError, InvalidInputError
from app.observability import mark_logged
from app.templating import page_path, render_error
from app.urls import PORTAL_DESK_PATH, app_path, safe_return_path

logger = logging.getLogger(__name__)

JSON_SURFACES = ("/api/", "/lifecycle/", "/forge/")


def _is_json_surface(request: Request) -> bool:
    return app_path(request.scope).startswith(JSON_SURFACES)


def _json_error(status_code: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status_code)


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
    if exc.status_code >= 500:
        logger.warning("request failed: %s (%s)", exc.code, exc.message)
    if _is_json_surface(request):
        extra: dict[str, Any] = {}
        if isinstance(exc, InvalidInputError) and exc.fields:
            extra["fields"] = exc.fields
        return _json_error(exc.status_code, exc.code, exc.message, **extra)
    return render_error(
        request,
        status_code=exc.status_code,
        message=exc.message,
        retry_url=page_path(request)
        if exc.status_code >= 500 and request.method == "GET"
        else None,
        home_url=_portal_home(request),
    )


def _portal_home(request: Request) -> str | None:
    """A way back to the help center from an error on one of its inner pages."""
    match = PORTAL_DESK_PATH.match(app_path(request.scope))
    return request.scope.get("root_path", "") + match.group(1) if match else None


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    fields: dict[str, str] = {}
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query")]
        fields[".".join(location) or "body"] = str(error.get("msg", "invalid"))
    if _is_json_surface(request):
        return _json_error(422, "invalid_input", "the request is not valid", fields=fields)
    return render_error(request, status_code=400, message="The request was not valid.")


def _without_trailing_slash(request: Request) -> str | None:
    """Where a GET for ``/page/`` should go when ``/page`` exists: by path and query only.

    Starlette's own slash redirect builds an absolute URL from the Host header and scheme it
    is given: behind a proxy that is the proxy's address, and a forged Host would be echoed
    into the Location of a cacheable redirect."""
    path = request.scope["path"]
    if request.method not in ("GET", "HEAD") or len(path) < 2 or not path.endswith("/"):
        return None
    trimmed = path.rstrip("/")
    if safe_return_path(trimmed) is None:
        return None
    scope = {**request.scope, "path": trimmed}
    if not any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
        return None
    query = request.url.query
    return f"{trimmed}?{query}" if query else trimmed


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    if exc.status_code == 404 and (target := _without_trailing_slash(request)):
        return RedirectResponse(target, status_code=308)
    message = {
        404: "Not found.",
        405: "Method not allowed.",
        413: "The request is too large.",
    }.get(exc.status_code, "Error.")
    if _is_json_surface(request):
        return _json_error(exc.status_code, "http_error", message)
    return render_error(request, status_code=exc.status_code, message=message)


# The database not answering (down, failing over, every pooled connection busy): a passing
# state, so a 503 that says to try again, not the 500 of a bug. The engine turns asyncpg's
# unwrapped OSError on connect into DatabaseUnreachableError; SQLAlchemy wraps psycopg's
# and its own pool's. Any other OSError is a bug, and gets the 500 of one.
DATABASE_UNAVAILABLE = (
    DatabaseUnreachableError,
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
)
RETRY_AFTER_SECONDS = "30"
# SQLAlchemy wraps asyncpg's server errors as a plain DBAPIError, whatever they mean: the
# SQLSTATE says. Classes of a server that is not there for now (PostgreSQL, Appendix A):
# 08 connection exception, 53 insufficient resources ("too many connections"), 57 operator
# intervention ("starting up", "shutting down", as in every restart), 58 system error.
UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58"})


def database_unavailable(error: DBAPIError) -> bool:
    # OperationalError and InterfaceError have their own handler (DATABASE_UNAVAILABLE).
    sqlstate = getattr(error.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in UNAVAILABLE_SQLSTATE_CLASSES


# During an outage every request fails the same way: one trace a minute per app (process),
# and a line without it for the others (each request's own line has its 503 too).
UNAVAILABLE_TRACE_SECONDS = 60.0


class OutageLog:
    """When the last trace of an outage was logged; one per running app (the lifespan's)."""

    def __init__(self, every_seconds: float = UNAVAILABLE_TRACE_SECONDS) -> None:
        self.every_seconds = every_seconds
        self._traced_at: float | None = None

    def trace_due(self) -> bool:
        now = time.monotonic()
        if self._traced_at is not None and now - self._traced_at < self.every_seconds:
            return False
        self._traced_at = now
        return True


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    if services(request).get(OutageLog).trace_due():
        logger.error("database unavailable", exc_info=exc)
    else:
        logger.error("database unavailable: %s", type(exc).__name__)
    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    if _is_json_surface(request):
        response: Response = _json_error(
            503, "unavailable", "the service is briefly unavailable; try again in a minute"
        )
    else:
        response = render_error(
            request,
            status_code=503,
            title="Briefly unavailable",
            message="This service is briefly unavailable. Please try again in a minute.",
            retry_url=page_path(request) if request.method == "GET" else None,
            home_url=_portal_home(request),
        )
    response.headers.update(headers)
    return response


async def _database_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DBAPIError) and database_unavailable(exc):
        return await _database_unavailable(request, exc)
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # The last line of defence: log the trace for operators, show users nothing of it.
    logger.exception("unhandled error", exc_info=exc)
    mark_logged(exc)
    if _is_json_surface(request):
        return _json_error(500, "internal_error", "internal error")
    return render_error(request, status_code=500, message="Something went wrong on our side.")


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
