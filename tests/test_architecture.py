"""Imports run one way, down: the import-linter contracts in pyproject.toml hold (surfaces
over the login use case, over protocols and platforms, over tenants, over the shared ground;
siblings independent)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(  # noqa: S603 - the project's own tool on its own tree
        [str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
