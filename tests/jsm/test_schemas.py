"""Jira's answers are parsed at the edge into typed models: one of an unexpected shape is a
clear JiraError (a 502 page saying Jira answered oddly), not an AttributeError deep in a page."""

from __future__ import annotations

import httpx
import pytest

from app.errors import JiraError
from app.jsm import portal_api
from app.jsm.client import JiraClient
from app.jsm.schemas import CustomerRequestDTO, parse

BASE = "https://acme.atlassian.net"


def jira_answering(payload: object) -> JiraClient:
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, json=payload))
    return JiraClient(httpx.AsyncClient(transport=transport), base_url=BASE, auth=httpx.Auth())


async def test_a_request_whose_reporter_is_not_an_object_is_a_jira_error() -> None:
    jira = jira_answering({"serviceDeskId": "7", "reporter": "557058:someone"})
    with pytest.raises(JiraError) as refused:
        await portal_api.customer_request(jira, key="ITH-1", desk_id="7", account_id="a")
    assert refused.value.message == "Jira returned a request of an unexpected shape"
    assert refused.value.status_code == 502


async def test_a_search_answer_without_issue_keys_is_a_jira_error() -> None:
    jira = jira_answering({"issues": [{"fields": {"summary": "no key"}}]})
    with pytest.raises(JiraError, match="search result"):
        await portal_api.my_requests(jira, project_key="ITH", account_id="a", page_token=None)


def test_fields_the_app_does_not_read_are_ignored() -> None:
    request = parse(
        CustomerRequestDTO,
        {"serviceDeskId": 7, "reporter": {"accountId": "a", "emailAddress": "x"}, "new": 1},
        "a request",
    )
    assert request.reporter is not None
    assert request.reporter.account_id == "a"
