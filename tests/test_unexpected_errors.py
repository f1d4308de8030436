"""The last line of defence: an error nobody anticipated (here, the database failing mid-
request) gives customers a readable page and the admin API a JSON error, with nothing of the
exception in either; the trace goes to the log for operators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, NoReturn

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from tests.conftest import APP_BASE_URL, InstalledTenant

pytestmark = pytest.mark.usefixtures("idp")

SECRET_DETAIL = "connection to server at 10.1.2.3 refused"


def database_down(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise OperationalError("INSERT INTO login_states", {}, ConnectionError(SECRET_DETAIL))


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
    monkeypatch.setattr("app.oidc.repository.save_login_state", database_down)
    response = await raw_client.get(f"/portal/{tenant.tenant_id}/7")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Something went wrong on our side." in response.text
    for leak in (SECRET_DETAIL, "OperationalError", "Traceback", "login_states"):
        assert leak not in response.text
    assert "location" not in response.headers
    assert SECRET_DETAIL in caplog.text  # operators get the whole story


async def test_the_admin_api_answers_json_without_detail(
    raw_client: httpx.AsyncClient, tenant: InstalledTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.admin.api.recent_logins", database_down)
    response = await raw_client.get("/api/admin/logins", headers=tenant.admin_headers())
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "message": "internal error"}
