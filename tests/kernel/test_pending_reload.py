"""A BIRD reload that failed stays pending: the next `apply` tries it again and says so,
and `plan` shows it, although the config file it wrote is already in place.

The bgp example applied to node n1 with BIRD not running: the config is written and
the reload fails. Every later run reports the reload as pending (not "0 to add,
0 to change, 0 to delete") until BIRD, started on that very file, has loaded it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _netns import KERNEL, quiet, underlay

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = KERNEL

SPEC = Path(__file__).resolve().parents[2] / "examples" / "bgp"


def netwright(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netwright.cli", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def node(netns: Callable[[str], str]) -> str:
    ns = netns("n1")
    quiet(ns)
    underlay(ns, "172.31.255.11/24")
    return ns


def test_a_failed_bird_reload_stays_pending(node: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    args = (str(SPEC), "--node", "n1", "--netns", node, "--root", str(root))
    conf = root / "etc/bird/bird.conf"
    sock = root / "run/bird/bird.ctl"
    not_running = f"bird {sock}: BIRD is not running (no control socket)"
    pending = f"bird {sock}: reload of {conf} still pending"

    first = netwright("apply", *args)
    assert first.returncode == 1, first.stdout + first.stderr
    assert not_running in first.stdout
    assert conf.exists()

    # The file is in place, the reload is not done: both runs say so.
    again = netwright("apply", *args)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "0 to add, 1 to change, 0 to delete" in again.stdout, again.stdout
    assert f"~ bird configure {conf} via {sock}" in again.stdout
    assert pending in again.stdout
    assert not_running in again.stdout
    plan = netwright("plan", *args, "--exit-code")
    assert plan.returncode == 3, plan.stdout + plan.stderr
    assert "0 to add, 0 to change, 0 to delete" not in plan.stdout
    assert pending in plan.stdout

    if shutil.which("bird") is None:
        pytest.skip("bird2 is not installed: the reload cannot succeed here")
    (root / "var/log/bird").mkdir(parents=True, exist_ok=True)
    sock.parent.mkdir(parents=True, exist_ok=True)
    pidfile = tmp_path / "bird.pid"
    subprocess.run(
        ["ip", "netns", "exec", node, "bird", "-c", str(conf), "-s", str(sock),
         "-P", str(pidfile)],
        check=True,
    )  # fmt: skip
    try:
        for _ in range(200):
            if sock.exists():
                break
            time.sleep(0.02)
        done = netwright("apply", *args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "failed: 0, conflicts: 0" in done.stdout
        after = netwright("plan", *args, "--exit-code")
        assert after.returncode == 0, after.stdout + after.stderr
        assert "0 to add, 0 to change, 0 to delete" in after.stdout
        assert pending not in after.stdout
    finally:
        if pidfile.exists():
            pid = int(pidfile.read_text().strip())
            os.kill(pid, 15)  # the BIRD this test started, by its pid
            for _ in range(200):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.01)
