"""The layering of docs/architecture.md, checked: import contracts (import-linter), a lazy CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed")
def test_import_contracts_hold() -> None:
    result = subprocess.run(
        ["lint-imports", "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


def test_validate_imports_neither_engine_nor_operator_libraries() -> None:
    code = (
        "import sys; from netwright.cli import main; main(['validate', sys.argv[1]]);"
        "heavy = sorted(m for m in ('pyroute2', 'kopf', 'ansible', 'jinja2') if m in sys.modules);"
        "print('heavy=' + ','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "examples" / "vxlan")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "valid (3 Nodes" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "heavy=", result.stdout


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        ["ruff", "check", "--no-cache", "src", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("mypy") is None, reason="mypy is not installed")
def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    result = subprocess.run(
        ["mypy", "--cache-dir", str(tmp_path / "mypy-cache")],  # strict, on src/ (pyproject)
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
