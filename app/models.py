"""SQLAlchemy 2.0 typed models. Every tenant-owned table has ``tenant_id`` as its first key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic migrations read the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - part of SQLAlchemy's signature
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - part of SQLAlchemy's signature
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The model's table, for plain Core statements on the login path: an ORM-enabled
    statement costs about twice the CPU of the same statement on the table."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} does not map a single table")
    return table


class Tenant(Base):
    """One Jira site that installed the app: through Forge (keyed by its cloud id, with the
    current installation id) or, on sites that already had it, through Connect (keyed by
    Atlassian's clientKey). Everything behind the tenant is the same for both."""

    __tablename__ = "tenants"

    # Opaque id used in substitute links; never the clientKey or the cloud id.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), default="connect")  # or "forge"
    # Connect only.
    client_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    shared_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # The site's own URL (for Forge learned from Jira after the install event; "" until then).
    base_url: Mapped[str] = mapped_column(String(255))
    display_url: Mapped[str | None] = mapped_column(String(255))
    product_type: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(255))
    # Forge only: from verified Forge Invocation Tokens, never from a request body.
    cloud_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    installation_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    api_base_url: Mapped[str | None] = mapped_column(String(255))
    # The app system token (x-forge-oauth-system): the one with the latest expiry wins.
    app_token_encrypted: Mapped[str | None] = mapped_column(Text)
    app_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When Forge's hourly trigger last called: days without one mean the app was probably
    # uninstalled (or disabled) without a preUninstall call reaching us.
    last_trigger_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    installed: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def active(self) -> bool:
        return self.installed and self.enabled

    @property
    def is_forge(self) -> bool:
        return self.platform == "forge"

    @property
    def portal_base_url(self) -> str:
        """Where customers see Jira (displayUrl is the custom domain when one is set)."""
        return (self.display_url or self.base_url).rstrip("/")


