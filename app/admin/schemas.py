"""What the admin API answers: one response model per kind of answer, so ``/docs`` describes
each and no field can reach the page by accident (a field not declared here is dropped).
Secrets are never among them: an IdP says ``has_client_secret``, the settings
``has_service_account_token``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _View(BaseModel):
    # Undeclared fields are dropped, never passed through.
    model_config = ConfigDict(extra="ignore")


class ChoiceView(_View):
    value: str
    label: str


class PresetFieldView(_View):
    name: str
    label: str
    required: bool
    help: str | None
    default: str | None
    kind: str
    choices: list[ChoiceView]


class PresetView(_View):
    key: str
    label: str
    kind: str
    fields: list[PresetFieldView]
    default_mapping: dict[str, str]


class SiteView(_View):
    site_url: str | None
    platform: Literal["connect", "forge"]
    warning: str | None


class CertificateView(_View):
    subject: str
    not_after: str
    expires_soon: bool


class SpKeyView(_View):
    """One of the site's SAML service-provider keys (its certificate; never the key)."""

    id: str
    subject: str
    not_after: str
    created_at: str
    signing: bool  # the newest: it signs AuthnRequests; every active key decrypts
    certificate_pem: str


class IdpView(_View):
    id: str
    name: str
    preset: str
    preset_label: str
    client_id: str
    has_client_secret: bool
    scopes: str
    logout_url: str | None
    attribute_mapping: dict[str, str]
    email_domains: list[str]
    enabled: bool
    trust_email: bool
    token_auth_method: str
    callback_url: str
    signed_out_url: str
    pinned_issuer: str | None
    pinned_jwks_uri: str | None
    ready: bool
    last_tested_at: str | None
    last_test_claim_names: list[str]
    # The preset's own fields, present when set (answers leave out the unset ones).
    domain: str | None = None
    issuer: str | None = None
    tenant: str | None = None
    user_pool_id: str | None = None
    authorization_server: str | None = None
    base_url: str | None = None
    realm: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    identity_provider: str | None = None
    # SAML 2.0 IdPs: the metadata's source and the signature rules, what the metadata said,
    # and what the IdP's admin imports from us.
    metadata_url: str | None = None
    metadata_xml: str | None = None
    entity_id: str | None = None
    name_id_format: str | None = None
    idp_initiated: str | None = None
    signed: str | None = None
    sha1: str | None = None
    idp_entity_id: str | None = None
    idp_sso_url: str | None = None
    idp_certificates: list[CertificateView] | None = None
    sp_entity_id: str | None = None
    acs_url: str | None = None
    sp_metadata_url: str | None = None


class TestLinkView(_View):
    url: str


class LoginView(_View):
    id: int
    time: str
    outcome: str
    reason: str | None
    email: str | None
    account_id: str | None
    idp_id: str | None
    idp_name: str | None
    purpose: str


class LoginsPage(_View):
    logins: list[LoginView]
    next_before: int | None


class SettingsView(_View):
    jira_auth: Literal["app", "api_token"]
    service_account_email: str | None
    has_service_account_token: bool
    landing: Literal["app_portal", "jsm_portal"]
    allowed_email_domains: list[str]
    auto_create_customers: bool
    organization_sync: bool
    guard_bridge: GuardBridgeSettingView


class GuardBridgeSettingView(_View):
    enabled: bool
    sp_entity_id: str
    acs_url: str
    sp_certificate: str | None
    bound_domains_only: bool


class BoundDomainView(_View):
    domain: str
    idps: list[str]  # names, in the admin's order
    shared: bool  # more than one provider may assert it: a warning on the page


class GuardBridgeView(_View):
    """What the admin copies into Atlassian Guard, and how the bridge decides whose email it
    asserts."""

    entity_id: str
    sso_url: str
    metadata_url: str
    keys: list[SpKeyView]  # the signing key first; a next key waits behind it in a rotation
    setting: GuardBridgeSettingView
    domains: list[BoundDomainView]
    unbound_idps: list[str]  # providers with no email domains: they assert any unbound domain
    warnings: list[str]


class VerifyView(_View):
    ok: bool
    message: str | None = None
    account_id: str | None = None
    display_name: str | None = None
    is_admin: bool | None = None


class AccessView(_View):
    service_desk_id: str
    mode: Literal["default", "restricted", "off"]
    idps: list[str]
    email_domains: list[str]
    claims: list[dict[str, str]]
    organizations: list[str]
    contact: str


class AccessTestResultView(_View):
    service_desk_id: str
    allowed: bool
    because: str


class AccessTestView(_View):
    desks: list[AccessTestResultView]


class PortalView(_View):
    service_desk_id: str
    portal_id: str | None
    project_key: str
    name: str
    substitute_link: str
    access: AccessView
