from __future__ import annotations

import pytest

from app.errors import LoginError
from app.idps.mapping import effective_mapping, is_verified, map_identity
from app.idps.presets import PRESETS

COGNITO = effective_mapping(PRESETS["cognito"].default_mapping, None)


def identity(
    claims: dict[str, object], mapping: dict[str, str] = COGNITO, trust: bool = False
) -> object:
    return map_identity(claims, mapping, issuer="https://iss", subject="sub-1", trust_email=trust)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("TRUE", True),
        ("false", False),
        (False, False),
        (None, False),
        (1, False),
    ],
)
def test_email_verified_accepts_boolean_or_string_true(value: object, expected: bool) -> None:
    assert is_verified(value) is expected


def test_display_name_built_from_first_and_last_name() -> None:
    result = identity(
        {
            "email": "a@x.io",
            "email_verified": "true",
            "given_name": "Ada",
            "family_name": "Lovelace",
        }
    )
    assert result.display_name == "Ada Lovelace"  # type: ignore[attr-defined]


def test_display_name_falls_back_to_the_email_local_part() -> None:
    assert identity({"email": "ada@x.io", "email_verified": True}).display_name == "ada"  # type: ignore[attr-defined]


def test_groups_and_organizations_from_list_or_comma_separated_string() -> None:
    mapping = COGNITO | {"organizations": "custom:company"}
    result = identity(
        {
            "email": "a@x.io",
            "email_verified": True,
            "cognito:groups": ["g1", "g2", "g1"],
            "custom:company": "Acme, Initech",
        },
        mapping,
    )
    assert result.groups == ("g1", "g2")  # type: ignore[attr-defined]
    assert result.organizations == ("Acme", "Initech")  # type: ignore[attr-defined]
    assert result.custom == {"custom:company": "Acme, Initech"}  # type: ignore[attr-defined]


def test_missing_email_is_refused() -> None:
    with pytest.raises(LoginError, match="did not send an email"):
        identity({"email_verified": True})


def test_unverified_email_is_refused_unless_trusted() -> None:
    with pytest.raises(LoginError, match="says your email address is not verified"):
        identity({"email": "a@x.io", "email_verified": "false"})
    assert identity({"email": "a@x.io"}, trust=True).email_verified  # type: ignore[attr-defined]


def test_an_idp_that_never_says_whether_the_email_is_verified_is_told_apart() -> None:
    with pytest.raises(LoginError, match=r"does not say whether .* verified.*administrator"):
        identity({"email": "a@x.io"})


def test_admin_mapping_overrides_and_removes_defaults() -> None:
    mapping = effective_mapping(
        PRESETS["oidc"].default_mapping, {"email": "upn", "display_name": ""}
    )
    assert mapping["email"] == "upn"
    assert "display_name" not in mapping
