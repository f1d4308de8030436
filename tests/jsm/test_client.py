"""The Jira client's robustness: retries, rate limits, time budget, errors, paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from app.errors import JiraError
from app.jsm.auth import ServiceAccountAuth
from app.jsm.client import JiraClient, RetryPolicy, retry_after_seconds
from app.jsm.schemas import ServiceDeskDTO

BASE = "https://acme.atlassian.net"


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
async def http() -> httpx.AsyncClient:
    async with httpx.AsyncClient() as client:
        yield client  # type: ignore[misc]


def make(http: httpx.AsyncClient, sleeps: Sleeps, **policy: float) -> JiraClient:
    return JiraClient(
        http,
        base_url=BASE,
        auth=ServiceAccountAuth(email="svc@acme.com", api_token="tok"),
        policy=RetryPolicy(**policy),  # type: ignore[arg-type]
        sleep=sleeps,
    )


def test_retry_after_in_seconds_and_as_http_date() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"}), now=now) == 7
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": later}), now=now) == 30
    reset = (now + timedelta(seconds=12)).isoformat().replace("+00:00", "Z")
    assert (
        retry_after_seconds(httpx.Response(429, headers={"X-RateLimit-Reset": reset}), now=now)
        == 12
    )
    assert retry_after_seconds(httpx.Response(429), now=now) is None


async def test_429_waits_as_told_then_succeeds(http: httpx.AsyncClient) -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(f"{BASE}/rest/api/3/myself").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "2"}),
                httpx.Response(200, json={"ok": 1}),
            ]
        )
        assert await make(http, sleeps).get_json("/rest/api/3/myself") == {"ok": 1}
    assert route.call_count == 2
    assert sleeps.delays[0] >= 2


async def test_429_beyond_the_time_budget_fails_clearly(http: httpx.AsyncClient) -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(f"{BASE}/x").respond(429, headers={"Retry-After": "600"})
        with pytest.raises(JiraError, match="rate-limiting") as info:
            await make(http, sleeps).get_json("/x")
    assert route.call_count == 1
    assert sleeps.delays == []
    assert info.value.jira_status == 429


async def test_post_is_retried_after_429_but_not_after_503(http: httpx.AsyncClient) -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_mocked=True) as router:
        route = router.post(f"{BASE}/rest/servicedeskapi/request").mock(
            side_effect=[httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(503)]
        )
        with pytest.raises(JiraError, match="HTTP 503"):
            await make(http, sleeps).post_json("/rest/servicedeskapi/request", {"a": 1})
    assert route.call_count == 2


async def test_transient_5xx_retried_with_jittered_backoff_then_succeeds(
    http: httpx.AsyncClient,
) -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_mocked=True) as router:
        router.get(f"{BASE}/x").mock(
            side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(200, json=[])]
        )
        assert await make(http, sleeps, base_delay=1.0).get_json("/x") == []
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 1.0
    assert 0 <= sleeps.delays[1] <= 2.0


async def test_5xx_exhausted_after_bounded_attempts(http: httpx.AsyncClient) -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(f"{BASE}/x").respond(503, json={"errorMessage": "maintenance"})
        with pytest.raises(JiraError, match="maintenance") as info:
            await make(http, sleeps, attempts=3).get_json("/x")
    assert route.call_count == 3
    assert info.value.error_messages == ["maintenance"]


async def test_timeouts_and_connection_errors_are_retried_for_reads(
    http: httpx.AsyncClient,
) -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_mocked=True) as router:
        router.get(f"{BASE}/x").mock(
            side_effect=[
                httpx.ReadTimeout("slow"),
                httpx.ConnectError("down"),
                httpx.Response(200, json={}),
            ]
        )
        assert await make(http, sleeps).get_json("/x") == {}


async def test_timeout_on_a_post_is_not_retried(http: httpx.AsyncClient) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        route = router.post(f"{BASE}/x").mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(JiraError, match="did not answer in time"):
            await make(http, Sleeps()).post_json("/x", {})
    assert route.call_count == 1


async def test_client_errors_carry_jiras_messages_and_are_not_retried(
    http: httpx.AsyncClient,
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(f"{BASE}/x").respond(
            400,
            json={"errorMessages": ["Field 'summary' is required"], "errors": {"priority": "bad"}},
        )
        with pytest.raises(JiraError) as info:
            await make(http, Sleeps()).get_json("/x")
    assert route.call_count == 1
    assert info.value.error_messages == ["Field 'summary' is required", "priority: bad"]
    assert "summary" in info.value.message


async def test_paging_follows_to_the_last_page(http: httpx.AsyncClient) -> None:
    pages = [
        {"start": 0, "limit": 2, "size": 2, "isLastPage": False, "values": [{"id": 1}, {"id": 2}]},
        {"start": 2, "limit": 2, "size": 2, "isLastPage": False, "values": [{"id": 3}, {"id": 4}]},
        {"start": 4, "limit": 2, "size": 1, "isLastPage": True, "values": [{"id": 5}]},
    ]
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(f"{BASE}/rest/servicedeskapi/servicedesk").mock(
            side_effect=[httpx.Response(200, json=page) for page in pages]
        )
        values = [
            v
            async for v in make(http, Sleeps()).paged(
                "/rest/servicedeskapi/servicedesk", ServiceDeskDTO, what="a desk", limit=2
            )
        ]
    assert [v.id for v in values] == ["1", "2", "3", "4", "5"]
    assert [call.request.url.params["start"] for call in route.calls] == ["0", "2", "4"]


async def test_basic_auth_header_for_api_tokens(http: httpx.AsyncClient) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(f"{BASE}/x").respond(200, json={})
        await make(http, Sleeps()).get_json("/x")
    assert route.calls[0].request.headers["authorization"] == "Basic c3ZjQGFjbWUuY29tOnRvaw=="


def test_unreadable_rate_limit_headers_mean_no_advice() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    for headers in (
        {"Retry-After": "soon"},
        {"X-RateLimit-Reset": "next tuesday"},
        {"Retry-After": "soon", "X-RateLimit-Reset": "also soon"},
    ):
        assert retry_after_seconds(httpx.Response(429, headers=headers), now=now) is None
    naive = (now + timedelta(seconds=5)).replace(tzinfo=None).isoformat()  # read as UTC
    assert (
        retry_after_seconds(httpx.Response(429, headers={"X-RateLimit-Reset": naive}), now=now) == 5
    )
    past = format_datetime(now - timedelta(minutes=1), usegmt=True)
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": past}), now=now) == 0


async def test_an_unreachable_jira_fails_clearly_once_retries_are_spent(
    http: httpx.AsyncClient,
) -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(f"{BASE}/x").mock(side_effect=httpx.ConnectError("down"))
        with pytest.raises(JiraError, match="could not be reached") as info:
            await make(http, sleeps, attempts=3).get_json("/x")
    assert route.call_count == 3
    assert len(sleeps.delays) == 2
    assert info.value.status_code == 502


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (httpx.Response(200, text="<html>login</html>"), "not JSON"),
        (httpx.Response(200, json={"values": "none"}), "unexpected page"),
        (httpx.Response(200, json=[{"id": 1}]), "unexpected page"),
    ],
    ids=["html", "values-not-a-list", "not-an-object"],
)
async def test_a_page_jira_should_not_send_fails_clearly(
    http: httpx.AsyncClient, answer: httpx.Response, reason: str
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        router.get(f"{BASE}/rest/servicedeskapi/servicedesk").mock(return_value=answer)
        with pytest.raises(JiraError, match=reason):
            async for _ in make(http, Sleeps()).paged(
                "/rest/servicedeskapi/servicedesk", ServiceDeskDTO, what="a desk"
            ):
                pass


async def test_an_error_whose_body_is_not_an_object_keeps_the_status(
    http: httpx.AsyncClient,
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        router.get(f"{BASE}/x").respond(400, json=["bad"])
        with pytest.raises(JiraError) as info:
            await make(http, Sleeps()).get_json("/x")
    assert info.value.error_messages == []
    assert info.value.jira_status == 400
