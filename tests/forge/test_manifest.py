"""The Forge manifest against the service: Atlassian's own validator passes it offline, every
endpoint it names is a route of the app that demands a Forge Invocation Token, and the admin
UI resource it names is there."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.config import FORGE_APP_ID
from tests.conftest import ROOT

FORGE = ROOT / "forge"
MANIFEST = FORGE / "manifest.yml"
VALIDATOR = FORGE / "tools" / "validate-manifest.cjs"

pytestmark = pytest.mark.usefixtures("forge_jwks")


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return loaded


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    if not (FORGE / "node_modules" / "@forge" / "manifest").is_dir():
        raise RuntimeError("forge/node_modules is missing: run `make test` (it runs npm ci there)")
    return subprocess.run(  # noqa: S603 - our own script, on our own file
        [shutil.which("node") or "node", str(VALIDATOR), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_atlassians_validator_passes_the_manifest() -> None:
    result = validate(MANIFEST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "manifest is valid" in result.stdout


def test_the_validator_would_refuse_a_broken_manifest(tmp_path: Path) -> None:
    broken = tmp_path / "forge"
    shutil.copytree(FORGE / "static", broken / "static")
    text = MANIFEST.read_text().replace("read:jira-work", "read:all-of-jira")
    (broken / "manifest.yml").write_text(text)
    result = validate(broken / "manifest.yml")
    assert result.returncode == 1
    assert "read:all-of-jira" in result.stdout


def test_the_app_id_is_an_app_ari_and_the_remote_comes_from_the_environment() -> None:
    content = manifest()
    assert FORGE_APP_ID.fullmatch(content["app"]["id"])  # what FORGE_APP_ID must be
    [remote] = content["remotes"]
    assert remote["baseUrl"] == "${SSO_BASE_URL}"
    assert content["environment"]["variables"] == ["SSO_BASE_URL"]
    assert sorted(remote["operations"]) == ["compute", "storage"]
    assert remote["storage"]["inScopeEUD"] is True
    assert content["permissions"]["external"]["fetch"]["backend"] == [{"remote": remote["key"]}]


def test_the_admin_page_is_the_bundle_and_calls_the_remote() -> None:
    content = manifest()
    [page] = content["modules"]["jira:adminPage"]
    assert page["useAsConfig"] is True
    [resource] = [r for r in content["resources"] if r["key"] == page["resource"]]
    bundle = FORGE / resource["path"]
    for name in ("index.html", "admin.js", "admin.css", "host-connect.js"):
        assert (bundle / name).is_file(), name
    assert '<script src="host.js"></script>' in (bundle / "index.html").read_text()
    assert (FORGE / "src" / "host-forge.js").is_file()  # built into host.js by npm run build
    endpoints = {e["key"]: e for e in content["modules"]["endpoint"]}
    assert endpoints[page["resolver"]["endpoint"]]["auth"]["appSystemToken"]["enabled"] is True


def test_triggers_name_the_events_and_the_hourly_refresh() -> None:
    modules = manifest()["modules"]
    [trigger] = modules["trigger"]
    assert sorted(trigger["events"]) == ["avi:forge:installed:app", "avi:forge:upgraded:app"]
    [scheduled] = modules["scheduledTrigger"]
    assert scheduled["interval"] == "hour"
    [pre_uninstall] = modules["preUninstall"]
    endpoints = {e["key"]: e for e in modules["endpoint"]}
    for key in (trigger["endpoint"], scheduled["endpoint"], pre_uninstall["endpoint"]):
        assert key in endpoints


async def test_every_endpoint_the_manifest_names_demands_an_invocation_token(
    client: httpx.AsyncClient,
) -> None:
    endpoints = manifest()["modules"]["endpoint"]
    routed = [e["route"]["path"] for e in endpoints if "route" in e]
    assert sorted(routed) == ["/forge/lifecycle", "/forge/pre-uninstall", "/forge/token-refresh"]
    for path in routed:
        # Forge posts events and triggers; each route exists and refuses a call without a FIT.
        response = await client.post(path, json={})
        assert response.status_code == 401, path
        assert response.json()["message"] == "missing invocation token"
        forged = await client.post(path, json={}, headers={"Authorization": "Bearer x.y.z"})
        assert forged.status_code == 401, path
    # The admin page's endpoint has no fixed route: its calls go to /api/admin/...
    response = await client.get("/api/admin/idps", headers={"Authorization": "Bearer x.y.z"})
    assert response.status_code == 401


def test_the_admin_page_modules_the_event_routes_refuse_are_the_manifests() -> None:
    from app.forge.deps import ADMIN_MODULE_KEYS

    modules = manifest()["modules"]
    [page] = modules["jira:adminPage"]
    assert {page["key"], page["resolver"]["endpoint"]} == ADMIN_MODULE_KEYS
