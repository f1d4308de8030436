"""The Jira calls behind the customer portal. The app acts for the customer: requests are
raised with ``raiseOnBehalfOf``; a customer only ever sees requests they reported, in the
desk they are in, and only public comments."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from app.errors import JiraError, NotFoundError
from app.i18n import N_
from app.jsm.client import JiraClient
from app.jsm.schemas import (
    ApprovalDTO,
    ArticleDTO,
    AttachmentLinksDTO,
    CommentDTO,
    CreatedRequestDTO,
    CustomerRequestDTO,
    FeedbackDTO,
    OrganizationDTO,
    ParticipantDTO,
    RequestTypeDTO,
    RequestTypeFieldDTO,
    RequestTypeFieldsDTO,
    RequestTypeGroupDTO,
    RequestTypePermissionsDTO,
    SearchPageDTO,
    StatusDTO,
    TemporaryAttachmentsDTO,
    TransitionDTO,
    parse,
)

ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,49}-[1-9][0-9]{0,17}$")
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9:_-]{1,128}$")
_PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,49}$")


@dataclass(frozen=True, slots=True)
class RequestType:
    id: str
    name: str
    description: str
    group_ids: tuple[str, ...]
    icon_id: str | None = None


@dataclass(frozen=True, slots=True)
class RequestTypeGroup:
    id: str
    name: str
    request_types: list[RequestType] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Article:
    page_id: str
    title: str
    excerpt: str


@dataclass(frozen=True, slots=True)
class RequestSummary:
    key: str
    summary: str
    status: str
    status_category: str
    created: str


@dataclass(frozen=True, slots=True)
class File:
    id: str
    filename: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Comment:
    author: str
    body: str
    created: str
    files: tuple[File, ...] = ()


@dataclass(frozen=True, slots=True)
class CustomerRequest:
    key: str
    mine: bool  # raised by this customer (else shared with them)
    summary: str
    status: str
    status_category: str
    created: str
    request_type: str
    fields: list[tuple[str, str]]
    comments: list[Comment]


def _request_type(value: RequestTypeDTO) -> RequestType | None:
    """The request type, if the JSM portal shows it at all: JSM hides one that is in no group
    from the portal (agents and email raise it). Whether this customer may use it is
    ``submittable``'s."""
    if not value.group_ids:
        return None
    icon = value.icon.id if value.icon else None
    return RequestType(
        id=value.id,
        name=value.name,
        description=value.description or "",
        group_ids=tuple(value.group_ids),
        icon_id=icon if icon and icon.isdigit() else None,
    )


# The article's body, as ``content.iframeSrc`` names it: .../knowledgebase/article/view/{id}.
_ARTICLE_VIEW = re.compile(
    r"/rest/servicedeskapi/knowledgebase/article/view/([0-9]{1,18})(?:[?#]|$)"
)
PAGE_ID = re.compile(r"^[0-9]{1,18}$")
MAX_ARTICLE_BYTES = 2 * 1024 * 1024


async def search_articles(
    jira: JiraClient, desk_id: str, query: str, *, limit: int = 5
) -> list[Article]:
    """The desk's knowledge base articles that match ``query``, best first (as JSM ranks
    them), at most ``limit``."""
    query = " ".join(query.split())[:200]
    if not query:
        return []
    # One page: the best few are what the customer reads.
    body = await jira.get_json(
        f"/rest/servicedeskapi/servicedesk/{desk_id}/knowledgebase/article",
        params={"query": query, "highlight": "false", "start": 0, "limit": limit},
    )
    values = body.get("values") if isinstance(body, dict) else None
    if not isinstance(values, list):
        raise JiraError("Jira sent knowledge base articles of an unexpected shape")
    found: list[Article] = []
    for value in values[:limit]:
        article = parse(ArticleDTO, value, "a knowledge base article")
        match = _ARTICLE_VIEW.search(article.content.iframe_src or "") if article.content else None
        if match is not None:  # an article the portal cannot open is not offered
            found.append(Article(match.group(1), article.title, article.excerpt or ""))
    return found


