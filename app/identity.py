"""The verified identity a sign-in yields, whichever protocol verified it (OpenID Connect
today, SAML next): what the login use case provisions in JSM and opens a session for. Neutral
ground, so the protocols, the provisioning in ``jsm`` and the login use case all import it and
none of them imports another for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class MappedIdentity:
    issuer: str
    subject: str
    email: str
    email_verified: bool
    display_name: str
    first_name: str | None = None
    last_name: str | None = None
    organizations: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    custom: Mapping[str, Any] = field(default_factory=dict)
