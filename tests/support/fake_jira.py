"""A fake Jira Cloud site with JSM, faithful to the official spec where it has one.

Every ``/rest/servicedeskapi`` request body and every response this fake returns is validated
against ``tests/data/jsm-servicedesk-openapi.json``, a copy of Atlassian's spec; the two platform endpoints the app
uses (user search, permission check) are checked by hand. Each request must carry a valid
Connect JWT (iss = app key, qsh of that very request, HS256 with the tenant's secret), or in
api_token mode the service account's Basic credentials.

Knobs: ``fail(method, path, status, times, headers, message)`` queues failures (429 with
Retry-After, 503, a 400 with Jira's own validation message...); ``timeout(method, path, times)`` raises a read timeout; ``race_customer`` makes a
customer appear between the app's search and its create; ``page_size`` forces paging.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import respx

from app.connect.jwt import query_string_hash, relative_path
from tests.support import spec

SERVICEDESK = "/rest/servicedeskapi/"
# Jira's thumbnail of any image: a real PNG (1 by 1, grey), so a browser shows it.
THUMBNAIL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)
EDGE_STATUSES = frozenset({429, 502, 503, 504})
# Answers the spec leaves out, assumed from how every other JSM resource behaves: the
# article view documents only 200, and an unknown page is taken to be a 404 like the rest.
UNDOCUMENTED = frozenset({("GET", "/rest/servicedeskapi/knowledgebase/article/view/", 404)})


@dataclass(frozen=True)
class RawBody:
    """An answer that is not JSON (an article's HTML, a file's bytes)."""

    content: str | bytes
    media_type: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Account:
    account_id: str
    email: str
    display_name: str
    account_type: str = "customer"

    def user_dto(self) -> dict[str, Any]:
        return {
            "accountId": self.account_id,
            "emailAddress": self.email,
            "displayName": self.display_name,
            "active": True,
            "timeZone": "Europe/London",
        }


@dataclass
class Desk:
    id: str
    project_id: str
    project_key: str
    name: str
    portal_id: str
    request_types: list[dict[str, Any]] = field(default_factory=list)
    customers: set[str] = field(default_factory=set)
    organizations: set[int] = field(default_factory=set)
    groups: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # A restricted request type: who may use it (JSM lets admins name customers, groups and
    # organizations; the fake names accounts).
    allowed: dict[str, set[str]] = field(default_factory=dict)
    # The desk's knowledge base (a linked Confluence space): page id -> (title, body HTML).
    articles: dict[str, tuple[str, str]] = field(default_factory=dict)

    def restrict(self, request_type_id: str, *account_ids: str) -> None:
        """Restrict a request type to the named accounts."""
        found = next(t for t in self.request_types if t["id"] == request_type_id)
        found["restrictionStatus"] = "RESTRICTED"
        self.allowed[request_type_id] = set(account_ids)

    def dto(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "projectId": self.project_id,
            "projectKey": self.project_key,
            "projectName": self.name,
            "_links": {"self": f"{base_url}/rest/servicedeskapi/servicedesk/{self.id}"},
        }


@dataclass
class FakeJira:
    base_url: str
    app_key: str
    client_key: str
    shared_secret: str
    service_account: tuple[str, str] | None = None  # (email, api token) for api_token mode
    # Behind the fake api.atlassian.com of a Forge site: which Bearer app tokens it accepts
    # (the gateway's check), and the site's own URL, which serverInfo names.
    accepts_bearer: Callable[[str], bool] | None = None
    site_url: str | None = None
    admins: set[str] = field(default_factory=lambda: {"557058:admin-account"})
    accounts: dict[str, Account] = field(default_factory=dict)
    desks: dict[str, Desk] = field(default_factory=dict)
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    page_size: int = 50
    race_customer: Account | None = None
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    # Atlassian's personal data reporting API, as its user privacy guide describes it.
    closed_accounts: set[str] = field(default_factory=set)
    updated_accounts: set[str] = field(default_factory=set)
    reported: list[list[dict[str, str]]] = field(default_factory=list)
    cycle_period: str = "604800"
    # Files uploaded to a desk and not yet attached: id -> (desk id, name, type, content).
    temporary_files: dict[str, tuple[str, str, str, bytes]] = field(default_factory=dict)
    # Files stored in Jira: attachment id -> (name, media type, content).
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    attachments_allowed: bool = True
    # A misbehaving Jira: internal comments in answers that asked for public ones only.
    leaks_internal_comments: bool = False
    _failures: deque[tuple[str, str, Any]] = field(default_factory=deque)
    _auth_scheme: str = ""
    _xsrf_token: str = ""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    # --- set-up ----------------------------------------------------------------------------
    def add_desk(self, desk_id: str, key: str, name: str, portal_id: str | None = None) -> Desk:
        """A desk with a small catalogue: two groups, a request type with text, select,
        multi-select, date and number fields, and one whose required field the portal
        cannot render (a user picker)."""
        desk = Desk(desk_id, str(10000 + int(desk_id)), key, name, portal_id or desk_id)
        desk.groups = [{"id": "1", "name": "Common requests"}, {"id": "2", "name": "Hardware"}]

        def custom(
            field_id: str, name: str, kind: str, plugin: str, required: bool = False, **extra: Any
        ) -> dict[str, Any]:
            schema = {
                "type": kind,
                "custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{plugin}",
                "customId": int(field_id.rsplit("_", 1)[1]),
            } | extra
            return {
                "fieldId": field_id,
                "name": name,
                "required": required,
                "visible": True,
                "jiraSchema": schema,
                "validValues": [],
            }

        def options(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
            return [{"value": value, "label": label, "children": []} for value, label in pairs]

        summary = {
            "fieldId": "summary",
            "name": "Summary",
            "required": True,
            "visible": True,
            "jiraSchema": {"type": "string", "system": "summary"},
            "validValues": [],
        }
        description = {
            "fieldId": "description",
            "name": "Description",
            "required": False,
            "visible": True,
            "jiraSchema": {"type": "string", "system": "description"},
            "validValues": [],
        }
        urgency = custom("customfield_10010", "Urgency", "option", "select") | {
            "validValues": options(("1", "Low"), ("2", "High"))
        }
        # A cascading select: a parent option, then optionally one of its children.
        location = custom("customfield_10060", "Location", "option-with-child", "cascadingselect")
        location["validValues"] = [
            {
                "value": "21",
                "label": "London",
                "children": [
                    {"value": "211", "label": "Floor 1", "children": []},
                    {"value": "212", "label": "Floor 2", "children": []},
                ],
            },
            {"value": "22", "label": "Paris", "children": []},
        ]
        attachment = {
            "fieldId": "attachment",
            "name": "Attachment",
            "required": False,
            "visible": True,
            "jiraSchema": {"type": "array", "items": "attachment", "system": "attachment"},
            "validValues": [],
        }
        kit = custom(
            "customfield_10030", "Equipment", "array", "multiselect", True, items="option"
        ) | {"validValues": options(("11", "Laptop"), ("12", "Monitor"))}
        needed_by = custom("customfield_10020", "Needed by", "date", "datepicker")
        count = custom("customfield_10040", "How many", "number", "float")
        approver = custom("customfield_10050", "Approver", "user", "userpicker", True)
        catalogue = [
            (
                "1",
                "Get IT help",
                "Ask the IT team for help",
                ["1"],
                [summary, description, urgency, location, attachment],
            ),
            (
                "2",
                "Request new hardware",
                "Laptops, monitors and more",
                ["2"],
                [summary, kit, needed_by, count],
            ),
            ("3", "Request access", "Needs an approver", ["1"], [summary, approver]),
            # In no group: hidden from the portal (raised by agents or by email only).
            ("4", "Internal triage", "For the support team", [], [summary]),
        ]
        for suffix, rt_name, rt_description, groups, fields in catalogue:
            desk.request_types.append(
                {
                    "id": f"{desk_id}{suffix}",
                    "name": rt_name,
                    "description": rt_description,
                    "helpText": "",
                    "portalId": desk.portal_id,
                    "serviceDeskId": desk_id,
                    "groupIds": groups,
                    "issueTypeId": "10001",
                    "restrictionStatus": "OPEN",
                    "icon": {
                        "id": f"105{suffix}0",
                        "_links": {
                            "iconUrls": {
                                "48x48": f"{self.base_url}/rest/api/2/universal_avatar/view/type/SD_REQTYPE/avatar/105{suffix}0?size=large"
                            }
                        },
                    },
                }
            )
            desk.fields[f"{desk_id}{suffix}"] = fields
        self.desks[desk_id] = desk
        return desk

    def add_request(
        self,
        desk_id: str,
        reporter: str,
        summary: str,
        *,
        comments: tuple[tuple[str, bool], ...] = (),
    ) -> str:
        desk = self.desks[desk_id]
        number = len(self.requests) + 1
        key = f"{desk.project_key}-{number}"
        self.requests[key] = {
            "key": key,
            "id": str(20000 + number),
            "desk_id": desk_id,
            "request_type_id": desk.request_types[0]["id"],
            "reporter": reporter,
            "values": {"summary": summary},
            "status": ("Waiting for support", "indeterminate"),
            "comments": [
                {"id": str(i), "body": body, "public": public, "author": "557058:agent"}
                for i, (body, public) in enumerate(comments)
            ],
        }
        return key

    def add_account(self, email: str, name: str, account_type: str = "customer") -> Account:
        account = Account(f"qm:{next(self._ids)}", email, name, account_type)
        self.accounts[account.account_id] = account
        return account

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        message: str = "fake failure",
    ) -> None:
        for _ in range(times):
            self._failures.append((method, path, (status, headers or {}, message)))

    def timeout(self, method: str, path: str, *, times: int = 1) -> None:
        for _ in range(times):
            self._failures.append((method, path, "timeout"))

    def clear_failures(self) -> None:
        """Forget the failures queued and not yet served."""
        self._failures.clear()

    def count(self, method: str | None = None, prefix: str = "") -> int:
        return sum(
            1 for m, p in self.calls if (method is None or m == method) and p.startswith(prefix)
        )

    def mount(self, router: respx.MockRouter) -> None:
        # The REST APIs, and /app/report-accounts/ (personal data reporting).
        router.route(url__regex=rf"^{re.escape(self.base_url)}/(rest|app)/").mock(
            side_effect=self._handle
        )

    # --- plumbing ----------------------------------------------------------------------------
    def _authenticated(self, request: httpx.Request) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("JWT "):
            try:
                claims = jwt.decode(
                    header[4:], self.shared_secret, algorithms=["HS256"], audience=self.client_key
                )
            except jwt.InvalidTokenError:
                return False
            path, _, query = request.url.raw_path.decode().partition("?")
            expected = query_string_hash(
                request.method, relative_path(path, urlsplit(self.base_url).path), query
            )
            return claims.get("iss") == self.app_key and claims.get("qsh") == expected
        if header.startswith("Bearer ") and self.accepts_bearer is not None:
            return self.accepts_bearer(header[7:])
        if header.startswith("Basic ") and self.service_account:
            email, _, token = base64.b64decode(header[6:]).decode().partition(":")
            return (email, token) == self.service_account
        return False

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = (
            request.url.path[len(urlsplit(self.base_url).path) :]
            if urlsplit(self.base_url).path
            else request.url.path
        )
        self.calls.append((request.method, path))
        body: Any
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            body = _multipart(request)
            spec.validate_multipart(request.method, path, [name for name, *_ in body])
        else:
            body = json.loads(request.content) if request.content else None
            if path.startswith(SERVICEDESK):
                spec.validate_request(request.method, path, body)
        for index, (method, prefix, failure) in enumerate(self._failures):
            if method == request.method and path.startswith(prefix):
                del self._failures[index]
                if failure == "timeout":
                    raise httpx.ReadTimeout("fake timeout", request=request)
                status, headers, message = failure
                return self._respond(
                    request.method, path, status, {"errorMessage": message}, headers
                )
        if not self._authenticated(request):
            return self._respond(request.method, path, 401, None)
        self._auth_scheme = request.headers.get("authorization", "").partition(" ")[0]
        self._xsrf_token = request.headers.get("x-atlassian-token", "")
        query = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        for pattern, handler in self._routes():
            match = re.fullmatch(pattern, f"{request.method} {path}")
            if match:
                status, payload = handler(query, body, *match.groups())
                headers = (
                    {"Cycle-Period": self.cycle_period} if path == "/app/report-accounts/" else None
                )
                return self._respond(request.method, path, status, payload, headers)
        raise AssertionError(f"the fake Jira has no {request.method} {path}")

    def _respond(
        self,
        method: str,
        path: str,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        if isinstance(payload, RawBody):
            content = payload.content
            return httpx.Response(
                status,
                content=content.encode() if isinstance(content, str) else content,
                headers={"content-type": payload.media_type, **dict(payload.headers)},
            )
        # 429 and 502-504 come from Atlassian's edge, not the operation, so the spec
        # does not list them; every other answer must be one the spec allows.
        undocumented = any(
            (method, status) == (m, s) and path.startswith(prefix) for m, prefix, s in UNDOCUMENTED
        )
        if path.startswith(SERVICEDESK) and status not in EDGE_STATUSES and not undocumented:
            spec.validate_response(method, path, status, payload)
        return (
            httpx.Response(status, json=payload, headers=headers)
            if payload is not None
            else httpx.Response(status, headers=headers)
        )

    def _page(self, values: list[Any], query: dict[str, str]) -> dict[str, Any]:
        start = int(query.get("start", 0))
        limit = min(int(query.get("limit", 50)), self.page_size)
        chunk = values[start : start + limit]
        return {
            "start": start,
            "limit": limit,
            "size": len(chunk),
            "isLastPage": start + limit >= len(values),
            "values": chunk,
        }

    def _routes(self) -> list[tuple[str, Any]]:
        return [
            (r"GET /rest/servicedeskapi/servicedesk", self._list_desks),
            (r"GET /rest/servicedeskapi/servicedesk/(\d+)", self._get_desk),
            (r"GET /rest/servicedeskapi/servicedesk/(\d+)/requesttype", self._request_types),
            (r"POST /rest/servicedeskapi/customer", self._create_customer),
            (r"POST /rest/servicedeskapi/servicedesk/(\d+)/customer", self._add_customers),
            (r"POST /rest/servicedeskapi/organization", self._create_organization),
            (r"POST /rest/servicedeskapi/organization/(\d+)/user", self._add_org_users),
            (r"DELETE /rest/servicedeskapi/organization/(\d+)/user", self._remove_org_users),
            (r"POST /rest/servicedeskapi/servicedesk/(\d+)/organization", self._add_desk_org),
            (r"GET /rest/api/3/user/search", self._user_search),
            (r"POST /rest/api/3/permissions/check", self._permissions_check),
            (r"GET /rest/api/3/myself", self._myself),
            (r"GET /rest/api/3/serverInfo", self._server_info),
            (r"GET /rest/servicedeskapi/servicedesk/(\d+)/requesttypegroup", self._groups),
            (r"GET /rest/servicedeskapi/servicedesk/(\d+)/requesttype/(\d+)", self._request_type),
            (r"GET /rest/servicedeskapi/servicedesk/(\d+)/requesttype/(\d+)/field", self._fields),
            (
                r"POST /rest/servicedeskapi/servicedesk/(\d+)/requesttype/permissions/check",
                self._request_type_permissions,
            ),
            (r"GET /rest/servicedeskapi/servicedesk/(\d+)/knowledgebase/article", self._articles),
            (r"GET /rest/servicedeskapi/knowledgebase/article/view/(\d+)", self._article_view),
            (r"POST /rest/servicedeskapi/request", self._create_request),
            (r"GET /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)", self._get_request),
            (r"GET /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)/comment", self._comments),
            (r"POST /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)/comment", self._add_comment),
            (r"POST /rest/api/3/search/jql", self._search),
            (r"POST /app/report-accounts/", self._report_accounts),
            (
                r"POST /rest/servicedeskapi/servicedesk/(\d+)/attachTemporaryFile",
                self._attach_temporary_file,
            ),
            (r"POST /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)/attachment", self._attach),
            (r"GET /rest/api/3/attachment/content/(\d+)", self._attachment_content),
            (r"GET /rest/servicedeskapi/organization", self._organizations_of),
            (r"GET /rest/api/3/field", self._fields_of_site),
            (
                r"GET /rest/api/2/universal_avatar/view/type/SD_REQTYPE/avatar/(\d+)",
                self._request_type_icon,
            ),
            (r"GET /rest/api/3/issue/([A-Z0-9_]+-\d+)", self._issue),
            (r"PUT /rest/api/3/issue/([A-Z0-9_]+-\d+)", self._edit_issue),
            (r"GET /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)/participant", self._participants),
            (
                r"POST /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)/participant",
                self._add_participants,
            ),
            (
                r"DELETE /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)/participant",
                self._remove_participants,
            ),
            (r"GET /rest/api/3/attachment/thumbnail/(\d+)", self._attachment_thumbnail),
            (r"GET /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)/transition", self._transitions),
            (r"POST /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)/transition", self._transition),
            (r"GET /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)/feedback", self._feedback),
            (r"POST /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)/feedback", self._rate),
            (r"GET /rest/servicedeskapi/request/([A-Z0-9_]+-\d+)/approval", self._approvals),
        ]

    # --- endpoints -------------------------------------------------------------------------
    def _server_info(self, _query: dict[str, str], _body: Any) -> tuple[int, Any]:
        return 200, {
            "baseUrl": self.site_url or self.base_url,
            "deploymentType": "Cloud",
            "serverTitle": "Jira",
            "version": "1001.0.0-SNAPSHOT",
        }

    def _attach_temporary_file(
        self, _query: dict[str, str], body: Any, desk_id: str
    ) -> tuple[int, Any]:
        if self._xsrf_token != "no-check":
            return 403, {"errorMessage": "XSRF check failed"}
        if desk_id not in self.desks:
            return 404, {"errorMessage": "Service desk not found"}
        if not self.attachments_allowed:
            return 403, {"errorMessage": "Attachments are disabled for this service desk"}
        uploaded = []
        for _name, filename, content_type, content in body:
            temporary_id = f"temp{next(self._ids)}"
            self.temporary_files[temporary_id] = (desk_id, filename, content_type, content)
            uploaded.append({"temporaryAttachmentId": temporary_id, "fileName": filename})
        return 201, {"temporaryAttachments": uploaded}

    def _attach(self, _query: dict[str, str], body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {"errorMessage": "Request not found"}
        ids = body.get("temporaryAttachmentIds") or []
        if "public" not in body or not ids:
            return 400, {"errorMessage": "public and temporaryAttachmentIds are required"}
        files = [self.temporary_files.get(i) for i in ids]
        if any(f is None or f[0] != item["desk_id"] for f in files):
            return 400, {"errorMessage": "The temporary attachments have expired"}
        added = []
        attachment_ids = []
        for temporary_id in ids:
            _desk, filename, content_type, content = self.temporary_files.pop(temporary_id)
            item.setdefault("attachments", []).append(
                {"filename": filename, "mimeType": content_type, "content": content}
            )
            attachment_id = self.add_file(filename, content_type, content)
            attachment_ids.append(attachment_id)
            added.append(self._attachment_dto(key, attachment_id))
        # JSM records the files in a comment of their own, in wiki markup.
        markup = " ".join(f"[^{a['filename']}]" for a in added)
        text = (body.get("additionalComment") or {}).get("body")
        comment = {
            "id": str(len(item["comments"]) + 1),
            "body": f"{text} {markup}" if text else markup,
            "public": bool(body["public"]),
            "author": "557058:app-user",
            "files": attachment_ids,
        }
        item["comments"].append(comment)
        return 201, {
            "attachments": {
                "start": 0,
                "limit": len(added),
                "size": len(added),
                "isLastPage": True,
                "values": added,
            },
            "comment": self._comment_dto(comment),
        }

    def _report_accounts(self, _query: dict[str, str], body: Any) -> tuple[int, Any]:
        """Up to 90 accounts with the time their data was stored; 204 when nothing is to
        be done, else 200 naming the closed and updated ones. Apps only (their JWT)."""
        if self._auth_scheme != "JWT":
            return 403, {"errorMessage": "only an app may report personal data"}
        accounts = body.get("accounts") if isinstance(body, dict) else None
        if not isinstance(accounts, list) or not 0 < len(accounts) <= 90:
            return 400, {"errorMessage": "accounts: between 1 and 90 are allowed"}
        for account in accounts:
            try:
                datetime.fromisoformat(str(account["updatedAt"]).replace("Z", "+00:00"))
                assert isinstance(account["accountId"], str)
            except (KeyError, TypeError, ValueError, AssertionError):
                return 400, {"errorMessage": "each account needs an accountId and updatedAt"}
        self.reported.append(accounts)
        answer = [
            {"accountId": a["accountId"], "status": status}
            for a in accounts
            for status, ids in (
                ("closed", self.closed_accounts),
                ("updated", self.updated_accounts),
            )
            if a["accountId"] in ids
        ]
        return (200, {"accounts": answer}) if answer else (204, None)

    def _list_desks(self, query: dict[str, str], _body: Any) -> tuple[int, Any]:
        return 200, self._page([d.dto(self.base_url) for d in self.desks.values()], query)

    def _get_desk(self, _query: dict[str, str], _body: Any, desk_id: str) -> tuple[int, Any]:
        desk = self.desks.get(desk_id)
        return (
            (200, desk.dto(self.base_url))
            if desk
            else (404, {"errorMessage": "Service desk not found"})
        )

    def _request_types(self, query: dict[str, str], _body: Any, desk_id: str) -> tuple[int, Any]:
        desk = self.desks.get(desk_id)
        if desk is None:
            return 404, {"errorMessage": "Service desk not found"}
        wanted = query.get("restrictionStatus")
        types = [
            t for t in desk.request_types if not wanted or t["restrictionStatus"] == wanted.upper()
        ]
        return 200, self._page(types, query)

    def _create_customer(self, _query: dict[str, str], body: Any) -> tuple[int, Any]:
        if self.race_customer is not None:
            # Someone else created the customer between the app's search and this create.
            self.accounts[self.race_customer.account_id] = self.race_customer
            self.race_customer = None
        email = str(body["email"])
        if any(a.email.casefold() == email.casefold() for a in self.accounts.values()):
            return 400, {"errorMessage": "An account already exists for this email"}
        account = self.add_account(email, str(body.get("displayName") or email))
        dto = account.user_dto() | {
            "_links": {"self": f"{self.base_url}/rest/api/3/user?accountId={account.account_id}"}
        }
        return 201, dto

    def _add_customers(self, _query: dict[str, str], body: Any, desk_id: str) -> tuple[int, Any]:
        desk = self.desks.get(desk_id)
        if desk is None:
            return 404, {"errorMessage": "Service desk not found"}
        for account_id in body.get("accountIds", []):
            if account_id not in self.accounts:
                return 400, {"errorMessage": f"unknown account {account_id}"}
            desk.customers.add(account_id)
        return 204, None

    def _create_organization(self, _query: dict[str, str], body: Any) -> tuple[int, Any]:
        if any(o["name"] == body["name"] for o in self.organizations.values()):
            return 400, {"errorMessage": "An organization with this name already exists"}
        organization_id = next(self._ids)
        self.organizations[organization_id] = {
            "id": str(organization_id),
            "name": body["name"],
            "members": set(),
        }
        return 201, {
            "id": str(organization_id),
            "name": body["name"],
            "_links": {
                "self": f"{self.base_url}/rest/servicedeskapi/organization/{organization_id}"
            },
        }

    def _org(self, organization_id: str) -> dict[str, Any] | None:
        return self.organizations.get(int(organization_id))

    def _add_org_users(
        self, _query: dict[str, str], body: Any, organization_id: str
    ) -> tuple[int, Any]:
        org = self._org(organization_id)
        if org is None:
            return 404, {"errorMessage": "Organization not found"}
        org["members"].update(body.get("accountIds", []))
        return 204, None

    def _remove_org_users(
        self, _query: dict[str, str], body: Any, organization_id: str
    ) -> tuple[int, Any]:
        org = self._org(organization_id)
        if org is None:
            return 404, {"errorMessage": "Organization not found"}
        org["members"].difference_update(body.get("accountIds", []))
        return 204, None

    def _add_desk_org(self, _query: dict[str, str], body: Any, desk_id: str) -> tuple[int, Any]:
        desk = self.desks.get(desk_id)
        if desk is None or int(body["organizationId"]) not in self.organizations:
            return 404, {"errorMessage": "Not found"}
        desk.organizations.add(int(body["organizationId"]))
        return 204, None

    def _user_search(self, query: dict[str, str], _body: Any) -> tuple[int, Any]:
        # Jira's search is fuzzy: a prefix of the email or the name finds the account.
        text = query.get("query", "").casefold()
        assert text, "user search needs a query"
        found = [
            a.user_dto() | {"accountType": a.account_type}
            for a in self.accounts.values()
            if a.email.casefold().startswith(text.split("@")[0])
            or text in a.display_name.casefold()
        ]
        return 200, found

    def _myself(self, _query: dict[str, str], _body: Any) -> tuple[int, Any]:
        if self.service_account:
            return 200, {
                "accountId": "557058:service-account",
                "displayName": "Support bot",
                "accountType": "atlassian",
            }
        return 200, {
            "accountId": "557058:app-user",
            "displayName": "Portal SSO",
            "accountType": "app",
        }

    def _permissions_check(self, _query: dict[str, str], body: Any) -> tuple[int, Any]:
        assert set(body) <= {"accountId", "globalPermissions", "projectPermissions"}, body
        granted = [
            p for p in body.get("globalPermissions", []) if body.get("accountId") in self.admins
        ]
        return 200, {"globalPermissions": granted, "projectPermissions": []}

    # --- the portal's endpoints ------------------------------------------------------------
    def _date(self) -> dict[str, Any]:
        return {
            "iso8601": "2026-11-27T12:00:00+0000",
            "jira": "2026-11-27T12:00:00.000+0000",
            "friendly": "Today 12:00 PM",
            "epochMillis": 1795780800000,
        }

    def _groups(self, query: dict[str, str], _body: Any, desk_id: str) -> tuple[int, Any]:
        desk = self.desks.get(desk_id)
        return (
            (200, self._page(desk.groups, query))
            if desk
            else (404, {"errorMessage": "Service desk not found"})
        )

    def _request_type(
        self, _query: dict[str, str], _body: Any, desk_id: str, type_id: str
    ) -> tuple[int, Any]:
        desk = self.desks.get(desk_id)
        found = next((t for t in desk.request_types if t["id"] == type_id), None) if desk else None
        return (200, found) if found else (404, {"errorMessage": "Request type not found"})

    def _articles(self, query: dict[str, str], _body: Any, desk_id: str) -> tuple[int, Any]:
        """Articles whose title or text holds any word of ``query``, those with the most
        first (JSM's search ranks by relevance; the fake counts words). As the spec has it: ``source`` names only its type,
        and ``content.iframeSrc`` is where the body is."""
        desk = self.desks.get(desk_id)
        if desk is None:
            return 404, {"errorMessage": "Service desk not found"}
        words = query.get("query", "").lower().split()

        def hits(title: str, body: str) -> int:
            return sum(w in f"{title} {body}".lower() for w in words)

        ranked = sorted(desk.articles.items(), key=lambda item: -hits(*item[1]))
        found = [
            {
                "title": title,
                "excerpt": re.sub(r"<[^>]+>", "", body)[:120],
                "source": {"type": "confluence"},
                "content": {
                    "iframeSrc": f"{self.base_url}/rest/servicedeskapi/knowledgebase/article/view/{page_id}"
                },
            }
            for page_id, (title, body) in ranked
            if hits(title, body)
        ]
        return 200, self._page(found, query)

    def _article_view(self, _query: dict[str, str], _body: Any, page_id: str) -> tuple[int, Any]:
        """The spec gives no shape but "string"; the body is what ``iframeSrc`` frames, so the
        fake answers it as HTML (``RawBody``), which is what an iframe source is."""
        for desk in self.desks.values():
            if page_id in desk.articles:
                return 200, RawBody(desk.articles[page_id][1], "text/html;charset=UTF-8")
        return 404, {"errorMessage": "Article not found"}

    def _request_type_permissions(
        self, _query: dict[str, str], body: Any, desk_id: str
    ) -> tuple[int, Any]:
        """As the spec describes it: unknown ids are ignored, more than 50 is a 400; an open
        request type is for every customer, a restricted one for those it names."""
        desk = self.desks.get(desk_id)
        if desk is None:
            return 404, {"errorMessage": "Service desk not found"}
        ids = [str(i) for i in body.get("requestTypeIds", [])]
        if len(ids) > 50:
            return 400, {"errorMessage": "At most 50 request types can be checked"}
        account = body.get("accountId")
        allowed = [
            int(t["id"])
            for t in desk.request_types
            if t["id"] in ids
            and (t["restrictionStatus"] == "OPEN" or account in desk.allowed.get(t["id"], set()))
        ]
        return 200, {"canCreateRequest": allowed, "canAdminister": []}

    def _fields(
        self, _query: dict[str, str], _body: Any, desk_id: str, type_id: str
    ) -> tuple[int, Any]:
        desk = self.desks.get(desk_id)
        if desk is None or type_id not in desk.fields:
            return 404, {"errorMessage": "Request type not found"}
        return 200, {
            "requestTypeFields": desk.fields[type_id],
            "canRaiseOnBehalfOf": True,
            "canAddRequestParticipants": True,
        }

    def _create_request(self, _query: dict[str, str], body: Any) -> tuple[int, Any]:
        desk = self.desks.get(str(body.get("serviceDeskId")))
        if desk is None or body.get("requestTypeId") not in desk.fields:
            return 400, {"errorMessage": "The request type does not exist in this service desk"}
        if body.get("raiseOnBehalfOf") not in desk.customers:
            return 400, {"errorMessage": "The reporter is not a customer of this service desk"}
        values = body.get("requestFieldValues") or {}
        for f in desk.fields[body["requestTypeId"]]:
            if f["required"] and not values.get(f["fieldId"]):
                return 400, {"errorMessage": f"{f['fieldId']}: {f['name']} is required."}
            if f["validValues"] and f["fieldId"] in values:
                chosen = values[f["fieldId"]]
                ids = [c["id"] for c in chosen] if isinstance(chosen, list) else [chosen["id"]]
                if any(i not in {v["value"] for v in f["validValues"]} for i in ids):
                    return 400, {"errorMessage": f"{f['fieldId']}: invalid option"}
                child = chosen.get("child") if isinstance(chosen, dict) else None
                if child is not None:
                    parent = next(v for v in f["validValues"] if v["value"] == chosen["id"])
                    if child.get("id") not in {c["value"] for c in parent["children"]}:
                        return 400, {"errorMessage": f"{f['fieldId']}: invalid child option"}
        number = len(self.requests) + 1
        key = f"{desk.project_key}-{number}"
        self.requests[key] = {
            "key": key,
            "id": str(20000 + number),
            "desk_id": desk.id,
            "request_type_id": body["requestTypeId"],
            "reporter": body["raiseOnBehalfOf"],
            "values": values,
            "status": ("Waiting for support", "indeterminate"),
            "comments": [],
        }
        return 201, self._request_dto(self.requests[key])

    @staticmethod
    def _shown(field: dict[str, Any] | None, value: Any) -> Any:
        """A field's value as Jira answers it: options with their labels ("value"), and a
        cascading select's child inside its parent."""
        if field is None or not field["validValues"]:
            return value
        if isinstance(value, list):
            return [FakeJira._shown(field, v) for v in value]
        parent = next((v for v in field["validValues"] if v["value"] == value.get("id")), None)
        if parent is None:
            return value
        shown = {"id": parent["value"], "value": parent["label"]}
        child_id = (value.get("child") or {}).get("id")
        child = next((c for c in parent["children"] if c["value"] == child_id), None)
        if child is not None:
            shown["child"] = {"id": child["value"], "value": child["label"]}
        return shown

    def _request_dto(self, item: dict[str, Any]) -> dict[str, Any]:
        desk = self.desks[item["desk_id"]]
        fields = {f["fieldId"]: f for f in desk.fields.get(item["request_type_id"], [])}
        labels = {field_id: f["name"] for field_id, f in fields.items()}
        reporter = self.accounts.get(item["reporter"])
        request_type = next(t for t in desk.request_types if t["id"] == item["request_type_id"])
        return {
            "issueId": item["id"],
            "issueKey": item["key"],
            "requestTypeId": item["request_type_id"],
            "serviceDeskId": item["desk_id"],
            "createdDate": self._date(),
            "reporter": reporter.user_dto()
            if reporter
            else {"accountId": item["reporter"], "displayName": "?"},
            "requestFieldValues": [
                {"fieldId": k, "label": labels.get(k, k), "value": self._shown(fields.get(k), v)}
                for k, v in item["values"].items()
            ],
            "currentStatus": {
                "status": item["status"][0],
                "statusCategory": item["status"][1].upper(),
                "statusDate": self._date(),
            },
            "requestType": request_type,
        }

    def _jql(self, expression: str, item: dict[str, Any]) -> bool:
        expression = expression.strip()
        ands = _split_top(expression, " AND ")
        if len(ands) > 1:
            return all(self._jql(part, item) for part in ands)
        if expression.startswith("(") and expression.endswith(")"):
            return any(self._jql(part, item) for part in _split_top(expression[1:-1], " OR "))
        clauses: list[tuple[str, Callable[[str], bool]]] = [
            (r'project = "([A-Z0-9_]+)"', lambda v: self.desks[item["desk_id"]].project_key == v),
            (r'issuekey = "([^"]+)"', lambda v: item["key"] == v),
            (r"issuekey = (EMPTY)", lambda _v: False),
            (r'reporter = "([^"\\]+)"', lambda v: item["reporter"] == v),
            (
                r'"Request participants" = "([^"\\]+)"',
                lambda v: v in item.get("participants", set()),
            ),
            (
                r"Organizations in \(([0-9, ]+)\)",
                lambda v: bool({int(i) for i in v.split(",")} & item.get("organizations", set())),
            ),
        ]
        for pattern, test in clauses:
            match = re.fullmatch(pattern, expression)
            if match:
                return test(match.group(1))
        raise AssertionError(f"unexpected JQL: {expression}")

    # The platform API's view of JSM's Organizations field (Jira Cloud platform REST v3, by
    # hand): its id is the site's own; its value on an issue is a list of organizations, set
    # with a list of their ids (assumed from Atlassian's examples for this field).
    ORGANIZATIONS_FIELD = "customfield_10002"

    def _request_type_icon(
        self, query: dict[str, str], _body: Any, icon_id: str
    ) -> tuple[int, Any]:
        """Jira's avatar service for request type icons (platform REST, by hand): a PNG when
        ``format=png``, an SVG otherwise."""
        if not icon_id.startswith("105"):
            return 404, {"errorMessages": ["Avatar not found"]}
        if query.get("format") == "png":
            return 200, RawBody(THUMBNAIL_PNG, "image/png")
        return 200, RawBody(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")

    def _fields_of_site(self, _query: dict[str, str], _body: Any) -> tuple[int, Any]:
        return 200, [
            {"id": "summary", "name": "Summary", "schema": {"type": "string", "system": "summary"}},
            {
                "id": self.ORGANIZATIONS_FIELD,
                "name": "Organizations",
                "custom": True,
                "schema": {
                    "type": "array",
                    "items": "sd-customerorganization",
                    "custom": "com.atlassian.servicedesk:sd-customer-organizations",
                    "customId": 10002,
                },
            },
        ]

    def _issue(self, query: dict[str, str], _body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {
                "errorMessages": ["Issue does not exist or you do not have permission to see it."]
            }
        fields: dict[str, Any] = {}
        if self.ORGANIZATIONS_FIELD in query.get("fields", "").split(","):
            fields[self.ORGANIZATIONS_FIELD] = [
                {"id": i, "name": self.organizations[i]["name"]}
                for i in sorted(item.get("organizations", set()))
            ]
        return 200, {"id": item["id"], "key": key, "fields": fields}

    def _edit_issue(self, _query: dict[str, str], body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {"errorMessages": ["Issue does not exist"]}
        assert set(body) == {"fields"}, body
        assert set(body["fields"]) == {self.ORGANIZATIONS_FIELD}, body
        ids = body["fields"][self.ORGANIZATIONS_FIELD]
        if not all(isinstance(i, int) and i in self.organizations for i in ids):
            return 400, {"errors": {self.ORGANIZATIONS_FIELD: "Organization does not exist"}}
        item["organizations"] = set(ids)
        return 204, None

    def _organizations_of(self, query: dict[str, str], _body: Any) -> tuple[int, Any]:
        account = query.get("accountId")
        values = [
            {"id": org["id"], "name": org["name"]}
            for org in self.organizations.values()
            if not account or account in org["members"]
        ]
        return 200, self._page(values, query)

    def _participants_page(self, item: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        users = [self.accounts[a].user_dto() for a in sorted(item.get("participants", set()))]
        return self._page(users, query)

    def _participants(self, query: dict[str, str], _body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {"errorMessage": "Request not found"}
        return 200, self._participants_page(item, query)

    def _add_participants(self, _query: dict[str, str], body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {"errorMessage": "Request not found"}
        ids = body.get("accountIds") or []
        if any(a not in self.accounts for a in ids):
            return 400, {"errorMessage": "A user to be added does not exist"}
        item.setdefault("participants", set()).update(ids)
        return 200, self._participants_page(item, {})

    def _remove_participants(self, _query: dict[str, str], body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {"errorMessage": "Request not found"}
        ids = set(body.get("accountIds") or [])
        if not ids <= item.get("participants", set()):
            return 400, {"errorMessage": "A user to be removed is not a participant"}
        item["participants"] -= ids
        return 200, self._participants_page(item, {})

    # A request type's customer transitions, by status: (id, name, to status, its category).
    WORKFLOW: ClassVar[dict[str, list[tuple[str, str, str, str]]]] = {
        "Waiting for support": [
            ("11", "Resolve this request", "Resolved", "done"),
            ("12", "Cancel request", "Canceled", "done"),
        ],
        "Resolved": [("21", "Reopen", "Waiting for support", "indeterminate")],
        "Canceled": [("21", "Reopen", "Waiting for support", "indeterminate")],
    }

    def _transitions(self, query: dict[str, str], _body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {"errorMessage": "Request not found"}
        offered = [{"id": t, "name": n} for t, n, *_ in self.WORKFLOW.get(item["status"][0], [])]
        return 200, self._page(offered, query)

    def _transition(self, _query: dict[str, str], body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {"errorMessage": "Request not found"}
        found = next(
            (t for t in self.WORKFLOW.get(item["status"][0], []) if t[0] == body.get("id")), None
        )
        if found is None:
            return 400, {"errorMessage": "The transition ID is invalid"}
        item["status"] = (found[2], found[3])
        comment = (body.get("additionalComment") or {}).get("body")
        if comment:
            item["comments"].append(
                {
                    "id": str(len(item["comments"])),
                    "body": comment,
                    "public": True,
                    "author": "557058:app-user",
                }
            )
        return 204, None

    def _feedback(self, _query: dict[str, str], _body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None or "feedback" not in item:
            return 404, {"errorMessage": "No feedback for this request"}
        return 200, item["feedback"]

    def _rate(self, _query: dict[str, str], body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {"errorMessage": "Request not found"}
        if item["status"][1] != "done" or not 1 <= int(body.get("rating", 0)) <= 5:
            return 400, {"errorMessage": "Feedback can be given on a resolved request, 1 to 5"}
        item["feedback"] = body
        return 201, body

    def _approvals(self, query: dict[str, str], _body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {"errorMessage": "Request not found"}
        values = [
            {
                "id": str(index),
                "name": name,
                "finalDecision": decision,
                "canAnswerApproval": False,
                "approvers": [
                    {"approver": self.accounts[who].user_dto(), "approverDecision": theirs}
                    for who, theirs in approvers
                ],
                "createdDate": self._date(),
            }
            for index, (name, decision, approvers) in enumerate(item.get("approvals", []))
        ]
        return 200, self._page(values, query)

    def _get_request(self, _query: dict[str, str], _body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        return (
            (200, self._request_dto(item)) if item else (404, {"errorMessage": "Request not found"})
        )

    def add_file(self, filename: str, media_type: str, content: bytes) -> str:
        """A file stored in Jira; its id (put it in a comment's ``files``)."""
        attachment_id = str(next(self._ids))
        self.files[attachment_id] = (filename, media_type, content)
        return attachment_id

    def _attachment_dto(self, key: str, attachment_id: str) -> dict[str, Any]:
        filename, media_type, content = self.files[attachment_id]
        base = f"{self.base_url}/rest/servicedeskapi/request/{key}/attachment/{attachment_id}"
        return {
            "filename": filename,
            "mimeType": media_type,
            "size": len(content),
            "created": self._date(),
            "_links": {
                "content": base,
                "thumbnail": f"{base}/thumbnail",
                "jiraRest": f"{self.base_url}/rest/api/2/attachment/{attachment_id}",
            },
        }

    def _attachment_content(
        self, query: dict[str, str], _body: Any, attachment_id: str
    ) -> tuple[int, Any]:
        """Jira's platform attachment download: with ``redirect=false`` the bytes themselves;
        otherwise a 303 to the media service (which an app must not follow blindly)."""
        if attachment_id not in self.files:
            return 404, {"errorMessages": ["The attachment does not exist"]}
        if query.get("redirect") != "false":
            return 303, RawBody(
                b"", "text/plain", (("location", "https://api.media.atlassian.com/file/x"),)
            )
        _filename, media_type, content = self.files[attachment_id]
        return 200, RawBody(content, media_type)

    def _attachment_thumbnail(
        self, query: dict[str, str], _body: Any, attachment_id: str
    ) -> tuple[int, Any]:
        if attachment_id not in self.files or query.get("redirect") != "false":
            return 404, {"errorMessages": ["No thumbnail"]}
        return 200, RawBody(THUMBNAIL_PNG, "image/png")

    def _comment_dto(self, comment: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        author = self.accounts.get(comment["author"])
        attachments = (
            {
                "attachments": self._page(
                    [self._attachment_dto(key, i) for i in comment.get("files", [])], {}
                )
            }
            if key is not None
            else {}
        )
        return {
            **attachments,
            "id": comment["id"],
            "body": comment["body"],
            "public": comment["public"],
            "created": self._date(),
            "author": author.user_dto()
            if author
            else {"accountId": comment["author"], "displayName": "Support agent"},
        }

    def _comments(self, query: dict[str, str], _body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {"errorMessage": "Request not found"}
        comments = [
            c
            for c in item["comments"]
            if (c["public"] and query.get("public", "true") == "true")
            or (
                not c["public"]
                and (self.leaks_internal_comments or query.get("internal", "true") == "true")
            )
        ]
        expand = key if "attachment" in query.get("expand", "").split(",") else None
        return 200, self._page([self._comment_dto(c, expand) for c in comments], query)

    def _add_comment(self, _query: dict[str, str], body: Any, key: str) -> tuple[int, Any]:
        item = self.requests.get(key)
        if item is None:
            return 404, {"errorMessage": "Request not found"}
        comment = {
            "id": str(len(item["comments"]) + 1),
            "body": body["body"],
            "public": body.get("public", True),
            "author": "557058:app-user",
        }
        item["comments"].append(comment)
        return 201, self._comment_dto(comment)

    def _search(self, _query: dict[str, str], body: Any) -> tuple[int, Any]:
        """Jira's JQL search, for the JQL the portal sends: ``project``, ``issuekey``,
        ``reporter``, ``"Request participants"`` and ``Organizations in (ids)`` clauses joined
        by AND and by OR in parentheses, then ``ORDER BY created DESC``. (That Jira Cloud
        takes an account id for the participants field and organization ids for
        ``Organizations`` is assumed from its JQL reference, not checked here.) Anything else
        fails the test."""
        assert set(body) <= {"jql", "fields", "maxResults", "nextPageToken"}, body
        jql = body["jql"].removesuffix(" ORDER BY created DESC")
        found = [r for r in reversed(list(self.requests.values())) if self._jql(jql, r)]
        token = body.get("nextPageToken") or "0"
        if not token.isdigit():
            return 400, {"errorMessages": ["The next page token is invalid or has expired."]}
        start = int(token)
        size = int(body.get("maxResults", 50))
        chunk = found[start : start + size]
        issues = [
            {
                "id": r["id"],
                "key": r["key"],
                "fields": {
                    "summary": r["values"].get("summary", ""),
                    "created": "2026-11-27T12:00:00.000+0000",
                    "status": {"name": r["status"][0], "statusCategory": {"key": r["status"][1]}},
                },
            }
            for r in chunk
        ]
        last = start + size >= len(found)
        return 200, {"issues": issues, "isLast": last} | (
            {} if last else {"nextPageToken": str(start + size)}
        )


def _split_top(expression: str, separator: str) -> list[str]:
    """``expression`` split at ``separator`` outside parentheses."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(expression):
        if expression[i] == "(":
            depth += 1
        elif expression[i] == ")":
            depth -= 1
        elif depth == 0 and expression.startswith(separator, i):
            parts.append(expression[start:i])
            i += len(separator)
            start = i
            continue
        i += 1
    parts.append(expression[start:])
    return parts


def _multipart(request: httpx.Request) -> list[tuple[str, str, str, bytes]]:
    """(part name, file name, content type, content) of each part of a multipart body."""
    from email.parser import BytesParser
    from email.policy import HTTP

    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    parts = []
    for part in message.iter_parts():
        disposition = part.get("content-disposition", "")
        params = dict(part.get_params(header="content-disposition") or [])
        assert disposition.startswith("form-data"), disposition
        payload = part.get_payload(decode=True)
        parts.append(
            (
                str(params.get("name", "")),
                str(params.get("filename", "")),
                part.get_content_type(),
                payload if isinstance(payload, bytes) else b"",
            )
        )
    return parts
