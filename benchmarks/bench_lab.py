"""`netwright lab up` per backend, in steps, against a hand-wired reference and a same-run baseline.

Steps timed (medians over --runs): spec (copy, validate, allocate), underlay + node
namespaces, provisioning (every node through pipeline + engine), pods (CNI ADD of
every pod), the whole `up`, and for bgp the convergence: from the first BIRD
loading netwright's configuration until every node has every remote block as a
`proto bird` route in its kernel table (polled with `ip route`, never birdc:
docs/troubleshooting.md#bird-stalls-after-a-session-comes-up).

Printed as ratios, since ratios survive a change of machine:

- against the hand-wired reference lab (`NOTES` below: a lab built by hand with
  shell commands on a machine like this one, before netwright had one: 1.2 to
  1.4 s for vxlan/host-gw, 7.3 s BGP convergence with BIRD's default connect delay,
  0.98 s with `connect delay time 1`) and the project's goal that bgp converges in
  under 2 s;
- against a baseline measured in the same run: the same node state (links,
  addresses, routes, neighbours, fdb, sysctls, nft table, files; not BIRD) programmed
  by hand with one `ip`/`bridge`/`nft` process per command, as the reference lab
  was, in a throwaway namespace per node. The goal: provisioning a node through
  netwright costs no more than the hand-wired commands (ratio <= 1).

Runs as root only; every lab and namespace it makes is removed, also on failure.
Usage: python benchmarks/bench_lab.py [--backends vxlan host-gw bgp] [--runs 3] [-v]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING

from netwright.lab import lifecycle
from netwright.lab.state import LabState

if TYPE_CHECKING:
    from netwright.model.state import NodeState

#: Seconds to let the kernel finish freeing one run's namespaces before the next.
SETTLE = 1.0

#: The hand-wired reference lab (median of 3, seconds): bring-up steps and BGP convergence.
NOTES = {
    "vxlan": {"underlay": 0.135, "pods": 1.173, "provision": 0.161, "total": 1.395},
    "host-gw": {"underlay": 0.114, "pods": 1.070, "provision": 0.018, "total": 1.216},
    "bgp": {"underlay": 0.114, "pods": 1.155, "provision": 7.369, "total": 8.555},
}
NOTES_BGP_DEFAULT, NOTES_BGP_DELAY1, GOAL_BGP = 7.3, 0.98, 2.0


def sh(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True)


def hand_wired(plan: NodeState, node_ip: str, netns: str) -> float:
    """Seconds to program `plan` with one process per command in a fresh namespace."""
    sh("ip", "netns", "add", netns)
    try:
        sh("ip", "-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", "ul")
        sh("ip", "-n", netns, "link", "set", "ul", "up")
        sh("ip", "-n", netns, "link", "set", "eth0", "up")
        sh("ip", "-n", netns, "addr", "add", f"{node_ip}/24", "dev", "eth0")
        sh("ip", "-n", netns, "link", "set", "lo", "up")
        with tempfile.TemporaryDirectory() as root:
            started = time.perf_counter()
            _program(plan, netns, root)
            return time.perf_counter() - started
    finally:
        sh("ip", "netns", "del", netns)


def _program(plan: NodeState, ns: str, root: str) -> None:
    for link in plan.links:
        if link.kind == "vxlan" and link.vxlan is not None:
            v = link.vxlan
            sh(
                "ip",
                "-n",
                ns,
                "link",
                "add",
                link.name,
                "type",
                "vxlan",
                "id",
                str(v.vni),
                "local",
                str(v.local),
                "dev",
                str(v.dev),
                "dstport",
                str(v.port),
                "nolearning",
            )
        else:
            sh("ip", "-n", ns, "link", "add", link.name, "type", link.kind)
        extra = ["address", link.mac] if link.mac else []
        sh("ip", "-n", ns, "link", "set", link.name, *extra, "mtu", str(link.mtu), "up")
    for a in plan.addresses:
        sh("ip", "-n", ns, "addr", "add", str(a.address), "dev", a.dev)
    for nb in plan.neighbours:
        sh(
            "ip",
            "-n",
            ns,
            "neigh",
            "add",
            str(nb.ip),
            "lladdr",
            nb.mac,
            "dev",
            nb.dev,
            "nud",
            "permanent",
        )
    for f in plan.fdb:
        sh(
            "bridge",
            "-n",
            ns,
            "fdb",
            "add",
            f.mac,
            "dev",
            f.dev,
            "dst",
            str(f.dst),
            "self",
            "permanent",
        )
    for r in plan.routes:
        via = ["via", str(r.gateway)] if r.gateway else []
        onlink = ["onlink"] if r.onlink else []
        sh("ip", "-n", ns, "route", "add", str(r.dst), *via, "dev", r.dev, *onlink, "proto", "211")
    if plan.sysctls:
        sh(
            "ip",
            "netns",
            "exec",
            ns,
            "sysctl",
            "-q",
            "-e",
            "-w",
            *(f"{s.name}={s.value}" for s in plan.sysctls),
        )
    if plan.nft is not None:
        sh(
            "ip",
            "netns",
            "exec",
            ns,
            "nft",
            "-f",
            "-",
            stdin=f"table {plan.nft.family} {plan.nft.name} {{\n{plan.nft.body}}}\n",
        )
    for file in plan.files:
        path = os.path.join(root, file.path.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(file.content)


def one_run(backend: str, name: str, *, verbose: bool) -> dict[str, float]:
    say = (lambda line: print(line, file=sys.stderr)) if verbose else (lambda _line: None)
    try:
        state = lifecycle.up(name=name, backend=backend, nodes=None, pods=2, spec=None, say=say)
        out = dict(state.timings)
        pipeline = lifecycle.load_pipeline(state)
        hand = []
        for n in state.nodes:
            plan = pipeline.plan(n.name, lifecycle.node_facts(state, n))
            hand.append(hand_wired(plan, n.ip, f"{name}-hw-{n.name}"))
        out["hand_wired"] = sum(hand)
        return out
    finally:
        state_now = LabState.load(name)
        if state_now is not None:
            problems = lifecycle.down(state_now, say=say)
            if problems:
                print(f"bench_lab: {name}: {problems}", file=sys.stderr)
        # The kernel frees deleted namespaces later, in its cleanup_net work, under
        # locks that netlink requests also take: without a pause that cleanup lands
        # inside the next run and one node's provisioning takes ~0.1 s instead of
        # ~0.01 s (seen in one process of repeated runs, never in a fresh `lab up`).
        time.sleep(SETTLE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["vxlan", "host-gw", "bgp"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("-v", "--verbose", action="store_true", help="show lab up's progress")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_lab: needs root (it builds labs in network namespaces)")

    print(f"lab up, 3 nodes x 2 pods, median of {args.runs} runs; ratio = netwright / baseline")
    print(
        f"{'backend':<8} {'step':<28} {'netwright':>10} {'baseline':>10} {'ratio':>7}  baseline is"
    )
    for backend in args.backends:
        runs = [
            one_run(backend, f"bl{os.getpid() % 1000}{backend[0]}", verbose=args.verbose)
            for _ in range(args.runs)
        ]

        def med(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r.get(key, 0.0) for r in runs)

        notes = NOTES[backend]

        def row(step: str, ours: float, base: float, what: str, backend: str = backend) -> None:
            print(
                f"{backend:<8} {step:<28} {ours:>9.3f}s {base:>9.3f}s {ours / base:>6.2f}x  {what}"
            )

        print(
            f"{backend:<8} {'spec (copy, validate, alloc)':<28} {med('spec'):>9.3f}s "
            f"{'':>19}  (no hand-wired counterpart; in the total)"
        )
        row("underlay + 3 nodes", med("underlay"), notes["underlay"], "hand-wired reference")
        row(
            "provisioning, 3 nodes",
            med("provision"),
            med("hand_wired"),
            "same state, one process per command, this run",
        )
        if backend != "bgp":
            row(
                "provisioning, 3 nodes",
                med("provision"),
                notes["provision"],
                "hand-wired reference, backend programming only",
            )
        row(
            "pods (6 x CNI ADD)", med("pods"), notes["pods"], "hand-wired reference (shell runtime)"
        )
        row("total lab up", med("total"), notes["total"], "hand-wired reference")
        if backend == "bgp":
            conv = med("convergence")
            row(
                "bgp convergence", conv, NOTES_BGP_DEFAULT, "hand-wired, BIRD default connect delay"
            )
            row("bgp convergence", conv, NOTES_BGP_DELAY1, "hand-wired, connect delay time 1")
            row("bgp convergence", conv, GOAL_BGP, "the goal (< 1x)")
            each = ", ".join(f"{r['convergence']:.3f}" for r in runs)
            print(f"{'':<8} {'':<28} runs: {each} s")


if __name__ == "__main__":
    main()
