"""The engine run many times in one process against one namespace: memory stays flat.

A node agent lives for months and runs the engine on every resync. Anything the
engine or the kernel adapter keeps between runs (a cache keyed by object identity,
a table that grows with every desired state seen, learnt parser layouts) would show
here as resident memory growing with the number of runs.

One throwaway namespace (an `eth0` veth holding the node's address); a vxlan node
of `--peers` peers (a VTEP, one route, neighbour and fdb entry per peer, nexthop
objects), so that every kind of bulk object and every dump is exercised. The runs
alternate between a small change and a no-op: after A, states B, B, A, A, ... where
B moves one peer to another underlay address (its neighbour's MAC and its fdb
entry change). Each run is given a freshly built desired state, as an agent
rebuilds it from its inputs (`--reuse` gives the same two objects every time).
Every run must succeed; every no-op must change nothing. As the agent does, the
process holds one `Memo` (the dump parsers' layouts, the desired objects' wire
forms) and passes it to every run, so what the agent keeps between runs is kept
here too, and must stay bounded (`--no-memo`: each run starts from nothing).

Prints the resident set size (VmRSS) after a warm-up (the first apply and 20 runs,
so imports and first-use allocations are behind) and after the last run, and the
growth ratio end / start; and the median time per run of each kind.

Runs as root only; the namespace is deleted (also on failure); no packet is sent.
Usage: python benchmarks/bench_engine_soak.py [--runs 1000] [--peers 500] [--reuse]
[--no-memo]
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import os
import statistics
import sys
import tempfile
import time
from typing import TYPE_CHECKING

from bench_engine import Namespace, remotes, vxlan_state  # beside this file

from netwright.engine import Memo, Target, prepare_link_writes, run

if TYPE_CHECKING:
    from netwright.model.state import NodeState

WARMUP = 20


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def desired(peers: int, *, moved: bool) -> NodeState:
    """`bench_engine`'s vxlan node of `peers` peers; `moved`: peer 0 on another underlay
    address (its neighbour's MAC and its fdb entry change)."""
    out = remotes(peers)
    if moved:
        out[0] = (out[0][0], ipaddress.IPv4Address("172.31.254.1"))
    return vxlan_state(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--peers", type=int, default=500)
    parser.add_argument("--reuse", action="store_true", help="the same two state objects")
    parser.add_argument("--no-memo", action="store_true", help="no Memo: each run from nothing")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_engine_soak: needs root (it creates a network namespace)")
    prepare_link_writes()
    memo = None if args.no_memo else Memo()  # the process's, passed to every run
    kept = {False: desired(args.peers, moved=False), True: desired(args.peers, moved=True)}
    times: dict[str, list[float]] = {"no-op": [], "change": []}
    with Namespace() as ns, tempfile.TemporaryDirectory() as root:
        target = Target(netns=ns, root=root)
        report = run(kept[False], target, check=False, memo=memo)
        if not report.ok:
            sys.exit("\n".join(report.lines()[:20]))
        start_rss = start_objects = 0
        for i in range(WARMUP + args.runs):
            if i == WARMUP:
                gc.collect()
                start_rss, start_objects = rss_kib(), len(gc.get_objects())
            moved = (i // 2) % 2 == 0  # B, B, A, A, ...: a change, then a no-op
            state = kept[moved] if args.reuse else desired(args.peers, moved=moved)
            began = time.perf_counter()
            report = run(state, target, check=False, memo=memo)
            elapsed = time.perf_counter() - began
            if not report.ok:
                sys.exit(f"run {i}: " + "\n".join(report.lines()[:20]))
            kind = "no-op" if report.delta.empty else "change"
            if kind == "no-op" and i % 2 == 0:
                sys.exit(f"run {i}: expected a change, found none")
            if kind == "change" and i % 2 == 1:
                sys.exit(f"run {i}: a second run changed something:\n" + str(report.lines()))
            times[kind].append(elapsed)
        gc.collect()
        end_rss, end_objects = rss_kib(), len(gc.get_objects())
    mode = "the same two states" if args.reuse else "a fresh state each run"
    held = "no memo" if memo is None else "one memo"
    print(f"engine soak: {args.runs} runs, vxlan, {args.peers} peers, {mode}, {held}")
    print(f"RSS start {start_rss / 1024:.1f} MiB, end {end_rss / 1024:.1f} MiB,"
          f" growth {end_rss / start_rss:.3f}x")  # fmt: skip
    print(f"gc-tracked objects start {start_objects:,}, end {end_objects:,}")
    for kind, values in times.items():
        if values:
            median = statistics.median(values) * 1000
            print(f"{kind:7} {len(values):5} runs, median {median:.1f} ms")


if __name__ == "__main__":
    main()