async def article_body(jira: JiraClient, page_id: str) -> str:
    """The article's body as JSM renders it for the portal (HTML, not yet safe to show:
    ``app.portal.articles`` sanitises it). Another site's or an unknown page is not found."""
    if not PAGE_ID.fullmatch(page_id):
        raise NotFoundError("we could not find that article")
    try:
        response = await jira.request(
            "GET",
            f"/rest/servicedeskapi/knowledgebase/article/view/{page_id}",
            headers={"Accept": "text/html, application/json"},
        )
    except JiraError as e:
        if e.jira_status in (403, 404):
            raise NotFoundError("we could not find that article") from e
        raise
    if len(response.content) > MAX_ARTICLE_BYTES:
        raise JiraError("Jira sent an article too large to show")
    if response.headers.get("content-type", "").startswith("application/json"):
        # The spec describes the answer as a JSON string.
        body = response.json()
        if not isinstance(body, str):
            raise JiraError("Jira sent a knowledge base article of an unexpected shape")
        return body
    return response.text


# JSM checks at most 50 request types per call.
PERMISSION_CHECK_BATCH = 50


async def submittable(
    jira: JiraClient, desk_id: str, account_id: str, request_type_ids: list[str]
) -> set[str]:
    """Which of the request types this customer may submit, as JSM decides (a request type
    restricted to named customers, groups or organizations counts for exactly those)."""
    if not _ACCOUNT_ID.fullmatch(account_id):
        return set()
    allowed: set[str] = set()
    for start in range(0, len(request_type_ids), PERMISSION_CHECK_BATCH):
        batch = request_type_ids[start : start + PERMISSION_CHECK_BATCH]
        body = await jira.post_json(
            f"/rest/servicedeskapi/servicedesk/{desk_id}/requesttype/permissions/check",
            {
                "accountId": account_id,
                "requestTypeIds": [int(i) for i in batch],
                "permissions": ["canCreateRequest"],
            },
            retry_safe=True,  # a read, though a POST
        )
        answer = parse(RequestTypePermissionsDTO, body or {}, "request type permissions")
        allowed.update(str(i) for i in answer.can_create_request if str(i) in batch)
    return allowed


async def request_type_groups(
    jira: JiraClient, desk_id: str, account_id: str
) -> list[RequestTypeGroup]:
    """The request types this customer may use, grouped as the JSM portal groups them."""
    groups: dict[str, RequestTypeGroup] = {}
    async for group in jira.paged(
        f"/rest/servicedeskapi/servicedesk/{desk_id}/requesttypegroup",
        RequestTypeGroupDTO,
        what="a request type group",
    ):
        groups[group.id] = RequestTypeGroup(group.id, group.name)
    shown: list[RequestType] = []
    async for value in jira.paged(
        f"/rest/servicedeskapi/servicedesk/{desk_id}/requesttype",
        RequestTypeDTO,
        what="a request type",
    ):
        request_type = _request_type(value)
        if request_type is not None:
            shown.append(request_type)
    allowed = await submittable(jira, desk_id, account_id, [t.id for t in shown])
    for request_type in shown:
        if request_type.id not in allowed:
            continue
        for group_id in request_type.group_ids:
            if group_id in groups:
                groups[group_id].request_types.append(request_type)
    return [group for group in groups.values() if group.request_types]


async def request_type(
    jira: JiraClient, desk_id: str, request_type_id: str, account_id: str
) -> RequestType:
    if not request_type_id.isdigit():
        raise NotFoundError("this request type is not available")
    try:
        value = await jira.get_json(
            f"/rest/servicedeskapi/servicedesk/{desk_id}/requesttype/{request_type_id}"
        )
    except JiraError as e:
        if e.jira_status == 404:
            raise NotFoundError("this request type is no longer available") from e
        raise
    found = _request_type(parse(RequestTypeDTO, value, "a request type"))
    if found is None or found.id not in await submittable(jira, desk_id, account_id, [found.id]):
        raise NotFoundError("this request type is not available")
    return found


async def request_type_fields(
    jira: JiraClient, desk_id: str, request_type_id: str
) -> list[RequestTypeFieldDTO]:
    """The fields the portal shows for the request type."""
    try:
        meta = await jira.get_json(
            f"/rest/servicedeskapi/servicedesk/{desk_id}/requesttype/{request_type_id}/field"
        )
    except JiraError as e:
        if e.jira_status == 404:
            raise NotFoundError("this request type is no longer available") from e
        raise
    fields = parse(RequestTypeFieldsDTO, meta, "request type fields").request_type_fields
    return [f for f in fields if f.visible]


