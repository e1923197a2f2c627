"""`netwright lab bench`: the backends measured side by side, each against the bare underlay.

Why it exists: vxlan, host-gw and bgp are usually argued about (encapsulation cost
against an L2 requirement against a routing daemon); the lab can measure them.
For each backend in turn, the bench builds a lab with the lab's own `up` (two nodes,
two pods on each), measures pod to pod across the nodes and on one node, measures
the same between the two nodes' underlay addresses as the baseline, tears the lab
down with `down`, and prints one comparison (`-o json`: one entry per backend).
The measurements are in `_bench_probe`, the table in `_bench_table`, the chart in
`_bench_chart`.

What it must not do: touch a lab it did not build (every lab name is checked free
first; a lab that exists is an error, left unchanged), leave a lab, a namespace or an
iperf3 server behind (servers are stopped by pid and the lab is taken down on any
failure, Ctrl-C included), or load pyroute2, the engine or matplotlib when
`commands` imports it to register the subcommand.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import time
from typing import TYPE_CHECKING, Any

from netwright import _argtypes, _console
from netwright.lab import LabError
from netwright.lab.state import check_name, lab_dir

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from netwright.lab._bench_probe import Endpoint, Servers
    from netwright.lab.state import LabState

BACKENDS = ("vxlan", "host-gw", "bgp")
NODES, PODS = 2, 2
HELP = """\
For each backend, build a lab (2 nodes, 2 pods on each, the packaged example spec),
measure, take it down; then print one table. Every figure is measured between pods
(n1-p1 to n2-p1 across nodes, n1-p1 to n1-p2 on one node) and, as the baseline,
between the two nodes' underlay addresses in the same lab; each cell reads
"pods / baseline (pods divided by baseline)".

  TCP throughput   the receiver's Mbit/s in an iperf3 TCP run of --seconds: the
                   median of --runs runs, the three pairs taking turns (so that
                   a burst of other work on the machine hits them alike).
  TCP per CPU      the same runs' megabits per second of CPU time used by the
  second           iperf3 client and server (iperf3's own accounting, kernel work
                   done on their behalf included): the cost of a byte, which
                   stays put when other work on the machine slows every run.
  round trip       the median of --runs bursts of 30 pings 10 ms apart, in ms
                   (a burst before each round of iperf3 runs).
  path MTU         the largest IPv4 packet with don't-fragment set that is answered:
                   a binary search over ping sizes, payload + 28 bytes of headers.
  frame on wire    a ping of 1000 bytes as the underlay switch port receives it,
                   captured there: its length in bytes, and the headers found around
                   the ping (e.g. udp:8472/vxlan for vxlan).
  encapsulation    that frame's length minus the baseline's: the bytes per packet
  overhead         the backend adds on the wire (0 for a routed backend).

Traffic stays between the lab's namespaces; every iperf3 server is stopped by its
pid, and every lab is taken down, also on failure or Ctrl-C. Needs root and iperf3.
"""


def _backends(text: str) -> list[str]:
    import argparse  # noqa: PLC0415 - only the parser needs it

    names = [b.strip() for b in text.split(",") if b.strip()]
    wrong = [b for b in names if b not in BACKENDS]
    if not names or wrong:
        raise argparse.ArgumentTypeError(
            f"{','.join(wrong) or repr(text)}: not a backend; use a comma-separated list of "
            f"{', '.join(BACKENDS)}"
        )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text}: a backend is named twice")
    return names


def _chart_path(text: str) -> str:
    import argparse  # noqa: PLC0415

    if not text.endswith(".png"):
        raise argparse.ArgumentTypeError(f"{text}: the chart is a PNG; name it FILE.png")
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text}: directory {parent} does not exist")
    return text


def _prefix(text: str) -> str:
    import argparse  # noqa: PLC0415

    try:
        for b in BACKENDS:
            check_name(f"{text}-{b}")
    except LabError as exc:
        raise argparse.ArgumentTypeError(f"--name {text}: {exc}") from None
    return text


def add_parser(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Register `lab bench` on the lab's subparsers."""
    import argparse  # noqa: PLC0415

    p = sub.add_parser(
        "bench",
        parents=[parent],
        help="measure the backends side by side against the bare underlay",
        description="Measure vxlan, host-gw and bgp side by side in throwaway labs.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--backends",
        type=_backends,
        default=list(BACKENDS),
        metavar="LIST",
        help=f"comma-separated backends to measure, in order (default {','.join(BACKENDS)})",
    )
    p.add_argument(
        "--seconds",
        type=_argtypes.int_range(1, 60),
        default=3,
        metavar="N",
        help="length of each iperf3 run, 1 to 60 (default %(default)s)",
    )
    p.add_argument(
        "--runs",
        type=_argtypes.int_range(1, 10),
        default=3,
        metavar="R",
        help="iperf3 runs per pair, 1 to 10; the median counts (default %(default)s)",
    )
    p.add_argument(
        "--name",
        type=_prefix,
        default="nwb",
        help="prefix of the labs' names: <name>-<backend> (default %(default)s)",
    )
    p.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="output format (default %(default)s)",
    )
    p.add_argument(
        "--chart",
        type=_chart_path,
        metavar="FILE.png",
        help="also draw the comparison (needs: pip install 'netwright[chart]')",
    )
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.chart:
        from netwright.lab import _bench_chart  # noqa: PLC0415

        _bench_chart.require()
    try:
        entries = run_bench(
            args.backends,
            seconds=args.seconds,
            runs=args.runs,
            prefix=args.name,
            say=_console.say,
        )
    except KeyboardInterrupt as exc:
        _console.say("lab bench: interrupted; its iperf3 servers are stopped, its labs removed")
        return _console.exit_code(exc)
    if args.output == "json":
        _console.write(json.dumps(entries, indent=2))
    else:
        from netwright.lab._bench_table import table  # noqa: PLC0415

        for line in table(entries, nodes=NODES, pods=PODS):
            _console.write(line)
    if args.chart:
        from netwright.lab import _bench_chart  # noqa: PLC0415

        _bench_chart.draw(entries, args.chart)
        _console.say(f"lab bench: chart written to {args.chart}")
    return 0


