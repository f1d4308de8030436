"""Forge, the platform Jira installs apps through today: this service is the app's remote.

``tokens`` verifies Forge Invocation Tokens, ``keys`` holds Forge's signing keys,
``repository`` the installations, ``auth`` the app system token for Jira calls, ``deps`` the
request dependencies and ``routes`` the lifecycle, trigger and ``preUninstall`` endpoints.
"""
