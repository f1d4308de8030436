"""A customer in a real browser signs in through a real SAML IdP: substitute link ->
SimpleSAMLphp's login form -> our ACS -> the desk's home, provisioned in JSM. Screenshots go
to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import InstalledTenant
from tests.e2e.conftest import accessibility_problems
from tests.support.fake_jira import FakeJira
from tests.support.simplesamlphp import (
    MAIL,
    PASSWORD,
    USER,
    SimpleSamlPhp,
    available,
    start_simplesamlphp,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not available(), reason="needs simplesamlphp (scripts/install-system-deps)"),
]


@pytest.fixture(scope="module")
def simplesamlphp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleSamlPhp]:
    yield from start_simplesamlphp(
        tmp_path_factory.mktemp("simplesamlphp-e2e"),
        sp_entity_id="https://placeholder.example.test/sp",
        acs_url="https://placeholder.example.test/acs",
    )


async def test_customer_signs_in_through_a_saml_idp(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    jira: FakeJira,
    simplesamlphp: SimpleSamlPhp,
    live: str,
    browser: Any,
    artifacts: Path,
) -> None:
    async with httpx.AsyncClient() as plain:
        metadata = (await plain.get(simplesamlphp.metadata_url)).text
        created = await client.post(
            "/api/admin/idps",
            json={
                "name": "Acme SAML",
                "preset": "saml",
                "metadata_xml": metadata,
                "name_id_format": "persistent",
                "trust_email": True,
            },
            headers=tenant.admin_headers(),
        )
        assert created.status_code == 201, created.text
        idp_id = created.json()["id"]
        # What the IdP's admin imports: our entity id and ACS, as the live service names them.
        sp_metadata = await plain.get(f"{live}/saml/{idp_id}/metadata")
    assert sp_metadata.status_code == 200
    simplesamlphp.register_sp(
        entity_id=f"{live}/saml/{idp_id}/metadata", acs_url=f"{live}/saml/{idp_id}/acs"
    )

    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    page = await context.new_page()
    await page.goto(f"{live}/portal/{tenant.tenant_id}/7")
    await page.wait_for_selector("input[name=username]")
    assert page.url.startswith(simplesamlphp.base_url)
    await page.screenshot(path=str(artifacts / "1-simplesamlphp-login.png"))
    await page.fill("input[name=username]", USER)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit], input[type=submit]")

    await page.wait_for_selector("text=Welcome to the IT Help help center")
    assert page.url == f"{live}/portal/{tenant.tenant_id}/7"
    assert await page.is_visible("text=Ann Example")
    await page.screenshot(path=str(artifacts / "2-desk-home.png"), full_page=True)
    assert await accessibility_problems(page) == []
    [account] = [a for a in jira.accounts.values() if a.email == MAIL]
    assert account.display_name == "Ann Example"
