"""Admin iframe pages (loaded by Jira with a page JWT)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.connect.deps import TenantJWT
from app.deps import SettingsDep
from app.models import Tenant
from app.templating import render

router = APIRouter(tags=["admin pages"])
CONNECT_CDN = "https://connect-cdn.atl-paas.net"


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


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def admin_page(request: Request, context: TenantJWT, settings: SettingsDep) -> HTMLResponse:
    response = render(
        request,
        "admin/index.html",
        {
            "title": "Portal SSO",
            "tenant": context.tenant,
            "welcome": "welcome" in request.query_params,
            "api_base": f"{settings.base_path}/api/admin",
            "connect_js": f"{CONNECT_CDN}/all.js",
        },
    )
    response.headers["Content-Security-Policy"] = admin_csp(context.tenant)
    response.headers["Cache-Control"] = "no-store"
    return response
