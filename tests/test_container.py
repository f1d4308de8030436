"""`docker build` cannot run here: check the Dockerfile's assumptions instead."""

from __future__ import annotations

import os
import re

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_every_copied_path_exists() -> None:
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            *sources, _target = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), source


def test_entrypoint_exists_is_executable_and_runs_migrations_then_the_app() -> None:
    match = re.search(r'ENTRYPOINT \["(?P<path>[^"]+)"\]', DOCKERFILE)
    assert match is not None
    entrypoint = ROOT / match["path"].removeprefix("/srv/")
    assert os.access(entrypoint, os.X_OK)
    script = entrypoint.read_text()
    assert script.index("python -m app.cli.migrate") < script.index("python -m app.cli.serve")


def test_runs_as_a_non_root_user_with_a_healthcheck() -> None:
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.MULTILINE)
    assert "HEALTHCHECK" in DOCKERFILE
    assert "/healthz" in DOCKERFILE


def test_the_admin_ui_bundle_is_copied_where_the_app_is_told_to_find_it() -> None:
    match = re.search(r"ADMIN_UI_DIR=(\S+)", DOCKERFILE)
    assert match is not None
    in_image = match[1]
    copied = {
        "/srv/" + line.split()[2].removeprefix("./")
        for line in DOCKERFILE.splitlines()
        if line.startswith("COPY ") and line.split()[1] == "forge/static/admin"
    }
    assert copied == {in_image}
    assert (ROOT / "forge/static/admin/index.html").is_file()


def test_the_image_installs_the_locked_versions_with_hashes() -> None:
    assert "COPY pyproject.toml uv.lock" in DOCKERFILE
    assert "uv export --frozen --extra postgres" in DOCKERFILE
    assert "pip install --require-hashes -r" in DOCKERFILE
    assert "pip install --no-deps ." in DOCKERFILE
    assert (ROOT / "uv.lock").is_file()
