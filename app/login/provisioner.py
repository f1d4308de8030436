"""The interface a successful login hands its verified identity to.

``app/jsm/provisioning.py`` implements it against Jira; tests may use an in-memory double.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.identity import MappedIdentity
from app.models import IdentityProvider, Tenant


class CustomerProvisioner(Protocol):
    async def provision(
        self,
        session: AsyncSession,
        *,
        tenant: Tenant,
        idp: IdentityProvider,
        identity: MappedIdentity,
        service_desk_id: str | None,
    ) -> str:
        """Find or create the JSM customer for ``identity``; return its Atlassian accountId.

        Raises an ``AppError`` (with a message fit for the customer) when the customer may
        not enter or Jira fails; must leave nothing half-done that breaks the next attempt.
        """
        ...
