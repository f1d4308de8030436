"""The knowledge base in the portal: found from the desk's search box and while a summary is
typed, opened inside the portal with its HTML made safe, and never another site's."""

from __future__ import annotations

import html

import httpx
import pytest

from app.portal.articles import safe_article
from tests.support.fake_jira import FakeJira
from tests.support.login_fixtures import DESK_ID, SignedIn

pytestmark = pytest.mark.usefixtures("fast_jira")

VPN_ARTICLE = (
    '<h2>Steps</h2><p onclick="steal()">Open the VPN client and choose <b>Reset</b>. See '
    '<a href="https://acme.atlassian.net/wiki/spaces/KB/pages/124/Tokens">hardware tokens</a>, '
    '<a href="https://vendor.example/vpn">the vendor\'s guide</a> and '
    '<a href="javascript:alert(1)">this</a>.</p><script>alert(1)</script>'
    '<img src="https://acme.atlassian.net/wiki/download/x.png" onerror="alert(1)">'
    '<style>body{display:none}</style><iframe src="https://evil.example"></iframe>'
)


@pytest.fixture
def knowledge_base(jira: FakeJira) -> None:
    jira.desks[DESK_ID].articles = {
        "123": ("Reset your VPN password", VPN_ARTICLE),
        "124": ("Hardware tokens", "<p>Tokens are sent by post.</p>"),
    }


@pytest.mark.usefixtures("knowledge_base")
async def test_the_desks_search_finds_articles_and_request_types(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    page = await client.get(signed_in.home, params={"q": "vpn password"})
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Reset your VPN password" in text
    assert f'href="{signed_in.home}/kb/123?title=Reset+your+VPN+password"' in text
    assert "Hardware tokens" not in text  # matches no word


@pytest.mark.usefixtures("knowledge_base")
async def test_an_article_opens_in_the_portal_made_safe(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    page = await client.get(f"{signed_in.home}/kb/123", params={"title": "Reset your VPN password"})
    assert page.status_code == 200
    body = page.text.split('<div class="article-body">', 1)[1].split("</div>", 1)[0]
    assert "<h2>Steps</h2>" in body
    assert "<b>Reset</b>" in body
    for unsafe in ("<script", "onclick", "onerror", "<img", "<style", "<iframe", "javascript:"):
        assert unsafe not in body, unsafe
    # Another article stays in the portal; a page elsewhere keeps its link, without referrer.
    assert f'<a href="{signed_in.home}/kb/124" rel="noopener noreferrer nofollow">' in body
    assert '<a href="https://vendor.example/vpn" rel="noopener noreferrer nofollow">' in body
    assert "<h1>Reset your VPN password</h1>" in page.text


@pytest.mark.usefixtures("knowledge_base")
async def test_suggestions_while_the_summary_is_typed(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    form = await client.get(f"{signed_in.home}/create/71")
    assert f'data-suggest="{signed_in.home}/articles"' in form.text
    found = await client.get(f"{signed_in.home}/articles", params={"q": "tokens"})
    assert found.status_code == 200
    assert "These articles may answer your question" in found.text
    assert "Hardware tokens" in found.text
    nothing = await client.get(f"{signed_in.home}/articles", params={"q": "printer"})
    assert nothing.text.strip() == ""


async def test_an_article_of_another_site_or_no_article_is_not_found(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    del jira  # this site's knowledge base is empty; 555 may exist on another site
    for page_id in ("555", "12ab", "../servicedesk"):
        page = await client.get(f"{signed_in.home}/kb/{page_id}")
        assert page.status_code == 404, page_id
        assert "could not find that article" in html.unescape(page.text) or page_id.startswith(".")


async def test_articles_need_a_session(client: httpx.AsyncClient, signed_in: SignedIn) -> None:
    client.cookies.clear()
    page = await client.get(f"{signed_in.home}/kb/123")
    assert page.status_code == 303
    assert "return_to=" in page.headers["location"]
    assert (await client.get(f"{signed_in.home}/articles", params={"q": "vpn"})).status_code == 401


@pytest.mark.usefixtures("knowledge_base")
async def test_jira_failing_gives_the_try_again_page(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    jira.fail("GET", "/rest/servicedeskapi/knowledgebase/article/view/123", 503, times=5)
    page = await client.get(f"{signed_in.home}/kb/123")
    assert page.status_code == 502
    assert "Try again" in page.text
    assert "Traceback" not in page.text


def test_relative_links_and_unknown_schemes_are_dropped() -> None:
    cleaned = safe_article(
        '<a href="/portal/other-site/1">x</a><a href="data:text/html,hi">y</a>'
        '<a href="http://plain.example">z</a>',
        article_url=lambda page_id: f"/kb/{page_id}",
    )
    assert "href" not in cleaned
