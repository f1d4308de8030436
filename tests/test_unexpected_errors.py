"""The last line of defence: an error nobody anticipated (a bug) gives customers a readable
page and the admin API a JSON error, with nothing of the exception in either; the trace goes
to the log for operators. The database not answering is a passing state: a 503 that says to
try again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.db import DatabaseUnreachableError, create_engine
from app.handlers import DATABASE_UNAVAILABLE
from app.observability import AlreadyLogged
from tests.conftest import APP_BASE_URL, InstalledTenant
from tests.support.refusing_postgres import refusing_postgres

pytestmark = pytest.mark.usefixtures("idp")

SECRET_DETAIL = "connection to server at 10.1.2.3 refused"


def database_down(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise OperationalError("INSERT INTO login_states", {}, ConnectionError(SECRET_DETAIL))


def a_bug(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise KeyError(SECRET_DETAIL)


@pytest.fixture
async def raw_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # As a server does: the app's response is what the browser gets (no re-raise to us).
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=APP_BASE_URL) as http:
        yield http


async def test_a_customer_sees_a_plain_page(
    raw_client: httpx.AsyncClient,
    tenant: InstalledTenant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("app.idps.repository.save_login_state", a_bug)
    response = await raw_client.get(f"/portal/{tenant.tenant_id}/7")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Something went wrong on our side." in response.text
    for leak in (SECRET_DETAIL, "KeyError", "Traceback"):
        assert leak not in response.text
    assert "location" not in response.headers
    assert SECRET_DETAIL in caplog.text  # operators get the whole story


async def test_the_admin_api_answers_json_without_detail(
    raw_client: httpx.AsyncClient, tenant: InstalledTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.admin.api.recent_logins", a_bug)
    response = await raw_client.get("/api/admin/logins", headers=tenant.admin_headers())
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "message": "internal error"}


@pytest.mark.parametrize(
    "failure",
    [FileNotFoundError(SECRET_DETAIL), ConnectionRefusedError(SECRET_DETAIL)],
    ids=["missing-file", "socket-outside-the-database"],
)
async def test_an_os_error_outside_the_database_is_a_bug_not_an_outage(
    raw_client: httpx.AsyncClient,
    tenant: InstalledTenant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: OSError,
) -> None:
    """Any OSError used to answer 503 and log "database unavailable": a missing data file
    looked like a database outage to the operator."""

    def broken(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise failure

    monkeypatch.setattr("app.idps.repository.save_login_state", broken)
    response = await raw_client.get(f"/portal/{tenant.tenant_id}/7")
    assert response.status_code == 500
    assert "Something went wrong on our side." in response.text
    assert "database unavailable" not in caplog.text


@pytest.mark.parametrize(
    "failure",
    [
        OperationalError("INSERT INTO login_states", {}, ConnectionError(SECRET_DETAIL)),
        DatabaseUnreachableError(SECRET_DETAIL),  # asyncpg's refusal or connect timeout
        PoolTimeoutError(SECRET_DETAIL),  # every pooled connection busy
    ],
)
async def test_a_customer_is_asked_to_try_again_while_the_database_is_unavailable(
    raw_client: httpx.AsyncClient,
    tenant: InstalledTenant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
) -> None:
    def unavailable(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise failure

    monkeypatch.setattr("app.idps.repository.save_login_state", unavailable)
    page = f"/portal/{tenant.tenant_id}/7"
    response = await raw_client.get(page)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert "briefly unavailable" in response.text
    assert f'href="{page}"' in response.text  # Try again
    for leak in (SECRET_DETAIL, type(failure).__name__, "Traceback", "login_states"):
        assert leak not in response.text
    assert SECRET_DETAIL in caplog.text


async def test_an_outage_logs_one_trace_a_minute_not_one_per_request(
    raw_client: httpx.AsyncClient,
    tenant: InstalledTenant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("app.idps.repository.save_login_state", database_down)
    for _ in range(3):
        assert (await raw_client.get(f"/portal/{tenant.tenant_id}/7")).status_code == 503
    lines = [r for r in caplog.records if r.getMessage().startswith("database unavailable")]
    assert [r.exc_info is not None for r in lines] == [True, False, False]
    assert lines[1].getMessage() == "database unavailable: OperationalError"


async def refusal(driver: str, sqlstate: str, message: str) -> Exception:
    """What the driver, through SQLAlchemy, raises when the server refuses to connect."""
    async with refusing_postgres(sqlstate, message) as port:
        engine = create_engine(f"{driver}://u:p@127.0.0.1:{port}/db")
        try:
            async with engine.connect():
                pass
        except Exception as refused:  # the exception is what we came for
            return refused
        finally:
            await engine.dispose()
    raise AssertionError("the server let us in")


@pytest.mark.parametrize("driver", ["postgresql+asyncpg", "postgresql+psycopg"])
@pytest.mark.parametrize(
    ("sqlstate", "message"),
    [
        ("57P03", "the database system is starting up"),
        ("57P01", "terminating connection due to administrator command"),
        ("53300", "sorry, too many clients already"),
    ],
    ids=["starting-up", "shutting-down", "too-many-clients"],
)
async def test_a_restarting_or_full_postgresql_gives_a_503_with_either_driver(
    raw_client: httpx.AsyncClient,
    tenant: InstalledTenant,
    monkeypatch: pytest.MonkeyPatch,
    driver: str,
    sqlstate: str,
    message: str,
) -> None:
    """asyncpg's refusals reach us as a plain DBAPIError, not an OperationalError: before,
    every PostgreSQL restart showed customers the page meant for bugs."""
    failure = await refusal(driver, sqlstate, message)

    def unavailable(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise failure

    monkeypatch.setattr("app.idps.repository.save_login_state", unavailable)
    response = await raw_client.get(f"/portal/{tenant.tenant_id}/7")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert message not in response.text


async def test_a_database_error_that_is_not_an_outage_is_still_a_bug(
    raw_client: httpx.AsyncClient, tenant: InstalledTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    failure = await refusal("postgresql+asyncpg", "42P01", 'relation "login_states" does not exist')

    def broken(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise failure

    monkeypatch.setattr("app.idps.repository.save_login_state", broken)
    response = await raw_client.get(f"/portal/{tenant.tenant_id}/7")
    assert response.status_code == 500
    assert "Something went wrong on our side." in response.text


async def test_the_admin_api_says_unavailable_while_the_database_is(
    raw_client: httpx.AsyncClient, tenant: InstalledTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.admin.api.recent_logins", database_down)
    response = await raw_client.get("/api/admin/logins", headers=tenant.admin_headers())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.json() == {
        "error": "unavailable",
        "message": "the service is briefly unavailable; try again in a minute",
    }


@pytest.mark.parametrize("driver", ["postgresql+asyncpg", "postgresql+psycopg"])
async def test_a_database_that_never_answers_fails_a_request_in_bounded_time(
    driver: str,
) -> None:
    """A server that accepts the connection and then says nothing (a failover in progress)
    held requests for asyncpg's default 60 s, and psycopg's 130 s."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = create_engine(f"{driver}://u:p@127.0.0.1:{port}/db", connect_timeout=1)
    try:
        async with asyncio.timeout(5):  # the test's own bound, far above the app's
            with pytest.raises(DATABASE_UNAVAILABLE):
                async with engine.connect():
                    pass
    finally:
        await engine.dispose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_the_server_does_not_log_a_bug_the_app_has_logged(
    app: FastAPI,
    tenant: InstalledTenant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Starlette hands the error on to the server after the page is sent; uvicorn would log
    its trace a second time, without the request id."""
    monkeypatch.setattr("app.idps.repository.save_login_state", a_bug)
    # As uvicorn runs it: the error the app re-raises after answering reaches the server.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url=APP_BASE_URL) as http:
        with pytest.raises(KeyError) as reached_the_server:
            await http.get(f"/portal/{tenant.tenant_id}/7")
    assert [r.getMessage() for r in caplog.records if r.exc_info] == ["unhandled error"]
    server_log = logging.LogRecord(
        "uvicorn.error",
        logging.ERROR,
        __file__,
        0,
        "Exception in ASGI application\n",
        None,
        (KeyError, reached_the_server.value, None),
    )
    assert not AlreadyLogged().filter(server_log)
    another = KeyError("raised outside the app's handlers")
    server_log.exc_info = (KeyError, another, None)
    assert AlreadyLogged().filter(server_log)  # nobody logged that one: the server must


async def test_a_reason_is_shown_as_a_sentence_on_a_page_and_as_it_is_in_the_api(
    raw_client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    page = await raw_client.get(f"/portal/{tenant.tenant_id}/999")
    assert page.status_code == 404
    assert "This help center no longer exists; ask the team that gave you the link." in page.text
    api = await raw_client.get("/api/admin/idps/nope", headers=tenant.admin_headers())
    assert api.json()["message"] == "no such identity provider"
