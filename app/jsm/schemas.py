"""Jira's JSON, parsed at the edge of ``jsm/`` into typed models (Pydantic), as Atlassian's
JSM spec (``tests/data/jsm-servicedesk-openapi.json``) and the platform REST reference shape
it. Only the fields the app reads are declared; the rest is ignored. An answer that does not
fit becomes a ``JiraError`` (a clear 502), never an AttributeError deep in a page."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from app.errors import JiraError


class _Jira(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class DateDTO(_Jira):
    iso8601: str | None = None
    friendly: str | None = None

    @property
    def shown(self) -> str:
        return self.friendly or self.iso8601 or ""


class UserRef(_Jira):
    account_id: str | None = Field(default=None, alias="accountId")
    display_name: str | None = Field(default=None, alias="displayName")


class StatusDTO(_Jira):
    status: str | None = None
    status_category: str | None = Field(default=None, alias="statusCategory")


class FieldValueDTO(_Jira):
    field_id: str | None = Field(default=None, alias="fieldId")
    label: str | None = None
    value: Any = None


class NamedDTO(_Jira):
    name: str | None = None


class NamedBody(_Jira):
    body: str | None = None


class CustomerRequestDTO(_Jira):
    """``GET /rest/servicedeskapi/request/{key}?expand=requestType``."""

    service_desk_id: str | int | None = Field(default=None, alias="serviceDeskId")
    reporter: UserRef | None = None
    current_status: StatusDTO | None = Field(default=None, alias="currentStatus")
    created_date: DateDTO | None = Field(default=None, alias="createdDate")
    request_type: NamedDTO | None = Field(default=None, alias="requestType")
    request_field_values: list[FieldValueDTO] = Field(
        default_factory=list, alias="requestFieldValues"
    )
    summary: str | None = None


class AttachmentLinksDTO(_Jira):
    content: str | None = None
    jira_rest: str | None = Field(default=None, alias="jiraRest")


class AttachmentDTO(_Jira):
    """A file (the spec gives it no id: its links carry it)."""

    filename: str = ""
    mime_type: str | None = Field(default=None, alias="mimeType")
    size: int | None = None
    links: AttachmentLinksDTO | None = Field(default=None, alias="_links")


class AttachmentPageDTO(_Jira):
    values: list[AttachmentDTO] = Field(default_factory=list)


class CommentDTO(_Jira):
    """One of ``GET /rest/servicedeskapi/request/{key}/comment``'s values."""

    public: bool | None = None
    attachments: AttachmentPageDTO | None = None
    body: str | None = None
    author: UserRef | None = None
    created: DateDTO | None = None


class StatusCategoryDTO(_Jira):
    key: str | None = None


class IssueStatusDTO(_Jira):
    name: str | None = None
    status_category: StatusCategoryDTO | None = Field(default=None, alias="statusCategory")


class IssueFieldsDTO(_Jira):
    summary: str | None = None
    status: IssueStatusDTO | None = None
    created: str | None = None


class IssueDTO(_Jira):
    key: str
    fields: IssueFieldsDTO = Field(default_factory=IssueFieldsDTO)


class SearchPageDTO(_Jira):
    """``POST /rest/api/3/search/jql``."""

    issues: list[IssueDTO] = Field(default_factory=list)
    next_page_token: str | None = Field(default=None, alias="nextPageToken")
    is_last: bool | None = Field(default=None, alias="isLast")


# --- service desks and request types (servicedeskapi) ----------------------------------------

Id = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
"""An id, which JSM sends as a string and some of its older endpoints as a number."""


class ServiceDeskDTO(_Jira):
    """One of ``GET /rest/servicedeskapi/servicedesk``'s values."""

    id: Id = Field(min_length=1)
    project_id: Id = Field(default="", alias="projectId")
    project_key: str = Field(default="", alias="projectKey")
    project_name: str = Field(default="", alias="projectName")


class RequestTypeIconDTO(_Jira):
    id: Id | None = None


class RequestTypeDTO(_Jira):
    """A request type (``.../servicedesk/{id}/requesttype`` and ``.../requesttype/{id}``)."""

    id: Id = Field(min_length=1)
    name: str = ""
    description: str | None = None
    group_ids: list[Id] = Field(default_factory=list, alias="groupIds")
    portal_id: Id | None = Field(default=None, alias="portalId")
    restriction_status: str | None = Field(default=None, alias="restrictionStatus")
    icon: RequestTypeIconDTO | None = None


class ParticipantDTO(_Jira):
    account_id: str = Field(min_length=1, alias="accountId")
    display_name: str | None = Field(default=None, alias="displayName")
    email_address: str | None = Field(default=None, alias="emailAddress")


class TransitionDTO(_Jira):
    """A customer transition (``.../request/{key}/transition``)."""

    id: Id = Field(min_length=1)
    name: str = ""


class FeedbackDTO(_Jira):
    rating: int | None = None
    comment: NamedBody | None = None


class ApproverDTO(_Jira):
    approver: UserRef | None = None
    approver_decision: str | None = Field(default=None, alias="approverDecision")


