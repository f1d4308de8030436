"""What a customer does to their request: its customer transitions (with a comment), a
rating once resolved, and approvals shown read only; each refusal a readable page that
changes nothing."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from tests.support.fake_jira import FakeJira
from tests.support.login_fixtures import DESK_ID, SignedIn

pytestmark = pytest.mark.usefixtures("fast_jira")


def form_fields(page: httpx.Response, action: str) -> dict[str, str]:
    """The hidden fields of the page's form posting to ``action``."""
    form = page.text.split(f'action="{action}"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


@pytest.fixture
def key(signed_in: SignedIn, jira: FakeJira) -> str:
    return jira.add_request(DESK_ID, signed_in.account_id, "VPN keeps dropping")


async def test_the_request_offers_its_customer_transitions(
    client: httpx.AsyncClient, signed_in: SignedIn, key: str
) -> None:
    page = await client.get(f"{signed_in.home}/requests/{key}")
    assert "Update this request" in page.text
    assert "Resolve this request" in page.text
    assert "Cancel request" in page.text
    assert "How did we do?" not in page.text  # not resolved yet
    assert "Jira changes only the subscription of the account that asks" in page.text


async def test_resolving_with_a_comment(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, key: str
) -> None:
    action = f"{signed_in.home}/requests/{key}/transition"
    page = await client.get(f"{signed_in.home}/requests/{key}")
    fields = form_fields(page, action)
    sent = await client.post(action, data={**fields, "transition": "11", "comment": "Fixed itself"})
    assert sent.status_code == 303
    assert sent.headers["location"].endswith("?done=transition")
    assert jira.requests[key]["status"] == ("Resolved", "done")
    assert jira.requests[key]["comments"][-1]["body"] == "Ada Lovelace wrote:\n\nFixed itself"
    # The same form posted again (a double click, a resent form) does nothing more.
    again = await client.post(
        action, data={**fields, "transition": "11", "comment": "Fixed itself"}
    )
    assert again.status_code in (303, 409)
    assert len(jira.requests[key]["comments"]) == 1
    resolved = await client.get(sent.headers["location"])
    assert "Done: the request was updated." in resolved.text
    assert "Reopen" in resolved.text
    assert "How did we do?" in resolved.text


async def test_a_transition_not_offered_now_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, key: str
) -> None:
    action = f"{signed_in.home}/requests/{key}/transition"
    fields = form_fields(await client.get(f"{signed_in.home}/requests/{key}"), action)
    refused = await client.post(action, data={**fields, "transition": "21"})  # "Reopen"
    assert refused.status_code == 409
    assert "no longer available" in html.unescape(refused.text)
    assert jira.requests[key]["status"] == ("Waiting for support", "indeterminate")


async def test_jiras_reason_is_shown_when_it_refuses(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, key: str
) -> None:
    action = f"{signed_in.home}/requests/{key}/transition"
    fields = form_fields(await client.get(f"{signed_in.home}/requests/{key}"), action)
    jira.fail(
        "POST", f"/rest/servicedeskapi/request/{key}/transition", 400, message="Comment is too long"
    )
    refused = await client.post(action, data={**fields, "transition": "11", "comment": "x"})
    assert refused.status_code == 422
    assert "Jira did not accept this: Comment is too long." in html.unescape(refused.text)
    assert jira.requests[key]["status"][0] == "Waiting for support"


async def test_without_the_forms_token_nothing_happens(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, key: str
) -> None:
    refused = await client.post(
        f"{signed_in.home}/requests/{key}/transition", data={"csrf": "forged", "transition": "11"}
    )
    assert refused.status_code == 403
    assert jira.requests[key]["status"][0] == "Waiting for support"


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("transition", {"transition": "11"}),
        ("feedback", {"rating": "5"}),
        ("participants", {"email": "grace@example.com"}),
        ("participants/remove", {"account_id": "qm:grace"}),
        ("share", {"organization": "501"}),
    ],
)
@pytest.mark.parametrize("token", [None, "forged"])
async def test_every_action_without_the_forms_token_asks_jira_to_change_nothing(
    client: httpx.AsyncClient,
    signed_in: SignedIn,
    jira: FakeJira,
    key: str,
    path: str,
    data: dict[str, str],
    token: str | None,
) -> None:
    before = len(jira.calls)
    refused = await client.post(
        f"{signed_in.home}/requests/{key}/{path}",
        data={**data, **({"csrf": token} if token is not None else {})},
    )
    assert refused.status_code == 403
    assert "Your form had expired." in html.unescape(refused.text)
    assert [call for call in jira.calls[before:] if call[0] != "GET"] == []


async def test_another_customers_request_cannot_be_moved_or_rated(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    theirs = jira.add_request(DESK_ID, "qm:someone-else", "Not yours")
    page = await client.get(
        f"{signed_in.home}/requests/{jira.add_request(DESK_ID, signed_in.account_id, 'Mine')}"
    )
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    for path, data in (
        ("transition", {"transition": "11"}),
        ("feedback", {"rating": "5"}),
    ):
        refused = await client.post(
            f"{signed_in.home}/requests/{theirs}/{path}", data={"csrf": csrf.group(1), **data}
        )
        assert refused.status_code == 404
    assert jira.requests[theirs]["status"][0] == "Waiting for support"
    assert "feedback" not in jira.requests[theirs]


async def test_a_resolved_request_is_rated_once(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, key: str
) -> None:
    action = f"{signed_in.home}/requests/{key}/feedback"
    page = await client.get(f"{signed_in.home}/requests/{key}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    too_early = await client.post(action, data={"csrf": csrf.group(1), "rating": "5"})
    assert too_early.status_code == 409
    assert "A request can be rated once it is resolved." in too_early.text
    jira.requests[key]["status"] = ("Resolved", "done")
    wrong = await client.post(action, data={"csrf": csrf.group(1), "rating": "6"})
    assert wrong.status_code == 422
    assert "Choose a rating from 1 to 5." in wrong.text
    rated = await client.post(
        action, data={"csrf": csrf.group(1), "rating": "4", "comment": "Quick, thanks"}
    )
    assert rated.status_code == 303
    assert jira.requests[key]["feedback"] == {
        "type": "csat",
        "rating": 4,
        "comment": {"body": "Quick, thanks"},
    }
    shown = await client.get(rated.headers["location"])
    assert "Thank you for your rating." in shown.text
    assert "You rated this request 4 out of 5." in html.unescape(shown.text)
    assert "Send rating" not in shown.text


async def test_approvals_are_shown_read_only_with_the_native_portals_link(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, key: str
) -> None:
    boss = jira.add_account("boss@example.com", "Bea Boss")
    jira.requests[key]["approvals"] = [
        ("Manager approval", "pending", [(boss.account_id, "pending")])
    ]
    page = await client.get(f"{signed_in.home}/requests/{key}")
    text = html.unescape(page.text)
    assert "Manager approval" in text
    assert "Bea Boss: pending" in text
    assert f'href="https://acme.atlassian.net/servicedesk/customer/portal/7/{key}"' in page.text
    # No form that would pretend to answer for the approver.
    assert "/approval" not in page.text
    assert ">Approve<" not in page.text
