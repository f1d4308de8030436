"""The desk's knowledge base in the portal: articles found by the search box on the desk's
page and suggested while a customer writes a request's summary (as the native portal does),
and an article opened on a page of the portal, its HTML made safe (``app.portal.articles``).

Articles come from JSM as the app asks for them: the knowledge base linked to the desk. Every
page needs the customer's session, like the rest of the portal."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.db import SessionDep
from app.deps import SettingsDep
from app.i18n import N_
from app.jsm import portal_api
from app.portal.articles import safe_article
from app.portal.pages import customer_context, sign_in_redirect
from app.templating import render

router = APIRouter(tags=["portal"])

SUGGESTIONS = 5


@router.get(
    "/portal/{tenant_id}/{service_desk_id}/articles",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def suggestions(
    tenant_id: str,
    service_desk_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    q: str = "",
) -> Response:
    """Articles that may answer the question being typed: a fragment the request form's
    script puts under the summary (empty without a session: the form itself asks for one)."""
    context = await customer_context(request, session, settings, tenant_id, service_desk_id)
    if context is None:
        return HTMLResponse("", status_code=401)
    articles = await portal_api.search_articles(
        context.jira, context.desk.id, q[:200], limit=SUGGESTIONS
    )
    return render(request, "portal/_articles.html", context.page(articles=articles, suggested=True))


@router.get(
    "/portal/{tenant_id}/{service_desk_id}/kb/{page_id}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def article(
    tenant_id: str,
    service_desk_id: str,
    page_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    context = await customer_context(request, session, settings, tenant_id, service_desk_id)
    if context is None:
        return sign_in_redirect(settings, tenant_id, service_desk_id, request.url.path)
    html = await portal_api.article_body(context.jira, page_id)
    title = request.query_params.get("title", "")[:200] or N_("Article")
    return render(
        request,
        "portal/article.html",
        context.page(
            title=title,
            body=safe_article(html, article_url=lambda other: f"{context.home}/kb/{other}"),
        ),
    )
