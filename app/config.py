"""The one place that reads the environment.

The variables and defaults in the table of ``DESIGN.md`` are an external contract;
``APP_ENV`` and the tuning knobs below it extend it.
"""

from __future__ import annotations

import importlib.util
import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app import crypto
from app.urls import is_loopback_host

DEFAULT_APP_KEY = "portal-sso-for-jsm"
DATA_DIR = Path("data")
FORGE_APP_ID = re.compile(
    r"ari:cloud:ecosystem::app/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


# The app runs on SQLAlchemy's asyncio engine, so only asyncio drivers. A URL that names no
# driver (`postgresql://`, Heroku's `postgres://`, `sqlite:///`) gets the one tested most.
_DATABASE_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+psycopg",
    "postgresql+psycopg_async": "postgresql+psycopg",
}


# PostgreSQL's drivers come with the `postgres` extra; SQLite's is always installed.
_DRIVER_MODULES = {"postgresql+asyncpg": "asyncpg", "postgresql+psycopg": "psycopg"}


def async_database_url(value: str) -> str:
    """``DATABASE_URL`` with an asyncio driver named, or a ValueError saying what would work.

    Errors name the scheme only: the rest of the URL may carry a password."""
    scheme, separator, rest = value.strip().partition("://")
    if not separator:
        raise ValueError(
            "DATABASE_URL must be a URL, such as postgresql://user:password@host/database "
            "or sqlite:///data/portal-sso.db"
        )
    driver = _DATABASE_DRIVERS.get(scheme.lower())
    if driver is None:
        raise ValueError(
            f"DATABASE_URL: {scheme!r} is not supported; use postgresql:// (asyncpg), "
            "postgresql+psycopg:// (psycopg 3) or sqlite:///path"
        )
    module = _DRIVER_MODULES.get(driver)
    if module is not None and importlib.util.find_spec(module) is None:
        raise ValueError(
            f"DATABASE_URL names {driver}, whose driver is not installed: install "
            "portal-sso[postgres] (the image has it)"
        )
    if driver == "postgresql+asyncpg":
        rest = _asyncpg_ssl(rest)
    return f"{driver}://{rest}"


def _asyncpg_ssl(rest: str) -> str:
    """libpq's ``sslmode=`` (what RDS, Azure and most guides print) is ``ssl=`` to asyncpg,
    which refuses the libpq name at connect time; the values are the same."""
    location, separator, query = rest.partition("?")
    if not separator:
        return rest
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(name == "ssl" for name, _ in pairs):
        return rest
    return location + "?" + urlencode([("ssl" if n == "sslmode" else n, v) for n, v in pairs])


class DatabaseSettings(BaseSettings):
    """What migrations need; no production guards, so `alembic upgrade` runs anywhere."""

    # Errors do not echo the value: DATABASE_URL may carry a password.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    database_url: str = f"sqlite+aiosqlite:///{DATA_DIR}/portal-sso.db"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return async_database_url(value)


