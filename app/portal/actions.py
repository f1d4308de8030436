"""What a customer does to a request besides commenting: take one of its customer
transitions ("Resolve this request", "Reopen", "Cancel request"), with an optional comment,
and rate it once resolved.

Both go to Jira as the app, like comments: the transition's comment starts with the
customer's name, since JSM records the app as its author. Approvals are not answered here:
JSM answers an approval only as the approver making the call, and the app is not the
customer, so the request page shows them read only, with the native portal's link."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from app.db import SessionDep
from app.deps import SettingsDep, services
from app.errors import JiraError
from app.jsm import portal_api
from app.jsm.directory import JiraDirectory
from app.jsm.provisioning import find_account_by_email
from app.portal.pages import (
    PortalContext,
    csrf_ok,
    customer_context,
    desk_home,
    request_details,
    sent_once,
    sign_in_redirect,
    upload_limits,
)
from app.templating import as_sentence, render

router = APIRouter(tags=["portal"])

MAX_COMMENT = 32_000
MAX_RATING_COMMENT = 2_000


@router.post(
    "/portal/{tenant_id}/{service_desk_id}/requests/{key}/transition", include_in_schema=False
)
async def take_transition(
    tenant_id: str,
    service_desk_id: str,
    key: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    posted = await _posted(
        request,
        session,
        settings,
        tenant_id,
        service_desk_id,
        key,
        action_error="Your form had expired. Please try again.",
    )
    if isinstance(posted, Response):
        return posted
    context, item, form, page = posted.context, posted.item, posted.form, posted.page
    chosen = str(form.get("transition") or "")
    comment = str(form.get("comment") or "").strip()
    offered = await portal_api.customer_transitions(context.jira, item.key)
    error: str | None = None
    status_code = 422
    if chosen not in {t.id for t in offered}:
        error, status_code = "That action is no longer available for this request.", 409
    elif len(comment) > MAX_COMMENT:
        error = "That comment is too long."
    if error is None:
        error = await _send(request, session, context, form, item.key, chosen, comment)
    if error is not None:
        return await _request_page(request, context, item, action_error=error, status=status_code)
    return RedirectResponse(f"{page}?done=transition", status_code=303)


async def _send(
    request: Request,
    session: SessionDep,
    context: PortalContext,
    form: FormData,
    key: str,
    transition_id: str,
    comment: str,
) -> str | None:
    """Take the transition once (a second post of the same form does nothing); Jira's
    refusal, as a sentence, or None."""
    text = f"{context.customer.display_name} wrote:\n\n{comment}" if comment else None
    async with sent_once(request, session, context, form) as once:
        if once.request_key is not None or not once.ours:
            return None  # sent already (or being sent): the page shows the result
        try:
            await portal_api.transition(context.jira, key, transition_id, text)
        except JiraError as e:
            if e.jira_status not in (400, 403, 409):
                raise
            once.failed()
            return as_sentence(f"Jira did not accept this: {jira_reason(e)}")
        once.sent(key)
    return None


@router.post(
    "/portal/{tenant_id}/{service_desk_id}/requests/{key}/feedback", include_in_schema=False
)
async def rate_request(
    tenant_id: str,
    service_desk_id: str,
    key: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    posted = await _posted(
        request,
        session,
        settings,
        tenant_id,
        service_desk_id,
        key,
        rating_error="Your form had expired. Please rate again.",
    )
    if isinstance(posted, Response):
        return posted
    context, item, form, page = posted.context, posted.item, posted.form, posted.page
    rating = str(form.get("rating") or "")
    comment = str(form.get("comment") or "").strip()
    error: str | None = None
    status_code = 422
    if item.status_category.lower() != "done":
        error, status_code = "A request can be rated once it is resolved.", 409
    elif rating not in {"1", "2", "3", "4", "5"}:
        error = "Choose a rating from 1 to 5."
    elif len(comment) > MAX_RATING_COMMENT:
        error = f"Keep the comment under {MAX_RATING_COMMENT} characters."
    if error is None:
        try:
            await portal_api.rate(context.jira, item.key, int(rating), comment or None)
        except JiraError as e:
            if e.jira_status not in (400, 403):
                raise
            error = as_sentence(f"Jira did not accept the rating: {jira_reason(e)}")
    if error is not None:
        return await _request_page(request, context, item, rating_error=error, status=status_code)
    return RedirectResponse(f"{page}?done=rated", status_code=303)


def jira_reason(error: JiraError) -> str:
    """Jira's own words for a refusal, without our summary of its status."""
    return "; ".join(error.error_messages or []) or error.message


async def _request_page(
    request: Request,
    context: PortalContext,
    item: portal_api.CustomerRequest,
    *,
    status: int,
    **errors: str,
) -> Response:
    return render(
        request,
        "portal/request.html",
        context.page(
            title=item.summary,
            item=item,
            upload_limits=upload_limits(),
            **errors,
            **await request_details(request, context, item),
        ),
        status_code=status,
    )


# --- participants ------------------------------------------------------------------------------


