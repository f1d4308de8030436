"""Application factory: lifespan (engine, sessionmaker, one shared httpx client), routers,
and one error handler per surface (JSON for APIs and lifecycle, HTML pages elsewhere)."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.admin import api as admin_api
from app.admin import pages as admin_pages
from app.admin.pages import BUNDLE_PATH
from app.config import Settings
from app.connect import lifecycle
from app.connect.auth import connect_access
from app.connect.descriptor import descriptor_for
from app.connect.install_keys import InstallKeyStore
from app.connect.verified_tokens import VerifiedTokens
from app.crypto import SecretBox
from app.db import DATABASE_FAILURES, DatabaseUnreachableError, create_engine, create_sessionmaker
from app.errors import AppError, InvalidInputError
from app.forge import routes as forge_routes
from app.forge.auth import forge_access
from app.forge.keys import ForgeKeys
from app.jsm.auth import AppAccess, JiraAccess
from app.jsm.directory import JiraDirectory
from app.jsm.personal_data import report_forever as report_personal_data_forever
from app.jsm.provisioning import JsmProvisioner
from app.jsm.repository import get_settings
from app.login import routes as login_routes
from app.login.service import LoginService
from app.login.tenant_config import load_tenant_config
from app.maintenance import purge_forever
from app.models import Tenant, TenantSettings
from app.observability import (
    Metrics,
    RequestScope,
    configure_logging,
    install_log_context,
    mark_logged,
)
from app.oidc.metadata import MetadataCache
from app.outbound import AddressPolicy, create_http_client
from app.portal import pages as portal_pages
from app.portal import routes as portal_routes
from app.portal.pages import CONCURRENT_UPLOADS, MAX_UPLOAD_BYTES
from app.templating import STATIC_DIR, page_path, render_error
from app.tenants.cache import TenantCache
from app.tenants.changes import watch as watch_tenant_changes
from app.urls import app_path, safe_return_path

logger = logging.getLogger(__name__)

JSON_SURFACES = ("/api/", "/lifecycle/", "/forge/")
MAX_BODY_BYTES = 1024 * 1024
DEFAULT_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


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


_PORTAL_DESK = re.compile(r"^(/portal/[A-Za-z0-9_-]+/[0-9]+)/")


def _portal_home(request: Request) -> str | None:
    """A way back to the help center from an error on one of its inner pages."""
    match = _PORTAL_DESK.match(app_path(request.scope))
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


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    now = time.monotonic()
    last = getattr(request.app.state, "unavailable_traced_at", None)
    if last is None or now - last >= UNAVAILABLE_TRACE_SECONDS:
        request.app.state.unavailable_traced_at = now
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
_WITH_FILES = re.compile(
    r"/portal/[A-Za-z0-9_-]+/[0-9]+/(create/[0-9]+|requests/[A-Z0-9_]+-[0-9]+/comments)"
)


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
        if scope.get("method") == "POST" and _WITH_FILES.fullmatch(app_path(scope)):
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


async def _stop(tasks: list[asyncio.Task[None]], *, grace_seconds: float = 10.0) -> None:
    """Cancel the background tasks and wait a bounded time: shutdown must not hang on one."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    done, stuck = await asyncio.wait(tasks, timeout=grace_seconds)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task failed", exc_info=task.exception())
    if stuck:
        logger.error("%d background task(s) did not stop within %.0f s", len(stuck), grace_seconds)


CACHE_FIGURES_INTERVAL_SECONDS = 5.0


def _freeze_long_lived() -> None:
    """Move every object alive now (modules, the app, its routes, pools, caches) out of the
    collector's reach. A full collection otherwise walks all of them, and every request in
    flight on the worker waits: 72-90 ms pauses in bench/login.py, mostly 2-9 ms once frozen.
    Collect first, so no garbage is frozen with them."""
    gc.collect()
    gc.freeze()


async def _count_cache_use_forever(
    metrics: Metrics, metadata: MetadataCache, tenants: TenantCache
) -> None:
    while True:
        metrics.count_cache_use(metadata, tenants)
        await asyncio.sleep(CACHE_FIGURES_INTERVAL_SECONDS)


def platform_access(settings: Settings, box: SecretBox) -> AppAccess:
    """The app's own access to a tenant's Jira, by the platform it was installed through."""

    def access(tenant: Tenant) -> JiraAccess:
        if tenant.is_forge:
            return JiraAccess(*forge_access(tenant, box=box))
        return JiraAccess(*connect_access(tenant, box=box, app_key=settings.app_key))

    return access