async def create_request(
    jira: JiraClient, *, desk_id: str, request_type_id: str, account_id: str, values: dict[str, Any]
) -> str:
    body = await jira.post_json(
        "/rest/servicedeskapi/request",
        {
            "serviceDeskId": desk_id,
            "requestTypeId": request_type_id,
            "requestFieldValues": values,
            "raiseOnBehalfOf": account_id,
        },
    )
    if body is None:
        raise JiraError("Jira created the request but did not say which")
    return parse(CreatedRequestDTO, body, "a created request").issue_key


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str
    content: bytes


async def upload_temporary_files(
    jira: JiraClient, *, desk_id: str, uploads: list[Upload]
) -> list[str]:
    """Jira's ids for the files, held by the desk until a request takes them (they expire
    if none does)."""
    body = await jira.post_json(
        f"/rest/servicedeskapi/servicedesk/{desk_id}/attachTemporaryFile",
        None,
        files=[("file", (u.filename, u.content, u.content_type)) for u in uploads],
        # A multipart POST passes Jira's XSRF check only with this header (JSM API docs).
        headers={"X-Atlassian-Token": "no-check"},
    )
    answer = parse(TemporaryAttachmentsDTO, body or {}, "temporary files")
    ids = [item.temporary_attachment_id for item in answer.temporary_attachments]
    if len(ids) != len(uploads):
        raise JiraError("Jira did not take every file")
    return ids


async def attach_to_request(
    jira: JiraClient, *, key: str, temporary_ids: list[str], comment: str | None = None
) -> None:
    """The files, public: customers see what they attached (JSM lets customers add public
    attachments only). JSM puts them in a comment, which ``comment`` opens."""
    body: dict[str, Any] = {"temporaryAttachmentIds": temporary_ids, "public": True}
    if comment:
        body["additionalComment"] = {"body": comment}
    await jira.post_json(f"/rest/servicedeskapi/request/{key}/attachment", body)


_ATTACHMENT_LINK = re.compile(r"\[\^([^\]\n]+)\]")  # [^log.txt]
# !shot.png|thumbnail!: a file name (no space at its edges, an extension), so that a
# sentence with two exclamation marks stays as it is.
_ATTACHMENT_IMAGE = re.compile(r"!([^\s|!][^|!\n]*\.[A-Za-z0-9]{1,8})(?:\|[^!\n]*)?!")


def readable_markup(body: str) -> str:
    """A comment as text: the wiki markup Jira writes for attached files, as their names."""
    body = _ATTACHMENT_LINK.sub(lambda m: f"(attached: {m.group(1)})", body)
    return _ATTACHMENT_IMAGE.sub(lambda m: f"(attached: {m.group(1)})", body)


def _jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Which requests "My requests" lists, as the native portal's filter names them.
OWNERSHIP = {
    "all": N_("All my requests"),
    "mine": N_("Created by me"),
    "participant": N_("Where I am a participant"),
    "organization": N_("Shared with my organizations"),
}


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str


async def customer_organizations(jira: JiraClient, account_id: str) -> list[Organization]:
    """The JSM organizations the customer belongs to."""
    if not _ACCOUNT_ID.fullmatch(account_id):
        return []
    return [
        Organization(value.id, value.name)
        async for value in jira.paged(
            "/rest/servicedeskapi/organization",
            OrganizationDTO,
            what="an organization",
            params={"accountId": account_id},
        )
    ]


def _visible_to(account_id: str, organization_ids: list[str], which: str = "all") -> str:
    """JQL for the requests a customer sees in the native portal: raised by them, with them
    as a participant, or shared with one of their organizations."""
    me = _jql_string(account_id)
    clauses = {
        "mine": f"reporter = {me}",
        "participant": f'"Request participants" = {me}',
    }
    numeric = [i for i in organization_ids if i.isdigit()]
    if numeric:
        clauses["organization"] = f"Organizations in ({', '.join(numeric)})"
    if which == "all":
        return "(" + " OR ".join(clauses.values()) + ")"
    # An organization filter for a customer of no organization lists nothing.
    return clauses.get(which, "issuekey = EMPTY")


