"""The package carries the CRDs and the example specs, and works installed without the checkout."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
DATA = REPO / "src" / "netwright" / "data"


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(("source", "copy"), [("crds", "crds"), ("examples", "examples")])
def test_package_data_is_identical_to_the_checkout(source: str, copy: str) -> None:
    left, right = REPO / source, DATA / copy
    assert tree(left) == tree(right), (
        f"src/netwright/data/{copy} differs from {source}/ in its files"
    )
    for rel in tree(left):
        assert filecmp.cmp(left / rel, right / rel, shallow=False), f"{copy}/{rel} differs"


def test_installed_wheel_validates_without_the_checkout(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    # The build may leave a build/ directory in the checkout: it is not ours to keep.
    shutil.rmtree(REPO / "build", ignore_errors=True)
    spec = tmp_path / "spec"
    shutil.copytree(target / "netwright" / "data" / "examples" / "vxlan", spec)
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, netwright.cli as c; sys.exit(c.main(sys.argv[1:]))",
            "validate",
            str(spec),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "valid (3 Nodes" in result.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import netwright; print(netwright.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(target)), "the test ran the checkout, not the installed copy"