def _preflight(names: Sequence[str]) -> None:
    from netwright.lab._bench_probe import iperf3_binary  # noqa: PLC0415

    if os.geteuid() != 0:
        raise LabError("lab bench needs root (it builds labs of network namespaces)")
    iperf3_binary()
    for name in names:
        if os.path.exists(lab_dir(name)):
            raise LabError(
                f"lab {name} already exists ({lab_dir(name)}); the bench builds its own labs "
                f"and left it unchanged: `netwright lab down --name {name}`, or pick another --name"
            )


def run_bench(
    backends: Sequence[str],
    *,
    seconds: int,
    runs: int = 1,
    prefix: str,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Build, measure and remove one lab per backend, in order; one entry per backend."""
    names = [f"{prefix}-{b}" for b in backends]
    _preflight(names)
    entries = []
    for i, (backend, name) in enumerate(zip(backends, names, strict=True), start=1):
        say(f"lab bench: {backend} ({i} of {len(backends)}), lab {name}")
        entries.append(_bench_one(backend, name, seconds, runs, say))
    return entries


def _bench_one(
    backend: str, name: str, seconds: int, runs: int, say: Callable[[str], None]
) -> dict[str, Any]:
    from netwright.lab._bench_probe import Servers  # noqa: PLC0415
    from netwright.lab.lifecycle import down, up  # noqa: PLC0415

    timings: dict[str, float] = {}
    servers = Servers()
    state: LabState | None = None
    started = time.perf_counter()
    try:
        state = up(name=name, backend=backend, nodes=NODES, pods=PODS, spec=None, say=say)
        timings["up"] = time.perf_counter() - started
        started = time.perf_counter()
        entry = _measure(state, servers, seconds, runs, say)
        timings["measure"] = time.perf_counter() - started
    except BaseException:
        servers.stop_all()
        if state is not None:
            say(f"lab bench: removing lab {name} after the failure")
            for problem in down(state, say=say):
                say(f"  {problem}")
        raise
    servers.stop_all()
    started = time.perf_counter()
    problems = down(state, say=say)
    if problems:
        raise LabError(
            f"lab {name}: not everything could be removed ({'; '.join(problems)}); "
            f"`netwright lab down --name {name}` retries"
        )
    timings["down"] = time.perf_counter() - started
    say(f"lab {name}: down ({timings['down']:.1f} s)")
    return {
        "backend": state.backend,
        "lab": name,
        "seconds": seconds,
        "runs": runs,
        **entry,
        "iperf3Servers": servers.started,
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }


def _endpoints(state: LabState) -> dict[str, tuple[Endpoint, Endpoint]]:
    from netwright.lab._bench_probe import Endpoint  # noqa: PLC0415

    n1, n2 = state.nodes[0], state.nodes[1]

    def pod(node: str, k: int) -> Endpoint:
        p = [p for p in state.pods if p.node == node][k]
        ip = next((a for a in p.ips if ":" not in a), None)
        if ip is None:
            raise LabError(f"lab {state.name}: pod {p.name} has no IPv4 address")
        return Endpoint(p.name, p.netns, ip)

    return {
        "crossNode": (pod(n1.name, 0), pod(n2.name, 0)),
        "sameNode": (pod(n1.name, 0), pod(n1.name, 1)),
        "baseline": (Endpoint(n1.name, n1.netns, n1.ip), Endpoint(n2.name, n2.netns, n2.ip)),
    }


def _measure(
    state: LabState, servers: Servers, seconds: int, runs: int, say: Callable[[str], None]
) -> dict[str, Any]:
    from netwright.lab import _bench_probe as probe  # noqa: PLC0415

    pairs = _endpoints(state)
    cross, same, base = pairs["crossNode"], pairs["sameNode"], pairs["baseline"]
    port = "n1"  # the switch port of the first node (`topology` names them n1..nN)
    ul = state.underlay_netns
    say(f"lab {state.name}: measuring ({state.backend})")
    named = (("baseline", base), ("cross-node", cross), ("same-node", same))
    jobs: list[tuple[str, Callable[[], Any]]] = [
        ("frame baseline", functools.partial(probe.wire_frame, ul, port, *base)),
        ("frame cross-node", functools.partial(probe.wire_frame, ul, port, *cross)),
    ]
    jobs += [(f"path mtu {w}", functools.partial(probe.path_mtu, s, d)) for w, (s, d) in named]
    for r in range(1, runs + 1):  # rounds: a busy spell of the machine hits every pair
        jobs += [
            (f"round trip {w} #{r}", functools.partial(probe.latency, s, d)) for w, (s, d) in named
        ]
        jobs += [
            (f"iperf3 {w} #{r}", functools.partial(probe.throughput, servers, s, d, seconds))
            for w, (s, d) in named
        ]
    got = probe.measure_all(jobs, say)

    def figure(unit: str, value: float, baseline: float) -> dict[str, Any]:
        return {
            "unit": unit,
            "value": value,
            "baseline": baseline,
            "ratio": round(value / baseline, 3) if baseline else None,
        }

    tput = {
        k: [got[f"iperf3 {k} #{r}"] for r in range(1, runs + 1)]
        for k in ("baseline", "cross-node", "same-node")
    }
    mbps = {k: statistics.median(x["mbps"] for x in v) for k, v in tput.items()}
    per_cpu = {
        k: round(statistics.median(x["mbps"] * 100 / max(x["cpuPercent"], 1) for x in v))
        for k, v in tput.items()
    }
    rtt = {
        k: round(
            statistics.median(t for r in range(1, runs + 1) for t in got[f"round trip {k} #{r}"]), 4
        )
        for k in ("baseline", "cross-node", "same-node")
    }
    frame, frame_base = got["frame cross-node"], got["frame baseline"]
    return {
        "figures": {
            "throughputCrossNode": figure("Mbit/s", mbps["cross-node"], mbps["baseline"]),
            "throughputSameNode": figure("Mbit/s", mbps["same-node"], mbps["baseline"]),
            "perCpuCrossNode": figure("Mbit", per_cpu["cross-node"], per_cpu["baseline"]),
            "perCpuSameNode": figure("Mbit", per_cpu["same-node"], per_cpu["baseline"]),
            "latencyCrossNode": figure("ms", rtt["cross-node"], rtt["baseline"]),
            "latencySameNode": figure("ms", rtt["same-node"], rtt["baseline"]),
            "pathMtuCrossNode": figure(
                "bytes", got["path mtu cross-node"], got["path mtu baseline"]
            ),
            "pathMtuSameNode": figure("bytes", got["path mtu same-node"], got["path mtu baseline"]),
            "wireFrameCrossNode": figure("bytes", frame.length, frame_base.length),
        },
        "encapsulationOverhead": frame.length - frame_base.length,
        "wireHeaders": {"crossNode": frame.headers, "baseline": frame_base.headers},
        "framePayload": probe.FRAME_PAYLOAD,
        "throughputRuns": {_camel(k): [x["mbps"] for x in v] for k, v in tput.items()},
        "cpuPercentRuns": {_camel(k): [x["cpuPercent"] for x in v] for k, v in tput.items()},
        "retransmits": {_camel(k): sum(x["retransmits"] for x in v) for k, v in tput.items()},
        "pairs": {
            k: {"src": f"{s.label} {s.ip}", "dst": f"{d.label} {d.ip}", "srcNetns": s.netns}
            for k, (s, d) in pairs.items()
        },
    }


def _camel(what: str) -> str:
    head, _, tail = what.partition("-")
    return head + tail.title()
