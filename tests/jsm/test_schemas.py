"""Jira's answers are parsed at the edge into typed models: one of an unexpected shape is a
clear JiraError (a 502 page saying Jira answered oddly), not an AttributeError deep in a page."""

from __future__ import annotations

import httpx
import pytest

from app.errors import JiraError
from app.identity import MappedIdentity
from app.jsm import portal_api, provisioning
from app.jsm.client import JiraClient
from app.jsm.schemas import CustomerRequestDTO, parse

BASE = "https://acme.atlassian.net"


def jira_answering(payload: object) -> JiraClient:
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, json=payload))
    return JiraClient(httpx.AsyncClient(transport=transport), base_url=BASE, auth=httpx.Auth())


async def test_a_request_whose_reporter_is_not_an_object_is_a_jira_error() -> None:
    jira = jira_answering({"serviceDeskId": "7", "reporter": "557058:someone"})
    with pytest.raises(JiraError) as refused:
        await portal_api.customer_request(
            jira, key="ITH-1", desk_id="7", account_id="a", project_key="ITH"
        )
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


async def test_a_user_search_that_is_not_a_list_is_a_jira_error() -> None:
    jira = jira_answering({"values": []})
    with pytest.raises(JiraError, match="user search of an unexpected shape"):
        await provisioning.find_account_by_email(jira, "ann@example.com")


async def test_a_created_customer_without_an_account_id_is_a_jira_error() -> None:
    jira = jira_answering({"displayName": "Ann"})
    identity = MappedIdentity(
        issuer="https://idp.example.test",
        subject="s",
        email="ann@example.com",
        email_verified=True,
        display_name="Ann",
    )
    with pytest.raises(JiraError, match="created customer of an unexpected shape"):
        await provisioning.create_customer(jira, identity)


async def test_a_request_type_page_with_a_nameless_value_is_a_jira_error() -> None:
    jira = jira_answering({"isLastPage": True, "values": [{"name": "no id"}]})
    with pytest.raises(JiraError, match="request type group of an unexpected shape"):
        await portal_api.request_type_groups(jira, "7", "qm:1")


async def test_request_type_fields_keep_the_visible_ones_with_their_options() -> None:
    jira = jira_answering(
        {
            "requestTypeFields": [
                {"fieldId": "summary", "name": "Summary", "required": True, "visible": True},
                {"fieldId": "customfield_9", "name": "Hidden", "visible": False},
                {
                    "fieldId": "priority",
                    "jiraSchema": {"type": "priority"},
                    "validValues": [{"value": 3, "label": "Medium", "children": []}],
                },
            ]
        }
    )
    fields = await portal_api.request_type_fields(jira, "7", "71")
    assert [f.field_id for f in fields] == ["summary", "priority"]
    assert fields[1].valid_values[0].value == "3"  # a number in Jira's JSON, an id here
