from __future__ import annotations

import pytest

from app.urls import host_allowed, safe_return_path, secure_endpoint_error


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("acme.atlassian.net", True),
        ("ACME.atlassian.net", True),
        ("atlassian.net", False),
        ("a.b.atlassian.net", False),
        ("acme.atlassian.net.evil.com", False),
        ("evilatlassian.net", False),
        ("acme.jira.com", True),
        ("jira.acme-corp.com", True),  # an exact name, for a site on a custom domain
        ("JIRA.ACME-CORP.COM.", True),
        ("other.acme-corp.com", False),
    ],
)
def test_host_patterns(host: str, allowed: bool) -> None:
    assert host_allowed(host, ["*.atlassian.net", "*.jira.com", "jira.acme-corp.com"]) is allowed


@pytest.mark.parametrize(
    ("url", "loopback_ok", "error"),
    [
        ("https://idp.example.com/x", False, None),
        ("http://idp.example.com/x", True, "must use https"),
        ("http://127.0.0.1:4000/x", True, None),
        ("http://localhost:4000/x", True, None),
        ("http://[::1]:4000/x", True, None),
        ("http://127.0.0.1:4000/x", False, "must use https"),
        ("https://user:pw@idp.example.com", False, "must not carry credentials"),
        ("/relative", False, "must be an absolute URL"),
        ("javascript:alert(1)", False, "must be an absolute URL"),
        ("https://idp.example.com:99999/x", False, "is not a valid URL"),
        ("https://idp.example.com:port/x", False, "is not a valid URL"),
        ("https://idp.example.com/x#fragment", False, "must not carry a fragment"),
        ("ftp://idp.example.com/x", True, "must use https"),
    ],
)
def test_secure_endpoints(url: str, loopback_ok: bool, error: str | None) -> None:
    assert secure_endpoint_error(url, allow_http_loopback=loopback_ok) == error


@pytest.mark.parametrize("value", ["/portal/t/1", "/portal/t/1?x=1#frag"])
def test_relative_return_paths_accepted(value: str) -> None:
    assert safe_return_path(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "//evil.com",
        "/\\evil.com",
        "https://evil.com",
        "javascript:alert(1)",
        "/%2F%2Fevil.com",
        "%2F%2Fevil.com",
        "/%5Cevil.com",
        "/%252F%252Fevil.com",
        "/ok\r\nSet-Cookie:x",
        "/ok%0d%0a",
        "",
        None,
        "relative",
        "/" + "a" * 2048,
    ],
)
def test_unsafe_return_paths_refused(value: str | None) -> None:
    assert safe_return_path(value) is None
