"""Atlassian's JWT/qsh interoperability vectors verify through the app's own code path:
the ASGI request -> ``request_target`` -> ``query_string_hash`` -> ``verify_tenant_token``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from starlette.requests import Request

from app.config import Settings
from app.connect.deps import request_target
from app.connect.jwt import canonical_request, query_string_hash, verify_tenant_token
from tests.conftest import DATA

VECTORS = json.loads((DATA / "connect-jwt-signed-urls.json").read_text())
# Generated before the `&` -> `%26` path fix; the fixed rule is tested in test_jwt.py.
SUPERSEDED = {"BasePath RFC3986 Subdelimiters", "BasePath RFC3986 Subdelimiters (uri)"}
CASES = [case for case in VECTORS["tests"] if case["name"] not in SUPERSEDED]
# The vectors were signed on 2014-02-12; verify them at the moment they were issued.
SIGNED_AT = datetime.fromtimestamp(1392204462, tz=UTC)


def asgi_request(url: str) -> Request:
    parts = urlsplit(url)
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": parts.scheme,
            "server": (parts.hostname, 443),
            "path": parts.path,
            "raw_path": parts.path.encode(),
            "query_string": parts.query.encode(),
            "headers": [],
        }
    )


def test_only_the_superseded_cases_are_left_out() -> None:
    assert len(VECTORS["tests"]) - len(CASES) == 2


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_signed_url_verifies(case: dict[str, str], settings: Settings) -> None:
    example = settings.model_copy(update={"app_base_url": "https://example.com"})
    request = asgi_request(case["signedUrl"])
    path, query = request_target(request, example)
    assert canonical_request("GET", path, query) == case["canonicalUrl"]

    claims = verify_tenant_token(
        request.query_params["jwt"],
        shared_secret=VECTORS["secret"],
        client_key="jira:1234-5678-9000",
        expected_qsh=query_string_hash("GET", path, query),
        now=SIGNED_AT,
    )
    assert claims.issuer == "jira:1234-5678-9000"


def test_a_vector_fails_against_another_path(settings: Settings) -> None:
    case = CASES[0]
    request = asgi_request(case["signedUrl"].replace("/test?", "/tset?"))
    path, query = request_target(request, settings)
    with pytest.raises(Exception, match="query string hash"):
        verify_tenant_token(
            request.query_params["jwt"],
            shared_secret=VECTORS["secret"],
            client_key="jira:1234-5678-9000",
            expected_qsh=query_string_hash("GET", path, query),
            now=SIGNED_AT,
        )
