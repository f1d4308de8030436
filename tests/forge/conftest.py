"""Every test here runs the app as a Forge remote (fixtures: ``tests.support.forge_fixtures``)."""

from __future__ import annotations

import pytest

from app.config import Settings
from tests.support.forge_fixtures import forge_settings
from tests.support.forge_platform import FakeForge


@pytest.fixture
def settings(settings: Settings, forge: FakeForge) -> Settings:
    return forge_settings(settings, forge)
