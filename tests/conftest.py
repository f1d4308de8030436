"""Shared fixtures: one migrated database per run, cleaned after each test; the app under
test with its lifespan running; Atlassian's install-key CDN faked with respx."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from alembic import command
from alembic.config import Config
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.crypto import SecretBox
from app.main import create_app
from app.models import Base
from app.observability import Metrics
from app.portal.pages import UploadSlots
from app.tenants.cache import TenantCache
from app.tenants.changes import CHANNEL
from tests.support.connect_tokens import InstallSigner, tenant_token

pytest_plugins = ["tests.support.login_fixtures", "tests.support.forge_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
APP_BASE_URL = "https://sso.example.test"
KEYS_URL = "https://install-keys.example.test"
JIRA_BASE_URL = "https://acme.atlassian.net"


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url)
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """TEST_DATABASE_URL (CI sets a PostgreSQL one) or a fresh SQLite file; migrated once."""
    url = os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    )
    command.downgrade(alembic_config(url), "base")
    command.upgrade(alembic_config(url), "head")
    return url


@pytest.fixture(scope="session")
def encryption_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def settings(database_url: str, encryption_key: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="production",
        app_base_url=APP_BASE_URL,
        database_url=database_url,
        encryption_keys=encryption_key,
        connect_install_keys_url=KEYS_URL,
        allowed_install_hosts="*.atlassian.net,*.jira.com",
    )


@pytest.fixture(scope="session")
def built_apps() -> dict[str, FastAPI]:
    """The apps built so far, by their settings."""
    return {}


def _settings_key(settings: Settings) -> str:
    def plain(value: Any) -> str:
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    return json.dumps(settings.model_dump(), default=plain, sort_keys=True)


@pytest.fixture
async def app(settings: Settings, built_apps: dict[str, FastAPI]) -> AsyncIterator[FastAPI]:
    """The app for these settings, built once per run, with its lifespan (engine, client,
    caches: everything that holds state) started afresh for each test.

    FastAPI analyses a route's dependencies on an app's first requests, which cost a third
    of each test when every test built its own app. The services built with the app
    (settings, secret box, metrics, upload slots) are put back after each test, in case the
    test swapped in a double. Tests do not share rows: each test's rows are deleted after it
    (see ``_clean_database`` for why not a rolled-back transaction)."""
    key = _settings_key(settings)
    application = built_apps.get(key) or built_apps.setdefault(key, create_app(settings))
    services = application.state.services
    built_with = [services.get(kind) for kind in (Settings, SecretBox, Metrics, UploadSlots)]
    try:
        async with application.router.lifespan_context(application):
            yield application
            await _clean_database(services.get(async_sessionmaker))
    finally:
        for service in built_with:
            services.add(service)


async def _clean_database(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Delete every row the test wrote.

    CONVENTIONS asks for a transaction per test, rolled back. That fits tests of a service
    called with one session; the app under test is not one: a request commits in several
    sessions of its own (the form token's claim, the background tasks after the answer),
    the tenant cache learns of changes from PostgreSQL's NOTIFY, which is only sent on a
    real commit, and on SQLite writers queue for the write lock that a commit releases.
    Joining them all into one outer transaction would test another program. The deletes
    cost about 15 ms a test."""
    async with sessionmaker() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(delete(table))
        await session.commit()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=APP_BASE_URL) as http:
        yield http


