"""Page tokens load iframe pages; context tokens call the API; never the other way round."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from app.connect.deps import ContextJWT
from app.connect.jwt import query_string_hash
from tests.conftest import InstalledTenant
from tests.support.connect_tokens import page_token


@pytest.fixture
def probe_api(app: FastAPI) -> None:
    router = APIRouter()

    @router.get("/api/admin/probe")
    async def probe(context: ContextJWT) -> dict[str, str | None]:
        return {"tenant": context.tenant.id, "account": context.account_id}

    app.include_router(router)


async def test_page_token_loads_admin_page(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    query = "xdm_e=https%3A%2F%2Facme.atlassian.net&cp=&lic=none&tz=Europe%2FBerlin"
    token = page_token(
        client_key=tenant.client_key,
        secret=tenant.shared_secret,
        method="GET",
        path="/admin",
        query=query,
    )
    response = await client.get(f"/admin?{query}&jwt={token}")
    assert response.status_code == 200
    assert "Portal SSO" in response.text


async def test_page_token_for_other_query_is_refused(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    token = page_token(
        client_key=tenant.client_key,
        secret=tenant.shared_secret,
        method="GET",
        path="/admin",
        query="a=1",
    )
    response = await client.get(f"/admin?a=2&jwt={token}")
    assert response.status_code == 401
    assert "Traceback" not in response.text


async def test_page_without_token_is_401_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.usefixtures("probe_api")
async def test_context_token_calls_the_api(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    response = await client.get(
        "/api/admin/probe", headers={"Authorization": f"JWT {tenant.context_token(sub='acc-9')}"}
    )
    assert response.status_code == 200
    assert response.json() == {"tenant": tenant.tenant_id, "account": "acc-9"}


@pytest.mark.usefixtures("probe_api")
async def test_page_token_is_refused_on_the_api(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    token = tenant.context_token(qsh=query_string_hash("GET", "/api/admin/probe"))
    response = await client.get("/api/admin/probe", headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "message": "token query string hash does not match the request",
    }


async def test_context_token_is_refused_on_a_page(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    response = await client.get("/admin", params={"jwt": tenant.context_token()})
    assert response.status_code == 401


@pytest.mark.usefixtures("probe_api")
async def test_token_of_unknown_tenant_is_refused(client: httpx.AsyncClient) -> None:
    from tests.support.connect_tokens import tenant_token

    token = tenant_token(client_key="jira:nobody", secret="s" * 40)
    response = await client.get("/api/admin/probe", headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 401
    assert response.json()["message"] == "unknown tenant"


@pytest.mark.usefixtures("probe_api")
async def test_garbage_token_is_401_without_detail(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/admin/probe", headers={"Authorization": "JWT not.a.jwt"})
    assert response.status_code == 401
    assert response.json()["message"] == "malformed token"
