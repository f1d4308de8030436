"""Jira's JSON, parsed at the edge of ``jsm/`` into typed models (Pydantic), as Atlassian's
JSM spec (``tests/data/jsm-servicedesk-openapi.json``) and the platform REST reference shape
it. Only the fields the app reads are declared; the rest is ignored. An answer that does not
fit becomes a ``JiraError`` (a clear 502), never an AttributeError deep in a page."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


class CommentDTO(_Jira):
    """One of ``GET /rest/servicedeskapi/request/{key}/comment``'s values."""

    public: bool | None = None
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


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], value: Any, what: str) -> M:
    """``value`` as ``model``, or a ``JiraError`` saying which answer did not fit."""
    try:
        return model.model_validate(value)
    except ValidationError as e:
        raise JiraError(f"Jira returned {what} of an unexpected shape") from e
