"""Fixtures of the SAML tests."""

from __future__ import annotations

import pytest

from tests.support.saml_idp import SigningIdp


@pytest.fixture
def saml_idp() -> SigningIdp:
    return SigningIdp()