class ApprovalDTO(_Jira):
    """An approval on a request (``.../request/{key}/approval``)."""

    id: Id = Field(min_length=1)
    name: str = ""
    final_decision: str | None = Field(default=None, alias="finalDecision")
    approvers: list[ApproverDTO] = Field(default_factory=list)


class ArticleContentDTO(_Jira):
    iframe_src: str | None = Field(default=None, alias="iframeSrc")


class ArticleDTO(_Jira):
    """A knowledge base article found by ``.../knowledgebase/article?query=``."""

    title: str = ""
    excerpt: str | None = None
    content: ArticleContentDTO | None = None


class RequestTypePermissionsDTO(_Jira):
    """``POST .../servicedesk/{id}/requesttype/permissions/check``."""

    can_create_request: list[Id] = Field(default_factory=list, alias="canCreateRequest")


class RequestTypeGroupDTO(_Jira):
    id: Id = Field(min_length=1)
    name: str = ""


class FirstPageDTO(_Jira):
    """A paged answer's first page, for endpoints read for one value."""

    values: list[RequestTypeDTO] = Field(default_factory=list)


class JiraSchemaDTO(_Jira):
    type: str | None = None
    items: str | None = None
    system: str | None = None
    custom: str | None = None


class ValidValueDTO(_Jira):
    value: Id | None = None
    label: str | None = None
    children: list[ValidValueDTO] = Field(default_factory=list)


class RequestTypeFieldDTO(_Jira):
    field_id: str = Field(min_length=1, alias="fieldId")
    name: str | None = None
    description: str | None = None
    required: bool = False
    visible: bool = True
    jira_schema: JiraSchemaDTO = Field(default_factory=JiraSchemaDTO, alias="jiraSchema")
    valid_values: list[ValidValueDTO] = Field(default_factory=list, alias="validValues")


class RequestTypeFieldsDTO(_Jira):
    """``GET .../servicedesk/{id}/requesttype/{id}/field``."""

    request_type_fields: list[RequestTypeFieldDTO] = Field(
        default_factory=list, alias="requestTypeFields"
    )


class CreatedRequestDTO(_Jira):
    """``POST /rest/servicedeskapi/request``'s answer."""

    issue_key: str = Field(min_length=1, alias="issueKey")


class TemporaryAttachmentDTO(_Jira):
    temporary_attachment_id: Id = Field(min_length=1, alias="temporaryAttachmentId")


class TemporaryAttachmentsDTO(_Jira):
    """``POST .../servicedesk/{id}/attachTemporaryFile``'s answer."""

    temporary_attachments: list[TemporaryAttachmentDTO] = Field(
        default_factory=list, alias="temporaryAttachments"
    )


# --- customers, users, organizations, permissions --------------------------------------------


class CreatedCustomerDTO(_Jira):
    """``POST /rest/servicedeskapi/customer``'s answer."""

    account_id: str = Field(min_length=1, alias="accountId")


class OrganizationDTO(_Jira):
    """An organization (``POST /rest/servicedeskapi/organization``'s answer, and each of
    ``GET /rest/servicedeskapi/organization``'s values)."""

    id: Id = Field(min_length=1)
    name: str = ""


class PlatformUserDTO(_Jira):
    """One of ``GET /rest/api/3/user/search``'s users (the email only where the user's
    privacy settings or the app's access show it)."""

    account_id: str | None = Field(default=None, alias="accountId")
    email_address: str | None = Field(default=None, alias="emailAddress")


class MyselfDTO(_Jira):
    """``GET /rest/api/3/myself``."""

    account_id: str | None = Field(default=None, alias="accountId")
    display_name: str | None = Field(default=None, alias="displayName")


class ServerInfoDTO(_Jira):
    """``GET /rest/api/3/serverInfo``."""

    base_url: str | None = Field(default=None, alias="baseUrl")


class PermissionsDTO(_Jira):
    """``POST /rest/api/3/permissions/check``'s answer."""

    global_permissions: list[str] = Field(default_factory=list, alias="globalPermissions")


class AccountStatusDTO(_Jira):
    account_id: str | None = Field(default=None, alias="accountId")
    status: str | None = None


class PersonalDataReportDTO(_Jira):
    """``POST /rest/atlassian-connect/latest/report/accounts``'s answer (200)."""

    accounts: list[AccountStatusDTO] = Field(default_factory=list)


M = TypeVar("M", bound=BaseModel)


def parse_list(model: type[M], value: Any, what: str) -> list[M]:
    """A JSON array of ``model``, or a ``JiraError``."""
    if not isinstance(value, list):
        raise JiraError(f"Jira returned {what} of an unexpected shape")
    return [parse(model, item, what) for item in value]


def parse(model: type[M], value: Any, what: str) -> M:
    """``value`` as ``model``, or a ``JiraError`` saying which answer did not fit."""
    try:
        return model.model_validate(value)
    except ValidationError as e:
        raise JiraError(f"Jira returned {what} of an unexpected shape") from e
