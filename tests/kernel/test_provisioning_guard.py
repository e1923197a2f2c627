"""`apply` refuses the wrong target and waits its turn, and says so in one line.

Every refusal is checked three ways: the exit status, the one line on stderr, and
`ip -json` (plus the root's files) showing that nothing changed. The processes a test
starts (a lock holder, concurrent applies) are stopped by pid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.kernel._netns import KERNEL, ipj, quiet, sh, snapshot, underlay

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = KERNEL

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = str(EXAMPLES / "vxlan")


def netwright(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netwright.cli", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


LOCK = "var/lib/netwright/apply.lock"


def files(root: Path) -> list[str]:
    """The files under `root`, but the (empty, or the holder's) lock file itself."""
    found = (str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return sorted(f for f in found if f != LOCK)


@pytest.fixture
def n1(netns: Callable[[str], str]) -> str:
    """A namespace whose eth0 holds node n1's address (172.31.255.11)."""
    ns = netns("n1")
    quiet(ns)
    underlay(ns, "172.31.255.11/24")
    return ns


@pytest.fixture
def holder() -> Iterator[Callable[[str, Path], subprocess.Popen[str]]]:
    """Start a process that holds a target's lock until it is killed (by pid, at teardown)."""
    started: list[subprocess.Popen[str]] = []
    code = (
        "import sys, time\n"
        "from netwright.kernel import Target\n"
        "from netwright.locking import target_lock\n"
        "with target_lock(Target(netns=sys.argv[1], root=sys.argv[2]), wait=0):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(float(sys.argv[3]))\n"
    )

    def start(ns: str, root: Path, seconds: float = 60) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, ns, str(root), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline() == "held\n"
        return proc

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def test_apply_gives_up_on_a_held_lock_naming_the_holder(
    n1: str, tmp_path: Path, holder: Callable[..., subprocess.Popen[str]]
) -> None:
    root = tmp_path / "root"
    proc = holder(n1, root)
    before, before_files = snapshot(n1), files(root)
    started = time.monotonic()
    result = netwright("apply", SPEC, "--node", "n1", "--netns", n1, "--root", str(root),
                       "--wait-lock", "0.5")  # fmt: skip
    waited = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"waiting for root {root}, held by pid {proc.pid} (")
    assert len(lines) == 2, result.stderr
    assert lines[1].startswith(f"netwright: root {root} is being provisioned by pid {proc.pid} ")
    assert lines[1].endswith("; gave up after 0.5 s (--wait-lock); nothing was changed")
    assert waited >= 0.5
    assert result.stdout == ""
    assert snapshot(n1) == before
    assert files(root) == before_files


def test_apply_waits_for_the_lock_then_runs(
    n1: str, tmp_path: Path, holder: Callable[..., subprocess.Popen[str]]
) -> None:
    root = tmp_path / "root"
    holder(n1, root, 1.0)  # lets go after a second
    result = netwright("apply", SPEC, "--node", "n1", "--netns", n1, "--root", str(root),
                       "--wait-lock", "30")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "waiting for root" in result.stderr
    assert any(link["ifname"] == "nw.vxlan" or link.get("linkinfo", {}).get("info_kind") == "vxlan"
               for link in ipj(n1, "ip", "-d", "link", "show"))  # fmt: skip


def test_the_namespace_lock_holds_across_roots(
    n1: str, tmp_path: Path, holder: Callable[..., subprocess.Popen[str]]
) -> None:
    """Two roots, one namespace: the second run still waits for the first."""
    proc = holder(n1, tmp_path / "first")
    before = snapshot(n1)
    result = netwright("apply", SPEC, "--node", "n1", "--netns", n1,
                       "--root", str(tmp_path / "second"), "--wait-lock", "0")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        line for line in result.stderr.splitlines() if line.startswith("netwright: namespace ")
    ]
    assert f"netwright: namespace {n1} is being provisioned by pid {proc.pid} " in result.stderr
    assert snapshot(n1) == before


