"""Attribute mapping: from an IdP's claims to the identity the app provisions in JSM."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import LoginError
from app.identity import MappedIdentity

MAPPABLE = (
    "email",
    "email_verified",
    "display_name",
    "first_name",
    "last_name",
    "organizations",
    "groups",
    "subject",
)


class UnverifiedEmailError(LoginError):
    code = "email_unverified"


def effective_mapping(
    defaults: Mapping[str, str], configured: Mapping[str, str] | None
) -> dict[str, str]:
    mapping = dict(defaults)
    for key, claim in (configured or {}).items():
        if claim:
            mapping[key] = claim
        else:
            mapping.pop(key, None)
    return mapping


def is_verified(value: object) -> bool:
    """``email_verified`` as a boolean, or the string "true" (Cognito sends strings)."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def _string(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _names(value: object) -> tuple[str, ...]:
    """A list claim, or a comma-separated string (Cognito custom attributes are strings)."""
    if isinstance(value, list):
        items = [_string(item) for item in value]
    elif isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    else:
        return ()
    return tuple(dict.fromkeys(item for item in items if item))


def map_identity(
    claims: Mapping[str, Any],
    mapping: Mapping[str, str],
    *,
    issuer: str,
    subject: str,
    trust_email: bool,
) -> MappedIdentity:
    email = _string(claims.get(mapping.get("email", "email")))
    if email is None or "@" not in email:
        raise LoginError("your identity provider did not send an email address")
    verified_claim = mapping.get("email_verified", "email_verified")
    verified = trust_email or is_verified(claims.get(verified_claim))
    if not verified and verified_claim not in claims:
        # AD FS, and many directories, never send one: the admin decides whether to trust it.
        raise UnverifiedEmailError(
            "your identity provider does not say whether your email address is verified, so it "
            "cannot be used to sign in; ask your administrator (who can mark this provider as "
            "one that verifies email addresses itself)"
        )
    if not verified:
        raise UnverifiedEmailError(
            "your identity provider says your email address is not verified; verify it there "
            "and sign in again"
        )
    first = _string(claims.get(mapping.get("first_name", "")))
    last = _string(claims.get(mapping.get("last_name", "")))
    display = _string(claims.get(mapping.get("display_name", "")))
    if display is None:
        display = " ".join(part for part in (first, last) if part) or email.split("@", 1)[0]
    custom = {
        claim: claims[claim] for claim in claims if claim.startswith("custom:") and claim in claims
    }
    return MappedIdentity(
        issuer=issuer,
        subject=subject,
        email=email.lower(),
        email_verified=verified,
        display_name=display,
        first_name=first,
        last_name=last,
        organizations=_names(claims.get(mapping.get("organizations", ""))),
        groups=_names(claims.get(mapping.get("groups", ""))),
        custom=custom,
    )
