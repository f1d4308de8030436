"""Identity-provider presets: data, not subclasses.

A preset says which fields an admin fills in, how the issuer (and so the discovery document)
follows from them, and the default attribute mapping. ``kind`` picks the protocol:

* ``oidc``: discovery at ``{issuer}/.well-known/openid-configuration`` and an ID token.
* ``cognito``: fixed endpoints on the Cognito domain (it serves no discovery); the issuer comes
  from the user-pool id or issuer URL, or is learned during the admin's test login.
* ``oauth2``: explicit endpoints, no ID token; identity from the userinfo endpoint over TLS.
* ``saml``: SAML 2.0 Web Browser SSO; the IdP is described by its metadata (a URL or the
  pasted XML), and its attribute names are read through ``SAML_ATTRIBUTE_NAMES``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

Kind = Literal["oidc", "cognito", "oauth2", "saml"]
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
DEFAULT_SCOPES = "openid profile email"

_HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
COGNITO_DOMAIN = re.compile(
    r"^[a-z0-9-]+\.auth\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazoncognito\.com$"
)
COGNITO_POOL_ID = re.compile(r"^(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)_[0-9A-Za-z]+$")
COGNITO_ISSUER = re.compile(
    r"^https://(?:issuer-)?cognito-idp\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com/"
    r"(?P<pool>(?P=region)_[0-9A-Za-z]+)$"
)

# A provider's name in a user pool (Cognito's ProviderName: up to 32 characters, no spaces,
# not starting with an underscore), or COGNITO for the pool's own users.
COGNITO_PROVIDER_NAME = re.compile(r"^[^\s_]\S{0,31}$")

# A name or id another field of the vendor's names (a connection, an IdP alias): one word.
_NAME = re.compile(r"^\S{1,100}$")

FieldKind = Literal[
    "host",
    "url",
    "text",
    "guid",
    "name",
    "cognito_pool_id",
    "cognito_provider_name",
    "xml",  # a pasted document (the admin page shows a text area)
    "choice",  # one of ``choices`` (a select)
]


@dataclass(frozen=True, slots=True)
class PresetField:
    name: str
    label: str
    kind: FieldKind
    required: bool = True
    help: str = ""
    default: str | None = None
    # (value, label) pairs of a "choice" field.
    choices: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Preset:
    key: str
    label: str
    kind: Kind
    fields: tuple[PresetField, ...]
    issuer: Callable[[Mapping[str, str]], str | None]
    default_mapping: Mapping[str, str] = field(default_factory=dict)
    help: str = ""
    # The vendor's authorize parameter that sends the browser straight to one upstream
    # provider (the ``identity_provider`` field's value), past the vendor's own sign-in page.
    routing_parameter: str | None = None


ROUTING_FIELD = "identity_provider"


BASE_MAPPING = {
    "email": "email",
    "email_verified": "email_verified",
    "display_name": "name",
    "first_name": "given_name",
    "last_name": "family_name",
}


def normalise_issuer(value: str) -> str:
    """Accept a pasted discovery URL as well as an issuer (RFC 8414 / OIDC Discovery 4)."""
    value = value.strip()
    if value.endswith(DISCOVERY_SUFFIX):
        value = value[: -len(DISCOVERY_SUFFIX)]
    return value


def _okta_issuer(values: Mapping[str, str]) -> str:
    server = values.get("authorization_server", "").strip()
    base = f"https://{values['domain']}"
    return f"{base}/oauth2/{server}" if server else base


def cognito_issuer(values: Mapping[str, str]) -> str | None:
    """The issuer an admin gave (issuer URL, else pool id); None when it must be learned."""
    if values.get("issuer"):
        return values["issuer"].rstrip("/")
    pool = values.get("user_pool_id")
    if pool:
        match = COGNITO_POOL_ID.fullmatch(pool)
        if match:
            return f"https://cognito-idp.{match['region']}.amazonaws.com/{pool}"
    return None


# A development-only Cognito "domain" on loopback (DEV_ALLOW_HTTP_LOOPBACK), for tests.
_LOOPBACK_HOST_PORT = re.compile(r"^(127\.0\.0\.1|localhost):[0-9]{1,5}$")


def endpoint_origin(domain: str, *, allow_http_loopback: bool) -> str:
    """https://{domain}; plain http only for a loopback test domain in development."""
    if allow_http_loopback and _LOOPBACK_HOST_PORT.fullmatch(domain.lower()):
        return f"http://{domain}"
    return f"https://{domain}"