class Settings(DatabaseSettings):
    app_env: Literal["development", "production"] = "production"
    app_base_url: str = "http://localhost:8000"
    app_key: str = DEFAULT_APP_KEY
    app_name: str = "Portal SSO for Jira Service Management"
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    connect_install_keys_url: str = "https://connect-install-keys.atlassian.com"
    allowed_install_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*.atlassian.net", "*.jira.com"]
    )
    dev_allow_http_loopback: bool = False
    # `make demo` (demo/): every page says it is a demo, and the admin page opens outside
    # Jira for the one sandbox site. Loopback and development only.
    demo: bool = False
    # Forge (the way into Jira since Connect installs ended): unset, the /forge routes and
    # Forge Invocation Tokens on the admin API answer 404.
    forge_app_id: str | None = None
    forge_jwks_url: str = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
    forge_api_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["api.atlassian.com"]
    )
    # The admin UI bundle (forge/static/admin), which Forge hosts and the Connect page serves
    # too; the image sets it, a checkout finds it beside the app package.
    admin_ui_dir: Path = Path(__file__).resolve().parent.parent / "forge" / "static" / "admin"
    # Outbound calls reach public addresses only, unless the operator allows private ones
    # (an IdP on the operator's own network).
    allow_private_network_endpoints: bool = False

    # Tuning (not part of the DESIGN contract; safe defaults).
    jwt_leeway_seconds: int = 30
    http_timeout_seconds: float = 10.0
    install_key_cache_size: int = 64
    portal_session_hours: float = 8.0
    portal_idle_minutes: float = 60.0
    customer_refresh_hours: float = 24.0
    # Unfinished login starts per (site, address); every start per (site, address); per site.
    login_starts_per_ip_per_minute: int = 30
    login_starts_per_ip_ceiling_per_minute: int = 600
    login_starts_per_tenant_per_minute: int = 1200
    purge_interval_seconds: float = 3600.0
    # Atlassian's personal data reporting API; each account is still sent once per cycle.
    personal_data_report_interval_seconds: float = 3600.0
    uninstalled_retention_days: float = 30.0
    # How often the tenant cache's LISTEN connection proves it is alive (PostgreSQL).
    tenant_cache_heartbeat_seconds: float = 15.0
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    # Set by app.cli.serve for its workers (several processes): each worker writes its metrics
    # there and /metrics adds up all of them. Unset, /metrics shows this process's own.
    prometheus_multiproc_dir: str | None = None

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies everywhere but on a plain-http loopback development URL."""
        return urlsplit(self.app_base_url).scheme == "https"

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        # Here, not when the app builds its SecretBox: a setting's error, without a traceback.
        if not all(crypto.is_key(key.get_secret_value()) for key in value):
            raise ValueError(crypto.KEY_FORMAT)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("forge_app_id", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("forge_app_id")
    @classmethod
    def _forge_app_ari(cls, value: str | None) -> str | None:
        if value is not None and not FORGE_APP_ID.fullmatch(value.strip()):
            raise ValueError(
                "must be the app's ARI, as `forge register` writes it in manifest.yml: "
                "ari:cloud:ecosystem::app/<uuid>"
            )
        return value.strip() if value is not None else None

    @field_validator("allowed_install_hosts", "forge_api_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("app_base_url", "connect_install_keys_url", "forge_jwks_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_guards(self) -> Settings:
        if self.demo and (
            not self.is_development
            or not is_loopback_host(urlsplit(self.app_base_url).hostname or "")
        ):
            raise ValueError("DEMO runs in development on a loopback APP_BASE_URL only")
        if self.is_development:
            return self
        if not self.encryption_keys:
            raise ValueError("ENCRYPTION_KEYS is required outside development (APP_ENV=production)")
        if urlsplit(self.app_base_url).scheme != "https":
            raise ValueError("APP_BASE_URL must be https:// outside development")
        if self.dev_allow_http_loopback:
            raise ValueError("DEV_ALLOW_HTTP_LOOPBACK is for development only")
        if urlsplit(self.forge_jwks_url).scheme != "https":
            raise ValueError("FORGE_JWKS_URL must be https:// outside development")
        return self

    @property
    def is_development(self) -> bool:
        return self.app_env == "development"

    @cached_property
    def base_path(self) -> str:
        """The path part of APP_BASE_URL ('' at the root): the Connect 'context path'."""
        return urlsplit(self.app_base_url).path.rstrip("/")

    def effective_encryption_keys(self) -> list[str]:
        """Keys for secrets at rest; in development a generated key persisted under data/."""
        if self.encryption_keys:
            return [key.get_secret_value() for key in self.encryption_keys]
        return [_development_key()]


def _development_key() -> str:
    # Persisted so that secrets written by one `make run` still decrypt after a restart.
    from cryptography.fernet import Fernet

    path = DATA_DIR / "dev-encryption.key"
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def new_opaque_id(nbytes: int = 12) -> str:
    """An unguessable, URL-safe identifier (used for tenant ids and IdP ids)."""
    return secrets.token_urlsafe(nbytes)


def configuration_problems(error: ValidationError) -> str:
    """What is wrong with the settings, one clause per variable, without the values (a
    DATABASE_URL carries a password) and without a traceback: the operator's next step is to
    fix a variable, not to read our code."""
    problems = []
    for problem in error.errors(include_url=False, include_input=False):
        name = "_".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        problems.append(message if message.startswith(name) else f"{name}: {message}")
    return "; ".join(problems)
