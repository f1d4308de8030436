"""Static files: pages link them by content digest, so a release's new script reaches every
browser at once, and a versioned URL may be cached for good."""

from __future__ import annotations

import hashlib
import re

import httpx

from app.config import Settings
from tests.conftest import InstalledTenant
from tests.support.connect_tokens import page_token

ADMIN_UI = Settings.model_fields["admin_ui_dir"].default


async def test_pages_link_static_files_by_content_digest(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    token = page_token(
        client_key=tenant.client_key, secret=tenant.shared_secret, method="GET", path="/admin"
    )
    page = await client.get("/admin", params={"jwt": token})
    links = dict(
        re.findall(r'(?:src|href)="/admin-ui/([a-z-]+\.(?:js|css))\?v=([0-9a-f]+)"', page.text)
    )
    # The admin UI bundle, with the Connect host adapter in place of the Forge one.
    assert set(links) == {"admin.js", "admin.css", "host-connect.js"}
    for name, version in links.items():
        assert hashlib.sha256((ADMIN_UI / name).read_bytes()).hexdigest().startswith(version)
        served = await client.get(f"/admin-ui/{name}", params={"v": version})
        assert served.status_code == 200
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert 'src="host.js"' not in page.text


async def test_a_versioned_url_is_cached_for_good_and_a_bare_one_revalidates(
    client: httpx.AsyncClient,
) -> None:
    versioned = await client.get("/static/portal.js", params={"v": "0123456789ab"})
    assert versioned.status_code == 200
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    bare = await client.get("/static/portal.js")
    assert bare.headers["cache-control"] == "no-cache"
    other = await client.get("/static/portal.js", params={"nov": "1"})
    assert other.headers["cache-control"] == "no-cache"
    again = await client.get("/static/portal.js", headers={"if-none-match": bare.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["cache-control"] == "no-cache"
    missing = await client.get("/static/nothing.js")
    assert missing.status_code == 404
    assert "immutable" not in missing.headers.get("cache-control", "")
