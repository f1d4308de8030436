"""Files on a customer's request, opened from the portal: the files of its public comments
(what the native portal shows a customer), streamed through the service from Jira.

* Only a file of a public comment on a request that is the customer's, in this desk; any
  other id is "not found", whatever the URL says.
* Images (PNG, JPEG, GIF, WebP) open in the browser and have a thumbnail; everything else,
  SVG and HTML included, downloads as ``application/octet-stream`` with
  ``Content-Disposition: attachment``, so no file of Jira's runs as a page of this service.
  Every file answer carries ``Content-Security-Policy: sandbox``.
* Files over ``MAX_FILE_BYTES`` are not passed through: the page says to open them in the
  native portal. Downloads take one of the process's upload slots (they sit in memory)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.db import SessionDep
from app.deps import SettingsDep, services
from app.errors import AppError, NotFoundError
from app.jsm import portal_api
from app.jsm.client import JIRA_MAX_RESPONSE_BYTES
from app.portal.pages import UploadSlots, customer_context, sign_in_redirect
from app.templating import templates

router = APIRouter(tags=["portal"])

INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_FILE_BYTES = JIRA_MAX_RESPONSE_BYTES
# The request page shows these as thumbnails that open in the browser.
templates.env.globals["inline_types"] = INLINE_TYPES
SANDBOX = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


class FileTooLargeError(AppError):
    status_code = 413


@router.get(
    "/portal/{tenant_id}/{service_desk_id}/requests/{key}/files/{attachment_id}",
    include_in_schema=False,
)
async def download(
    tenant_id: str,
    service_desk_id: str,
    key: str,
    attachment_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    return await _file(
        request, session, settings, tenant_id, service_desk_id, key, attachment_id, thumbnail=False
    )


@router.get(
    "/portal/{tenant_id}/{service_desk_id}/requests/{key}/files/{attachment_id}/thumbnail",
    include_in_schema=False,
)
async def thumbnail(
    tenant_id: str,
    service_desk_id: str,
    key: str,
    attachment_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    return await _file(
        request, session, settings, tenant_id, service_desk_id, key, attachment_id, thumbnail=True
    )


async def _file(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tenant_id: str,
    desk_id: str,
    key: str,
    attachment_id: str,
    *,
    thumbnail: bool,
) -> Response:
    context = await customer_context(request, session, settings, tenant_id, desk_id)
    if context is None:
        return sign_in_redirect(settings, tenant_id, desk_id, request.url.path)
    item = await context.visible_request(key)
    found = next((f for c in item.comments for f in c.files if f.id == attachment_id), None)
    if found is None or (thumbnail and found.media_type not in INLINE_TYPES):
        raise NotFoundError("we could not find that file")
    if found.size > MAX_FILE_BYTES:
        raise FileTooLargeError(
            f"{found.filename} is too large to open here; open the request in the native "
            "portal to download it"
        )
    async with services(request).get(UploadSlots):
        content = await portal_api.file_content(context.jira, found.id, thumbnail=thumbnail)
    headers = {"Content-Security-Policy": SANDBOX, "Cache-Control": "private, no-store"}
    if thumbnail:
        return Response(content, media_type="image/png", headers=headers)
    if found.media_type in INLINE_TYPES:
        headers["Content-Disposition"] = (
            f"inline; filename*=UTF-8''{quote(found.filename, safe='')}"
        )
        return Response(content, media_type=found.media_type, headers=headers)
    headers["Content-Disposition"] = (
        f"attachment; filename*=UTF-8''{quote(found.filename, safe='')}"
    )
    return Response(content, media_type="application/octet-stream", headers=headers)


@router.get("/portal/{tenant_id}/{service_desk_id}/icons/{icon_id}", include_in_schema=False)
async def request_type_icon(
    tenant_id: str,
    service_desk_id: str,
    icon_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A request type's icon for the desk's page (a PNG Jira shows signed-in users only)."""
    context = await customer_context(request, session, settings, tenant_id, service_desk_id)
    if context is None:
        return Response(status_code=401)
    content = await portal_api.request_type_icon(context.jira, icon_id)
    return Response(
        content,
        media_type="image/png",
        headers={"Content-Security-Policy": SANDBOX, "Cache-Control": "private, max-age=86400"},
    )
