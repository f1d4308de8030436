"""The admin API's caller: a Jira administrator of the site, from either way in.

* Forge: ``Authorization: Bearer <FIT>`` (the admin page's ``invokeRemote``); the site is the
  verified installation, the user its ``principal``;
* Connect: ``Authorization: JWT <context token>`` (the iframe's ``AP.context.getToken()``).

Either way, the user must hold Jira's global ADMINISTER permission, asked of Jira as the app.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.connect.deps import tenant_from_context_token
from app.crypto import SecretBox
from app.deps import services
from app.errors import AuthenticationError, PermissionDeniedError
from app.forge.deps import bearer_token, forge_call
from app.jsm.directory import JiraDirectory
from app.models import Tenant


class AdminCaller(Protocol):
    @property
    def tenant(self) -> Tenant: ...

    @property
    def account_id(self) -> str | None: ...


async def _forge_caller(request: Request) -> AdminCaller:
    # Its own short transaction: the app token that came with the call is kept even when
    # the admin's request itself fails.
    if services(request).get(Settings).forge_app_id is None:
        raise AuthenticationError("this service does not accept Forge invocation tokens")
    sessionmaker: async_sessionmaker[AsyncSession] = services(request).get(async_sessionmaker)
    async with sessionmaker() as session:
        call = await forge_call(request, session, box=services(request).get(SecretBox))
        await session.commit()
    return call


async def require_jira_admin(request: Request) -> AdminCaller:
    # One dependency, no sub-dependencies: this runs on every admin API call.
    if bearer_token(request) is not None:
        caller = await _forge_caller(request)
    else:
        caller = await tenant_from_context_token(request)
    if not caller.account_id:
        raise PermissionDeniedError("the token names no user")
    directory: JiraDirectory = services(request).get(JiraDirectory)
    if not await directory.is_admin(caller.tenant, caller.account_id):
        raise PermissionDeniedError("only Jira administrators can configure Portal SSO")
    return caller


AdminJWT = Annotated[AdminCaller, Depends(require_jira_admin)]
