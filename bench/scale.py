"""Per-login cost as the database grows: 1, 1,000 and 10,000 tenants with up to 1,000,000
customer links (PostgreSQL; set BENCH_DATABASE_URL to a server the script may create a
database on). Returning customers of random tenants log in through the app in-process
(OP and Jira faked by respx); the figures should stay flat because every lookup on the login
path is by primary key or index. Prints ms per login and the plans of the key lookups.

    BENCH_DATABASE_URL=postgresql+asyncpg://... .venv/bin/python -m bench.scale [--logins 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import respx
from cryptography.fernet import Fernet

from app.config import Settings
from app.crypto import SecretBox
from app.main import create_app
from bench.common import migrate, sign_in_at_op
from tests.support.hostile_op import HostileOP

STEPS = [(1, 1_000), (1_000, 100_000), (10_000, 1_000_000)]


async def seed(
    dsn: str, box: SecretBox, issuer: str, *, tenants: int, links: int, start: int
) -> list[tuple[str, str]]:
    """Add tenants (ids start..) with one IdP each, and links spread over all tenants."""
    connection = await asyncpg.connect(dsn)
    now = datetime.now(UTC)
    secret = box.encrypt("s" * 40)
    client_secret = box.encrypt("op-client-secret-value")
    tenant_rows = [
        (
            f"t{n:07d}",
            f"jira:{n}",
            secret,
            "https://acme.atlassian.net",
            None,
            "jira",
            None,
            True,
            True,
            now,
            None,
            now,
        )
        for n in range(start, tenants)
    ]
    await connection.copy_records_to_table(
        "tenants",
        records=tenant_rows,
        columns=[
            "id",
            "client_key",
            "shared_secret_encrypted",
            "base_url",
            "display_url",
            "product_type",
            "description",
            "installed",
            "enabled",
            "installed_at",
            "uninstalled_at",
            "updated_at",
        ],
    )
    idp_rows = [
        (
            f"i{n:07d}",
            f"t{n:07d}",
            "SSO",
            "oidc",
            "portal-client",
            client_secret,
            f'{{"issuer": "{issuer}"}}',
            "openid profile email",
            "client_secret_basic",
            None,
            "{}",
            "[]",
            False,
            True,
            0,
            None,
            None,
            None,
            None,
            now,
            now,
        )
        for n in range(start, tenants)
    ]
    await connection.copy_records_to_table(
        "identity_providers",
        records=idp_rows,
        columns=[
            "id",
            "tenant_id",
            "name",
            "preset",
            "client_id",
            "client_secret_encrypted",
            "settings",
            "scopes",
            "token_auth_method",
            "logout_url",
            "attribute_mapping",
            "email_domains",
            "trust_email",
            "enabled",
            "position",
            "pinned_issuer",
            "pinned_jwks_uri",
            "last_test_claims",
            "last_tested_at",
            "created_at",
            "updated_at",
        ],
    )
    existing = await connection.fetchval("SELECT count(*) FROM customer_links")
    link_rows = [
        (
            f"t{n % tenants:07d}",
            issuer,
            f"user-{n}",
            f"qm:{n}",
            f"user-{n}@example.com",
            f"User {n}",
            '["7"]',
            "[]",
            now,
            now,
        )
        for n in range(existing, links)
    ]
    await connection.copy_records_to_table(
        "customer_links",
        records=link_rows,
        columns=[
            "tenant_id",
            "issuer",
            "subject",
            "account_id",
            "email",
            "display_name",
            "service_desk_ids",
            "organizations",
            "refreshed_at",
            "created_at",
        ],
    )
    await connection.execute("ANALYZE")
    sample = await connection.fetch(
        "SELECT tenant_id, subject FROM customer_links TABLESAMPLE SYSTEM (1) LIMIT 2000"
    ) or await connection.fetch("SELECT tenant_id, subject FROM customer_links LIMIT 2000")
    await connection.close()
    return [(row["tenant_id"], row["subject"]) for row in sample]


async def logins(
    url: str, key: str, op: HostileOP, population: list[tuple[str, str]], count: int
) -> list[float]:
    settings = Settings(
        _env_file=None,
        app_env="development",
        app_base_url="https://sso.example.test",  # type: ignore[call-arg]
        database_url=url,
        encryption_keys=key,
        purge_interval_seconds=0,
        login_starts_per_ip_per_minute=0,
        login_starts_per_ip_ceiling_per_minute=0,
        login_starts_per_tenant_per_minute=0,
    )
    app = create_app(settings)
    desk = {"id": "7", "projectId": "10007", "projectKey": "ITH", "projectName": "IT Help"}
    timings: list[float] = []
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        op.mount(router)
        router.get(
            url__regex=r"https://acme\.atlassian\.net/rest/servicedeskapi/servicedesk/7$"
        ).respond(200, json=desk)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=settings.app_base_url
            ) as browser:
                for tenant_id, subject in random.sample(population, min(count, len(population))):
                    browser.cookies.clear()
                    started = time.perf_counter()
                    first = await browser.get(f"/portal/{tenant_id}/7")
                    assert first.status_code == 303, first.text
                    done = await browser.get(sign_in_at_op(op, subject, first.headers["location"]))
                    assert done.status_code == 303, done.text[:300]
                    timings.append((time.perf_counter() - started) * 1000)
    return timings


async def plans(dsn: str, sample: tuple[str, str], issuer: str) -> list[str]:
    connection = await asyncpg.connect(dsn)
    queries = [
        (
            "customer link",
            "SELECT * FROM customer_links WHERE tenant_id=$1 AND issuer=$2 AND subject=$3",
            (sample[0], issuer, sample[1]),
        ),
        (
            "identity providers of a tenant",
            "SELECT * FROM identity_providers WHERE tenant_id=$1 ORDER BY position",
            (sample[0],),
        ),
        ("login state", "SELECT * FROM login_states WHERE state_hash=$1", ("x" * 64,)),
    ]
    lines = []
    for name, sql, params in queries:
        plan = await connection.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", *params)
        lines.append(f"  {name}: " + " / ".join(row[0].strip() for row in plan[:2]))
    await connection.close()
    return lines


async def main_async(count: int) -> None:
    base = os.environ.get("BENCH_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        raise SystemExit("set BENCH_DATABASE_URL to a PostgreSQL URL (postgresql+asyncpg://...)")
    name = f"portal_sso_scale_{secrets.token_hex(3)}"
    server = urlsplit(base.replace("postgresql+asyncpg", "postgresql"))
    admin = await asyncpg.connect(urlunsplit(server))
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(server._replace(path=f"/{name}"))
    url = dsn.replace("postgresql://", "postgresql+asyncpg://")
    try:
        await asyncio.to_thread(migrate, url)
        key = Fernet.generate_key().decode()
        box = SecretBox([key])
        op = HostileOP()
        done_tenants = 0
        for tenants, link_count in STEPS:
            started = time.perf_counter()
            population = await seed(
                dsn, box, op.issuer, tenants=tenants, links=link_count, start=done_tenants
            )
            seeded = time.perf_counter() - started
            done_tenants = tenants
            timings = await logins(url, key, op, population, count)
            print(
                f"{tenants:>6} tenants, {link_count:>9} links (seeded in {seeded:4.1f}s): "
                f"returning login {statistics.median(timings):5.1f} ms median, "
                f"{statistics.quantiles(timings, n=100)[98]:5.1f} ms p99 over {len(timings)} logins"
            )
        for line in await plans(dsn, population[0], op.issuer):
            print(line)
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=300)
    asyncio.run(main_async(parser.parse_args().logins))


if __name__ == "__main__":
    main()
