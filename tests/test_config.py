from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from app.config import Settings


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_production_refuses_to_start_without_encryption_keys() -> None:
    with pytest.raises(ValidationError, match="ENCRYPTION_KEYS"):
        make(app_env="production", app_base_url="https://sso.example.com")


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


def test_base_path_of_a_prefixed_base_url() -> None:
    settings = make(app_env="development", app_base_url="http://localhost:8000/sso/")
    assert settings.base_path == "/sso"
