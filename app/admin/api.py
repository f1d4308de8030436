"""The admin JSON API (``/api/admin``), called by the admin iframe with a context JWT."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from app.audit import recent_logins
from app.connect.deps import ContextJWT
from app.db import SessionDep
from app.deps import SecretBoxDep, SettingsDep
from app.errors import NotFoundError
from app.oidc import repository
from app.oidc.presets import PRESETS
from app.oidc.providers import IdpInput, create_test_ticket, describe_idp, require_idp, save_idp

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/presets")
async def list_presets(context: ContextJWT) -> list[dict[str, Any]]:
    del context
    return [
        {
            "key": preset.key,
            "label": preset.label,
            "kind": preset.kind,
            "fields": [
                {
                    "name": f.name,
                    "label": f.label,
                    "required": f.required,
                    "help": f.help,
                    "default": f.default,
                }
                for f in preset.fields
            ],
            "default_mapping": dict(preset.default_mapping),
        }
        for preset in PRESETS.values()
    ]


@router.get("/idps")
async def list_idps(
    context: ContextJWT, session: SessionDep, settings: SettingsDep
) -> list[dict[str, Any]]:
    idps = await repository.list_idps(session, context.tenant.id)
    return [describe_idp(idp, app_base_url=settings.app_base_url) for idp in idps]


@router.post("/idps", status_code=201)
async def create_idp(
    body: IdpInput,
    context: ContextJWT,
    session: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
) -> dict[str, Any]:
    idp = await save_idp(
        session,
        context.tenant.id,
        body,
        box=box,
        allow_http_loopback=settings.dev_allow_http_loopback,
    )
    return describe_idp(idp, app_base_url=settings.app_base_url)


@router.get("/idps/{idp_id}")
async def get_idp(
    idp_id: str, context: ContextJWT, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    idp = await require_idp(session, context.tenant.id, idp_id)
    return describe_idp(idp, app_base_url=settings.app_base_url)


@router.put("/idps/{idp_id}")
async def update_idp(
    idp_id: str,
    body: IdpInput,
    context: ContextJWT,
    session: SessionDep,
    settings: SettingsDep,
    box: SecretBoxDep,
) -> dict[str, Any]:
    idp = await require_idp(session, context.tenant.id, idp_id)
    idp = await save_idp(
        session,
        context.tenant.id,
        body,
        box=box,
        allow_http_loopback=settings.dev_allow_http_loopback,
        idp=idp,
    )
    return describe_idp(idp, app_base_url=settings.app_base_url)


@router.delete("/idps/{idp_id}", status_code=204)
async def delete_idp(idp_id: str, context: ContextJWT, session: SessionDep) -> Response:
    if not await repository.delete_idp(session, context.tenant.id, idp_id):
        raise NotFoundError("no such identity provider")
    return Response(status_code=204)


@router.post("/idps/{idp_id}/test")
async def test_idp(
    idp_id: str, context: ContextJWT, session: SessionDep, settings: SettingsDep
) -> dict[str, str]:
    idp = await require_idp(session, context.tenant.id, idp_id)
    ticket = await create_test_ticket(
        session, context.tenant.id, idp, created_by=context.account_id
    )
    return {"url": f"{settings.app_base_url}/oidc/test/{ticket}"}


@router.get("/logins")
async def list_logins(
    context: ContextJWT, session: SessionDep, limit: int = 50, before: int | None = None
) -> dict[str, Any]:
    limit = max(1, min(limit, 200))
    events = await recent_logins(session, context.tenant.id, limit=limit, before_id=before)
    return {
        "logins": [
            {
                "id": event.id,
                "time": event.occurred_at.isoformat(),
                "outcome": event.outcome,
                "reason": event.reason,
                "email": event.email,
                "account_id": event.account_id,
                "idp_id": event.idp_id,
                "idp_name": event.idp_name,
                "purpose": event.purpose,
            }
            for event in events
        ],
        "next_before": events[-1].id if len(events) == limit else None,
    }
