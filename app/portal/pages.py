"""The portal behind the substitute link, for a signed-in customer.

Every page needs the tenant's portal session (else the customer is sent to sign in and comes
back here); every form carries a CSRF token bound to that session. Requests are the
customer's own, in this desk, with public comments only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import FormData, UploadFile

from app.config import Settings
from app.crypto import same_secret
from app.db import DATABASE_FAILURES, OpenSession, SessionDep
from app.deps import SettingsDep, services
from app.errors import JiraError
from app.i18n import N_
from app.jsm import portal_api
from app.jsm import repository as jsm_repository
from app.jsm.client import JiraClient
from app.jsm.directory import JiraDirectory, ServiceDesk
from app.jsm.provisioning import join_desk
from app.login import access
from app.login.audit import record_login
from app.login.tenant_config import TenantConfig
from app.models import PortalSession, Tenant
from app.portal import submissions
from app.portal.forms import FormField, field_values, form_fields, unsupported_required
from app.portal.routes import (
    current_session,
    existing_desk,
    portal_config,
    start_customer_login,
    tenant_return_path,
)
from app.templating import as_sentence, render, templates
from app.urls import desk_url

router = APIRouter(tags=["portal"])
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PortalContext:
    tenant: Tenant
    desk: ServiceDesk
    customer: PortalSession
    jira: JiraClient
    home: str
    # What one page asks Jira about the customer, asked once however many parts need it.
    _asked: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    async def organizations(self) -> list[portal_api.Organization]:
        """The customer's JSM organizations (one Jira call per page, at most)."""
        if "organizations" not in self._asked:
            self._asked["organizations"] = await portal_api.customer_organizations(
                self.jira, self.customer.account_id
            )
        found: list[portal_api.Organization] = self._asked["organizations"]
        return found

    async def visible_request(self, key: str) -> portal_api.CustomerRequest:
        """The request, when this customer sees it in this desk (raised by them, or shared
        with them); otherwise ``NotFoundError``."""
        return await portal_api.customer_request(
            self.jira,
            key=key,
            desk_id=self.desk.id,
            account_id=self.customer.account_id,
            project_key=self.desk.project_key,
            organizations=self.organizations,
        )

    def page(self, **context: Any) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "desk": self.desk,
            "customer": self.customer,
            "home": self.home,
            **context,
        }


def desk_home(settings: Settings, tenant_id: str, desk_id: str) -> str:
    return desk_url(settings.base_path, tenant_id, desk_id)


def sign_in_redirect(
    settings: Settings, tenant_id: str, desk_id: str, return_to: str
) -> RedirectResponse:
    """To the desk's sign-in, then back to ``return_to`` (a public path: ``request.url.path``
    carries APP_BASE_URL's prefix, see ``app.main.PathPrefix``)."""
    query = urlencode({"return_to": return_to})
    return RedirectResponse(f"{desk_home(settings, tenant_id, desk_id)}?{query}", status_code=303)


async def customer_context(
    request: Request, session: SessionDep, settings: Settings, tenant_id: str, desk_id: str
) -> PortalContext | None:
    config = await portal_config(request, tenant_id)
    return await signed_in_context(request, session, settings, config, desk_id)


async def signed_in_context(
    request: Request, session: SessionDep, settings: Settings, config: TenantConfig, desk_id: str
) -> PortalContext | None:
    """The desk's page context for the signed-in customer, or None without a session."""
    tenant = config.tenant
    desk = await existing_desk(request, session, tenant, desk_id)
    rule = config.rule(desk.id)
    if rule.mode == "off":
        # Before any sign-in: nobody enters, so nobody is sent to sign in.
        raise access.AccessRefusedError(access.Decision(False, "the portal is off"), rule)
    customer = await current_session(request, session, settings, config)
    if customer is None:
        return None
    directory: JiraDirectory = services(request).get(JiraDirectory)
    jira = await directory.client(session, tenant)
    context = PortalContext(tenant, desk, customer, jira, desk_home(settings, tenant.id, desk.id))
    if rule.mode == "restricted":
        await _check_entry(request, config, rule, context)
    try:
        await join_desk(
            session,
            services(request).get(async_sessionmaker),
            jira,
            tenant.id,
            issuer=customer.issuer,
            subject=customer.subject,
            account_id=customer.account_id,
            desk_id=desk.id,
        )
    except JiraError as e:
        # Needed to raise requests here, not to read them: the next page tries again.
        logger.warning("could not add the customer to desk %s: %s", desk.id, e.message)
    return context