async def my_requests(
    jira: JiraClient,
    *,
    project_key: str,
    account_id: str,
    page_token: str | None,
    which: str = "all",
    organization_ids: list[str] | None = None,
    page_size: int = 20,
) -> tuple[list[RequestSummary], str | None]:
    """The requests the customer sees in this desk's project (``which`` of them), newest
    first, one page."""
    if not _PROJECT_KEY.fullmatch(project_key) or not _ACCOUNT_ID.fullmatch(account_id):
        raise NotFoundError("no requests")
    visible = _visible_to(account_id, organization_ids or [], which)
    body: dict[str, Any] = {
        "jql": f"project = {_jql_string(project_key)} AND {visible} ORDER BY created DESC",
        "fields": ["summary", "status", "created"],
        "maxResults": page_size,
    }
    if page_token:
        body["nextPageToken"] = page_token
    result = await jira.post_json("/rest/api/3/search/jql", body, retry_safe=True)
    page = parse(SearchPageDTO, result, "a search result")
    requests = [
        RequestSummary(
            key=issue.key,
            summary=issue.fields.summary or "",
            status=(issue.fields.status.name if issue.fields.status else None) or "",
            status_category=(
                issue.fields.status.status_category.key
                if issue.fields.status and issue.fields.status.status_category
                else None
            )
            or "",
            created=(issue.fields.created or "")[:10],
        )
        for issue in page.issues
    ]
    return requests, None if page.is_last else page.next_page_token


# Between a cascading select's two levels, as Jira's own pages show them (a single
# right-pointing angle quotation mark): "London, mark, Floor 1".
CASCADE_SEPARATOR = " \u203a "


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = str(value.get("value") or value.get("name") or value.get("displayName") or "")
        child = _field_text(value.get("child"))  # a cascading select's second level
        return f"{text}{CASCADE_SEPARATOR}{child}" if text and child else text
    if isinstance(value, list):
        return ", ".join(filter(None, (_field_text(item) for item in value)))
    return "" if value is None else str(value)


Organizations = Callable[[], Awaitable[list[Organization]]]


async def may_see(
    jira: JiraClient,
    *,
    key: str,
    project_key: str,
    account_id: str,
    organizations: Organizations,
) -> bool:
    """Whether the customer sees this request in the native portal though they did not raise
    it: as a participant, or through one of their ``organizations`` (one search, the same
    rule as "My requests")."""
    if not _PROJECT_KEY.fullmatch(project_key) or not _ACCOUNT_ID.fullmatch(account_id):
        return False
    visible = _visible_to(account_id, [o.id for o in await organizations()])
    result = await jira.post_json(
        "/rest/api/3/search/jql",
        {
            "jql": f"issuekey = {_jql_string(key)} AND project = {_jql_string(project_key)} AND {visible}",
            "fields": ["summary"],
            "maxResults": 1,
        },
        retry_safe=True,
    )
    return bool(parse(SearchPageDTO, result, "a search result").issues)


async def customer_request(
    jira: JiraClient,
    *,
    key: str,
    desk_id: str,
    account_id: str,
    project_key: str,
    organizations: Organizations | None = None,
) -> CustomerRequest:
    """The request, when the customer sees it in the native portal (theirs, or shared with
    them) and it is in this desk; otherwise "not found" (never a hint that someone else's
    request exists). ``organizations``: the customer's, when the caller already knows them
    (asked of Jira otherwise, and only for a request the customer did not raise)."""
    if not ISSUE_KEY.fullmatch(key):
        raise NotFoundError("we could not find that request")
    try:
        value = await jira.get_json(
            f"/rest/servicedeskapi/request/{key}", params={"expand": "requestType"}
        )
    except JiraError as e:
        if e.jira_status in (403, 404):
            raise NotFoundError("we could not find that request") from e
        raise
    request = parse(CustomerRequestDTO, value, "a request")
    reporter = request.reporter.account_id if request.reporter else None
    if str(request.service_desk_id) != desk_id:
        raise NotFoundError("we could not find that request")
    if reporter != account_id and not await may_see(
        jira,
        key=key,
        project_key=project_key,
        account_id=account_id,
        organizations=organizations or partial(customer_organizations, jira, account_id),
    ):
        raise NotFoundError("we could not find that request")
    comments: list[Comment] = []
    async for comment in jira.paged(
        f"/rest/servicedeskapi/request/{key}/comment",
        CommentDTO,
        what="a comment",
        params={"public": "true", "internal": "false", "expand": "attachment"},
    ):
        if comment.public is True:  # defence in depth: never an internal note
            comments.append(
                Comment(
                    author=(comment.author.display_name if comment.author else None) or "",
                    body=readable_markup(comment.body or ""),
                    created=(comment.created.iso8601 or comment.created.shown)
                    if comment.created
                    else "",
                    files=_files(comment),
                )
            )
    status = request.current_status or StatusDTO()
    fields = [
        (item.label or item.field_id or "", _field_text(item.value))
        for item in request.request_field_values
        if item.field_id != "summary"
    ]
    summary = next(
        (_field_text(i.value) for i in request.request_field_values if i.field_id == "summary"),
        request.summary or key,
    )
    return CustomerRequest(
        key=key,
        mine=reporter == account_id,
        summary=summary,
        status=status.status or "",
        status_category=status.status_category or "",
        created=(request.created_date.iso8601 or request.created_date.shown)
        if request.created_date
        else "",
        request_type=(request.request_type.name if request.request_type else None) or "",
        fields=[(label, text) for label, text in fields if text],
        comments=comments,
    )


