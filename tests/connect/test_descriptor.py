from __future__ import annotations

import json

import httpx

from app.config import Settings
from app.connect.descriptor import default_descriptor
from tests.conftest import APP_BASE_URL, ROOT


def test_checked_in_descriptor_is_what_the_route_serves_by_default() -> None:
    checked_in = json.loads((ROOT / "atlassian-connect.json").read_text())
    assert checked_in == default_descriptor()
    assert checked_in["baseUrl"] == Settings.model_fields["app_base_url"].default


async def test_route_serves_descriptor_for_configured_base_url(client: httpx.AsyncClient) -> None:
    descriptor = (await client.get("/atlassian-connect.json")).json()
    assert descriptor["baseUrl"] == APP_BASE_URL
    assert descriptor["links"]["self"] == f"{APP_BASE_URL}/atlassian-connect.json"
    assert descriptor["authentication"] == {"type": "jwt"}
    assert descriptor["apiMigrations"] == {
        "signed-install": True,
        "context-qsh": True,
        "gdpr": True,
    }
    assert "ADMIN" in descriptor["scopes"]
    assert set(descriptor["lifecycle"]) == {"installed", "uninstalled", "enabled", "disabled"}
    modules = descriptor["modules"]
    assert modules["adminPages"][0]["url"] == "/admin"
    assert modules["configurePage"]["url"].startswith("/admin")
    assert modules["postInstallPage"]["url"].startswith("/admin")
    keys = [
        modules["adminPages"][0]["key"],
        modules["configurePage"]["key"],
        modules["postInstallPage"]["key"],
    ]
    assert len(set(keys)) == 3