async def _check_entry(
    request: Request, config: TenantConfig, rule: access.AccessRule, context: PortalContext
) -> None:
    """A restricted desk's rules, on every entry: a session opened at another desk, or
    before the rules changed, carries nobody past them. A refusal is in the login activity
    (in a transaction of its own: the page's is rolled back) and adds the customer to
    nothing."""
    customer = context.customer

    async def organizations() -> set[str]:
        return {o.id for o in await context.organizations()}

    entrant = access.Entrant(customer.idp_id, customer.email, customer.claims or {})
    decision = await access.decide(rule, entrant, organizations)
    if decision.allowed:
        return
    error = access.AccessRefusedError(decision, rule)
    idp = config.idp(customer.idp_id)
    async with services(request).get(async_sessionmaker)() as own:
        await record_login(
            own,
            config.tenant.id,
            idp_id=customer.idp_id,
            idp_name=idp.name if idp else None,
            outcome="failure",
            reason=error.audit_detail,
            email=customer.email,
            subject=customer.subject,
            account_id=customer.account_id,
        )
        await own.commit()
    raise error


# Each form a page shows carries a fresh token: see app.portal.submissions.
templates.env.globals["submission_token"] = submissions.new_token

ON_ITS_WAY = "This was sent a moment ago and is on its way; it will show in My requests."


class Once:
    """One post's hold on its form (see ``app.portal.submissions``)."""

    def __init__(self, claim: submissions.Claim) -> None:
        self.ours = claim.ours
        self.request_key = claim.request_key
        self.sent_to: str | None = None
        self.refused = False

    def sent(self, request_key: str) -> None:
        """Jira made it: a second post of this form goes to ``request_key``."""
        self.sent_to = request_key

    def failed(self) -> None:
        """Refused before anything was made: the form may be sent again."""
        self.refused = True


@asynccontextmanager
async def sent_once(
    request: Request, session: AsyncSession, context: PortalContext, form: FormData
) -> AsyncIterator[Once]:
    """Hold this post's form while Jira is asked. A form without a token (one shown before
    this version, or a client that sends none) goes ahead unguarded."""
    token = form.get("submission")
    if not isinstance(token, str) or not 16 <= len(token) <= 64:
        yield Once(submissions.Claim(ours=True))
        return
    tenant_id = context.tenant.id
    open_session = services(request).get(async_sessionmaker)
    claim = await submissions.claim(open_session, tenant_id, token, now=datetime.now(UTC))
    once = Once(claim)
    try:
        yield once
    except BaseException:
        if once.ours and once.sent_to is None:
            await _give_back(open_session, tenant_id, token)
        raise
    if once.ours and once.sent_to is not None:
        await submissions.finish(session, tenant_id, token, request_key=once.sent_to)
    elif once.ours and once.refused:
        await _give_back(open_session, tenant_id, token)


async def _give_back(open_session: OpenSession, tenant_id: str, token: str) -> None:
    try:
        await submissions.give_back(open_session, tenant_id, token)
    except DATABASE_FAILURES:
        # Kept for now: taken over after submissions.ABANDONED_AFTER.
        logger.warning("could not free a form submission", exc_info=True)


def csrf_ok(customer: PortalSession, token: object) -> bool:
    return isinstance(token, str) and same_secret(token, customer.csrf_token)


async def native_portal_url(request: Request, context: PortalContext) -> str | None:
    directory: JiraDirectory = services(request).get(JiraDirectory)
    desk = await directory.with_portal_id(context.jira, context.desk)
    if desk.portal_id is None:
        return None
    return f"{context.tenant.portal_base_url}/servicedesk/customer/portal/{desk.portal_id}"


