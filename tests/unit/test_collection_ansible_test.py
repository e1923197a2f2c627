"""The netwright.fabric collection passes `ansible-test sanity` and `ansible-test units`.

Runs `scripts/ansible-test.sh`, the collection README's command, so that the suite's one
test command covers the collection as well. Each uses ansible-test's own virtual
environments (made on the first run, from the configured pip index; reused after).
Skipped with the reason where ansible-test is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    shutil.which("ansible-test") is None, reason="needs ansible-test (ansible-core)"
)
def test_the_collection_passes_ansible_test_sanity_and_units() -> None:
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "ansible-test.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\n{proc.stdout[-20000:]}\n{proc.stderr[-20000:]}"
    )