# An attachment's id, at the end of its REST links (.../attachment/10010).
_ATTACHMENT_ID = re.compile(r"/attachment/([0-9]{1,18})/?$")


def _files(comment: CommentDTO) -> tuple[File, ...]:
    """The files of a public comment: what a customer may open. (The request's own list,
    asked as the app, also holds files of internal notes and does not say which.)"""
    found = []
    for value in comment.attachments.values if comment.attachments else []:
        links = value.links or AttachmentLinksDTO()
        match = _ATTACHMENT_ID.search(links.jira_rest or "") or _ATTACHMENT_ID.search(
            links.content or ""
        )
        if match is not None and value.filename:
            found.append(
                File(
                    id=match.group(1),
                    filename=value.filename,
                    media_type=(value.mime_type or "application/octet-stream").lower(),
                    size=value.size or 0,
                )
            )
    return tuple(found)


async def file_content(jira: JiraClient, attachment_id: str, *, thumbnail: bool = False) -> bytes:
    """A file's bytes, or its thumbnail's (PNG), from Jira's platform API with
    ``redirect=false``: Jira answers with the bytes instead of a redirect to its media
    service, which the app would otherwise have to follow to an address it did not build."""
    kind = "thumbnail" if thumbnail else "content"
    try:
        response = await jira.request(
            "GET",
            f"/rest/api/3/attachment/{kind}/{attachment_id}",
            params={"redirect": "false"},
            headers={"Accept": "*/*"},
        )
    except JiraError as e:
        if e.jira_status in (403, 404):
            raise NotFoundError("we could not find that file") from e
        raise
    return response.content


async def add_comment(jira: JiraClient, *, key: str, body: str) -> None:
    await jira.post_json(
        f"/rest/servicedeskapi/request/{key}/comment", {"body": body, "public": True}
    )


# --- what a customer does with a request -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Feedback:
    rating: int
    comment: str


@dataclass(frozen=True, slots=True)
class Approval:
    name: str
    decision: str  # "approved", "declined" or "pending"
    approvers: list[tuple[str, str]]  # (name, their decision)


async def customer_transitions(jira: JiraClient, key: str) -> list[Transition]:
    """The request type's customer transitions Jira offers now ("Resolve this request",
    "Reopen", "Cancel request"...)."""
    return [
        Transition(value.id, value.name)
        async for value in jira.paged(
            f"/rest/servicedeskapi/request/{key}/transition", TransitionDTO, what="a transition"
        )
    ]


async def transition(jira: JiraClient, key: str, transition_id: str, comment: str | None) -> None:
    """Take the transition; Jira's refusal (one no longer offered, a comment too long) is a
    ``JiraError`` with Jira's reason."""
    body: dict[str, Any] = {"id": transition_id}
    if comment:
        body["additionalComment"] = {"body": comment}
    await jira.post_json(f"/rest/servicedeskapi/request/{key}/transition", body)


async def feedback(jira: JiraClient, key: str) -> Feedback | None:
    """The request's satisfaction rating, or None when nobody has rated it."""
    try:
        value = await jira.get_json(f"/rest/servicedeskapi/request/{key}/feedback")
    except JiraError as e:
        if e.jira_status == 404:  # the request was checked first: no rating yet
            return None
        raise
    rated = parse(FeedbackDTO, value, "a satisfaction rating")
    if rated.rating is None:
        return None
    return Feedback(rated.rating, (rated.comment.body if rated.comment else None) or "")


