from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db import create_engine


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_production_refuses_to_start_without_encryption_keys() -> None:
    with pytest.raises(ValidationError, match="ENCRYPTION_KEYS"):
        make(app_env="production", app_base_url="https://sso.example.com")


def test_a_malformed_encryption_key_is_refused_without_echoing_it() -> None:
    good = Fernet.generate_key().decode()
    with pytest.raises(ValidationError) as refused:
        make(app_env="development", encryption_keys=f"{good},hunter2-not-a-key")
    message = str(refused.value)
    assert "ENCRYPTION_KEYS entries must be Fernet keys" in message
    assert "hunter2" not in message
    assert good not in message


def test_log_level_takes_any_case_and_refuses_unknown_levels() -> None:
    key = Fernet.generate_key().decode()
    base = {"app_base_url": "https://sso.example.com", "encryption_keys": key}
    assert make(**base, log_level="warning").log_level == "WARNING"
    with pytest.raises(ValidationError, match="log_level"):
        make(**base, log_level="verbose")


def test_production_refuses_http_base_url() -> None:
    with pytest.raises(ValidationError, match="https"):
        make(
            app_env="production",
            app_base_url="http://sso.example.com",
            encryption_keys=Fernet.generate_key().decode(),
        )


def test_production_refuses_loopback_http_switch() -> None:
    with pytest.raises(ValidationError, match="development"):
        make(
            app_env="production",
            app_base_url="https://sso.example.com",
            encryption_keys=Fernet.generate_key().decode(),
            dev_allow_http_loopback=True,
        )


def test_development_defaults_start(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    settings = make(app_env="development")
    assert settings.app_base_url == "http://localhost:8000"
    first = settings.effective_encryption_keys()
    assert make(app_env="development").effective_encryption_keys() == first  # persisted


def test_lists_come_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [Fernet.generate_key().decode() for _ in range(2)]
    monkeypatch.setenv("ENCRYPTION_KEYS", ",".join(keys))
    monkeypatch.setenv("ALLOWED_INSTALL_HOSTS", "*.atlassian.net, jira.Example.com")
    monkeypatch.setenv("APP_BASE_URL", "https://sso.example.com/")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.effective_encryption_keys() == keys
    assert settings.allowed_install_hosts == ["*.atlassian.net", "jira.example.com"]
    assert settings.app_base_url == "https://sso.example.com"


def test_forge_variables_have_the_contracts_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(app_env="development")
    assert settings.forge_app_id is None  # the Forge routes answer 404
    assert settings.forge_jwks_url == (
        "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
    )
    assert settings.forge_api_hosts == ["api.atlassian.com"]
    app_id = "ari:cloud:ecosystem::app/8a5b3bd4-4d1f-4c5e-9a38-3c6a2f2d8e11"
    monkeypatch.setenv("FORGE_APP_ID", app_id)
    monkeypatch.setenv("FORGE_API_HOSTS", "api.atlassian.com, API.stg.atlassian.com")
    from_env = Settings(_env_file=None, app_env="development")  # type: ignore[call-arg]
    assert from_env.forge_app_id == app_id
    assert from_env.forge_api_hosts == ["api.atlassian.com", "api.stg.atlassian.com"]


@pytest.mark.parametrize(
    "given",
    ["8a5b3bd4-4d1f-4c5e-9a38-3c6a2f2d8e11", "ari:cloud:ecosystem::app/not-a-uuid", "app"],
)
def test_a_forge_app_id_that_is_not_an_app_ari_is_refused(given: str) -> None:
    with pytest.raises(ValidationError, match="ari:cloud:ecosystem::app/<uuid>"):
        make(app_env="development", forge_app_id=given)


def test_a_blank_forge_app_id_means_unset() -> None:
    assert make(app_env="development", forge_app_id=" ").forge_app_id is None


def test_production_refuses_a_plain_http_forge_jwks_url() -> None:
    with pytest.raises(ValidationError, match="FORGE_JWKS_URL"):
        make(
            app_env="production",
            app_base_url="https://sso.example.com",
            encryption_keys=Fernet.generate_key().decode(),
            forge_jwks_url="http://forge.example/jwks.json",
        )


def test_base_path_of_a_prefixed_base_url() -> None:
    settings = make(app_env="development", app_base_url="http://localhost:8000/sso/")
    assert settings.base_path == "/sso"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@db/sso", "postgresql+asyncpg://u:p@db/sso"),
        ("postgres://u:p@db:5432/sso", "postgresql+asyncpg://u:p@db:5432/sso"),
        ("postgresql+asyncpg://u:p@db/sso", "postgresql+asyncpg://u:p@db/sso"),
        ("postgresql+psycopg://u:p@db/sso", "postgresql+psycopg://u:p@db/sso"),
        ("postgresql+psycopg_async://u:p@db/sso", "postgresql+psycopg://u:p@db/sso"),
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite+aiosqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
    ],
)
def test_database_url_without_an_async_driver_gets_one(given: str, used: str) -> None:
    assert make(app_env="development", database_url=given).database_url == used


@pytest.mark.parametrize(
    ("given", "used"),
    [
        # libpq's name, which asyncpg refuses at connect time, becomes asyncpg's
        (
            "postgres://u:p@db/sso?sslmode=require&application_name=sso",
            "postgresql+asyncpg://u:p@db/sso?ssl=require&application_name=sso",
        ),
        # an explicit ssl= wins; psycopg speaks libpq's names itself
        (
            "postgresql://u:p@db/sso?ssl=verify-full",
            "postgresql+asyncpg://u:p@db/sso?ssl=verify-full",
        ),
        (
            "postgresql+psycopg://u:p@db/sso?sslmode=require",
            "postgresql+psycopg://u:p@db/sso?sslmode=require",
        ),
    ],
)
def test_sslmode_is_passed_as_each_driver_names_it(given: str, used: str) -> None:
    assert make(app_env="development", database_url=given).database_url == used


@pytest.mark.parametrize(
    "given",
    ["mysql://u:hunter2@db/sso", "postgresql+psycopg2://u:hunter2@db/sso", "u:hunter2@db/sso"],
)
def test_unusable_database_url_is_refused_without_echoing_it(given: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make(app_env="development", database_url=given)
    message = str(refused.value)
    assert "DATABASE_URL" in message
    assert "hunter2" not in message


async def test_a_plain_postgresql_url_with_sslmode_connects(database_url: str) -> None:
    """What an operator pastes from a hosting console reaches the server as it is."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs the PostgreSQL server .ci/run starts")
    plain = make_url(database_url).set(drivername="postgresql")
    url = plain.update_query_dict({"sslmode": "disable"}).render_as_string(hide_password=False)
    engine = create_engine(make(app_env="development", database_url=url).database_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


def test_a_postgresql_url_without_its_driver_installed_says_which_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "asyncpg" else real(name, *a)
    )
    with pytest.raises(ValidationError, match=r"portal-sso\[postgres\]"):
        make(app_env="development", database_url="postgresql://u:secret@db/sso")


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "app_env": "production",
            "encryption_keys": [Fernet.generate_key().decode()],
            "app_base_url": "https://127.0.0.1",
        },
        {"app_env": "development", "app_base_url": "http://sso.example.com"},
    ],
)
def test_demo_mode_is_for_loopback_development_only(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="DEMO runs in development on a loopback"):
        Settings(demo=True, **overrides)  # type: ignore[arg-type]
    assert Settings(demo=True, app_env="development", app_base_url="http://127.0.0.1:8000").demo
