"""Structured JSON logs with a request id and tenant id, and Prometheus metrics.

What is logged is chosen, never dumped: the request line carries the path without its query
string (it holds codes, states and JWTs), and no header or cookie value is ever logged.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from contextvars import ContextVar
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from app.urls import app_path

# One mutable dict per request: the endpoint runs in a child task of the middleware, so a
# value it sets (the tenant) must be a mutation the middleware can still see.
request_context: ContextVar[dict[str, str | None] | None] = ContextVar(
    "request_context", default=None
)


def set_tenant(tenant_id: str) -> None:
    context = request_context.get()
    if context is not None:
        context["tenant_id"] = tenant_id


_base_factory = logging.getLogRecordFactory()


def _record_with_context(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    context = request_context.get()
    if context:
        for key, value in context.items():
            if value and not hasattr(record, key):
                setattr(record, key, value)
    return record


def install_log_context() -> None:
    """Stamp each log record with the request and tenant ids when it is made."""
    if logging.getLogRecordFactory() is not _record_with_context:
        logging.setLogRecordFactory(_record_with_context)


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in (
            "request_id",
            "tenant_id",
            "outcome",
            "idp_id",
            "method",
            "path",
            "status",
            "duration_ms",
            "reason",
        ):
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log repeats the query string; our request log replaces it. (`make run`
    # and the container also pass --no-access-log, so uvicorn does not even format it.)
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    server = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, AlreadyLogged) for f in server.filters):
        server.addFilter(AlreadyLogged())


_LOGGED = "_portal_sso_logged"


def mark_logged(exc: BaseException) -> None:
    """The app has logged this error with its request id; the server need not again."""
    setattr(exc, _LOGGED, True)


class AlreadyLogged(logging.Filter):
    """Starlette re-raises an unhandled error to the server after the app's handler has
    answered (and logged) it, and uvicorn logs the same trace again, without a request id:
    every bug would show twice in the logs and count twice in error alerts."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not getattr(error, _LOGGED, False)


def incoming_request_id(header: str | None) -> str:
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return secrets.token_hex(8)


class Metrics:
    """One registry per app, so tests and several apps in one process do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.logins = Counter(
            "portal_sso_logins",
            "Completed login attempts",
            ["outcome", "idp"],
            registry=self.registry,
        )
        self.jira_requests = Histogram(
            "portal_sso_jira_request_seconds",
            "Latency of calls to Jira",
            ["method", "status"],
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.metadata_cache = Gauge(
            "portal_sso_oidc_metadata_cache",
            "Discovery/JWKS cache lookups",
            ["result"],
            registry=self.registry,
            # Several workers: the sum over the workers alive (a dead one's cache died too).
            multiprocess_mode="livesum",
        )
        self.login_starts_limited = Counter(
            "portal_sso_login_starts_rate_limited",
            "Login starts refused by the rate limit",
            registry=self.registry,
        )
        self.refused_callbacks_limited = Counter(
            "portal_sso_refused_callbacks_rate_limited",
            "Refused sign-in responses answered 429, with no audit row, by the rate limit",
            registry=self.registry,
        )

    def observe_jira(self, method: str, status: int, seconds: float) -> None:
        self.jira_requests.labels(method, str(status)).observe(seconds)

    def count_cache_use(self, metadata: CacheCounts, tenants: CacheCounts) -> None:
        """Copy the caches' own counts (plain integers, cheap on the login path) to the gauge."""
        self.metadata_cache.labels("hit").set(metadata.hits)
        self.metadata_cache.labels("miss").set(metadata.misses)
        self.metadata_cache.labels("tenant_hit").set(tenants.hits)
        self.metadata_cache.labels("tenant_miss").set(tenants.misses)

    def exposition(self, multiprocess_dir: str | None) -> bytes:
        """The text /metrics serves: this process's metrics, or with several workers (see
        app.cli.serve) all of theirs added up, whichever worker the scrape reaches."""
        if multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


class CacheCounts(Protocol):
    hits: int
    misses: int


PRIVATE_PREFIXES = ("/portal/", "/oidc/", "/admin", "/api/")


class RequestScope:
    """Pure ASGI middleware (no extra task per request): request id, security headers, and
    one log line per request with the path but never the query string."""

    def __init__(self, app: Any, *, default_csp: str, https: bool = False) -> None:
        self.app = app
        self.default_csp = default_csp.encode()
        self.https = https

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope.get("headers", []) if k == b"x-request-id"), b"")
        request_id = incoming_request_id(header.decode("latin-1") if header else None)
        token = request_context.set({"request_id": request_id, "tenant_id": None})
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                defaults = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    # Admin iframe pages set their own policy; nothing else may be framed.
                    (b"content-security-policy", self.default_csp),
                ]
                if app_path(scope).startswith(PRIVATE_PREFIXES):
                    # Customer requests, admin data, login responses: never in a shared cache.
                    defaults.append((b"cache-control", b"no-store"))
                if self.https:
                    defaults.append((b"strict-transport-security", b"max-age=31536000"))
                for name, value in defaults:
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            access_logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_context.reset(token)


access_logger = logging.getLogger("app.access")
