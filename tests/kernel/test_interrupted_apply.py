"""SIGINT or SIGTERM in the middle of a large apply: one line, 130/143, and the next run finishes.

A node of a 2,000-node host-gw spec gets about 2,000 routes and nexthops. `apply -v`
says "applying N changes" just before its first change; the signal is sent on that
line, so it lands while changes are being made. The interrupted run must exit
128+signal with exactly one line after it ("interrupted; n of N changes made; run again
to finish"), no traceback; the routes it did make carry netwright's protocol; the next
run makes the rest and the one after has nothing to do (checked with `ip -json`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from _netns import KERNEL, ipj, quiet, sh

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = KERNEL

NODES = 2000
UNDERLAY = ipaddress.ip_network("172.21.0.0/16")
SPEC = """\
apiVersion: netwright.io/v1alpha1
kind: Backend
metadata: {name: direct}
spec: {type: host-gw}
---
apiVersion: netwright.io/v1alpha1
kind: IPPool
metadata: {name: pods-v4}
spec: {cidr: 10.96.0.0/12, blockSize: 24, backend: direct}
---
apiVersion: netwright.io/v1alpha1
kind: Network
metadata: {name: podnet}
spec: {type: bridge, bridge: {name: cni0}, mtu: auto, ipPools: [pods-v4]}
"""
INTERRUPTED = re.compile(
    r"netwright: interrupted; ([\d,]+) of ([\d,]+) changes made; run again to finish"
)


def node_ip(i: int) -> str:
    return str(ipaddress.IPv4Address(int(UNDERLAY.network_address) + 256 + i))


def cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "netwright.cli", *argv]


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = tmp_path_factory.mktemp("spec")
    (spec / "network.yaml").write_text(SPEC)
    (spec / "nodes.yaml").write_text(
        "---\n".join(
            f"apiVersion: v1\nkind: Node\nmetadata: {{name: n{i:05d}}}\n"
            f"status: {{addresses: [{{type: InternalIP, address: {node_ip(i)}}}]}}\n"
            for i in range(NODES)
        )
    )
    subprocess.run(cli("allocate", str(spec), "--write"), check=True, capture_output=True)
    return spec


def owned_routes(ns: str) -> list[str]:
    return [r["dst"] for r in ipj(ns, "ip", "route", "show", "proto", "211")]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_signal_mid_apply_says_how_far_it_got(
    signum: int, spec: Path, netns: Callable[[str], str], tmp_path: Path
) -> None:
    ns, switch = netns("node"), netns("switch")
    quiet(ns)
    sh(ns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "p0", "netns", switch)
    sh(switch, "ip", "link", "set", "p0", "up")
    sh(ns, "ip", "link", "set", "eth0", "up")
    sh(ns, "ip", "addr", "add", f"{node_ip(0)}/{UNDERLAY.prefixlen}", "dev", "eth0")
    argv = cli("apply", str(spec), "--node", "n00000", "--netns", ns, "--root", str(tmp_path))

    proc = subprocess.Popen([*argv, "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("node n00000: applying "), first
        os.kill(proc.pid, signum)
        out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    total = int(first.split("applying ")[1].split()[0].replace(",", ""))
    assert total > NODES, first

    if proc.returncode == 0:
        pytest.fail(f"the apply finished before the signal arrived:\n{out[-500:]}")
    assert proc.returncode == 128 + signum, rest
    assert out == ""
    lines = rest.splitlines()
    assert len(lines) == 1, rest
    found = INTERRUPTED.fullmatch(lines[0])
    assert found is not None, lines[0]
    made, of = (int(n.replace(",", "")) for n in found.groups())
    assert of == total
    assert made < total
    assert len(owned_routes(ns)) < NODES - 1  # it really stopped part-way

    again = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "conflict" not in again.stdout.splitlines()[-1] or "conflicts: 0" in again.stdout
    assert len(owned_routes(ns)) == NODES - 1
    plan = subprocess.run(
        [*cli("plan", str(spec), "--node", "n00000", "--netns", ns, "--root", str(tmp_path)),
         "-o", "json"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert json.loads(plan.stdout)["delta"]["changes"] == []