@router.post(
    "/portal/{tenant_id}/{service_desk_id}/requests/{key}/participants", include_in_schema=False
)
async def add_participant(
    tenant_id: str,
    service_desk_id: str,
    key: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Add a colleague by email: only someone in one of the customer's own organizations,
    as the native portal allows."""
    posted = await _posted(
        request,
        session,
        settings,
        tenant_id,
        service_desk_id,
        key,
        participant_error="Your form had expired. Please try again.",
    )
    if isinstance(posted, Response):
        return posted
    context, item, form, page = posted.context, posted.item, posted.form, posted.page
    email = str(form.get("email") or "").strip()
    error: str | None = None
    if "@" not in email or len(email) > 320:
        error = "Enter your colleague's email address."
    else:
        colleague, error = await _colleague(context, email)
    if error is not None:
        return await _request_page(request, context, item, participant_error=error, status=422)
    await portal_api.add_participant(context.jira, item.key, colleague)
    return RedirectResponse(f"{page}?done=participant", status_code=303)


async def _colleague(context: PortalContext, email: str) -> tuple[str, str | None]:
    """The account of ``email`` when it may be added to the customer's request, or why not."""
    mine = {o.id for o in await context.organizations()}
    if not mine:
        return "", (
            "You can share requests with colleagues of your organization, and you are in none here."
        )
    colleague = await find_account_by_email(context.jira, email)
    if colleague is None:
        return "", "Nobody with that address uses this help center."
    theirs = {o.id for o in await portal_api.customer_organizations(context.jira, colleague)}
    if not mine & theirs:
        return "", "You can add colleagues from your own organization only."
    return colleague, None


@router.post(
    "/portal/{tenant_id}/{service_desk_id}/requests/{key}/participants/remove",
    include_in_schema=False,
)
async def remove_participant(
    tenant_id: str,
    service_desk_id: str,
    key: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    posted = await _posted(
        request,
        session,
        settings,
        tenant_id,
        service_desk_id,
        key,
        participant_error="Your form had expired.",
    )
    if isinstance(posted, Response):
        return posted
    context, item, form, page = posted.context, posted.item, posted.form, posted.page
    who = str(form.get("account_id") or "")
    current = {p.account_id for p in await portal_api.participants(context.jira, item.key)}
    if who not in current:
        return await _request_page(
            request,
            context,
            item,
            participant_error="That person is no longer on this request.",
            status=409,
        )
    await portal_api.remove_participant(context.jira, item.key, who)
    if who == context.customer.account_id and not item.mine:
        # They left a request that was only shared with them: it is no longer theirs to see.
        return RedirectResponse(f"{context.home}/requests", status_code=303)
    return RedirectResponse(f"{page}?done=participant", status_code=303)


@router.post("/portal/{tenant_id}/{service_desk_id}/requests/{key}/share", include_in_schema=False)
async def share_with_organization(
    tenant_id: str,
    service_desk_id: str,
    key: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Share the request with one of the customer's own organizations, as the native
    portal's "Share" does: its members then see it."""
    posted = await _posted(
        request,
        session,
        settings,
        tenant_id,
        service_desk_id,
        key,
        participant_error="Your form had expired.",
    )
    if isinstance(posted, Response):
        return posted
    context, item, form, page = posted.context, posted.item, posted.form, posted.page
    chosen = str(form.get("organization") or "")
    mine = {o.id for o in await context.organizations()}
    directory: JiraDirectory = services(request).get(JiraDirectory)
    field_id = await directory.organizations_field(context.jira, context.tenant)
    if chosen not in mine or field_id is None:
        return await _request_page(
            request,
            context,
            item,
            participant_error="You can share a request with your own organizations only.",
            status=422,
        )
    shared = [o.id for o in await portal_api.shared_organizations(context.jira, item.key, field_id)]
    if chosen not in shared:
        await portal_api.share_with(context.jira, item.key, field_id, [*shared, chosen])
    return RedirectResponse(f"{page}?done=participant", status_code=303)


@dataclass(frozen=True, slots=True)
class Posted:
    """A form posted about one of the customer's requests, with what every action needs."""

    context: PortalContext
    item: portal_api.CustomerRequest
    form: FormData
    page: str  # the request's page, where the action leads back


async def _posted(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tenant_id: str,
    desk_id: str,
    key: str,
    **expired: str,
) -> Posted | Response:
    """The signed-in customer's post about a request they see; without a session, the way
    to sign in and back (an unknown or someone else's request is "not found"); without the
    form's token, the request's page with ``expired`` (its one error field and sentence)
    and 403, before anything is asked of Jira. Every action passes through here, so none
    can skip the check."""
    page = f"{desk_home(settings, tenant_id, desk_id)}/requests/{key}"
    context = await customer_context(request, session, settings, tenant_id, desk_id)
    if context is None:
        return sign_in_redirect(settings, tenant_id, desk_id, page)
    form = await request.form()
    item = await context.visible_request(key)
    if not csrf_ok(context.customer, form.get("csrf")):
        return await _request_page(request, context, item, status=403, **expired)
    return Posted(context, item, form, page)