async def render_home(request: Request, session: SessionDep, context: PortalContext) -> Response:
    settings_row = await jsm_repository.get_settings(session, context.tenant.id)
    if settings_row.landing == "jsm_portal":
        target = await native_portal_url(request, context)
        if target:
            return RedirectResponse(target, status_code=303)
    groups = await portal_api.request_type_groups(
        context.jira, context.desk.id, context.customer.account_id
    )
    query = request.query_params.get("q", "").strip()[:100]
    articles: list[portal_api.Article] = []
    if query:
        articles = await portal_api.search_articles(context.jira, context.desk.id, query)
        needle = query.casefold()
        groups = [
            portal_api.RequestTypeGroup(
                g.id,
                g.name,
                [
                    t
                    for t in g.request_types
                    if needle in t.name.casefold() or needle in t.description.casefold()
                ],
            )
            for g in groups
        ]
        groups = [g for g in groups if g.request_types]
    return render(
        request,
        "portal/home.html",
        context.page(title=context.desk.name, groups=groups, query=query, articles=articles),
    )


@router.get(
    "/portal/{tenant_id}/{service_desk_id}/requests",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def my_requests(
    tenant_id: str,
    service_desk_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    context = await customer_context(request, session, settings, tenant_id, service_desk_id)
    if context is None:
        return sign_in_redirect(settings, tenant_id, service_desk_id, request.url.path)
    token = request.query_params.get("page") or None
    which = request.query_params.get("show", "all")
    if which not in portal_api.OWNERSHIP:
        which = "all"
    organizations = await context.organizations() if which in ("all", "organization") else []
    try:
        requests, next_token = await portal_api.my_requests(
            context.jira,
            project_key=context.desk.project_key,
            account_id=context.customer.account_id,
            page_token=token,
            which=which,
            organization_ids=[o.id for o in organizations],
        )
    except JiraError as e:
        if token is None or e.jira_status != 400:
            raise
        # A page link whose token Jira refuses (an old bookmark, an edited URL): start the
        # list again rather than show an error.
        return RedirectResponse(f"{context.home}/requests?show={which}", status_code=303)
    return render(
        request,
        "portal/requests.html",
        context.page(
            title=N_("My requests"),
            requests=requests,
            next_token=next_token,
            first_page=token is None,
            which=which,
            filters=portal_api.OWNERSHIP,
        ),
    )


@router.get(
    "/portal/{tenant_id}/{service_desk_id}/requests/{key}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def request_page(
    tenant_id: str,
    service_desk_id: str,
    key: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    context = await customer_context(request, session, settings, tenant_id, service_desk_id)
    if context is None:
        return sign_in_redirect(settings, tenant_id, service_desk_id, request.url.path)
    customer_request = await context.visible_request(key)
    done = request.query_params.get("done", "")
    return render(
        request,
        "portal/request.html",
        context.page(
            title=customer_request.summary,
            item=customer_request,
            created=request.query_params.get("created", "")[:20],
            files_not_attached="files_not_attached" in request.query_params,
            commented="commented" in request.query_params,
            done=DONE_NOTICES.get(done),
            done_key=done if done in DONE_NOTICES else "",
            upload_limits=upload_limits(),
            **await request_details(request, context, customer_request),
        ),
    )


DONE_NOTICES = {
    "transition": N_("Done: the request was updated."),
    "rated": N_("Thank you for your rating."),
    "participant": N_("The people on this request were updated."),
}


async def request_details(
    request: Request, context: PortalContext, item: portal_api.CustomerRequest
) -> dict[str, Any]:
    """What the request page shows besides the request: the transitions the customer may
    take, the rating (once resolved), and approvals (read only), asked of Jira at once."""
    resolved = item.status_category.lower() == "done"
    transitions, rating, approvals, participants, native, sharing = await asyncio.gather(
        portal_api.customer_transitions(context.jira, item.key),
        portal_api.feedback(context.jira, item.key) if resolved else _none(),
        portal_api.approvals(context.jira, item.key),
        portal_api.participants(context.jira, item.key),
        native_portal_url(request, context),
        organization_sharing(request, context, item.key),
    )
    return {
        **sharing,
        "participants": participants,
        "transitions": transitions,
        "resolved": resolved,
        "rating": rating,
        "approvals": approvals,
        "native_request_url": f"{native}/{item.key}" if native else None,
    }


async def _none() -> None:
    return None


async def organization_sharing(
    request: Request, context: PortalContext, key: str
) -> dict[str, Any]:
    """The organizations the request is shared with, and the customer's own it could be
    shared with (none asked of Jira for a customer of no organization)."""
    mine = await context.organizations()
    directory: JiraDirectory = services(request).get(JiraDirectory)
    field_id = await directory.organizations_field(context.jira, context.tenant) if mine else None
    if field_id is None:
        return {"shared_with": [], "shareable": []}
    shared = await portal_api.shared_organizations(context.jira, key, field_id)
    shared_ids = {o.id for o in shared}
    return {"shared_with": shared, "shareable": [o for o in mine if o.id not in shared_ids]}


@router.post(
    "/portal/{tenant_id}/{service_desk_id}/requests/{key}/comments", include_in_schema=False
)
async def add_comment(
    tenant_id: str,
    service_desk_id: str,
    key: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    page = f"{desk_home(settings, tenant_id, service_desk_id)}/requests/{key}"
    context = await customer_context(request, session, settings, tenant_id, service_desk_id)
    if context is None:
        # The draft stays in the browser (portal.js) and is restored after signing in.
        return sign_in_redirect(settings, tenant_id, service_desk_id, page)
    async with request.form(max_files=100, max_part_size=MAX_UPLOAD_BYTES) as form:
        if not _has_files(form):
            return await _comment(request, session, context, key, page, form)
        upload_slots = services(request).get(UploadSlots)
        async with upload_slots:
            return await _comment(request, session, context, key, page, form)


async def _comment(
    request: Request,
    session: AsyncSession,
    context: PortalContext,
    key: str,
    page: str,
    form: FormData,
) -> Response:
    body = str(form.get("body") or "").strip()
    item = await context.visible_request(key)
    uploads, error = await _read_files(form, "files")
    status_code = 422
    if not csrf_ok(context.customer, form.get("csrf")):
        error, status_code = "Your form had expired. Please send your comment again.", 403
    elif error is not None:
        error = as_sentence(error)
    elif not body and not uploads:
        error = "Write a comment first."
    elif len(body) > 32000:
        error = "That comment is too long."
    # JSM records the app as the author; the customer's name leads the text so agents see
    # who wrote it (see README: comments as the app).
    text = (
        f"{context.customer.display_name} wrote:\n\n{body}"
        if body
        else f"{context.customer.display_name} attached files."
    )
    if error is None:
        async with sent_once(request, session, context, form) as once:
            if once.request_key is not None:  # this form was sent already
                return RedirectResponse(f"{page}?commented=1#comments", status_code=303)
            if not once.ours:
                error, status_code = "Your comment is on its way already.", 409
            elif uploads:
                try:
                    temporary_ids = await portal_api.upload_temporary_files(
                        context.jira, desk_id=context.desk.id, uploads=uploads
                    )
                    # One comment with the text and the files, as JSM's attachment call makes it.
                    await portal_api.attach_to_request(
                        context.jira, key=item.key, temporary_ids=temporary_ids, comment=text
                    )
                except JiraError as e:
                    error = _files_refused(e)
                    once.failed()
            else:
                await portal_api.add_comment(context.jira, key=item.key, body=text)
            if error is None:
                once.sent(item.key)
    if error:
        return render(
            request,
            "portal/request.html",
            context.page(
                title=item.summary,
                item=item,
                comment_error=error,
                draft=body,
                upload_limits=upload_limits(),
                **await request_details(request, context, item),
            ),
            status_code=status_code,
        )
    return RedirectResponse(f"{page}?commented=1#comments", status_code=303)


MAX_UPLOAD_FILES = 5
CONCURRENT_UPLOADS = 4  # per process


class UploadSlots(asyncio.Semaphore):
    """The uploads to Jira a process runs at once (a request with files waits for a slot)."""


MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # all files of one request together


def upload_limits() -> dict[str, int]:
    return {"files": MAX_UPLOAD_FILES, "megabytes": MAX_UPLOAD_BYTES // (1024 * 1024)}


async def _read_files(form: FormData, name: str) -> tuple[list[portal_api.Upload], str | None]:
    """The files chosen in the form's ``name`` input, or why they cannot be sent."""
    chosen = [v for v in form.getlist(name) if isinstance(v, UploadFile) and v.filename]
    if len(chosen) > MAX_UPLOAD_FILES:
        return [], f"attach at most {MAX_UPLOAD_FILES} files"
    uploads = [
        portal_api.Upload(
            filename=_file_name(str(upload.filename)),
            content_type=upload.content_type or "application/octet-stream",
            content=await upload.read(),
        )
        for upload in chosen
    ]
    if sum(len(u.content) for u in uploads) > MAX_UPLOAD_BYTES:
        return [], f"the files come to more than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
    if any(not u.content for u in uploads):
        return [], "one of the files is empty"
    return uploads, None


async def _uploads(
    fields: list[FormField], form: FormData, errors: dict[str, str]
) -> list[portal_api.Upload]:
    """The files chosen for the request type's attachment field, within the limits; an
    error next to the field otherwise."""
    field = next((f for f in fields if f.widget == "file"), None)
    if field is None:
        return []
    uploads, error = await _read_files(form, field.id)
    if error is None and field.required and not uploads:
        error = f"{field.name} is required"
    if error is not None:
        errors[field.id] = error
    return uploads


def _files_refused(error: JiraError) -> str:
    """Why Jira did not take the files, for the form: attachments switched off for the desk
    (400/403) or a file over Jira's own limit (413). Any other failure is raised on, to the
    usual error page."""
    if error.jira_status not in (400, 403, 413):
        raise error
    return "Jira did not accept the files: " + "; ".join(error.error_messages or [error.message])


def _has_files(form: FormData) -> bool:
    return any(isinstance(v, UploadFile) and v.filename for _, v in form.multi_items())


def _file_name(value: str) -> str:
    """The name alone (some browsers send a whole path), without control characters."""
    name = re.split(r"[\\/]", value)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:200] or "attachment"


async def _create_form(
    context: PortalContext, request_type_id: str
) -> tuple[portal_api.RequestType, list[FormField]]:
    request_type = await portal_api.request_type(
        context.jira, context.desk.id, request_type_id, context.customer.account_id
    )
    raw = await portal_api.request_type_fields(context.jira, context.desk.id, request_type_id)
    return request_type, form_fields(raw)


@router.get(
    "/portal/{tenant_id}/{service_desk_id}/create/{request_type_id}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def create_form(
    tenant_id: str,
    service_desk_id: str,
    request_type_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    context = await customer_context(request, session, settings, tenant_id, service_desk_id)
    if context is None:
        return sign_in_redirect(settings, tenant_id, service_desk_id, request.url.path)
    request_type, fields = await _create_form(context, request_type_id)
    return render(
        request,
        "portal/create.html",
        context.page(
            title=request_type.name,
            request_type=request_type,
            fields=fields,
            values={},
            errors={},
            blocked=unsupported_required(fields),
            upload_limits=upload_limits(),
        ),
    )


@router.post(
    "/portal/{tenant_id}/{service_desk_id}/create/{request_type_id}", include_in_schema=False
)
async def create_request(
    tenant_id: str,
    service_desk_id: str,
    request_type_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    form_page = f"{desk_home(settings, tenant_id, service_desk_id)}/create/{request_type_id}"
    context = await customer_context(request, session, settings, tenant_id, service_desk_id)
    if context is None:
        return sign_in_redirect(settings, tenant_id, service_desk_id, form_page)
    request_type, fields = await _create_form(context, request_type_id)
    # Generous parsing limits: the real ones are checked below, so that a form over them is
    # shown again with the reason and the typed text, not refused whole.
    async with request.form(max_files=100, max_part_size=MAX_UPLOAD_BYTES) as form:
        if not _has_files(form):
            return await _create(request, session, context, settings, request_type, fields, form)
        # Files are read into memory to be sent (and sent again if Jira asks to retry):
        # a few requests at a time per process, so many at once cannot exhaust its memory.
        upload_slots = services(request).get(UploadSlots)
        async with upload_slots:
            return await _create(request, session, context, settings, request_type, fields, form)


async def _create(
    request: Request,
    session: AsyncSession,
    context: PortalContext,
    settings: Settings,
    request_type: portal_api.RequestType,
    fields: list[FormField],
    form: FormData,
) -> Response:
    tenant_id, service_desk_id = context.tenant.id, context.desk.id
    submitted = {
        key: [str(v) for v in form.getlist(key) if not isinstance(v, UploadFile)] for key in form
    }
    values, errors = field_values(fields, submitted)
    uploads = await _uploads(fields, form, errors)
    message = None
    status_code = 422
    temporary_ids: list[str] = []
    requests_page = f"{desk_home(settings, tenant_id, service_desk_id)}/requests"
    if not csrf_ok(context.customer, form.get("csrf")):
        message, status_code = "Your form had expired. Check your answers and send it again.", 403
    elif unsupported_required(fields):
        message = "This request type needs information this portal cannot collect yet."
    elif not errors:
        async with sent_once(request, session, context, form) as once:
            if once.request_key is not None:  # this form raised it already
                landing = f"{requests_page}/{once.request_key}?created={request_type.id}"
                return RedirectResponse(landing, status_code=303)
            if not once.ours:
                message, status_code = ON_ITS_WAY, 409
            if once.ours and uploads:
                try:
                    temporary_ids = await portal_api.upload_temporary_files(
                        context.jira, desk_id=context.desk.id, uploads=uploads
                    )
                except JiraError as e:
                    file_field = next(f.id for f in fields if f.widget == "file")
                    errors[file_field] = _files_refused(e)
            if once.ours and not errors:
                try:
                    key = await portal_api.create_request(
                        context.jira,
                        desk_id=context.desk.id,
                        request_type_id=request_type.id,
                        account_id=context.customer.account_id,
                        values=values,
                    )
                except JiraError as e:
                    if e.jira_status not in (400, 422):
                        raise
                    # Jira's own validation: show its messages next to the fields they name.
                    for text in e.error_messages:
                        field_id, _, detail = text.partition(": ")
                        if detail and any(f.id == field_id for f in fields):
                            errors[field_id] = detail
                    message = "Jira could not accept the request: " + "; ".join(
                        e.error_messages or [e.message]
                    )
                else:
                    once.sent(key)
                    landing = f"{requests_page}/{key}?created={request_type.id}"
                    if uploads:
                        try:
                            await portal_api.attach_to_request(
                                context.jira, key=key, temporary_ids=temporary_ids
                            )
                        except JiraError:
                            # The request exists: say so, and that the files did not make it.
                            logger.warning("files not attached to a new request", exc_info=True)
                            landing += "&files_not_attached=1"
                    return RedirectResponse(landing, status_code=303)
            if once.ours:
                once.failed()  # refused: the form, shown again, may be sent again
    return render(
        request,
        "portal/create.html",
        context.page(
            title=request_type.name,
            request_type=request_type,
            fields=fields,
            values=submitted,
            errors=errors,
            message=message or "Please correct the fields marked below.",
            blocked=unsupported_required(fields),
            upload_limits=upload_limits(),
        ),
        status_code=status_code,
    )


@router.get("/portal/{tenant_id}/{service_desk_id}", include_in_schema=False)
async def substitute_link(
    tenant_id: str,
    service_desk_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    return_to: str | None = None,
) -> Response:
    config = await portal_config(request, tenant_id)
    context = await signed_in_context(request, session, settings, config, service_desk_id)
    if context is None:
        return await start_customer_login(
            request,
            session,
            settings=settings,
            tenant=config.tenant,
            service_desk_id=service_desk_id,
            return_to=tenant_return_path(return_to, settings, config.tenant.id),
            idps=config.idps_for(service_desk_id),
        )
    return await render_home(request, session, context)