class ForgeInstallation(Base):
    """Every Forge installation id a tenant has had. Forge gives a site a new installation id
    on each install; an event or token naming a retired one (after ``preUninstall``) is
    refused, and a new installation on the same cloud id takes the tenant back."""

    __tablename__ = "forge_installations"

    installation_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    # Kept when the tenant is purged (its id then unset): a retired installation id stays
    # refused for good, and an id is no personal data.
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdentityProvider(Base):
    """One OpenID Provider (or OAuth 2.0 server) configured by a tenant's admin."""

    __tablename__ = "identity_providers"
    __table_args__ = (Index("ix_identity_providers_tenant", "tenant_id", "position"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    preset: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # Preset-specific fields (domain, issuer, tenant, realm, endpoints, ...), never secrets.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scopes: Mapped[str] = mapped_column(String(500), default="openid profile email")
    token_auth_method: Mapped[str] = mapped_column(String(32), default="client_secret_basic")
    logout_url: Mapped[str | None] = mapped_column(String(1000))
    attribute_mapping: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    email_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    trust_email: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Learned during the admin's test login (Cognito without a pool id), then pinned.
    pinned_issuer: Mapped[str | None] = mapped_column(String(1000))
    pinned_jwks_uri: Mapped[str | None] = mapped_column(String(1000))
    last_test_claims: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_tested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LoginState(Base):
    """Server-side state of one authorization-code flow: single use, short-lived, bound to
    one browser (by the hash of its flow cookie), one tenant and one IdP."""

    __tablename__ = "login_states"
    __table_args__ = (Index("ix_login_states_expires_at", "expires_at"),)

    # sha256 of the `state` parameter: a leaked database row cannot be replayed.
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    idp_id: Mapped[str] = mapped_column(ForeignKey("identity_providers.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(10))  # "login" or "test"
    service_desk_id: Mapped[str | None] = mapped_column(String(32))
    return_path: Mapped[str | None] = mapped_column(String(2048))
    browser_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SeenAssertion(Base):
    """A SAML Assertion ID this service accepted, until the Assertion expires: the same
    Assertion posted again (a replay) is refused on every instance."""

    __tablename__ = "saml_seen_assertions"
    __table_args__ = (Index("ix_saml_seen_assertions_expires_at", "expires_at"),)

    # sha256 of the IdP id and the Assertion's ID.
    assertion_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    idp_id: Mapped[str] = mapped_column(ForeignKey("identity_providers.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GuardRequest(Base):
    """An AuthnRequest from the site's Atlassian Guard SP, waiting for the customer's sign-in
    upstream. Found by the hash of the random token in the journey's URL; its ID is unique
    per site (a replayed AuthnRequest is refused on every instance) until the row expires,
    which is after the oldest IssueInstant still accepted."""

    __tablename__ = "guard_requests"
    __table_args__ = (
        UniqueConstraint("tenant_id", "request_hash"),
        Index("ix_guard_requests_expires_at", "expires_at"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # sha256 of the AuthnRequest's ID; the ID itself is what the Response answers.
    request_hash: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(256))
    relay_state: Mapped[str | None] = mapped_column(String(1024))
    force_authn: Mapped[bool] = mapped_column(Boolean, default=False)
    # The SP it was checked against: a journey outlives no change to the registration.
    sp_entity_id: Mapped[str] = mapped_column(String(1000))
    acs_url: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SpKey(Base):
    """One of a site's SAML service-provider keys: it signs our AuthnRequests and decrypts
    the Assertions IdPs encrypt for us. Every active key is published in our metadata (a
    rotation publishes the new one beside the old until the admin retires the old); the
    newest signs."""

    __tablename__ = "saml_sp_keys"
    __table_args__ = (Index("ix_saml_sp_keys_tenant", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # "sp": our service provider's key; "idp": the Guard bridge's signing key, which can
    # assert any customer of the site, so it is never the SP's.
    purpose: Mapped[str] = mapped_column(String(10), default="sp")
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    certificate_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TestTicket(Base):
    """A one-time URL an admin opens to test an IdP (created through the admin API)."""

    __tablename__ = "test_tickets"

    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    idp_id: Mapped[str] = mapped_column(ForeignKey("identity_providers.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PortalSession(Base):
    """A customer's signed-in session for one tenant's portal."""

    __tablename__ = "portal_sessions"
    __table_args__ = (
        Index("ix_portal_sessions_expires_at", "expires_at"),
        Index("ix_portal_sessions_saml_name_id", "idp_id", "saml_name_id"),
    )

    # sha256 of the cookie value; the cookie itself is never stored.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    idp_id: Mapped[str] = mapped_column(ForeignKey("identity_providers.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(String(128))
    issuer: Mapped[str] = mapped_column(String(1000))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(255))
    # The name's parts, when the IdP sent them: the Guard bridge asserts them.
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    id_token_encrypted: Mapped[str | None] = mapped_column(Text)
    # SAML: what a LogoutRequest names (ours to the IdP, or the IdP's to us).
    saml_name_id: Mapped[str | None] = mapped_column(String(1000))
    saml_name_id_format: Mapped[str | None] = mapped_column(String(255))
    saml_session_index: Mapped[str | None] = mapped_column(String(255))
    # What the desks' access rules may ask about: the IdP's claims at sign-in (bounded; see
    # app.login.access.kept_claims).
    claims: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginEvent(Base):
    """Audit log of login attempts, shown to admins."""

    __tablename__ = "login_events"
    __table_args__ = (
        Index("ix_login_events_tenant_time", "tenant_id", "occurred_at"),
        # The admin page reads a site's activity newest first, by id.
        Index("ix_login_events_tenant_newest", "tenant_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    idp_id: Mapped[str | None] = mapped_column(String(32))
    idp_name: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(10))  # "success" or "failure"
    reason: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(255))
    account_id: Mapped[str | None] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(10), default="login")


class DeskAccess(Base):
    """Who may enter one service desk's portal (DESIGN.md, portals/{id}/access): the site's
    default, restricted by rules, or off. No row: the site's default."""

    __tablename__ = "desk_access"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    service_desk_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mode: Mapped[str] = mapped_column(String(12), default="default")
    idps: Mapped[list[str]] = mapped_column(JSON, default=list)
    email_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"claim": name, "op": "equals" | "contains", "value": text}]
    claims: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    organizations: Mapped[list[str]] = mapped_column(JSON, default=list)
    contact: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TenantSettings(Base):
    """How the app talks to a tenant's Jira and treats its customers (one row per tenant)."""

    __tablename__ = "tenant_settings"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    jira_auth: Mapped[str] = mapped_column(String(16), default="app")  # "app" or "api_token"
    service_account_email: Mapped[str | None] = mapped_column(String(320))
    service_account_token_encrypted: Mapped[str | None] = mapped_column(Text)
    landing: Mapped[str] = mapped_column(String(16), default="app_portal")  # or "jsm_portal"
    allowed_email_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    auto_create_customers: Mapped[bool] = mapped_column(Boolean, default=True)
    organization_sync: Mapped[bool] = mapped_column(Boolean, default=False)
    # The Atlassian Guard bridge (DESIGN.md): {"enabled", "sp_entity_id", "acs_url",
    # "sp_certificate", "bound_domains_only"}; empty until the admin saves it.
    guard_bridge: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CustomerLink(Base):
    """An IdP identity (issuer, subject) bound to a JSM customer account, plus what the app
    has already done for it, so a returning customer's login needs no Jira call."""

    __tablename__ = "customer_links"
    __table_args__ = (Index("ix_customer_links_account", "tenant_id", "account_id"),)

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    issuer: Mapped[str] = mapped_column(String(1000), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(128))
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(255))
    service_desk_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Names of the app-managed organizations the customer was last put in.
    organizations: Mapped[list[str]] = mapped_column(JSON, default=list)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FormSubmission(Base):
    """One portal form (a new request or a comment), claimed before Jira is asked, so that
    the same form sent twice raises one request: a double click without script, or a browser
    that posts again on its own when a kept-alive connection closes under it. Once Jira
    answered, it names the request, where a second post is sent."""

    __tablename__ = "form_submissions"
    __table_args__ = (Index("ix_form_submissions_created_at", "created_at"),)

    # sha256 of the form's token: the page has the token, the database only its hash.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    request_key: Mapped[str | None] = mapped_column(String(64))


class PersonalDataReport(Base):
    """When a customer account whose personal data the app stores (email and name, in
    customer links, sessions and login activity) is next due for Atlassian's personal data
    reporting API. Accounts never reported have no row: they are due at once."""

    __tablename__ = "personal_data_reports"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ManagedOrganization(Base):
    """A JSM organization this app created or adopted for attribute mapping. Only these are
    ever changed by the app."""

    __tablename__ = "managed_organizations"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
