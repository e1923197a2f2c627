"""One node programmed for N remote nodes (host-gw, vxlan): the engine against `ip -batch`.

Baseline, measured in the same run on the same kernel: the same objects added with
one `ip -batch` (plain routes, neighbours) plus one `bridge -batch` (fdb), as
LAB-NOTES section 5 did. Printed as ratios to that baseline: the engine's first apply
(observe + diff + apply, nexthop objects), a no-op apply, and removal of everything;
then each cost at the largest N over the smallest (growth; 5 = linear for 1k -> 5k).

Issue 4's goals: first apply <= 1x, no-op <= 0.25x, removal <= 1x, growth <= 6.

Runs as root only, in throwaway namespaces it deletes (also on failure); no packet
is sent. Usage: python benchmarks/bench_engine.py [--sizes 1000 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING

from netwright.engine import Target, prepare_link_writes, run
from netwright.model.state import FdbEntry, Link, Neighbour, NodeState, Route, VxlanLink, vtep_mac

if TYPE_CHECKING:
    from collections.abc import Callable

NODE_IP = ipaddress.ip_address("172.31.255.254")
BLOCKS = ipaddress.ip_network("10.64.0.0/11")


def sh(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True)


def remotes(n: int) -> list[tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]]:
    out = []
    base = int(BLOCKS.network_address)
    for i in range(n):
        block = ipaddress.IPv4Network((base + (i << 8), 24))
        ul = ipaddress.IPv4Address(
            int(ipaddress.IPv4Address("172.31.0.1")) + (i // 250) * 256 + i % 250
        )
        out.append((block, ul))
    return out


def vtep() -> Link:
    return Link(
        name="nwvx.1",
        kind="vxlan",
        mtu=1450,
        mac=vtep_mac(NODE_IP),
        vxlan=VxlanLink(vni=1, port=8472, local=NODE_IP, dev="eth0"),
    )


def state(backend: str, n: int) -> NodeState:
    peers = remotes(n)
    if backend == "host-gw":
        return NodeState(
            node="n",
            routes=tuple(Route(dst=b, gateway=u, dev="eth0", onlink=True) for b, u in peers),
        )
    return NodeState(
        node="n",
        links=(vtep(),),
        routes=tuple(
            Route(dst=b, gateway=b.network_address, dev="nwvx.1", onlink=True) for b, _u in peers
        ),
        neighbours=tuple(
            Neighbour(dev="nwvx.1", ip=b.network_address, mac=vtep_mac(u)) for b, u in peers
        ),
        fdb=tuple(FdbEntry(dev="nwvx.1", mac=vtep_mac(u), dst=u) for _b, u in peers),
    )


class Namespace:
    def __init__(self) -> None:
        self.name = f"nwb-{os.getpid()}-{secrets.token_hex(3)}"

    def __enter__(self) -> str:
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "add", "eth0", "type", "veth", "peer", "name", "ul")
        sh("ip", "-n", self.name, "link", "set", "eth0", "up")
        sh("ip", "-n", self.name, "link", "set", "ul", "up")
        sh("ip", "-n", self.name, "addr", "add", f"{NODE_IP}/16", "dev", "eth0")
        return self.name

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)


def baseline(backend: str, n: int) -> float:
    """`ip -batch` (+ `bridge -batch`) adding the same objects as plain routes."""
    peers = remotes(n)
    with Namespace() as ns:
        if backend == "host-gw":
            ip_cmds = [f"route add {b} via {u} dev eth0 onlink proto 211" for b, u in peers]
            bridge_cmds: list[str] = []
        else:
            sh(
                "ip",
                "-n",
                ns,
                "link",
                "add",
                "nwvx.1",
                "address",
                vtep_mac(NODE_IP),
                "mtu",
                "1450",
                "type",
                "vxlan",
                "id",
                "1",
                "local",
                str(NODE_IP),
                "dev",
                "eth0",
                "dstport",
                "8472",
                "nolearning",
            )
            sh("ip", "-n", ns, "link", "set", "nwvx.1", "up")
            ip_cmds = []
            bridge_cmds = []
            for b, u in peers:
                ip_cmds.append(
                    f"neigh add {b.network_address} lladdr {vtep_mac(u)} dev nwvx.1 nud permanent"
                )
                bridge_cmds.append(f"fdb add {vtep_mac(u)} dev nwvx.1 dst {u} self permanent")
                ip_cmds.append(f"route add {b} via {b.network_address} dev nwvx.1 onlink proto 211")
        with tempfile.TemporaryDirectory() as tmp:
            ip_file = os.path.join(tmp, "ip.batch")
            br_file = os.path.join(tmp, "bridge.batch")
            with open(ip_file, "w", encoding="ascii") as f:
                f.write("\n".join(ip_cmds) + "\n")
            with open(br_file, "w", encoding="ascii") as f:
                f.write("\n".join(bridge_cmds) + "\n")
            start = time.perf_counter()
            sh("ip", "-n", ns, "-batch", ip_file)
            if bridge_cmds:
                sh("bridge", "-n", ns, "-batch", br_file)
            return time.perf_counter() - start


def engine(backend: str, n: int) -> tuple[float, float, float]:
    desired = state(backend, n)
    with Namespace() as ns, tempfile.TemporaryDirectory() as root:
        target = Target(netns=ns, root=root)
        timings = []
        for want in (desired, desired, NodeState(node="n")):
            start = time.perf_counter()
            report = run(want, target, check=False)
            timings.append(time.perf_counter() - start)
            if not report.ok:
                sys.exit("\n".join(report.lines()[:20]))
        if not run(NodeState(node="n"), target, check=True).delta.empty:
            sys.exit("removal left something behind")
        return timings[0], timings[1], timings[2]


def median(fn: Callable[[], float], runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_engine: needs root (it creates network namespaces)")
    # Outside the timings: the engine's own imports, and pyroute2, which the first
    # apply that creates a link (the vxlan VTEP) would otherwise import inside them.
    # Then freeze those long-lived module objects, as the CLI does before its run
    # (`cli._engine`): otherwise every full collection walks pyroute2's ~17,000 of
    # them again (vxlan 5,000 no-op: about 60 ms frozen, 75-79 ms not).
    run(NodeState(node="warm-up"), Target(), check=True)
    prepare_link_writes()
    gc.freeze()

    print(
        f"{'backend':8} {'N':>6} {'baseline':>10} {'first':>8} {'no-op':>8} {'removal':>8}"
        "   (engine / baseline; goals 1, 0.25, 1)"
    )
    for backend in ("host-gw", "vxlan"):
        costs: dict[int, tuple[float, float, float, float]] = {}
        for n in args.sizes:
            base = median(lambda n=n, b=backend: baseline(b, n), args.runs)
            samples = [engine(backend, n) for _ in range(args.runs)]
            first, noop, removal = (statistics.median(s[i] for s in samples) for i in range(3))
            costs[n] = (base, first, noop, removal)
            print(
                f"{backend:8} {n:>6} {base * 1000:>8.0f}ms"
                f" {first / base:>8.2f} {noop / base:>8.2f} {removal / base:>8.2f}"
                f"   ({first * 1000:.0f} / {noop * 1000:.0f} / {removal * 1000:.0f} ms)"
            )
        lo, hi = min(costs), max(costs)
        if lo != hi:
            growth = [costs[hi][i] / costs[lo][i] for i in range(4)]
            print(
                f"{backend:8} growth {hi}/{lo}: baseline {growth[0]:.1f}, first {growth[1]:.1f}, "
                f"no-op {growth[2]:.1f}, removal {growth[3]:.1f}   (goal <= {6 * hi / lo / 5:.0f})"
            )


if __name__ == "__main__":
    main()
