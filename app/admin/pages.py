"""Admin iframe pages (loaded by Jira with a page JWT)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.connect.deps import TenantJWT
from app.templating import render

router = APIRouter(tags=["admin pages"])


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def admin_page(request: Request, context: TenantJWT) -> HTMLResponse:
    return render(
        request,
        "admin/index.html",
        {
            "title": "Portal SSO",
            "tenant": context.tenant,
            "welcome": "welcome" in request.query_params,
        },
    )
