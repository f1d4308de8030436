"""A portal form reaches Jira once: the same form posted twice (a double click without
script, a browser that posts again on its own) raises one request or one comment."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.maintenance import purge_expired
from app.models import FormSubmission
from app.portal import submissions
from tests.support.fake_jira import FakeJira
from tests.support.login_fixtures import SignedIn


def form_of(page: httpx.Response) -> dict[str, str]:
    fields = dict(re.findall(r'name="(csrf|submission)" value="([^"]+)"', page.text))
    assert set(fields) == {"csrf", "submission"}, "the form lacks its hidden fields"
    return fields


async def test_each_form_shown_has_its_own_token(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    first = form_of(await client.get(f"{signed_in.home}/create/71"))
    second = form_of(await client.get(f"{signed_in.home}/create/71"))
    assert first["submission"] != second["submission"]


async def test_a_request_form_posted_twice_raises_one_request(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    form = form_of(await client.get(f"{signed_in.home}/create/71"))
    data = {**form, "summary": "Printer jam", "description": "Paper everywhere"}
    first = await client.post(f"{signed_in.home}/create/71", data=data)
    again = await client.post(f"{signed_in.home}/create/71", data=data)
    [key] = jira.requests
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert f"/requests/{key}?created=71" in again.headers["location"]


async def test_two_posts_of_one_form_at_once_raise_one_request(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    form = form_of(await client.get(f"{signed_in.home}/create/71"))
    data = {**form, "summary": "Printer jam", "description": "Paper everywhere"}
    answers = await asyncio.gather(
        *(client.post(f"{signed_in.home}/create/71", data=data) for _ in range(2))
    )
    assert len(jira.requests) == 1
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses in ([303, 303], [303, 409])
    for answer in answers:
        if answer.status_code == 409:
            assert "on its way" in answer.text
            assert "Printer jam" in answer.text  # what was typed is still there


async def test_a_form_jira_refused_may_be_sent_again(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    form = form_of(await client.get(f"{signed_in.home}/create/71"))
    data = {**form, "summary": "Printer jam", "description": "Paper everywhere"}
    jira.fail("POST", "/rest/servicedeskapi/request", 400, message="summary: Say which printer")
    refused = await client.post(f"{signed_in.home}/create/71", data=data)
    assert refused.status_code == 422
    assert jira.requests == {}
    sent = await client.post(f"{signed_in.home}/create/71", data=data)  # Back, then Send
    assert sent.status_code == 303
    assert len(jira.requests) == 1


async def test_a_form_whose_post_failed_half_way_may_be_sent_again(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    form = form_of(await client.get(f"{signed_in.home}/create/71"))
    data = {**form, "summary": "Printer jam", "description": "Paper everywhere"}
    jira.fail("POST", "/rest/servicedeskapi/request", 500)
    failed = await client.post(f"{signed_in.home}/create/71", data=data)
    assert failed.status_code == 502
    assert jira.requests == {}
    sent = await client.post(f"{signed_in.home}/create/71", data=data)
    assert sent.status_code == 303
    assert len(jira.requests) == 1


async def test_a_comment_posted_twice_is_added_once(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    key = jira.add_request("7", signed_in.account_id, "Help")
    form = form_of(await client.get(f"{signed_in.home}/requests/{key}"))
    data = {**form, "body": "Any news?"}
    first = await client.post(f"{signed_in.home}/requests/{key}/comments", data=data)
    again = await client.post(f"{signed_in.home}/requests/{key}/comments", data=data)
    assert first.status_code == again.status_code == 303
    assert len(jira.requests[key]["comments"]) == 1


async def test_a_form_without_a_token_still_works(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    # A page shown before this version has no token: it goes ahead, unguarded.
    csrf = form_of(await client.get(f"{signed_in.home}/create/71"))["csrf"]
    data = {"csrf": csrf, "summary": "Printer jam", "description": "Paper everywhere"}
    assert (await client.post(f"{signed_in.home}/create/71", data=data)).status_code == 303
    assert len(jira.requests) == 1


async def test_a_claim_left_by_a_post_that_died_is_taken_over(
    signed_in: SignedIn, session: async_sessionmaker[AsyncSession]
) -> None:
    tenant_id, token = signed_in.tenant.tenant_id, submissions.new_token()
    start = datetime.now(UTC)
    assert (await submissions.claim(session, tenant_id, token, now=start)).ours
    soon = start + timedelta(seconds=30)
    assert not (await submissions.claim(session, tenant_id, token, now=soon)).ours
    later = start + submissions.ABANDONED_AFTER + timedelta(seconds=1)
    assert (await submissions.claim(session, tenant_id, token, now=later)).ours
    # and only one post takes it over
    assert not (await submissions.claim(session, tenant_id, token, now=later)).ours


async def test_another_tenants_token_is_not_this_form(
    signed_in: SignedIn, session: async_sessionmaker[AsyncSession]
) -> None:
    token, now = submissions.new_token(), datetime.now(UTC)
    assert (await submissions.claim(session, signed_in.tenant.tenant_id, token, now=now)).ours
    async with session() as s:
        await submissions.finish(s, signed_in.tenant.tenant_id, token, request_key="ITH-1")
        await s.commit()
    other = await submissions.claim(session, "another-tenant", token, now=now)
    assert other == submissions.Claim(ours=False)  # not told the other site's request key


@pytest.mark.parametrize(("age", "kept"), [(timedelta(hours=23), 1), (timedelta(hours=25), 0)])
async def test_old_submissions_are_purged(
    signed_in: SignedIn, session: async_sessionmaker[AsyncSession], age: timedelta, kept: int
) -> None:
    now = datetime.now(UTC)
    await submissions.claim(session, signed_in.tenant.tenant_id, "t" * 24, now=now - age)
    async with session() as s:
        await purge_expired(s, now=now)
        await s.commit()
        assert await s.scalar(select(func.count()).select_from(FormSubmission)) == kept


async def test_a_post_that_also_refreshes_the_session_claims_its_form_at_once(
    client: httpx.AsyncClient,
    signed_in: SignedIn,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
) -> None:
    """The claim runs in a transaction of its own, while the request's transaction may hold
    SQLite's one write lock (refreshing the portal session's last-seen time): the claim must
    not wait for it."""
    from sqlalchemy import update

    from app.models import PortalSession

    page = await client.get(f"{signed_in.home}/create/71")
    async with session() as s:
        await s.execute(
            update(PortalSession).values(last_seen_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        await s.commit()
    data = form_of(page) | {"summary": "Printer jam", "description": "Paper everywhere"}
    posted = await asyncio.wait_for(client.post(f"{signed_in.home}/create/71", data=data), 10)
    assert posted.status_code == 303
    assert len(jira.requests) == 1
