"""Pure-core cost per node at 1,000 and 10,000 nodes: load+validate, allocate, render+plan.

    python benchmarks/bench_core.py [--sizes 1000 10000] [--repeat 3]

For each size it writes a spec directory (N v1 Nodes, a vxlan Backend, an
IPPool, a Network, and the N IPBlocks `allocate --write` would store), then
times, best of `--repeat`:

- load+validate: `load_spec` with the spec cache off (libyaml compose, CRD
  schema and CEL on every netwright document, cross-object checks);
- load (cached): `load_spec` of the unchanged directory, from the spec cache;
- allocate: a fresh allocation of every node, and a no-op one over existing blocks;
- render+plan: one node's NodeNetworkConfig and desired state, with N-1 peers.

It prints the cost per node at each size and the ratio of the per-node costs
(largest size / smallest). Goal: at most 1.5, i.e. cost grows linearly with the
cluster, never faster. Baseline in the same run: `yaml.load_all` with
`CSafeLoader` over the same files (PyYAML's own libyaml loader, no checks), so
the loader's overhead shows as a ratio too.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from netwright.documents import ipblocks_yaml
from netwright.ipam import allocate
from netwright.model.config import NodeFacts
from netwright.pipeline import Pipeline
from netwright.render import ClusterIndex
from netwright.validate import load_spec
from netwright.validate.reading import walk_spec_files

if TYPE_CHECKING:
    from collections.abc import Callable

NETWORK = """\
apiVersion: netwright.io/v1alpha1
kind: Backend
metadata: {name: overlay}
spec: {type: vxlan, vxlan: {vni: 1}}
---
apiVersion: netwright.io/v1alpha1
kind: IPPool
metadata: {name: pods-v4}
spec: {cidr: 10.0.0.0/8, blockSize: 24, backend: overlay, natOutgoing: true}
---
apiVersion: netwright.io/v1alpha1
kind: Network
metadata: {name: podnet}
spec: {type: bridge, ipPools: [pods-v4], plugins: [{type: portmap}]}
"""


def node_ip(i: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(ipaddress.IPv4Address("172.16.0.1")) + i)


def write_spec(root: Path, n: int) -> None:
    nodes = [
        f"apiVersion: v1\nkind: Node\nmetadata:\n  name: node{i:05d}\n"
        f"  labels: {{kubernetes.io/os: linux, rack: r{i % 40}}}\n"
        f"status:\n  addresses:\n  - {{type: InternalIP, address: {node_ip(i)}}}\n"
        f"  - {{type: Hostname, address: node{i:05d}}}\n"
        for i in range(n)
    ]
    (root / "nodes.yaml").write_text("---\n".join(nodes))
    (root / "network.yaml").write_text(NETWORK)
    spec = load_spec(str(root))
    (root / "ipblocks.yaml").write_text(ipblocks_yaml(allocate(spec.cluster).blocks))


def best(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def baseline_load(root: Path) -> None:
    for full, _, not_read in walk_spec_files(str(root)):
        if not_read is not None:
            continue
        with open(full, encoding="utf-8") as stream:
            list(yaml.load_all(stream, Loader=yaml.CSafeLoader))


def cold_load(root: Path) -> None:
    os.environ["NETWRIGHT_NO_CACHE"] = "1"
    try:
        load_spec(str(root))
    finally:
        del os.environ["NETWRIGHT_NO_CACHE"]


def measure(n: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="nw-bench-") as tmp:
        root = Path(tmp)
        write_spec(root, n)
        spec = load_spec(str(root))
        fresh = dataclasses.replace(spec.cluster, blocks=())
        allocation = allocate(spec.cluster)
        facts = NodeFacts(root="/")
        target = spec.cluster.nodes[n // 2].name

        def render_and_plan() -> None:
            # what a CLI run does after loading: index the cluster, then render and plan
            index = ClusterIndex.build(spec.cluster, allocation.blocks)
            Pipeline(spec, allocation, index).plan(target, facts)

        return {
            "yaml baseline": best(repeat, lambda: baseline_load(root)),
            "load+validate": best(repeat, lambda: cold_load(root)),
            "load (cached)": best(repeat, lambda: load_spec(str(root))),
            "allocate (fresh)": best(repeat, lambda: allocate(fresh)),
            "allocate (no-op)": best(repeat, lambda: allocate(spec.cluster)),
            "render+plan 1 node": best(repeat, render_and_plan),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {n: measure(n, args.repeat) for n in args.sizes}
    small, large = min(args.sizes), max(args.sizes)
    steps = list(results[small])
    print(f"{'step':<20}" + "".join(f"{f'{n} nodes':>22}" for n in args.sizes) + f"{'ratio':>8}")
    for step in steps:
        cells = "".join(
            f"{results[n][step] * 1e3:>9.1f} ms {results[n][step] / n * 1e6:>6.1f} us/n"
            for n in args.sizes
        )
        ratio = (results[large][step] / large) / (results[small][step] / small)
        print(f"{step:<20}{cells}{ratio:>8.2f}")
    for n in args.sizes:
        over = results[n]["load+validate"] / results[n]["yaml baseline"]
        print(f"load+validate / yaml baseline at {n} nodes: {over:.2f}x")
    # The goal covers the steps of a CLI run; the no-op allocation (sub-10 ms, dominated by
    # re-sorting blocks) and the baseline are shown for comparison only.
    goal_steps = ("load+validate", "allocate (fresh)", "render+plan 1 node")
    worst = max((results[large][s] / large) / (results[small][s] / small) for s in goal_steps)
    print(f"worst per-node growth {small} -> {large}: {worst:.2f} (goal <= 1.5)")
    return 0 if worst <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