@pytest.fixture
def session(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = app.state.services.get(async_sessionmaker)
    return maker


@pytest.fixture(scope="session")
def signer() -> InstallSigner:
    return InstallSigner()


@pytest.fixture
def network() -> Iterator[respx.MockRouter]:
    """Every outbound request must be mocked; unmocked ones fail the test."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def key_cdn(network: respx.MockRouter, signer: InstallSigner) -> respx.Route:
    return network.get(f"{KEYS_URL}/{signer.kid}").respond(200, content=signer.public_pem)


@dataclass
class InstalledTenant:
    client_key: str
    shared_secret: str
    base_url: str
    tenant_id: str
    jira: Any = None  # the FakeJira serving this tenant's site

    def context_token(self, **overrides: Any) -> str:
        return tenant_token(client_key=self.client_key, secret=self.shared_secret, **overrides)

    def admin_headers(self, **overrides: Any) -> dict[str, str]:
        """Headers of an admin API call from the admin iframe (a context token)."""
        return {"Authorization": f"JWT {self.context_token(**overrides)}"}


def install_body(
    client_key: str, shared_secret: str, base_url: str = JIRA_BASE_URL
) -> dict[str, Any]:
    return {
        "key": "portal-sso-for-jsm",
        "clientKey": client_key,
        "sharedSecret": shared_secret,
        "baseUrl": base_url,
        "displayUrl": base_url,
        "productType": "jira",
        "description": "Atlassian JIRA at " + base_url,
        "eventType": "installed",
    }


async def install_tenant(
    client: httpx.AsyncClient,
    signer: InstallSigner,
    *,
    client_key: str | None = None,
    shared_secret: str | None = None,
    base_url: str = JIRA_BASE_URL,
    body: dict[str, Any] | None = None,
    app_base_url: str = APP_BASE_URL,
) -> httpx.Response:
    """A validly signed install; ``body`` overrides fields of its payload."""
    client_key = client_key or f"client-{secrets.token_hex(6)}"
    shared_secret = shared_secret or secrets.token_urlsafe(32)
    token = signer.token(client_key=client_key, aud=app_base_url, path="/lifecycle/installed")
    return await client.post(
        "/lifecycle/installed",
        json=install_body(client_key, shared_secret, base_url) | (body or {}),
        headers={"Authorization": f"JWT {token}"},
    )


async def install_with_jira(
    client: httpx.AsyncClient,
    signer: InstallSigner,
    network: respx.MockRouter,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    client_key: str | None = None,
    base_url: str = JIRA_BASE_URL,
) -> InstalledTenant:
    """Install a tenant whose Jira site is a FakeJira with one desk (id 7, ITH)."""
    from app.tenants import repository as tenants
    from tests.support.fake_jira import FakeJira

    client_key = client_key or f"client-{secrets.token_hex(6)}"
    shared_secret = secrets.token_urlsafe(32)
    response = await install_tenant(
        client,
        signer,
        client_key=client_key,
        shared_secret=shared_secret,
        base_url=base_url,
        app_base_url=settings.app_base_url,
    )
    assert response.status_code == 204, response.text
    async with sessionmaker() as s:
        row = await tenants.get_by_client_key(s, client_key)
    assert row is not None
    jira = FakeJira(
        base_url=base_url,
        app_key=settings.app_key,
        client_key=client_key,
        shared_secret=shared_secret,
    )
    jira.add_desk("7", "ITH", "IT Help")
    jira.mount(network)
    return InstalledTenant(client_key, shared_secret, base_url, row.id, jira)


@pytest.fixture
async def tenant(
    client: httpx.AsyncClient,
    signer: InstallSigner,
    key_cdn: respx.Route,
    network: respx.MockRouter,
    settings: Settings,
    session: async_sessionmaker[AsyncSession],
) -> InstalledTenant:
    return await install_with_jira(client, signer, network, settings, session)


@pytest.fixture
async def other_tenant(
    tenant: InstalledTenant,
    client: httpx.AsyncClient,
    signer: InstallSigner,
    network: respx.MockRouter,
    settings: Settings,
    session: async_sessionmaker[AsyncSession],
) -> InstalledTenant:
    """A second site, with a Jira of its own, installed after ``tenant``."""
    return await install_with_jira(
        client, signer, network, settings, session, base_url="https://other-site.atlassian.net"
    )


@pytest.fixture
def jira(tenant: InstalledTenant) -> Any:
    return tenant.jira


@pytest.fixture(scope="session")
def openid_provider() -> Iterator[Any]:
    """The real OpenID Provider (npm oidc-provider) on loopback."""
    from tests.support.openid_provider import start_openid_provider

    yield from start_openid_provider()


@pytest.fixture(scope="session")
def cognito_provider() -> Iterator[Any]:
    """The real OpenID Provider serving Cognito's paths and claim quirks."""
    from tests.support.openid_provider import start_openid_provider

    yield from start_openid_provider(cognito_style=True)


async def settle_tenant_cache(
    cache: TenantCache, session: async_sessionmaker[AsyncSession]
) -> None:
    """On PostgreSQL, wait until the listener has applied every NOTIFY sent so far (this
    process hears its own announcements too, a moment after it evicted locally)."""
    if session.kw["bind"].dialect.name != "postgresql":
        return
    heard: list[str] = []
    evict = cache.evict_payload
    marker = f"t:settled-{uuid.uuid4()}"

    def record(payload: str) -> None:
        heard.append(payload)
        evict(payload)

    cache.evict_payload = record  # type: ignore[method-assign]
    try:
        async with session() as s:
            await s.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": marker})
            await s.commit()
        for _ in range(200):  # notifications arrive in commit order
            if marker in heard:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the tenant cache's listener heard nothing")
    finally:
        del cache.evict_payload
