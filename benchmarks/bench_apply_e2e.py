"""`netwright apply` as a user runs it, for one node of a 5,001-node host-gw spec directory.

Start-up, loading and validating the spec directory, allocation, planning, observing
the live node and applying are all inside the timing: the real console script runs
as a subprocess against a throwaway namespace whose `eth0` (a veth, its peer in a
second throwaway namespace, so it has carrier) holds the node's address.

Baseline, measured in the same run: the node's 5,000 routes to the other nodes'
blocks added by one `ip -batch` as plain routes (as `bench_engine.py` does). Printed
as ratios to it: the first apply, a no-op apply, and `plan` of that no-op.
The goals: first apply <= 3x, no-op <= 2.5x.

Runs as root only; every namespace it makes is deleted (also on failure); no packet
is sent. Usage: python benchmarks/bench_apply_e2e.py [--nodes 5001] [--runs 3]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

POOL = ipaddress.ip_network("10.64.0.0/11")  # 8,192 blocks of /24
UNDERLAY = ipaddress.ip_network("172.20.0.0/16")
NODE = "n00000"

SPEC = """\
apiVersion: netwright.io/v1alpha1
kind: Backend
metadata: {name: direct}
spec: {type: host-gw}
---
apiVersion: netwright.io/v1alpha1
kind: IPPool
metadata: {name: pods-v4}
spec: {cidr: %s, blockSize: 24, backend: direct, natOutgoing: true}
---
apiVersion: netwright.io/v1alpha1
kind: Network
metadata: {name: podnet}
spec:
  type: bridge
  bridge: {name: cni0}
  mtu: auto
  ipPools: [pods-v4]
  plugins: [{type: portmap}]
"""


def sh(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True)


def node_ip(i: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(UNDERLAY.network_address) + 256 + i)


def netwright() -> list[str]:
    """The installed console script (not a shell shim in front of it)."""
    script = os.path.join(os.path.dirname(sys.executable), "netwright")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "netwright.cli"]


def write_spec(directory: str, nodes: int) -> None:
    os.makedirs(directory)
    with open(os.path.join(directory, "network.yaml"), "w", encoding="utf-8") as f:
        f.write(SPEC % POOL)
    docs = [
        f"apiVersion: v1\nkind: Node\nmetadata: {{name: n{i:05d}}}\n"
        f"status: {{addresses: [{{type: InternalIP, address: {node_ip(i)}}}]}}\n"
        for i in range(nodes)
    ]
    with open(os.path.join(directory, "nodes.yaml"), "w", encoding="utf-8") as f:
        f.write("---\n".join(docs))
    # Allocated once, as a GitOps repository holds it (not timed).
    sh(*netwright(), "allocate", directory, "--write")


class Node:
    """A node namespace with eth0 holding the node's address; its peer in a switch namespace."""

    def __init__(self) -> None:
        tag = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.name = f"nwe-{tag}-n"
        self.switch = f"nwe-{tag}-sw"

    def __enter__(self) -> str:
        try:
            sh("ip", "netns", "add", self.switch)
            sh("ip", "netns", "add", self.name)
            sh("ip", "-n", self.name, "link", "set", "lo", "up")
            sh(
                "ip", "-n", self.name, "link", "add", "eth0", "type", "veth",
                "peer", "name", "p0", "netns", self.switch,
            )  # fmt: skip
            sh("ip", "-n", self.switch, "link", "set", "p0", "up")
            sh("ip", "-n", self.name, "link", "set", "eth0", "up")
            sh("ip", "-n", self.name, "addr", "add", f"{node_ip(0)}/{UNDERLAY.prefixlen}",
               "dev", "eth0")  # fmt: skip
        except BaseException:
            self.__exit__()
            raise
        return self.name

    def __exit__(self, *exc: object) -> None:
        for ns in (self.name, self.switch):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def baseline(nodes: int) -> float:
    """The node's routes to every other node's block, as one `ip -batch` of plain routes."""
    lines = [
        f"route add {ipaddress.IPv4Network((int(POOL.network_address) + (i << 8), 24))}"
        f" via {node_ip(i)} dev eth0 proto 211"
        for i in range(1, nodes)
    ]
    with Node() as ns, tempfile.TemporaryDirectory() as tmp:
        batch = os.path.join(tmp, "ip.batch")
        with open(batch, "w", encoding="ascii") as f:
            f.write("\n".join(lines) + "\n")
        start = time.perf_counter()
        sh("ip", "-n", ns, "-batch", batch)
        return time.perf_counter() - start


def timed(argv: Sequence[str], expect: int = 0) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, text=True, capture_output=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != expect:
        sys.exit(f"{' '.join(argv)}: exit {proc.returncode}\n{proc.stdout[-2000:]}{proc.stderr}")
    return took, proc.stdout


def engine(spec: str, nodes: int) -> tuple[float, float, float]:
    """(first apply, no-op apply, plan of the no-op) in a fresh node namespace."""
    with Node() as ns, tempfile.TemporaryDirectory() as root:
        cmd = [*netwright(), "apply", spec, "--node", NODE, "--netns", ns, "--root", root]
        first, out = timed(cmd)
        routes = sh("ip", "-n", ns, "route", "show", "proto", "211").stdout.count("\n")
        if routes != nodes - 1:
            sys.exit(f"first apply made {routes} routes, not {nodes - 1}:\n{out[-2000:]}")
        noop, out = timed(cmd)
        if "0 to add, 0 to change, 0 to delete" not in out:
            sys.exit(f"second apply was not a no-op:\n{out[-2000:]}")
        plan = [*netwright(), "plan", spec, "--node", NODE, "--netns", ns, "--root", root]
        check, _out = timed([*plan, "--exit-code"])
        return first, noop, check


def median(fn: Callable[[], float], runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5001)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_apply_e2e: needs root (it creates network namespaces)")
    if shutil.which("ip") is None:
        sys.exit("bench_apply_e2e: needs iproute2")
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        spec = os.path.join(tmp, "spec")
        write_spec(spec, args.nodes)
        start_up, _ = timed([*netwright(), "--version"])
        validate, _ = timed([*netwright(), "validate", spec])
        base = median(lambda: baseline(args.nodes), args.runs)
        samples = [engine(spec, args.nodes) for _ in range(args.runs)]
        first, noop, plan = (statistics.median(s[i] for s in samples) for i in range(3))
    print(
        f"netwright apply, 1 node of {args.nodes} (host-gw), median of {args.runs};"
        f" baseline ip -batch {args.nodes - 1} routes: {base * 1000:.0f} ms"
    )
    print(f"{'':22} {'ms':>7} {'x baseline':>11}  goal")
    for label, value, goal in (
        ("first apply", first, "<= 3"),
        ("no-op apply", noop, "<= 2.5"),
        ("plan (no-op)", plan, ""),
        ("  load (validate)", validate, ""),
        ("  start (--version)", start_up, ""),
    ):
        print(f"{label:22} {value * 1000:>7.0f} {value / base:>11.2f}  {goal}")


if __name__ == "__main__":
    main()
