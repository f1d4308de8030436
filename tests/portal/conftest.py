"""Fixtures of the portal tests."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.crypto import SecretBox
from app.login.service import LoginService
from app.main import platform_access


@pytest.fixture
def fast_jira(app: FastAPI) -> None:
    """The JSM client with short retry delays, so a test of Jira's failures is quick."""
    from datetime import timedelta

    from app.jsm.client import RetryPolicy
    from app.jsm.directory import JiraDirectory
    from app.jsm.provisioning import JsmProvisioner

    directory = JiraDirectory(
        app.state.services.get(httpx.AsyncClient),
        box=app.state.services.get(SecretBox),
        app_access=platform_access(
            app.state.services.get(Settings), app.state.services.get(SecretBox)
        ),
        policy=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, budget_seconds=2),
    )
    app.state.services.add(directory)
    app.state.services.get(LoginService).provisioner = JsmProvisioner(
        directory, refresh_interval=timedelta(hours=24)
    )
