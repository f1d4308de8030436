"""The fake JSM is only worth its checks: prove they fire."""

from __future__ import annotations

import httpx
import pytest
import respx

from app.connect.auth import ConnectJWTAuth
from tests.support.fake_jira import FakeJira

BASE = "https://acme.atlassian.net"
SECRET = "a-tenant-shared-secret-long-enough-for-hs256"


@pytest.fixture
def jira() -> FakeJira:
    fake = FakeJira(base_url=BASE, app_key="app", client_key="jira:1", shared_secret=SECRET)
    fake.add_desk("7", "ITH", "IT Help")
    return fake


async def test_a_body_outside_the_spec_is_caught(jira: FakeJira) -> None:
    auth = ConnectJWTAuth(app_key="app", client_key="jira:1", shared_secret=SECRET, base_url=BASE)
    with respx.mock() as router:
        jira.mount(router)
        async with httpx.AsyncClient(auth=auth) as http:
            with pytest.raises(AssertionError, match="does not match the JSM spec"):
                await http.post(
                    f"{BASE}/rest/servicedeskapi/customer", json={"email": "a@b.c", "nickname": "x"}
                )


async def test_a_wrong_signature_or_qsh_is_401(jira: FakeJira) -> None:
    good = ConnectJWTAuth(app_key="app", client_key="jira:1", shared_secret=SECRET, base_url=BASE)
    bad = ConnectJWTAuth(app_key="app", client_key="jira:1", shared_secret="x" * 40, base_url=BASE)
    with respx.mock() as router:
        jira.mount(router)
        async with httpx.AsyncClient() as http:
            assert (
                await http.get(f"{BASE}/rest/servicedeskapi/servicedesk", auth=good)
            ).status_code == 200
            assert (
                await http.get(f"{BASE}/rest/servicedeskapi/servicedesk", auth=bad)
            ).status_code == 401
            signed = http.build_request("GET", f"{BASE}/rest/servicedeskapi/servicedesk/7")
            next(good.auth_flow(signed))
            replayed = http.build_request(
                "GET", f"{BASE}/rest/servicedeskapi/servicedesk", headers=signed.headers
            )
            assert (await http.send(replayed)).status_code == 401  # qsh is for another path
