"""The portal pages with the fake JSM: every page and every error a customer can meet."""

from __future__ import annotations

import asyncio
import html
import re

import httpx
import pytest
from fastapi import FastAPI

from app.portal.pages import UploadSlots
from tests.conftest import InstalledTenant
from tests.support.fake_jira import FakeJira
from tests.support.login_fixtures import DESK_ID, SignedIn


def csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, "no CSRF token in the form"
    return match.group(1)


pytestmark = pytest.mark.usefixtures("fast_jira")


async def test_home_lists_request_types_by_group_with_the_customer_in_the_header(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    page = await client.get(signed_in.home)
    assert page.status_code == 200
    text = page.text
    assert "IT Help" in text
    assert (
        text.index("Common requests")
        < text.index("Get IT help")
        < text.index("Hardware")
        < text.index("Request new hardware")
    )
    assert "Request access" in text
    assert "Ada Lovelace" in text
    assert f'href="{signed_in.home}/requests"' in text
    assert f"/portal/{signed_in.tenant.tenant_id}/logout" in text
    assert page.headers["content-security-policy"].endswith("frame-ancestors 'none'")


async def test_search_filters_request_types(client: httpx.AsyncClient, signed_in: SignedIn) -> None:
    page = await client.get(signed_in.home, params={"q": "laptop"})
    assert "Request new hardware" in page.text
    assert "Get IT help" not in page.text
    nothing = await client.get(signed_in.home, params={"q": "zebra"})
    assert "No request type matches" in nothing.text


async def test_create_form_shows_each_kind_of_field(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    page = await client.get(f"{signed_in.home}/create/72")
    assert page.status_code == 200
    assert 'name="summary"' in page.text
    assert 'name="customfield_10030" multiple' in page.text
    assert 'type="date"' in page.text
    assert 'type="number"' in page.text
    help_form = await client.get(f"{signed_in.home}/create/71")
    assert "<textarea" in help_form.text
    assert "<select" in help_form.text


async def test_raise_a_request_on_behalf_of_the_customer(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    form = await client.get(f"{signed_in.home}/create/72")
    response = await client.post(
        f"{signed_in.home}/create/72",
        data={
            "csrf": csrf(form),
            "summary": "New laptop",
            "customfield_10030": ["11", "12"],
            "customfield_10020": "2026-12-31",
            "customfield_10040": "2",
        },
    )
    assert response.status_code == 303, response.text
    [(key, item)] = jira.requests.items()
    assert response.headers["location"] == f"{signed_in.home}/requests/{key}?created=72"
    assert item["reporter"] == signed_in.account_id
    assert item["values"] == {
        "summary": "New laptop",
        "customfield_10030": [{"id": "11"}, {"id": "12"}],
        "customfield_10020": "2026-12-31",
        "customfield_10040": 2.0,
    }
    page = await client.get(response.headers["location"])
    assert "was raised" in page.text
    assert "New laptop" in page.text


async def test_validation_errors_are_shown_next_to_the_fields_and_keep_the_text(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    form = await client.get(f"{signed_in.home}/create/72")
    response = await client.post(
        f"{signed_in.home}/create/72",
        data={
            "csrf": csrf(form),
            "summary": "Keep this text",
            "customfield_10020": "31/12/2026",
            "customfield_10040": "many",
        },
    )
    assert response.status_code == 422
    assert 'id="e-customfield_10030"' in response.text
    assert "Equipment is required" in response.text
    assert "Needed by must be a date" in response.text
    assert "How many must be a number" in response.text
    assert 'value="Keep this text"' in response.text
    assert jira.requests == {}


async def test_jiras_own_validation_is_shown_next_to_the_field_and_keeps_the_text(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    # Rules the portal cannot know (a Jira validator, a workflow condition) refuse in Jira.
    jira.fail("POST", "/rest/servicedeskapi/request", 400, message="summary: Say what is broken")
    form = await client.get(f"{signed_in.home}/create/71")
    response = await client.post(
        f"{signed_in.home}/create/71", data={"csrf": csrf(form), "summary": "Help!!"}
    )
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert "Jira could not accept the request: summary: Say what is broken" in text
    assert 'id="e-summary"' in response.text
    assert 'value="Help!!"' in response.text
    assert jira.requests == {}


async def test_an_option_outside_the_valid_values_is_refused(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    form = await client.get(f"{signed_in.home}/create/71")
    response = await client.post(
        f"{signed_in.home}/create/71",
        data={"csrf": csrf(form), "summary": "x", "customfield_10010": "999"},
    )
    assert response.status_code == 422
    assert "choose one of the options for Urgency" in response.text
    assert jira.requests == {}


async def test_a_cascading_select_sends_parent_and_child_and_shows_both(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    form = await client.get(f"{signed_in.home}/create/71")
    assert '<option value="21:212" >London \u203a Floor 2</option>' in form.text
    response = await client.post(
        f"{signed_in.home}/create/71",
        data={"csrf": csrf(form), "summary": "Printer jam", "customfield_10060": "21:212"},
    )
    assert response.status_code == 303, response.text
    [created] = jira.requests.values()
    assert created["values"]["customfield_10060"] == {"id": "21", "child": {"id": "212"}}
    page = await client.get(response.headers["location"])
    assert "London \u203a Floor 2" in page.text


async def test_missing_csrf_token_is_refused_and_nothing_is_created(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    response = await client.post(f"{signed_in.home}/create/71", data={"summary": "Typed text"})
    assert response.status_code == 403
    assert "expired" in response.text
    assert 'value="Typed text"' in response.text
    assert jira.requests == {}


async def test_a_required_field_the_portal_cannot_show_blocks_the_form(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    page = await client.get(f"{signed_in.home}/create/73")
    assert "cannot collect yet" in page.text
    assert "Approver" in page.text
    assert '<button type="submit" disabled' in page.text


@pytest.mark.parametrize(
    ("type_id", "name", "restricted"),
    [("74", "Internal triage", False), ("71", "Get IT help", True)],
    ids=["hidden-from-the-portal", "restricted-to-others"],
)
async def test_request_types_the_native_portal_would_not_offer_are_not_offered(
    client: httpx.AsyncClient,
    signed_in: SignedIn,
    jira: FakeJira,
    type_id: str,
    name: str,
    restricted: bool,
) -> None:
    # JSM hides a request type in no group from the portal, and shows a restricted one only
    # to the customers, groups and organizations it names.
    if restricted:
        jira.desks[DESK_ID].restrict(type_id, jira.add_account("vip@example.com", "VIP").account_id)
    home = await client.get(signed_in.home)
    assert name not in home.text
    assert "Request new hardware" in home.text
    form = await client.get(f"{signed_in.home}/create/{type_id}")
    assert form.status_code == 404
    assert "not available" in form.text
    posted = await client.post(
        f"{signed_in.home}/create/{type_id}", data={"csrf": "x", "summary": "Let me in"}
    )
    assert posted.status_code == 404
    assert jira.requests == {}


async def test_a_restricted_request_type_is_offered_to_the_customers_it_names(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    jira.desks[DESK_ID].restrict("71", signed_in.account_id)
    home = await client.get(signed_in.home)
    assert "Get IT help" in home.text
    form = await client.get(f"{signed_in.home}/create/71")
    assert form.status_code == 200
    # JSM decided, asked for this customer's account (never the app's own).
    assert (
        jira.count(
            "POST", f"/rest/servicedeskapi/servicedesk/{DESK_ID}/requesttype/permissions/check"
        )
        == 2
    )


async def test_a_removed_request_type_gives_a_clear_page_with_a_way_back(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    page = await client.get(f"{signed_in.home}/create/79")
    assert page.status_code == 404
    assert "no longer available" in page.text
    assert f'href="{signed_in.home}"' in page.text


async def test_my_requests_lists_only_the_customers_own(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    other = jira.add_account("mallory@example.com", "Mallory")
    mine = jira.add_request(DESK_ID, signed_in.account_id, "My printer is on fire")
    theirs = jira.add_request(DESK_ID, other.account_id, "Mallory's secret request")
    page = await client.get(f"{signed_in.home}/requests")
    assert mine in page.text
    assert "My printer is on fire" in page.text
    assert theirs not in page.text
    assert "secret" not in page.text


async def test_my_requests_are_paged(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    keys = [
        jira.add_request(DESK_ID, signed_in.account_id, f"Request number {n}") for n in range(25)
    ]
    first = await client.get(f"{signed_in.home}/requests")
    assert f">{keys[-1]}<" in first.text
    assert f">{keys[0]}<" not in first.text
    next_link = re.search(r'href="([^"]+[?&;]page=[^"]+)"', first.text)
    assert next_link
    second = await client.get(next_link.group(1).replace("&amp;", "&"))
    assert f">{keys[0]}<" in second.text
    assert f">{keys[-1]}<" not in second.text


@pytest.mark.parametrize("token", ["expired-or-made-up", "-5"])
async def test_a_page_link_jira_no_longer_knows_starts_the_list_again(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, token: str
) -> None:
    jira.add_request(DESK_ID, signed_in.account_id, "Mine")
    response = await client.get(f"{signed_in.home}/requests", params={"page": token})
    assert response.status_code == 303
    assert response.headers["location"] == f"{signed_in.home}/requests?show=all"


async def test_another_customers_request_is_404_not_a_leak(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    other = jira.add_account("mallory@example.com", "Mallory")
    theirs = jira.add_request(DESK_ID, other.account_id, "Mallory's secret request")
    page = await client.get(f"{signed_in.home}/requests/{theirs}")
    assert page.status_code == 404
    assert "secret" not in page.text
    missing = await client.get(f"{signed_in.home}/requests/ITH-999")
    assert missing.status_code == 404
    assert missing.text.replace("ITH-999", theirs) == page.text  # the same page either way
    junk = await client.get(f"{signed_in.home}/requests/..%2F..%2Fadmin")
    assert junk.status_code == 404


async def test_request_page_shows_public_comments_only_and_escapes_html(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    key = jira.add_request(
        DESK_ID,
        signed_in.account_id,
        "<script>alert('x')</script> broken",
        comments=(("We are on it", True), ("INTERNAL: customer is difficult", False)),
    )
    page = await client.get(f"{signed_in.home}/requests/{key}")
    assert page.status_code == 200
    assert "We are on it" in page.text
    assert "INTERNAL" not in page.text
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; broken" in page.text


async def test_internal_comment_is_not_shown_even_if_jira_returns_it(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    key = jira.add_request(
        DESK_ID, signed_in.account_id, "Help", comments=(("secret note", False),)
    )
    jira.leaks_internal_comments = True
    page = await client.get(f"{signed_in.home}/requests/{key}")
    assert "secret note" not in page.text


async def test_add_a_comment(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Help")
    page = await client.get(f"{signed_in.home}/requests/{key}")
    response = await client.post(
        f"{signed_in.home}/requests/{key}/comments", data={"csrf": csrf(page), "body": "Any news?"}
    )
    assert response.status_code == 303
    [comment] = jira.requests[key]["comments"]
    assert comment["public"] is True
    assert comment["body"] == "Ada Lovelace wrote:\n\nAny news?"
    assert "Any news?" in (await client.get(response.headers["location"])).text


@pytest.mark.parametrize(
    "form",
    [{}, {"csrf": "wrong"}, {"csrf": "\u00e9t\u00e9"}],
    ids=["missing", "wrong", "non-ascii"],
)
async def test_comment_without_csrf_is_refused(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, form: dict[str, str]
) -> None:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Help")
    response = await client.post(
        f"{signed_in.home}/requests/{key}/comments", data={**form, "body": "Sneaky"}
    )
    assert response.status_code == 403
    assert "Sneaky" in response.text  # the typed text is kept
    assert jira.requests[key]["comments"] == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [("   ", "Write a comment first."), ("x" * 32001, "That comment is too long.")],
    ids=["blank", "too-long"],
)
async def test_a_comment_jira_would_refuse_is_refused_here_and_kept(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, body: str, reason: str
) -> None:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Help")
    page = await client.get(f"{signed_in.home}/requests/{key}")
    response = await client.post(
        f"{signed_in.home}/requests/{key}/comments", data={"csrf": csrf(page), "body": body}
    )
    assert response.status_code == 422
    assert reason in response.text
    if body.strip():
        assert body in response.text  # the typed text comes back to be shortened
    assert jira.requests[key]["comments"] == []


async def test_comment_on_someone_elses_request_is_404(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    other = jira.add_account("mallory@example.com", "Mallory")
    theirs = jira.add_request(DESK_ID, other.account_id, "Theirs")
    page = await client.get(signed_in.home)
    del page
    response = await client.post(
        f"{signed_in.home}/requests/{theirs}/comments", data={"body": "hi"}
    )
    assert response.status_code == 404
    assert jira.requests[theirs]["comments"] == []


@pytest.mark.parametrize("path", ["", "/requests", "/requests/ITH-1", "/create/71"])
async def test_pages_without_a_session_send_the_customer_to_sign_in_and_back(
    client: httpx.AsyncClient, tenant: InstalledTenant, idp: dict[str, object], path: str
) -> None:
    home = f"/portal/{tenant.tenant_id}/{DESK_ID}"
    response = await client.get(home + path)
    assert response.status_code == 303
    if path:
        assert response.headers["location"].startswith(f"{home}?return_to=")
        login = await client.get(response.headers["location"])
        assert login.status_code == 303  # straight on to the IdP, remembering the page


async def test_a_post_after_the_session_expired_writes_nothing(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    form = await client.get(f"{signed_in.home}/create/71")
    token = csrf(form)
    client.cookies.clear()
    response = await client.post(
        f"{signed_in.home}/create/71", data={"csrf": token, "summary": "Lost?"}
    )
    assert response.status_code == 303
    assert "return_to=" in response.headers["location"]
    assert jira.requests == {}


async def test_a_signed_in_customer_can_raise_requests_at_another_desk_of_the_site(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    # Signed in at desk 7; the site's HR desk has its own substitute link.
    jira.add_desk("8", "HR", "HR Help")
    hr = f"/portal/{signed_in.tenant.tenant_id}/8"
    home = await client.get(hr)
    assert home.status_code == 200, home.text
    assert signed_in.account_id in jira.desks["8"].customers
    form = await client.get(f"{hr}/create/81")
    response = await client.post(
        f"{hr}/create/81", data={"csrf": csrf(form), "summary": "Payslip question"}
    )
    assert response.status_code == 303, response.text
    [item] = jira.requests.values()
    assert (item["desk_id"], item["reporter"]) == ("8", signed_in.account_id)
    # Once added, the desk is remembered: no second call on the next visit.
    before = jira.count("POST", "/rest/servicedeskapi/servicedesk/8/customer")
    assert (await client.get(hr)).status_code == 200
    assert jira.count("POST", "/rest/servicedeskapi/servicedesk/8/customer") == before


async def test_a_desk_jira_will_not_add_the_customer_to_still_shows_their_requests(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    # Adding is a courtesy for raising requests; it must not lock the customer out of reading.
    jira.add_desk("8", "HR", "HR Help")
    jira.fail("POST", "/rest/servicedeskapi/servicedesk/8/customer", 403, times=1)
    hr = f"/portal/{signed_in.tenant.tenant_id}/8"
    page = await client.get(f"{hr}/requests")
    assert page.status_code == 200, page.text
    assert signed_in.account_id not in jira.desks["8"].customers
    # The next page tries again, and this time Jira adds them.
    assert (await client.get(hr)).status_code == 200
    assert signed_in.account_id in jira.desks["8"].customers


async def test_jira_unreachable_gives_a_friendly_page(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    jira.fail("GET", "/rest/servicedeskapi/servicedesk/7/requesttypegroup", 503, times=5)
    page = await client.get(signed_in.home)
    assert page.status_code == 502
    assert "Jira" in page.text
    assert "Try again" in page.text
    assert "Traceback" not in page.text


async def test_jira_rate_limiting_past_the_budget_gives_a_friendly_page(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    jira.fail("POST", "/rest/api/3/search/jql", 429, times=5, headers={"Retry-After": "120"})
    page = await client.get(f"{signed_in.home}/requests")
    assert page.status_code == 503
    assert "try again in a minute" in page.text


async def test_native_landing_redirects_to_the_jsm_portal(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    await client.put(
        "/api/admin/settings",
        json={"landing": "jsm_portal"},
        headers={"Authorization": f"JWT {signed_in.tenant.context_token()}"},
    )
    response = await client.get(signed_in.home)
    assert response.status_code == 303
    assert (
        response.headers["location"] == "https://acme.atlassian.net/servicedesk/customer/portal/7"
    )


# --- files attached to a new request ---------------------------------------------------------


Files = list[tuple[str, tuple[str, bytes, str]]]


async def raise_with_files(
    client: httpx.AsyncClient, signed_in: SignedIn, summary: str, files: Files
) -> httpx.Response:
    """Send the "Get IT help" form (request type 71, with an attachment field)."""
    form = await client.get(f"{signed_in.home}/create/71")
    return await client.post(
        f"{signed_in.home}/create/71",
        data={"csrf": csrf(form), "summary": summary},
        files=files,
    )


async def test_files_chosen_with_a_new_request_are_attached_to_it_for_the_customer(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    form = await client.get(f"{signed_in.home}/create/71")
    assert 'enctype="multipart/form-data"' in form.text
    assert 'type="file" multiple' in form.text
    response = await client.post(
        f"{signed_in.home}/create/71",
        data={"csrf": csrf(form), "summary": "Screen is blank"},
        files=[
            ("attachment", ("C:\\Users\\ada\\shot.png", b"\x89PNG\r\n", "image/png")),
            ("attachment", ("boot.log", b"beep beep beep", "text/plain")),
        ],
    )
    assert response.status_code == 303, response.text
    [created] = jira.requests.values()
    assert [(a["filename"], a["content"]) for a in created["attachments"]] == [
        ("shot.png", b"\x89PNG\r\n"),  # the name alone, not the customer's folders
        ("boot.log", b"beep beep beep"),
    ]
    assert jira.temporary_files == {}  # all taken by the request
    assert created["comments"][-1]["public"] is True
    page = await client.get(response.headers["location"])
    assert "(attached: shot.png) (attached: boot.log)" in page.text
    assert "could not be attached" not in page.text


async def test_no_file_chosen_sends_no_upload(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    response = await raise_with_files(
        client,
        signed_in,
        "No files",
        [("attachment", ("", b"", "application/octet-stream"))],  # an empty file input
    )
    assert response.status_code == 303
    assert not any("attachTemporaryFile" in path for _, path in jira.calls)


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ([(f"f{n}.txt", b"x") for n in range(6)], "attach at most 5 files"),
        # Over the files' limit, under the body's (which leaves room for the fields).
        (
            [("big.bin", b"x" * (6 * 1024 * 1024)), ("big2.bin", b"y" * (9 * 1024 * 512))],
            "more than 10 MB",
        ),
        ([("empty.txt", b"")], "one of the files is empty"),
    ],
    ids=["too-many", "too-large", "empty"],
)
async def test_files_over_the_limits_are_refused_and_the_typed_text_kept(
    client: httpx.AsyncClient,
    signed_in: SignedIn,
    jira: FakeJira,
    files: list[tuple[str, bytes]],
    reason: str,
) -> None:
    form = await client.get(f"{signed_in.home}/create/71")
    response = await client.post(
        f"{signed_in.home}/create/71",
        data={"csrf": csrf(form), "summary": "Keep this text"},
        files=[("attachment", (name, content, "text/plain")) for name, content in files],
    )
    assert response.status_code == 422
    assert reason in response.text
    assert 'id="e-attachment"' in response.text
    assert 'value="Keep this text"' in response.text
    assert jira.requests == {}
    assert not any("attachTemporaryFile" in path for _, path in jira.calls)


async def test_a_desk_that_refuses_files_says_so_and_creates_nothing(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    jira.attachments_allowed = False
    response = await raise_with_files(
        client, signed_in, "With a file", [("attachment", ("a.txt", b"a", "text/plain"))]
    )
    assert response.status_code == 422
    assert "Jira did not accept the files: Attachments are disabled" in html.unescape(response.text)
    assert 'value="With a file"' in response.text
    assert jira.requests == {}


async def test_a_request_whose_files_could_not_be_attached_says_so(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    jira.fail("POST", "/rest/servicedeskapi/request/ITH-1/attachment", 500)
    response = await raise_with_files(
        client, signed_in, "Files lost", [("attachment", ("a.txt", b"a", "text/plain"))]
    )
    assert response.status_code == 303
    assert list(jira.requests) == ["ITH-1"]  # the request itself was raised
    page = await client.get(response.headers["location"])
    assert "Your request ITH-1 was raised." in page.text
    assert "Your files could not be attached to it." in page.text


async def test_files_may_take_the_request_past_the_usual_body_limit_but_not_past_theirs(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    two_megabytes = await raise_with_files(
        client,
        signed_in,
        "A photo",
        [("attachment", ("photo.jpg", b"j" * (2 * 1024 * 1024), "image/jpeg"))],
    )
    assert two_megabytes.status_code == 303
    huge = await raise_with_files(
        client,
        signed_in,
        "A film",
        [("attachment", ("film.mp4", b"m" * (12 * 1024 * 1024), "video/mp4"))],
    )
    assert huge.status_code == 413
    settings = await client.put(
        "/api/admin/settings",
        content=b'{"landing": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert settings.status_code == 413  # everything else keeps the 1 MiB limit
    assert len(jira.requests) == 1


async def test_requests_with_files_wait_their_turn_for_an_upload_slot(
    app: FastAPI, client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    """Files are held in memory while they are sent: a few requests at a time per process."""
    slots = UploadSlots(1)
    app.state.services.add(slots)
    form = await client.get(f"{signed_in.home}/create/71")
    await slots.acquire()  # another upload is under way
    raised = asyncio.create_task(
        client.post(
            f"{signed_in.home}/create/71",
            data={"csrf": csrf(form), "summary": "Waiting"},
            files=[("attachment", ("a.txt", b"a", "text/plain"))],
        )
    )
    await asyncio.sleep(0.3)
    assert not raised.done()
    assert jira.requests == {}
    slots.release()
    assert (await asyncio.wait_for(raised, 5)).status_code == 303
    await slots.acquire()  # busy again: a form without files does not wait for it
    without_files = await asyncio.wait_for(
        client.post(f"{signed_in.home}/create/71", data={"csrf": csrf(form), "summary": "No wait"}),
        5,
    )
    assert without_files.status_code == 303
    slots.release()


async def test_a_comment_can_carry_files_in_one_comment_with_its_text(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Printer")
    page = await client.get(f"{signed_in.home}/requests/{key}")
    assert 'name="files" type="file" multiple' in page.text
    response = await client.post(
        f"{signed_in.home}/requests/{key}/comments",
        data={"csrf": csrf(page), "body": "Here is the log"},
        files=[("files", ("print.log", b"paper jam", "text/plain"))],
    )
    assert response.status_code == 303, response.text
    item = jira.requests[key]
    assert [a["content"] for a in item["attachments"]] == [b"paper jam"]
    [comment] = item["comments"]
    assert comment["public"] is True
    assert comment["body"] == "Ada Lovelace wrote:\n\nHere is the log [^print.log]"
    shown = await client.get(response.headers["location"])
    assert "Here is the log (attached: print.log)" in shown.text

    files_only = await client.post(
        f"{signed_in.home}/requests/{key}/comments",
        data={"csrf": csrf(page), "body": ""},
        files=[("files", ("second.log", b"again", "text/plain"))],
    )
    assert files_only.status_code == 303
    assert item["comments"][-1]["body"] == "Ada Lovelace attached files. [^second.log]"


async def test_a_comment_on_a_desk_that_refuses_files_says_so_and_keeps_its_text(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    jira.attachments_allowed = False
    key = jira.add_request(DESK_ID, signed_in.account_id, "Printer")
    page = await client.get(f"{signed_in.home}/requests/{key}")
    response = await client.post(
        f"{signed_in.home}/requests/{key}/comments",
        data={"csrf": csrf(page), "body": "Here is the log"},
        files=[("files", ("print.log", b"paper jam", "text/plain"))],
    )
    assert response.status_code == 422
    assert "Jira did not accept the files: Attachments are disabled" in html.unescape(response.text)
    assert ">Here is the log</textarea>" in response.text
    assert jira.requests[key]["comments"] == []


async def test_a_comment_with_too_many_files_is_refused_and_its_text_kept(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Printer")
    page = await client.get(f"{signed_in.home}/requests/{key}")
    response = await client.post(
        f"{signed_in.home}/requests/{key}/comments",
        data={"csrf": csrf(page), "body": "Six logs"},
        files=[("files", (f"{n}.log", b"x", "text/plain")) for n in range(6)],
    )
    assert response.status_code == 422
    assert "Attach at most 5 files." in response.text
    assert ">Six logs</textarea>" in response.text
    assert jira.requests[key]["comments"] == []
    assert not any("attachTemporaryFile" in path for _, path in jira.calls)
