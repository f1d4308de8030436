"""A customer in a real browser uses what the native portal offers besides raising requests:
the knowledge base (search, suggestions while typing a summary, an article), adding a
colleague to the request, a file an agent attached, a customer transition with a comment, a rating, and the switch to another
language. Screenshots go to
test-artifacts/, each page passes the axe check."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import InstalledTenant
from tests.e2e.conftest import accessibility_problems, configure_idp
from tests.support.fake_jira import FakeJira
from tests.support.openid_provider import OpenIDProvider

pytestmark = pytest.mark.e2e

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)


async def test_customer_uses_the_knowledge_base_files_transitions_and_rating(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    jira: FakeJira,
    openid_provider: OpenIDProvider,
    live: str,
    browser: Any,
    artifacts: Path,
) -> None:
    await configure_idp(client, tenant, openid_provider, live)
    jira.desks["7"].articles = {
        "301": (
            "Reset your VPN password",
            "<h2>Steps</h2><p>Open the VPN client and choose <b>Reset</b>.</p>"
            "<script>alert(1)</script>",
        )
    }
    context = await browser.new_context(
        viewport={"width": 1100, "height": 900}, accept_downloads=True
    )
    page = await context.new_page()
    await page.goto(f"{live}/portal/{tenant.tenant_id}/7")
    await page.fill("input[name=login]", "ada")
    await page.fill("input[name=password]", "any password")
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Welcome to the IT Help help center")

    # The desk's search finds the article; it opens inside the portal, made safe.
    await page.fill("#q", "vpn password")
    await page.click("button:has-text('Search')")
    await page.wait_for_selector("text=Reset your VPN password")
    await page.screenshot(path=str(artifacts / "1-search-finds-an-article.png"), full_page=True)
    assert await accessibility_problems(page) == []
    await page.click("text=Reset your VPN password")
    await page.wait_for_selector("h1:has-text('Reset your VPN password')")
    assert await page.is_visible("text=Open the VPN client and choose")
    assert await page.locator(".article-body script").count() == 0
    await page.screenshot(path=str(artifacts / "2-article.png"), full_page=True)
    assert await accessibility_problems(page) == []

    # While the summary is typed, the article is suggested.
    await page.goto(f"{live}/portal/{tenant.tenant_id}/7/create/71")
    await page.type("#f-summary", "vpn keeps asking for a password", delay=10)
    await page.wait_for_selector("#kb-suggestions >> text=Reset your VPN password")
    await page.screenshot(path=str(artifacts / "3-suggested-while-typing.png"), full_page=True)
    assert await accessibility_problems(page) == []
    await page.click("button:has-text('Send')")
    await page.wait_for_selector("text=was raised")
    [key] = jira.requests

    # A colleague of the customer's organization is added to the request.
    [ada] = [a for a in jira.accounts.values() if a.email == "ada@example.com"]
    bob = jira.add_account("bob@example.com", "Bob Colleague")
    jira.organizations[501] = {
        "id": "501",
        "name": "Acme",
        "members": {ada.account_id, bob.account_id},
    }
    await page.fill("#participant-email", "bob@example.com")
    await page.click("#participants button:has-text('Add')")
    await page.wait_for_selector("text=The people on this request were updated.")
    assert await page.is_visible("#participants >> text=Bob Colleague")
    assert jira.requests[key]["participants"] == {bob.account_id}

    # An agent answers with two files: the image shows, the log downloads.
    shot = jira.add_file("screen.png", "image/png", PNG)
    log = jira.add_file("vpn.log", "text/plain", b"auth failed\n")
    jira.requests[key]["comments"].append(
        {
            "id": "9",
            "body": "Try this",
            "public": True,
            "author": "557058:agent",
            "files": [shot, log],
        }
    )
    await page.reload()
    await page.wait_for_selector(f"img[src$='/files/{shot}/thumbnail']")
    async with page.expect_download() as download_info:
        await page.click("a:has-text('vpn.log')")
    download = await download_info.value
    assert download.suggested_filename == "vpn.log"
    saved = await download.path()
    assert await asyncio.to_thread(Path(saved).read_bytes) == b"auth failed\n"

    # The customer resolves the request with a comment, then rates it.
    await page.check("label:has-text('Resolve this request') input")
    await page.fill("#transition-comment", "Working again, thanks")
    await page.screenshot(
        path=str(artifacts / "4-request-with-files-and-actions.png"), full_page=True
    )
    assert await accessibility_problems(page) == []
    await page.click("button:has-text('Update')")
    await page.wait_for_selector("text=Done: the request was updated.")
    assert jira.requests[key]["status"] == ("Resolved", "done")
    await page.check("input[name=rating][value='5']")
    await page.fill("#rating-comment", "Quick and friendly")
    await page.click("button:has-text('Send rating')")
    await page.wait_for_selector("text=Thank you for your rating.")
    assert jira.requests[key]["feedback"]["rating"] == 5
    await page.screenshot(path=str(artifacts / "5-rated.png"), full_page=True)
    assert await accessibility_problems(page) == []

    # The customer switches the portal to German; the choice stays for the next pages.
    await page.click("footer.languages >> text=Deutsch")
    await page.wait_for_selector("h2:has-text('Aktivität')")
    assert await page.get_attribute("html", "lang") == "de"
    assert await page.is_visible("text=Danke für Ihre Bewertung.")  # the same page, in German
    await page.click("text=Meine Anfragen")
    await page.wait_for_selector("h1:has-text('Meine Anfragen')")
    await page.screenshot(path=str(artifacts / "6-in-german.png"), full_page=True)
    assert await accessibility_problems(page) == []
    await context.close()