def create_app(settings: Settings | None = None, *, freeze_after_startup: bool = False) -> FastAPI:
    """``freeze_after_startup``: leave what start-up built out of later full garbage
    collections (see ``_freeze_long_lived``); for a process that serves one app."""
    settings = settings or Settings()
    metrics = Metrics()
    # httpx logs every request's full URL at INFO: OAuth codes, and emails in Jira's user
    # search; aiosqlite logs SQL parameters at DEBUG. Our request log and metrics suffice.
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncpg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_log_context()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        policy = AddressPolicy(
            allow_loopback=settings.dev_allow_http_loopback,
            allow_private=settings.allow_private_network_endpoints,
        )
        async with create_http_client(
            timeout_seconds=settings.http_timeout_seconds, policy=policy
        ) as http:
            app.state.engine = engine
            app.state.sessionmaker = sessionmaker = create_sessionmaker(engine)
            app.state.tenant_cache = tenant_cache = TenantCache(
                distributed=engine.dialect.name == "postgresql"
            )
            app.state.verified_tokens = VerifiedTokens()

            async def cached_settings(session: AsyncSession, tenant_id: str) -> TenantSettings:
                config = await load_tenant_config(tenant_cache, sessionmaker, tenant_id)
                return config.settings if config else await get_settings(session, tenant_id)

            app.state.http = http
            app.state.metadata = MetadataCache(
                http, allow_http_loopback=settings.dev_allow_http_loopback
            )
            app.state.jira = JiraDirectory(
                http,
                box=app.state.secret_box,
                app_access=platform_access(settings, app.state.secret_box),
                observe=metrics.observe_jira,
            )
            app.state.forge_keys = ForgeKeys(http, jwks_url=settings.forge_jwks_url)
            provisioner = JsmProvisioner(
                app.state.jira,
                refresh_interval=timedelta(hours=settings.customer_refresh_hours),
                settings_for=cached_settings,
            )
            app.state.login = LoginService(
                settings=settings,
                box=app.state.secret_box,
                http=http,
                metadata=app.state.metadata,
                provisioner=provisioner,
                metrics=metrics,
                tenant_config=partial(load_tenant_config, tenant_cache, sessionmaker),
            )
            app.state.install_keys = InstallKeyStore(
                http,
                keys_url=settings.connect_install_keys_url,
                max_keys=settings.install_key_cache_size,
            )
            watch_tenant_changes(sessionmaker, evict=tenant_cache.evict_payload)
            background = []
            if engine.dialect.name == "postgresql":
                background.append(
                    asyncio.create_task(app.state.tenant_cache.listen_forever(engine))
                )
            if settings.personal_data_report_interval_seconds > 0:
                background.append(
                    asyncio.create_task(
                        report_personal_data_forever(
                            app.state.sessionmaker,
                            app.state.jira,
                            interval_seconds=settings.personal_data_report_interval_seconds,
                        )
                    )
                )
            if settings.prometheus_multiproc_dir is not None:
                # Other workers answer most scrapes: keep this one's cache figures current.
                background.append(
                    asyncio.create_task(
                        _count_cache_use_forever(
                            metrics, app.state.metadata, app.state.tenant_cache
                        )
                    )
                )
            purge = None
            if settings.purge_interval_seconds > 0:
                purge = asyncio.create_task(
                    purge_forever(
                        app.state.sessionmaker,
                        interval_seconds=settings.purge_interval_seconds,
                        uninstalled_days=settings.uninstalled_retention_days,
                    )
                )
            if freeze_after_startup:
                _freeze_long_lived()
            try:
                yield
            finally:
                if purge is not None:
                    background.append(purge)
                await _stop(background)
                await engine.dispose()

    app = PortalSSO(
        title=settings.app_name,
        lifespan=lifespan,
        docs_url="/docs" if settings.is_development else None,
        redoc_url=None,
        # A trailing slash is redirected by _http_error, by path (see there).
        redirect_slashes=False,
        openapi_url="/openapi.json" if settings.is_development else None,
        # Metrics are Prometheus (/metrics) and logs JSON lines: FastAPI's OpenTelemetry hooks
        # would only cost a provider lookup per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.secret_box = SecretBox(settings.effective_encryption_keys())
    app.state.metrics = metrics
    app.state.upload_slots = asyncio.Semaphore(CONCURRENT_UPLOADS)

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestScope, default_csp=DEFAULT_CSP, https=settings.secure_cookies)
    app.path_prefix = settings.base_path

    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)

    # Routes are matched in order: the busiest first (admin API calls, then logins and the
    # portal), fixed portal paths (logout, signed-out) before the /{service_desk_id} pages.
    app.include_router(admin_api.router)
    app.include_router(login_routes.router)
    app.include_router(portal_routes.router)
    app.include_router(portal_pages.router)

    # HEAD too where it is harmless, for load balancers and monitors that probe with it (a
    # login start or a test link would do its work for a HEAD, so those stay GET only).
    @app.api_route("/atlassian-connect.json", methods=["GET", "HEAD"], include_in_schema=False)
    async def connect_descriptor() -> JSONResponse:
        return JSONResponse(descriptor_for(settings))

    @app.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.api_route("/readyz", methods=["GET", "HEAD"], include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        try:
            async with request.app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except DATABASE_FAILURES:
            logger.warning("readiness check failed", exc_info=True)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        metrics.count_cache_use(request.app.state.metadata, request.app.state.tenant_cache)
        return Response(
            metrics.exposition(settings.prometheus_multiproc_dir),
            media_type=CONTENT_TYPE_LATEST,
        )

    app.mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static")
    # The admin UI bundle, for the Connect admin page (Forge hosts its own copy of it).
    app.mount(
        BUNDLE_PATH,
        VersionedStaticFiles(directory=settings.admin_ui_dir, check_dir=False),
        name="admin-ui",
    )
    app.include_router(lifecycle.router)
    app.include_router(forge_routes.router)
    app.include_router(admin_pages.router)
    return app


def production_app() -> FastAPI:
    """The entry point for uvicorn (``make run``, the container): JSON logs, then the app."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings, freeze_after_startup=True)