def cognito_region(domain: str) -> str | None:
    match = COGNITO_DOMAIN.fullmatch(domain)
    return match["region"] if match else None


DOMAIN = "domain"
SIGNED_FIELD = "signed"
SHA1_FIELD = "sha1"
NAME_ID_FORMAT_FIELD = "name_id_format"
UNSOLICITED_FIELD = "idp_initiated"
PRESETS: dict[str, Preset] = {
    preset.key: preset
    for preset in (
        Preset(
            key="cognito",
            label="AWS Cognito",
            kind="cognito",
            fields=(
                PresetField(
                    DOMAIN,
                    "Cognito domain",
                    "host",
                    help="Your user pool's domain, like mycompany.auth.eu-west-1.amazoncognito.com, "
                    "or your custom domain (App integration → Domain).",
                ),
                PresetField(
                    "user_pool_id",
                    "User pool ID",
                    "cognito_pool_id",
                    required=False,
                    help="Like eu-west-1_AbCdEf123. Optional: without it, Test connection learns "
                    "and pins the issuer.",
                ),
                PresetField(
                    "issuer",
                    "Issuer URL",
                    "url",
                    required=False,
                    help="Optional: https://cognito-idp.{region}.amazonaws.com/{pool id}.",
                ),
                PresetField(
                    ROUTING_FIELD,
                    "Federated provider",
                    "cognito_provider_name",
                    required=False,
                    help="Optional: the name of a provider your user pool signs in through "
                    "(Authentication → Social and external providers), such as Google or your "
                    "SAML provider's name. Customers then go straight to it, past Cognito's "
                    "sign-in page.",
                ),
            ),
            issuer=cognito_issuer,
            default_mapping=BASE_MAPPING | {"groups": "cognito:groups"},
            routing_parameter="identity_provider",
        ),
        Preset(
            key="entra_id",
            label="Microsoft Entra ID",
            kind="oidc",
            fields=(
                PresetField(
                    "tenant",
                    "Directory (tenant) ID",
                    "guid",
                    help="The GUID on the app registration's Overview page.",
                ),
                PresetField(
                    ROUTING_FIELD,
                    "Domain hint",
                    "host",
                    required=False,
                    help="Optional: a domain of your directory, like contoso.com. Customers then "
                    "go straight to its sign-in page (your federated identity provider's, for a "
                    "federated domain).",
                ),
            ),
            issuer=lambda v: f"https://login.microsoftonline.com/{v['tenant']}/v2.0",
            default_mapping=BASE_MAPPING | {"groups": "groups"},
            routing_parameter="domain_hint",
        ),
        Preset(
            key="adfs",
            label="Microsoft AD FS",
            kind="oidc",
            fields=(PresetField(DOMAIN, "AD FS host", "host", help="Like adfs.example.com."),),
            issuer=lambda v: f"https://{v['domain']}/adfs",
            default_mapping=BASE_MAPPING | {"display_name": "unique_name", "groups": "group"},
        ),
        Preset(
            key="okta",
            label="Okta",
            kind="oidc",
            fields=(
                PresetField(DOMAIN, "Okta domain", "host", help="Like mycompany.okta.com."),
                PresetField(
                    "authorization_server",
                    "Authorization server ID",
                    "text",
                    required=False,
                    help="Leave empty for the org authorization server; 'default' for the default one.",
                ),
                PresetField(
                    ROUTING_FIELD,
                    "Identity provider ID",
                    "name",
                    required=False,
                    help="Optional: the ID of an identity provider your Okta org signs in "
                    "through (Security → Identity Providers), like 0oa1b2c3d4e5f6g7h8i9. "
                    "Customers then go straight to it, past Okta's sign-in page.",
                ),
            ),
            issuer=_okta_issuer,
            default_mapping=BASE_MAPPING | {"groups": "groups"},
            routing_parameter="idp",
        ),
        Preset(
            key="keycloak",
            label="Keycloak",
            kind="oidc",
            fields=(
                PresetField(
                    "base_url", "Keycloak URL", "url", help="Like https://sso.example.com."
                ),
                PresetField("realm", "Realm", "text"),
                PresetField(
                    ROUTING_FIELD,
                    "Identity provider alias",
                    "name",
                    required=False,
                    help="Optional: the alias of an identity provider the realm brokers "
                    "(Identity providers in the realm's menu). Customers then go straight to "
                    "it, past Keycloak's sign-in page.",
                ),
            ),
            issuer=lambda v: f"{v['base_url'].rstrip('/')}/realms/{v['realm']}",
            default_mapping=BASE_MAPPING | {"groups": "groups"},
            routing_parameter="kc_idp_hint",
        ),
        Preset(
            key="google",
            label="Google",
            kind="oidc",
            fields=(),
            issuer=lambda _v: "https://accounts.google.com",
            default_mapping=BASE_MAPPING,
        ),
        Preset(
            key="auth0",
            label="Auth0",
            kind="oidc",
            fields=(
                PresetField(DOMAIN, "Auth0 domain", "host", help="Like mycompany.eu.auth0.com."),
                PresetField(
                    ROUTING_FIELD,
                    "Connection",
                    "name",
                    required=False,
                    help="Optional: a connection enabled for the application, such as "
                    "google-oauth2 or your enterprise connection's name. Customers then go "
                    "straight to it, past Auth0's login page.",
                ),
            ),
            # Auth0's issuer ends with a slash.
            issuer=lambda v: f"https://{v['domain']}/",
            default_mapping=BASE_MAPPING,
            routing_parameter="connection",
        ),
        Preset(
            key="salesforce",
            label="Salesforce",
            kind="oidc",
            fields=(
                PresetField(
                    DOMAIN,
                    "Salesforce login host",
                    "host",
                    required=False,
                    default="login.salesforce.com",
                    help="login.salesforce.com, or your My Domain host.",
                ),
            ),
            issuer=lambda v: f"https://{v.get('domain') or 'login.salesforce.com'}",
            default_mapping=BASE_MAPPING,
        ),
        Preset(
            key="oidc",
            label="OpenID Connect (generic)",
            kind="oidc",
            fields=(
                PresetField(
                    "issuer",
                    "Issuer or discovery URL",
                    "url",
                    help="The issuer, or its /.well-known/openid-configuration URL.",
                ),
            ),
            issuer=lambda v: normalise_issuer(v["issuer"]),
            default_mapping=BASE_MAPPING,
        ),
        Preset(
            key="oauth2",
            label="OAuth 2.0 (generic, no ID token)",
            kind="oauth2",
            fields=(
                PresetField("authorization_endpoint", "Authorization endpoint", "url"),
                PresetField("token_endpoint", "Token endpoint", "url"),
                PresetField("userinfo_endpoint", "User info endpoint", "url"),
                PresetField(
                    "issuer",
                    "Identifier",
                    "text",
                    required=False,
                    help="A stable name for this provider's accounts; defaults to the "
                    "authorization endpoint's origin.",
                ),
            ),
            issuer=lambda v: (
                v.get("issuer")
                or "{0.scheme}://{0.netloc}".format(urlsplit(v["authorization_endpoint"]))
            ),
            default_mapping=BASE_MAPPING | {"subject": "sub"},
        ),
        Preset(
            key="saml",
            label="SAML 2.0 (AD FS, Entra ID, Okta, Shibboleth, ...)",
            kind="saml",
            fields=(
                PresetField(
                    "metadata_url",
                    "IdP metadata URL",
                    "url",
                    required=False,
                    help="Where your IdP publishes its SAML metadata (HTTPS); or paste the "
                    "XML below instead.",
                ),
                PresetField(
                    "metadata_xml",
                    "IdP metadata XML",
                    "xml",
                    required=False,
                    help="The metadata document itself, when your IdP has no metadata URL.",
                ),
                PresetField(
                    "entity_id",
                    "IdP entity ID",
                    "text",
                    required=False,
                    help="Only for a federation's metadata, which describes many IdPs.",
                ),
                PresetField(
                    NAME_ID_FORMAT_FIELD,
                    "NameID format to ask for",
                    "choice",
                    required=False,
                    default="unspecified",
                    choices=(
                        ("unspecified", "Whatever the IdP sends (unspecified)"),
                        ("persistent", "Persistent (a stable, opaque id: recommended)"),
                        ("emailAddress", "Email address"),
                    ),
                    help="A persistent NameID ties each customer to their IdP account even "
                    "when their email address changes.",
                ),
                PresetField(
                    SIGNED_FIELD,
                    "What must be signed",
                    "choice",
                    required=False,
                    default="either",
                    choices=(
                        ("either", "The Assertion or the whole Response (recommended)"),
                        ("assertion", "The Assertion"),
                        ("response", "The whole Response"),
                        ("both", "Both"),
                    ),
                ),
                PresetField(
                    UNSOLICITED_FIELD,
                    "Sign-in started at the IdP (IdP-initiated)",
                    "choice",
                    required=False,
                    default="refuse",
                    choices=(
                        ("refuse", "Refuse (recommended)"),
                        ("accept", "Accept, landing on the desk the RelayState names"),
                    ),
                    help="For app tiles on the IdP's dashboard. Such a sign-in cannot be tied "
                    "to the browser that asked for it, so only accept it if customers start "
                    "there; set the IdP's RelayState to the desk number.",
                ),
                PresetField(
                    SHA1_FIELD,
                    "SHA-1 signatures",
                    "choice",
                    required=False,
                    default="refuse",
                    choices=(
                        ("refuse", "Refuse (recommended)"),
                        ("accept", "Accept, for an IdP that cannot sign with SHA-256 yet"),
                    ),
                ),
            ),
            issuer=lambda _values: None,  # the entity id, read from the metadata
            default_mapping=BASE_MAPPING | {"groups": "groups"},
            help="Import the service provider metadata shown after saving into your IdP.",
        ),
    )
}

