"""The composition root: ``create_app`` builds the process-wide services in the lifespan
(engine, sessionmaker, one shared httpx client, caches, the login service), chooses each
platform's Jira access, and mounts the routers, the middleware (``app.middleware``) and the
error handlers (``app.handlers``). Nothing else lives here."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.admin import api as admin_api
from app.admin import desk_access as admin_desk_access
from app.admin import pages as admin_pages
from app.admin.pages import BUNDLE_PATH
from app.config import Settings
from app.connect import lifecycle
from app.connect.auth import connect_access
from app.connect.descriptor import descriptor_for
from app.connect.install_keys import InstallKeyStore
from app.connect.verified_tokens import VerifiedTokens
from app.crypto import SecretBox
from app.db import DATABASE_FAILURES, create_engine, create_sessionmaker
from app.deps import Services
from app.forge import routes as forge_routes
from app.forge.auth import forge_access
from app.forge.keys import ForgeKeys
from app.handlers import OutageLog, register_error_handlers
from app.jsm.auth import AppAccess, JiraAccess
from app.jsm.directory import JiraDirectory
from app.jsm.personal_data import report_forever as report_personal_data_forever
from app.jsm.provisioning import JsmProvisioner
from app.jsm.repository import get_settings
from app.login import routes as login_routes
from app.login.service import LoginService
from app.login.tenant_config import load_tenant_config
from app.maintenance import purge_forever
from app.middleware import DEFAULT_CSP, MAX_BODY_BYTES, BodyLimit, PortalSSO, VersionedStaticFiles
from app.models import Tenant, TenantSettings
from app.observability import (
    Metrics,
    RequestScope,
    configure_logging,
    install_log_context,
)
from app.oidc.metadata import MetadataCache
from app.outbound import AddressPolicy, create_http_client
from app.portal import actions as portal_actions
from app.portal import email_links as portal_email_links
from app.portal import files as portal_files
from app.portal import guard as portal_guard
from app.portal import knowledge as portal_knowledge
from app.portal import pages as portal_pages
from app.portal import routes as portal_routes
from app.portal.pages import CONCURRENT_UPLOADS, UploadSlots
from app.saml.login import refresh_all_metadata_forever
from app.templating import STATIC_DIR
from app.tenants.cache import TenantCache
from app.tenants.changes import watch as watch_tenant_changes

logger = logging.getLogger(__name__)


async def stop_tasks(tasks: list[asyncio.Task[None]], *, grace_seconds: float = 10.0) -> None:
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
    box = SecretBox(settings.effective_encryption_keys())
    # httpx logs every request's full URL at INFO: OAuth codes, and emails in Jira's user
    # search; aiosqlite logs SQL parameters at DEBUG. Our request log and metrics suffice.
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncpg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_log_context()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        policy = AddressPolicy(
            allow_loopback=settings.dev_allow_http_loopback,
            allow_private=settings.allow_private_network_endpoints,
        )
        async with create_http_client(
            timeout_seconds=settings.http_timeout_seconds, policy=policy
        ) as http:
            sessionmaker = create_sessionmaker(engine)
            tenant_cache = TenantCache(
                distributed=engine.dialect.name == "postgresql",
                heartbeat_seconds=settings.tenant_cache_heartbeat_seconds,
            )

            async def cached_settings(session: AsyncSession, tenant_id: str) -> TenantSettings:
                config = await load_tenant_config(tenant_cache, sessionmaker, tenant_id)
                return config.settings if config else await get_settings(session, tenant_id)

            metadata = MetadataCache(http, allow_http_loopback=settings.dev_allow_http_loopback)
            jira = JiraDirectory(
                http,
                box=box,
                app_access=platform_access(settings, box),
                observe=metrics.observe_jira,
            )
            provisioner = JsmProvisioner(
                jira,
                refresh_interval=timedelta(hours=settings.customer_refresh_hours),
                settings_for=cached_settings,
            )
            for service in (
                engine,
                sessionmaker,
                http,
                tenant_cache,
                OutageLog(),
                VerifiedTokens(),
                metadata,
                jira,
                ForgeKeys(http, jwks_url=settings.forge_jwks_url),
                InstallKeyStore(
                    http,
                    keys_url=settings.connect_install_keys_url,
                    max_keys=settings.install_key_cache_size,
                ),
                LoginService(
                    settings=settings,
                    box=box,
                    http=http,
                    metadata=metadata,
                    provisioner=provisioner,
                    metrics=metrics,
                    tenant_config=partial(load_tenant_config, tenant_cache, sessionmaker),
                ),
            ):
                services.add(service)
            watch_tenant_changes(sessionmaker, evict=tenant_cache.evict_payload)
            background = []
            if engine.dialect.name == "postgresql":
                background.append(asyncio.create_task(tenant_cache.listen_forever(engine)))
            background.append(
                asyncio.create_task(
                    refresh_all_metadata_forever(
                        sessionmaker, http, allow_http_loopback=settings.dev_allow_http_loopback
                    )
                )
            )
            if settings.personal_data_report_interval_seconds > 0:
                background.append(
                    asyncio.create_task(
                        report_personal_data_forever(
                            sessionmaker,
                            jira,
                            interval_seconds=settings.personal_data_report_interval_seconds,
                        )
                    )
                )
            if settings.prometheus_multiproc_dir is not None:
                # Other workers answer most scrapes: keep this one's cache figures current.
                background.append(
                    asyncio.create_task(_count_cache_use_forever(metrics, metadata, tenant_cache))
                )
            purge = None
            if settings.purge_interval_seconds > 0:
                purge = asyncio.create_task(
                    purge_forever(
                        sessionmaker,
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
                await stop_tasks(background)
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
    # One typed object for every process-wide service (see app.deps); the lifespan adds the
    # ones that live with the event loop.
    app.state.services = services = Services(
        settings, box, metrics, UploadSlots(CONCURRENT_UPLOADS)
    )

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestScope, default_csp=DEFAULT_CSP, https=settings.secure_cookies)
    app.path_prefix = settings.base_path

    register_error_handlers(app)

    # Routes are matched in order: the busiest first (admin API calls, then logins and the
    # portal), fixed portal paths (logout, signed-out) before the /{service_desk_id} pages.
    app.include_router(admin_api.router)
    app.include_router(admin_desk_access.router)
    app.include_router(login_routes.router)
    app.include_router(portal_guard.router)
    app.include_router(portal_routes.router)
    app.include_router(portal_pages.router)
    app.include_router(portal_knowledge.router)
    app.include_router(portal_actions.router)
    app.include_router(portal_files.router)
    app.include_router(portal_email_links.router)  # after every other /portal/{a}/{b}/{c}

    # HEAD too where it is harmless, for load balancers and monitors that probe with it (a
    # login start or a test link would do its work for a HEAD, so those stay GET only).
    @app.api_route("/atlassian-connect.json", methods=["GET", "HEAD"], include_in_schema=False)
    async def connect_descriptor() -> JSONResponse:
        return JSONResponse(descriptor_for(settings))

    @app.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.api_route("/readyz", methods=["GET", "HEAD"], include_in_schema=False)
    async def readyz() -> JSONResponse:
        try:
            async with services.get(AsyncEngine).connect() as connection:
                await connection.execute(text("SELECT 1"))
        except DATABASE_FAILURES:
            logger.warning("readiness check failed", exc_info=True)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        metrics.count_cache_use(services.get(MetadataCache), services.get(TenantCache))
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
