"""An identity provider that fails or answers nonsense after the customer signed in there:
one test per way the token endpoint, the ID token's form and the userinfo endpoint can break.

Each time the customer gets a readable page (never a trace), the audit log keeps the reason,
no customer is provisioned and no portal session exists; and the next attempt, once the IdP
behaves, signs the customer in."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import InstalledTenant
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import (
    DESK_ID,
    RecordingProvisioner,
    assert_refused,
    failures,
    login,
    sessions,
)

pytestmark = pytest.mark.usefixtures("idp")


@pytest.mark.parametrize(
    ("misbehave", "reason"),
    [
        (
            {"token_error": "invalid_grant"},
            "identity provider did not accept the sign-in code (invalid_grant)",
        ),
        (
            {"token_answer": httpx.Response(500, text="<html>Internal error</html>")},
            "identity provider did not accept the sign-in code (HTTP 500)",
        ),
        (
            {"token_answer": httpx.Response(200, text="not json")},
            "identity provider did not accept the sign-in code (HTTP 200)",
        ),
        (
            {"token_answer": httpx.Response(200, json=["access_token"])},
            "identity provider did not accept the sign-in code (HTTP 200)",
        ),
        (
            {"token_body_overrides": {"access_token": None}},
            "token response has no access token",
        ),
        (
            {"token_body_overrides": {"token_type": "mac"}},
            "token response is not a bearer token",
        ),
        (
            {"token_body_overrides": {"token_type": None}},
            "token response is not a bearer token",
        ),
        ({"unreachable": {"token"}}, "token endpoint is not reachable"),
    ],
    ids=[
        "oauth-error",
        "http-500-html",
        "not-json",
        "json-not-object",
        "no-access-token",
        "not-bearer",
        "no-token-type",
        "unreachable",
    ],
)
async def test_token_endpoint_failures_are_shown_and_recorded(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    misbehave: dict[str, Any],
    reason: str,
) -> None:
    op.misbehave(**misbehave)
    response = await login(client, tenant, op)
    await assert_refused(response, provisioner, session, reason, status=502)
    assert f"/portal/{tenant.tenant_id}/{DESK_ID}" in response.text  # a way to try again
    assert op.userinfo_calls == 0


async def test_an_access_token_with_non_ascii_text_fails_its_at_hash_check(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    # at_hash is over the token's ASCII octets; any other text cannot match it.
    op.token_body_overrides = {"access_token": "t\u00f6ken"}
    response = await login(client, tenant, op)
    await assert_refused(response, provisioner, session, "at_hash")


async def test_the_next_attempt_succeeds_once_the_token_endpoint_is_back(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    op.unreachable = {"token"}
    assert (await login(client, tenant, op)).status_code == 502
    op.unreachable = set()
    response = await login(client, tenant, op)
    assert response.status_code == 303, response.text
    assert [c.email for c in provisioner.calls] == ["ada@example.com"]
    assert await sessions(session) == 1
    assert len(await failures(session)) == 1


@pytest.mark.parametrize(
    ("id_token", "reason"),
    [
        ("not-a-jwt", "ID token is malformed"),
        ("eyJhbGciOiJSUzI1NiJ9.e30", "ID token is malformed"),
        (12345, "no ID token"),
    ],
    ids=["garbage", "two-parts", "not-a-string"],
)
async def test_malformed_id_tokens_are_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    id_token: object,
    reason: str,
) -> None:
    op.token_body_overrides = {"id_token": id_token}
    response = await login(client, tenant, op)
    await assert_refused(response, provisioner, session, reason, status=400)
    assert op.userinfo_calls == 0


async def test_signed_id_token_whose_payload_is_not_a_json_object_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    key = op.keys[-1]
    op.token_body_overrides = {
        "id_token": jwt.api_jws.encode(
            b'["sub", "user-123"]', key.private_key, algorithm="RS256", headers={"kid": key.kid}
        )
    }
    response = await login(client, tenant, op)
    await assert_refused(
        response, provisioner, session, "ID token could not be verified", status=400
    )


async def test_id_token_algorithm_other_than_its_keys_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    # The IdP allows RS384 in general, but the key the token names is published for RS256 only.
    op.signing_algs = ["RS256", "RS384"]
    op.sign_with = "rs384"
    response = await login(client, tenant, op)
    await assert_refused(
        response, provisioner, session, "algorithm does not fit its key", status=400
    )


@pytest.mark.parametrize(
    ("misbehave", "reason"),
    [
        ({"userinfo_answer": httpx.Response(401)}, "userinfo endpoint answered HTTP 401"),
        ({"userinfo_answer": httpx.Response(200, text="<html/>")}, "userinfo is not JSON"),
        (
            {"userinfo_answer": httpx.Response(200, json=[{"sub": "user-123"}])},
            "userinfo is not a JSON object",
        ),
        ({"unreachable": {"userinfo"}}, "userinfo endpoint is not reachable"),
        ({"advertise_userinfo": False}, "identity provider has no userinfo endpoint"),
    ],
    ids=["http-401", "not-json", "json-not-object", "unreachable", "not-advertised"],
)
async def test_userinfo_failures_are_shown_and_recorded(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    misbehave: dict[str, Any],
    reason: str,
) -> None:
    # The ID token lacks the email, so the app must ask userinfo for it.
    op.claim_overrides = {"email": None, "email_verified": None}
    op.misbehave(**misbehave)
    response = await login(client, tenant, op)
    await assert_refused(response, provisioner, session, reason, status=502)