# What SAML IdPs call the attributes the mapping reads: AD FS and Entra ID claim URIs,
# Shibboleth's and other federations' urn:oid names (eduPerson, inetOrgPerson), and the
# short names Okta, Google and SimpleSAMLphp send. A SAML login offers each attribute under
# its own name and, when the mapping's name is absent, under these.
SAML_ATTRIBUTE_NAMES: dict[str, tuple[str, ...]] = {
    "email": (
        "mail",
        "emailAddress",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "User.Email",
    ),
    "name": (
        "displayName",
        "http://schemas.microsoft.com/identity/claims/displayname",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "urn:oid:2.16.840.1.113730.3.1.241",
        "cn",
        "urn:oid:2.5.4.3",
    ),
    "given_name": (
        "givenName",
        "firstName",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "urn:oid:2.5.4.42",
        "User.FirstName",
    ),
    "family_name": (
        "sn",
        "surname",
        "lastName",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        "urn:oid:2.5.4.4",
        "User.LastName",
    ),
    "groups": (
        "memberOf",
        "isMemberOf",
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
        "http://schemas.xmlsoap.org/claims/Group",
        "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
    ),
}


def field_error(
    spec: PresetField,
    value: str,
    *,
    url_error: Callable[[str], str | None],
    allow_loopback: bool = False,
) -> str | None:
    """Why ``value`` does not fit ``spec`` (None when it does)."""
    if spec.kind == "host":
        loopback_ok = allow_loopback and _LOOPBACK_HOST_PORT.fullmatch(value.lower())
        if not loopback_ok and not _HOST.fullmatch(value.lower()):
            return "must be a host name such as example.com (no https://, no path)"
    elif spec.kind == "url":
        return url_error(value)
    elif spec.kind == "name":
        if not (_NAME.fullmatch(value) and value.isprintable()):
            return "must be one word, as the provider shows it (no spaces)"
    elif spec.kind == "guid":
        if not _GUID.fullmatch(value.lower()):
            return "must be a GUID such as 00000000-0000-0000-0000-000000000000"
    elif spec.kind == "choice" and value not in {choice for choice, _ in spec.choices}:
        return "choose one of: " + ", ".join(choice for choice, _ in spec.choices)
    elif spec.kind == "cognito_pool_id" and not COGNITO_POOL_ID.fullmatch(value):
        return "must look like eu-west-1_AbCdEf123"
    elif spec.kind == "cognito_provider_name" and not (
        COGNITO_PROVIDER_NAME.fullmatch(value) and value.isprintable()
    ):
        return (
            "must be the provider's name as your user pool lists it, such as Google "
            "(up to 32 characters, no spaces)"
        )
    return None
