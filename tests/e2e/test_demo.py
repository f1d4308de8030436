"""`make demo`'s entry point, as a new user meets it: started, it prints the links; the
substitute link leads through the demo provider's login, in Chromium, to the portal, where a
request is raised; the admin link opens the admin page outside Jira. Every page says it is a
demo. Stopped, nothing of it keeps running. The screenshots are the README's."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import accessibility_problems
from tests.support.live_server import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo() -> Iterator[dict[str, str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "APP_ENV")}
    process = subprocess.Popen(  # noqa: S603 - fixed command
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "demo"],
        cwd=ROOT,
        env={**env, "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    printed: list[str] = []
    for line in process.stdout:
        printed.append(line)
        if line.startswith("  Identity provider:"):
            break
    text = "".join(printed)
    links = {
        name: match.group(1)
        for name, pattern in (
            ("admin", r"Admin page:\s+(\S+)"),
            ("portal", r"Substitute link:\s+(\S+)"),
        )
        if (match := re.search(pattern, text))
    }
    assert set(links) == {"admin", "portal"}, text
    try:
        yield links
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        rest = process.communicate(timeout=40)[0]
        assert "demo stopped" in rest, rest
        listening = subprocess.run(  # noqa: S603 - fixed command
            ["/usr/bin/pgrep", "-f", f"app.cli.serve .*--port {port}"],
            capture_output=True,
            check=False,
        )
        # pgrep: 1 = no such process (2 would be a usage error, not a pass).
        assert listening.returncode == 1, (listening.returncode, listening.stdout)


async def test_make_demo_shows_the_journey_and_the_admin_page(
    demo: dict[str, str], browser: Any, artifacts: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    page = await context.new_page()
    await page.goto(demo["portal"])
    await page.fill("input[name=login]", "ada")
    await page.fill("input[name=password]", "demo")
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Welcome to the IT Help help center")
    assert await page.is_visible("text=Demo: a sandbox site on this computer")
    await page.click("text=Get IT help")
    await page.fill("#f-summary", "My laptop will not start")
    await page.fill("#f-description", "It beeps three times.")
    await page.click("button:has-text('Send')")
    await page.wait_for_selector("text=was raised")
    await page.screenshot(path=str(artifacts / "demo-portal.png"), full_page=True)
    assert await accessibility_problems(page) == []

    admin = await context.new_page()
    await admin.goto(demo["admin"])
    await admin.wait_for_selector("text=Demo sign-in")
    assert await admin.is_visible("text=Demo: a sandbox site on this computer")
    await admin.screenshot(path=str(artifacts / "demo-admin.png"), full_page=True)
    assert await accessibility_problems(admin) == []
    await context.close()
    docs = ROOT / "docs"
    if os.environ.get("UPDATE_README_SCREENSHOTS"):
        for name in ("demo-portal.png", "demo-admin.png"):
            shutil.copyfile(artifacts / name, docs / name)


def test_the_demo_refuses_production_and_other_databases() -> None:
    python = str(ROOT / ".venv" / "bin" / "python")
    for extra in ({"APP_ENV": "production"}, {"DATABASE_URL": "postgresql://db.example/prod"}):
        refused = subprocess.run(  # noqa: S603 - fixed command
            [python, "-m", "demo"],
            cwd=ROOT,
            env={**os.environ, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode != 0
        assert "make demo" in refused.stderr
