"""`molecule test` passes for every scenario in molecule/ (one per backend).

Each scenario builds namespace hosts (a switch, three nodes, BIRD for bgp), converges
them with playbooks/site.yml, runs Molecule's idempotence step (the second converge must
report changed=0), verifies routes and pod-to-pod pings across nodes with the real CNI
plugins, and destroys everything. Here each runs under a namespace prefix unique to this
test run (`NWM_PREFIX`), and afterwards no namespace or process of that prefix is left.

Skipped (with the reason) unless root with molecule installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))
BIN = str(Path(os.path.realpath(sys.executable)).parent)
ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(
        shutil.which("molecule", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}") is None,
        reason="needs molecule (pip install --group test-ansible)",
    ),
]


def test_every_backend_has_a_scenario() -> None:
    assert SCENARIOS == ["bgp", "host-gw", "vxlan"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_passes(scenario: str) -> None:
    prefix = f"nwm{uuid.uuid4().hex[:4]}"
    env = dict(
        os.environ,
        # Molecule shells out to ansible-config and ansible-playbook: this interpreter's.
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        NWM_PREFIX=prefix,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
    )
    try:
        proc = subprocess.run(
            ["molecule", "test", "-s", scenario],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        left = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True
        ).stdout
        leftovers = [line.split()[0] for line in left.splitlines() if line.startswith(prefix)]
        for ns in leftovers:  # what a broken destroy left; the assertion below names it
            subprocess.run(["ip", "netns", "del", ns], check=False)
    out = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, (
        f"molecule test -s {scenario}: exit {proc.returncode}\n{out[-30000:]}"
    )
    assert re.search(
        rf"^{re.escape(scenario)}\s+: actions=6\s+successful=6 .*failed=0", out, re.MULTILINE
    ), out[-30000:]
    assert "idempotence: Executed: Successful" in out, out[-30000:]
    assert not leftovers, f"destroy left namespaces: {leftovers}"
    birds = subprocess.run(
        ["pgrep", "-af", f"/run/netwright/molecule/{prefix}/"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert not birds.strip(), f"destroy left processes: {birds}"
