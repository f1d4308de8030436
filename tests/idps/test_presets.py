"""Each preset derives the issuer (hence the discovery URL) the vendor documents."""

from __future__ import annotations

import pytest

from app.idps.presets import PRESETS, cognito_issuer

GUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.mark.parametrize(
    ("preset", "values", "issuer"),
    [
        ("entra_id", {"tenant": GUID}, f"https://login.microsoftonline.com/{GUID}/v2.0"),
        ("adfs", {"domain": "adfs.acme.com"}, "https://adfs.acme.com/adfs"),
        ("okta", {"domain": "acme.okta.com"}, "https://acme.okta.com"),
        (
            "okta",
            {"domain": "acme.okta.com", "authorization_server": "default"},
            "https://acme.okta.com/oauth2/default",
        ),
        (
            "keycloak",
            {"base_url": "https://sso.acme.com/", "realm": "customers"},
            "https://sso.acme.com/realms/customers",
        ),
        ("google", {}, "https://accounts.google.com"),
        ("auth0", {"domain": "acme.eu.auth0.com"}, "https://acme.eu.auth0.com/"),
        ("salesforce", {}, "https://login.salesforce.com"),
        ("salesforce", {"domain": "acme.my.salesforce.com"}, "https://acme.my.salesforce.com"),
        (
            "oidc",
            {"issuer": "https://idp.acme.com/.well-known/openid-configuration"},
            "https://idp.acme.com",
        ),
        (
            "oauth2",
            {"authorization_endpoint": "https://gh.example/login/oauth/authorize"},
            "https://gh.example",
        ),
    ],
)
def test_issuer_per_preset(preset: str, values: dict[str, str], issuer: str) -> None:
    assert PRESETS[preset].issuer(values) == issuer


def test_cognito_issuer_from_pool_id_or_given_issuer_or_none() -> None:
    assert (
        cognito_issuer({"user_pool_id": "eu-west-1_AbC123"})
        == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
    )
    assert cognito_issuer(
        {"issuer": "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/"}
    ) == ("https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123")
    assert cognito_issuer({}) is None
