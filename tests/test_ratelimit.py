"""Login-start rate limiting: sliding windows per (tenant, client IP) and per tenant; starts
that come back verified are taken back from the per-address count."""

from __future__ import annotations

import pytest

from app.ratelimit import (
    LoginRateLimiter,
    SlidingWindow,
    TooManyLoginsError,
    client_network,
    forwarded_by_untrusted_proxy,
)


def allow(window: SlidingWindow, key: str, *, now: float) -> bool:
    """Count a hit when there is room, as LoginRateLimiter does for each of its windows."""
    if not window.has_room(key, now=now):
        return False
    window.record(key, now=now)
    return True


def test_a_window_allows_the_limit_then_refuses_until_the_oldest_hit_ages_out() -> None:
    window = SlidingWindow(3, window=60)
    assert [allow(window, "k", now=t) for t in (0, 10, 20)] == [True, True, True]
    assert allow(window, "k", now=59.9) is False
    assert allow(window, "k", now=60.0) is True  # the hit at 0 has left the window
    assert allow(window, "k", now=61) is False
    assert allow(window, "other", now=61) is True  # keys are counted apart


def test_refused_attempts_do_not_extend_the_wait() -> None:
    window = SlidingWindow(1, window=60)
    assert allow(window, "k", now=0)
    for t in range(1, 60):
        assert not allow(window, "k", now=t)
    assert allow(window, "k", now=60)


def test_a_limit_of_zero_switches_limiting_off() -> None:
    window = SlidingWindow(0)
    assert all(allow(window, "k", now=0) for _ in range(1000))


def test_the_memory_of_keys_is_bounded() -> None:
    window = SlidingWindow(1, max_keys=10)
    for n in range(100):
        assert allow(window, f"ip-{n}", now=0)
    assert window.tracked_keys == 10
    assert allow(window, "ip-0", now=1)  # forgotten (the oldest went first)
    assert not allow(window, "ip-99", now=1)


def test_per_ip_and_per_tenant_limits() -> None:
    limiter = LoginRateLimiter(per_ip=2, per_tenant=3)
    limiter.check("t1", "10.0.0.1")
    limiter.check("t1", "10.0.0.1")
    with pytest.raises(TooManyLoginsError):
        limiter.check("t1", "10.0.0.1")  # this address, this site: over its limit
    limiter.check("t2", "10.0.0.1")  # the same address at another site is counted apart
    limiter.check("t1", "10.0.0.2")
    with pytest.raises(TooManyLoginsError, match="too many sign-in attempts"):
        limiter.check("t1", "10.0.0.3")  # the site as a whole is over its limit


def test_one_ipv6_subscriber_cannot_step_around_the_per_ip_limit() -> None:
    limiter = LoginRateLimiter(per_ip=2, per_tenant=100)
    limiter.check("t1", "2001:db8:1:2::1")
    limiter.check("t1", "2001:db8:1:2:ffff::9")
    with pytest.raises(TooManyLoginsError):
        limiter.check("t1", "2001:db8:1:2:abcd::3")  # another address, the same /64
    limiter.check("t1", "2001:db8:1:3::1")  # the next /64 is another subscriber


def test_a_refused_attempt_counts_in_no_window() -> None:
    limiter = LoginRateLimiter(per_ip=2, per_tenant=4, per_ip_ceiling=100)
    limiter.check("t1", "10.0.0.1", now=0)
    limiter.check("t1", "10.0.0.2", now=0)
    limiter.check("t1", "10.0.0.2", now=0)
    for _ in range(5):
        with pytest.raises(TooManyLoginsError):
            limiter.check("t1", "10.0.0.2", now=0)  # over its own limit
    limiter.check("t1", "10.0.0.1", now=0)  # the site's fourth: the refusals took none
    with pytest.raises(TooManyLoginsError):
        limiter.check("t1", "10.0.0.3", now=0)  # the site is full
    limiter.finished("t1", "10.0.0.3")
    limiter.check("t1", "10.0.0.3", now=60)  # the window has moved on


def test_finished_starts_are_taken_back_up_to_the_ceiling() -> None:
    limiter = LoginRateLimiter(per_ip=3, per_tenant=1000, per_ip_ceiling=10)
    for _ in range(10):
        limiter.check("t1", "10.0.0.1", now=0)
        limiter.finished("t1", "10.0.0.1")
    with pytest.raises(TooManyLoginsError):
        limiter.check("t1", "10.0.0.1", now=0)  # the ceiling counts every start
    limiter.check("t1", "10.0.0.2", now=0)  # another address has its own


def test_unfinished_starts_meet_the_low_limit_and_taking_back_needs_a_start() -> None:
    limiter = LoginRateLimiter(per_ip=3, per_tenant=1000, per_ip_ceiling=100)
    for _ in range(5):
        limiter.finished("t1", "10.0.0.1")  # nothing to take back: no credit is stored
    for _ in range(3):
        limiter.check("t1", "10.0.0.1", now=0)
    with pytest.raises(TooManyLoginsError):
        limiter.check("t1", "10.0.0.1", now=0)
    limiter.finished("t1", "10.0.0.9")  # a login finished elsewhere frees nothing here
    with pytest.raises(TooManyLoginsError):
        limiter.check("t1", "10.0.0.1", now=0)
    limiter.finished("t1", "10.0.0.1")
    limiter.check("t1", "10.0.0.1", now=0)
    with pytest.raises(TooManyLoginsError):
        limiter.check("t1", "10.0.0.1", now=0)


@pytest.mark.parametrize(
    ("client", "counted_as"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),  # a dual-stack socket's IPv4 client
        ("testclient", "testclient"),
    ],
)
def test_what_the_per_ip_limit_counts(client: str, counted_as: str) -> None:
    assert client_network(client) == counted_as


@pytest.mark.parametrize(
    ("forwarded_for", "client", "untrusted"),
    [
        (None, "10.0.0.5", False),  # no proxy in front
        ("203.0.113.9", "203.0.113.9", False),  # uvicorn trusted the proxy and used the header
        ("198.51.100.1, 203.0.113.9", "203.0.113.9", False),
        ("203.0.113.9", "10.0.0.5", True),  # the proxy's own address: not trusted
        ("198.51.100.1, 203.0.113.9", "10.0.0.5", True),
    ],
)
def test_a_proxy_that_is_not_trusted_is_recognised(
    forwarded_for: str | None, client: str, untrusted: bool
) -> None:
    assert forwarded_by_untrusted_proxy(forwarded_for, client) is untrusted
