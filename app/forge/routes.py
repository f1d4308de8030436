"""The endpoints Forge calls on this remote (``forge/manifest.yml`` names each one):

* ``POST /forge/lifecycle``: the ``trigger`` on ``avi:forge:installed:app`` and
  ``avi:forge:upgraded:app``;
* ``POST /forge/token-refresh``: the hourly ``scheduledTrigger``, which brings a fresh app
  system token (it lives at most 4 hours and has no refresh endpoint);
* ``POST /forge/pre-uninstall``: ``preUninstall``.

Forge retries an event up to 4 times and gives up on it after 5 s (the invocation contract),
so each answers at once and is idempotent; the one slow step (asking Jira for the site's URL)
runs after the answer, and is tried again by the next trigger while it fails (the app's Jira
permissions arrive a little after the install event).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import SessionDep
from app.deps import SecretBoxDep, Services, services
from app.errors import AppError, InvalidInputError
from app.forge import repository
from app.forge.deps import forge_call, keep_app_token, verified_invocation
from app.jsm import platform_api
from app.jsm.directory import JiraDirectory
from app.models import Tenant, utcnow
from app.urls import host_allowed, secure_endpoint_error

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/forge", tags=["forge"])
INSTALLED = "avi:forge:installed:app"
UPGRADED = "avi:forge:upgraded:app"


class LifecycleEvent(BaseModel):
    """The event body, for its type only: which site and installation it is about comes from
    the verified invocation token, never from here."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    event_type: Literal["avi:forge:installed:app", "avi:forge:upgraded:app"]


async def _event(request: Request) -> LifecycleEvent:
    try:
        body: Any = json.loads(await request.body())
    except ValueError as e:
        raise InvalidInputError("the event body is not JSON") from e
    if isinstance(body, dict) and "eventType" in body:
        body = {"event_type": body["eventType"]}
    try:
        return LifecycleEvent.model_validate(body)
    except ValidationError as e:
        raise InvalidInputError(
            "the event is not avi:forge:installed:app or avi:forge:upgraded:app"
        ) from e


@router.post("/lifecycle")
async def lifecycle(
    request: Request,
    session: SessionDep,
    box: SecretBoxDep,
    background: BackgroundTasks,
) -> dict[str, str]:
    invocation = await verified_invocation(request, event=True)
    event = await _event(request)
    if event.event_type == INSTALLED:
        tenant = await repository.install(
            session,
            installation_id=invocation.installation_id,
            cloud_id=invocation.cloud_id,
            api_base_url=invocation.api_base_url,
        )
        await keep_app_token(session, request, tenant, box=box)
        await repository.record_trigger(session, tenant.id, now=utcnow())
    else:
        tenant = (await forge_call(request, session, box=box, event=True)).tenant
    if not tenant.base_url:
        background.add_task(learn_site_url, services(request), tenant.id)
    return {"status": "installed" if event.event_type == INSTALLED else "upgraded"}


@router.post("/token-refresh")
async def token_refresh(
    request: Request, session: SessionDep, box: SecretBoxDep, background: BackgroundTasks
) -> dict[str, str]:
    call = await forge_call(request, session, box=box, event=True)
    await repository.record_trigger(session, call.tenant.id, now=utcnow())
    if not call.tenant.base_url:
        background.add_task(learn_site_url, services(request), call.tenant.id)
    return {"status": "ok"}


@router.post("/pre-uninstall")
async def pre_uninstall(request: Request, session: SessionDep, box: SecretBoxDep) -> dict[str, str]:
    call = await forge_call(request, session, box=box, event=True)
    await repository.uninstall(session, call.tenant)
    services(request).get(JiraDirectory).forget(call.tenant.id)
    return {"status": "uninstalled"}


async def learn_site_url(held: Services, tenant_id: str) -> None:
    """Ask Jira for the site's own URL (``serverInfo``'s ``baseUrl``: the install event and the
    invocation token carry only the cloud id), for links to the native portal and for a
    service account's API token. Failures are logged and retried by the next trigger."""
    sessionmaker: async_sessionmaker[AsyncSession] = held.get(async_sessionmaker)
    settings = held.get(Settings)
    try:
        async with sessionmaker() as session:
            tenant = await session.get(Tenant, tenant_id)
            if tenant is None or not tenant.installed:
                return
            jira = held.get(JiraDirectory).app_client(tenant)
            base_url = (await platform_api.server_info(jira)).base_url
            if base_url is None or not _site_url_allowed(base_url, settings):
                logger.warning("Jira's serverInfo named no usable site URL; not kept")
                return
            await repository.set_site_url(session, tenant_id, base_url.rstrip("/"))
            await session.commit()
    except AppError as e:
        logger.info("site URL not learned yet (%s); the next trigger tries again", e.message)


def _site_url_allowed(url: str, settings: Settings) -> bool:
    if secure_endpoint_error(url, allow_http_loopback=settings.dev_allow_http_loopback):
        return False
    return host_allowed(urlsplit(url).hostname or "", settings.allowed_install_hosts)