def test_concurrent_applies_take_turns(n1: str, tmp_path: Path) -> None:
    """Two applies started together: both succeed, no EEXIST, and a third has nothing to do."""
    root = tmp_path / "root"
    argv = [sys.executable, "-m", "netwright.cli", "apply", SPEC, "--node", "n1",
            "--netns", n1, "--root", str(root), "--wait-lock", "60"]  # fmt: skip
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    try:
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], outs
    assert not any("EEXIST" in out + err or "failed: 0," not in out for out, err in outs), outs
    heads = sorted(out.splitlines()[0] for out, _err in outs)
    assert heads[0].endswith("0 to add, 0 to change, 0 to delete"), heads
    again = netwright("plan", SPEC, "--node", "n1", "--netns", n1, "--root", str(root),
                      "-o", "json")  # fmt: skip
    assert json.loads(again.stdout)["delta"]["changes"] == []


def test_a_namespace_holding_another_nodes_address_is_refused(n1: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    before = snapshot(n1)
    for command in ("apply", "plan"):
        result = netwright(command, SPEC, "--node", "n2", "--netns", n1, "--root", str(root))
        assert result.returncode == 1, result.stderr
        assert result.stderr == (
            f"netwright: namespace {n1} holds 172.31.255.11 (on eth0), which is node n1's"
            " address, not n2's; nothing was changed\n"
        )
        assert result.stdout == ""
    assert snapshot(n1) == before
    assert files(root) == []


def test_a_namespace_holding_no_node_address_needs_the_underlay_named(
    netns: Callable[[str], str], tmp_path: Path
) -> None:
    ns = netns("bare")
    quiet(ns)
    sh(ns, "ip", "link", "add", "ul0", "mtu", "1400", "type", "veth", "peer", "name", "ul1")
    sh(ns, "ip", "link", "set", "ul0", "up")
    sh(ns, "ip", "link", "set", "ul1", "up")
    root = tmp_path / "root"
    before = snapshot(ns)
    refused = netwright("apply", SPEC, "--node", "n1", "--netns", ns, "--root", str(root))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"netwright: namespace {ns} holds no address of node n1 (172.31.255.11): is it n1?"
        " Name its underlay with --underlay DEV to provision it anyway; nothing was changed\n"
    )
    assert snapshot(ns) == before
    assert files(root) == []

    named = netwright("apply", SPEC, "--node", "n1", "--netns", ns, "--root", str(root),
                      "--underlay", "ul0")  # fmt: skip
    assert named.returncode == 0, named.stderr
    assert named.stderr == (
        f"note: namespace {ns} holds no address of n1 (172.31.255.11); underlay ul0 as named"
        " (--underlay), MTU 1400 (from ul0), subnet unknown\n"
    )
    vtep = next(
        lk for lk in ipj(ns, "ip", "-d", "link", "show")
        if lk.get("linkinfo", {}).get("info_kind") == "vxlan"
    )  # fmt: skip
    assert vtep["mtu"] == 1400 - 50


def test_a_missing_namespace_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    root = tmp_path / "root"
    missing = f"nwt-{os.getpid()}-missing"
    result = netwright("apply", SPEC, "--node", "n1", "--netns", missing, "--root", str(root))
    assert result.returncode == 1
    assert result.stderr == (
        f"netwright: network namespace {missing}: does not exist (/run/netns/{missing})\n"
    )
    assert not root.exists()


def test_a_root_that_cannot_hold_the_lock_is_one_line(n1: str, tmp_path: Path) -> None:
    plain = tmp_path / "a-file"
    plain.write_text("not a directory\n")
    before = snapshot(n1)
    result = netwright("apply", SPEC, "--node", "n1", "--netns", n1, "--root", str(plain))
    assert result.returncode == 1
    assert result.stderr == (
        f"netwright: root {plain}: cannot take the lock {plain}/var/lib/netwright/apply.lock:"
        f" {plain}/var: Not a directory\n"
    )
    assert snapshot(n1) == before
