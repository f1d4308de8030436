"""The admin API's caller: a valid context JWT of a user who is a Jira administrator."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.connect.deps import TenantContext, tenant_from_context_token
from app.errors import PermissionDeniedError
from app.jsm.directory import JiraDirectory


async def require_jira_admin(request: Request) -> TenantContext:
    # One dependency, no sub-dependencies: this runs on every admin API call.
    context = await tenant_from_context_token(request)
    if not context.account_id:
        raise PermissionDeniedError("the token names no user")
    directory: JiraDirectory = request.app.state.jira
    if not await directory.is_admin(context.tenant, context.account_id):
        raise PermissionDeniedError("only Jira administrators can configure Portal SSO")
    return context


AdminJWT = Annotated[TenantContext, Depends(require_jira_admin)]
