"""The links in JSM's notification emails, led through sign-in.

JSM's customer emails link a request as the native portal shows it:
``<site>/servicedesk/customer/portal/<portalId>/<issueKey>``. An admin who points them at
Portal SSO instead (README, "Notification emails") uses one of two shapes, both answered
here: ``/portal/<site>/<desk>/<issueKey>``, or the native path kept whole after the site,
``/portal/<site>/servicedesk/customer/portal/<portalId>/<issueKey>`` (the portal id is
matched to its desk). The customer lands on the request's page, after signing in if they
must; where the site's landing setting is the native portal, they are sent there instead.

These routes take any fourth path segment, so the app includes this router after every
other portal route."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.db import SessionDep
from app.deps import SettingsDep, services
from app.errors import NotFoundError
from app.jsm.directory import JiraDirectory, ServiceDesk
from app.jsm.portal_api import ISSUE_KEY
from app.login.tenant_config import TenantConfig
from app.portal.routes import check_desk_id, existing_desk, portal_config
from app.urls import desk_url

router = APIRouter(tags=["portal"])

NOT_FOUND = "this link is not valid; open the help center and find the request under My requests"


@router.get("/portal/{tenant_id}/{service_desk_id}/{issue_key}", include_in_schema=False)
async def request_link(
    tenant_id: str,
    service_desk_id: str,
    issue_key: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    if not ISSUE_KEY.fullmatch(issue_key):
        raise NotFoundError(NOT_FOUND)
    check_desk_id(service_desk_id)
    config = await portal_config(request, tenant_id)
    desk = await existing_desk(request, session, config.tenant, service_desk_id)
    return await _to_request(request, session, settings, config, desk, issue_key)


@router.get(
    "/portal/{tenant_id}/servicedesk/customer/portal/{portal_id}/{issue_key}",
    include_in_schema=False,
)
async def native_request_link(
    tenant_id: str,
    portal_id: str,
    issue_key: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    if not ISSUE_KEY.fullmatch(issue_key) or not portal_id.isdigit():
        raise NotFoundError(NOT_FOUND)
    config = await portal_config(request, tenant_id)
    directory: JiraDirectory = services(request).get(JiraDirectory)
    jira = await directory.client(session, config.tenant)
    desks = await directory.service_desks(jira, config.tenant)
    desk = next((d for d in desks if d.portal_id == portal_id), None)
    if desk is None:
        raise NotFoundError(NOT_FOUND)
    return await _to_request(request, session, settings, config, desk, issue_key)


async def _to_request(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    config: TenantConfig,
    desk: ServiceDesk,
    issue_key: str,
) -> Response:
    if config.settings.landing == "jsm_portal":
        directory: JiraDirectory = services(request).get(JiraDirectory)
        jira = await directory.client(session, config.tenant)
        with_portal = await directory.with_portal_id(jira, desk)
        if with_portal.portal_id is not None:
            return RedirectResponse(
                f"{config.tenant.portal_base_url}/servicedesk/customer/portal/"
                f"{with_portal.portal_id}/{issue_key}",
                status_code=303,
            )
    # The request's page checks that it is this customer's, and asks them to sign in first.
    return RedirectResponse(
        f"{desk_url(settings.base_path, config.tenant.id, desk.id)}/requests/{issue_key}",
        status_code=303,
    )