async def rate(jira: JiraClient, key: str, rating: int, comment: str | None) -> None:
    body: dict[str, Any] = {"type": "csat", "rating": rating}
    if comment:
        body["comment"] = {"body": comment}
    await jira.post_json(f"/rest/servicedeskapi/request/{key}/feedback", body)


async def approvals(jira: JiraClient, key: str) -> list[Approval]:
    return [
        Approval(
            name=value.name,
            decision=value.final_decision or "pending",
            approvers=[
                (
                    (a.approver.display_name if a.approver else None) or "",
                    a.approver_decision or "pending",
                )
                for a in value.approvers
            ],
        )
        async for value in jira.paged(
            f"/rest/servicedeskapi/request/{key}/approval", ApprovalDTO, what="an approval"
        )
    ]


# --- participants ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Participant:
    account_id: str
    name: str


async def participants(jira: JiraClient, key: str) -> list[Participant]:
    return [
        Participant(value.account_id, value.display_name or value.email_address or "")
        async for value in jira.paged(
            f"/rest/servicedeskapi/request/{key}/participant", ParticipantDTO, what="a participant"
        )
    ]


async def add_participant(jira: JiraClient, key: str, account_id: str) -> None:
    await jira.post_json(
        f"/rest/servicedeskapi/request/{key}/participant", {"accountIds": [account_id]}
    )


async def remove_participant(jira: JiraClient, key: str, account_id: str) -> None:
    await jira.request(
        "DELETE",
        f"/rest/servicedeskapi/request/{key}/participant",
        json={"accountIds": [account_id]},
    )


# --- sharing with an organization --------------------------------------------------------------

# The JSM "Organizations" field's type: its id differs per site (customfield_NNNNN).
ORGANIZATIONS_FIELD_TYPE = "com.atlassian.servicedesk:sd-customer-organizations"


async def organizations_field(jira: JiraClient) -> str | None:
    """The site's id of JSM's Organizations field, or None where the site has none."""
    fields = await jira.get_json("/rest/api/3/field")
    for value in fields if isinstance(fields, list) else []:
        schema = value.get("schema") if isinstance(value, dict) else None
        if isinstance(schema, dict) and schema.get("custom") == ORGANIZATIONS_FIELD_TYPE:
            field_id = value.get("id")
            if isinstance(field_id, str) and re.fullmatch(r"customfield_[0-9]{1,12}", field_id):
                return field_id
    return None


async def shared_organizations(jira: JiraClient, key: str, field_id: str) -> list[Organization]:
    """The organizations the request is shared with."""
    issue = await jira.get_json(f"/rest/api/3/issue/{key}", params={"fields": field_id})
    values = (issue.get("fields") or {}).get(field_id) if isinstance(issue, dict) else None
    return [
        Organization(str(v.get("id")), str(v.get("name") or ""))
        for v in values or []
        if isinstance(v, dict) and str(v.get("id", "")).isdigit()
    ]


async def share_with(
    jira: JiraClient, key: str, field_id: str, organization_ids: list[str]
) -> None:
    """Share the request with these organizations (the field's whole new value)."""
    await jira.request(
        "PUT",
        f"/rest/api/3/issue/{key}",
        json={"fields": {field_id: [int(i) for i in organization_ids]}},
        ok=(204,),
    )


async def request_type_icon(jira: JiraClient, icon_id: str) -> bytes:
    """A request type's icon (PNG), as the portal shows it. Jira serves it to signed-in
    users and apps only, so the portal passes it through."""
    if not icon_id.isdigit() or len(icon_id) > 18:
        raise NotFoundError("no such icon")
    try:
        response = await jira.request(
            "GET",
            f"/rest/api/2/universal_avatar/view/type/SD_REQTYPE/avatar/{icon_id}",
            params={"size": "medium", "format": "png"},
            headers={"Accept": "image/png"},
        )
    except JiraError as e:
        if e.jira_status in (403, 404):
            raise NotFoundError("no such icon") from e
        raise
    if not response.content.startswith(b"\x89PNG\r\n\x1a\n"):
        raise JiraError("Jira sent an icon that is not a PNG image")
    return response.content
