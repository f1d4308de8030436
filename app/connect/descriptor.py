"""The Connect app descriptor, built from settings.

The checked-in ``atlassian-connect.json`` is exactly what this module builds for the default
settings (``python -m app.connect.descriptor > atlassian-connect.json``); a test keeps the two
in step.
"""

from __future__ import annotations

import json
from typing import Any

from app.config import DEFAULT_APP_KEY, Settings

DEFAULT_BASE_URL = "http://localhost:8000"
ADMIN_PAGE_KEY = "portal-sso-admin"


def build_descriptor(*, base_url: str, app_key: str, name: str) -> dict[str, Any]:
    admin_name = {"value": "Portal SSO"}
    return {
        "key": app_key,
        "name": name,
        "description": (
            "OpenID Connect / OAuth 2.0 single sign-on (AWS Cognito, Entra ID, Okta, ...) "
            "for the Jira Service Management customer portal."
        ),
        "vendor": {"name": "Portal SSO", "url": base_url},
        "baseUrl": base_url,
        "links": {"self": f"{base_url}/atlassian-connect.json"},
        "authentication": {"type": "jwt"},
        "apiVersion": 1,
        "apiMigrations": {"signed-install": True, "context-qsh": True, "gdpr": True},
        "lifecycle": {
            "installed": "/lifecycle/installed",
            "uninstalled": "/lifecycle/uninstalled",
            "enabled": "/lifecycle/enabled",
            "disabled": "/lifecycle/disabled",
        },
        # READ: desks, request types, requests; WRITE: raise requests and comments;
        # ADMIN: create customers and organizations and manage their members.
        "scopes": ["READ", "WRITE", "ADMIN"],
        "modules": {
            "adminPages": [
                {
                    "key": ADMIN_PAGE_KEY,
                    "name": admin_name,
                    "url": "/admin",
                    "location": "admin_plugins_menu/upm-admin-menu-section",
                }
            ],
            "configurePage": {
                "key": "portal-sso-configure",
                "name": admin_name,
                "url": "/admin",
            },
            "postInstallPage": {
                "key": "portal-sso-get-started",
                "name": {"value": "Get started with Portal SSO"},
                "url": "/admin?welcome=1",
            },
        },
    }


def descriptor_for(settings: Settings) -> dict[str, Any]:
    return build_descriptor(
        base_url=settings.app_base_url, app_key=settings.app_key, name=settings.app_name
    )


def default_descriptor() -> dict[str, Any]:
    return build_descriptor(
        base_url=DEFAULT_BASE_URL,
        app_key=DEFAULT_APP_KEY,
        name=Settings.model_fields["app_name"].default,
    )


if __name__ == "__main__":
    print(json.dumps(default_descriptor(), indent=2))
