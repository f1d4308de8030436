"""Process-wide services held on ``app.state`` and their dependency aliases.

Dependencies are ``async def``: FastAPI runs plain ``def`` dependencies in a thread pool.
"""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request

from app.config import Settings
from app.crypto import SecretBox


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


async def get_http(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.app.state.http
    return client


SettingsDep = Annotated[Settings, Depends(get_settings)]
SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]
HttpDep = Annotated[httpx.AsyncClient, Depends(get_http)]
