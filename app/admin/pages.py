"""The admin page on a Connect site (loaded by Jira in an iframe with a page JWT).

It is the Forge admin UI bundle (``forge/static/admin``, the only copy), served with the
Connect host adapter in place of the Forge one: ``host.js`` becomes Atlassian's ``all.js`` and
``host-connect.js``, and each file is linked by its content digest under ``/admin-ui``.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.connect.deps import TenantJWT
from app.deps import SettingsDep
from app.models import Tenant

router = APIRouter(tags=["admin pages"])
CONNECT_CDN = "https://connect-cdn.atl-paas.net"
BUNDLE_PATH = "/admin-ui"
# The three tags of the bundle's index.html that name its files.
_CSS = '<link rel="stylesheet" href="admin.css">'
_HOST = '<script src="host.js"></script>'
_SCRIPT = '<script src="admin.js" defer></script>'


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def admin_csp(tenant: Tenant) -> str:
    """Framed by this tenant's Jira only; scripts from us and Atlassian's Connect CDN."""
    ancestors = " ".join(
        dict.fromkeys(_origin(u) for u in (tenant.base_url, tenant.display_url) if u)
    )
    return (
        f"default-src 'self'; script-src 'self' {CONNECT_CDN}; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors {ancestors}"
    )


def _versioned(bundle: Path, prefix: str, name: str) -> str:
    digest = hashlib.sha256((bundle / name).read_bytes()).hexdigest()[:12]
    return f"{prefix}{BUNDLE_PATH}/{name}?v={digest}"


@lru_cache(maxsize=4)
def connect_page(bundle: Path, prefix: str, demo: bool = False) -> str:
    """The bundle's page as the Connect iframe gets it (built once: the bundle is static).
    ``demo``: opened outside Jira by `make demo`, with a stand-in for all.js and a banner."""
    page = (bundle / "index.html").read_text()
    for tag in (_CSS, _HOST, _SCRIPT):
        if page.count(tag) != 1:
            raise RuntimeError(f"the admin UI bundle's index.html no longer has {tag}")
    all_js = (
        f'<script src="{prefix}/static/demo-ap.js"></script>'
        if demo
        else f'<script src="{CONNECT_CDN}/all.js" data-options="sizeToParent:true"></script>'
    )
    host = (
        f"{all_js}\n"
        f'  <script src="{_versioned(bundle, prefix, "host-connect.js")}" '
        f'data-api="{prefix}/api/admin"></script>'
    )
    if demo:
        page = page.replace(
            "<body>",
            '<body>\n<p class="demo-banner" role="note">Demo: a sandbox site on this computer, '
            "opened outside Jira.</p>",
            1,
        )
    return (
        page.replace(
            _CSS, f'<link rel="stylesheet" href="{_versioned(bundle, prefix, "admin.css")}">'
        )
        .replace(_HOST, host)
        .replace(_SCRIPT, f'<script src="{_versioned(bundle, prefix, "admin.js")}" defer></script>')
    )


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def admin_page(request: Request, context: TenantJWT, settings: SettingsDep) -> HTMLResponse:
    del request
    response = HTMLResponse(connect_page(settings.admin_ui_dir, settings.base_path, settings.demo))
    response.headers["Content-Security-Policy"] = admin_csp(context.tenant)
    response.headers["Cache-Control"] = "no-store"
    return response
