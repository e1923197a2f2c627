"""`netwright lab up|test|status|down`: the argparse registration and the exit codes.

Why it exists: `netwright.cli.parser` registers the lab with one call (`add_parser`), and this
module turns the lab's outcomes into output and exit codes (docs/api.md: 0 ok, 1 a
check failed or the lab could not be built). Progress goes to stderr, results to
stdout.

What it must not do: import anything heavy at module level: `netwright validate`
imports this module and must not pay for pyroute2 or the engine.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import TYPE_CHECKING, Any

from netwright import _argtypes, _console
from netwright.lab import LabError
from netwright.lab.bench import add_parser as add_bench_parser
from netwright.lab.specdir import MAX_NODES
from netwright.lab.state import check_name

if TYPE_CHECKING:
    import argparse

    from netwright.lab.state import LabState

EXIT_OK, EXIT_FAILED = 0, 1


#: Pods per node `lab up` makes at most: each is a namespace and two addresses of a block.
MAX_PODS = 50


def _say(line: str) -> None:
    _console.say(line)


def cmd_up(args: argparse.Namespace) -> int:
    from netwright.lab.lifecycle import LabExistsError, up  # noqa: PLC0415

    try:
        state = up(
            name=args.name,
            backend=args.backend,
            nodes=args.nodes,
            pods=args.pods,
            spec=args.spec,
            say=_say,
        )
    except LabExistsError as exc:
        _say(f"netwright: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt as exc:
        _say(f"lab {args.name}: interrupted; what was built has been removed")
        return _console.exit_code(exc)
    _print_status(state, bgp=False)
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    from netwright.lab.checks import run_checks  # noqa: PLC0415
    from netwright.lab.state import LabState  # noqa: PLC0415

    state = LabState.require(args.name)
    results = run_checks(state, emit=lambda r: _console.write(r.line()))
    counts = {v: sum(1 for r in results if r.verdict == v) for v in ("PASS", "FAIL", "XFAIL")}
    _console.write(
        f"lab {state.name} ({state.backend}): "
        f"{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['XFAIL']} XFAIL"
    )
    return EXIT_FAILED if counts["FAIL"] else EXIT_OK


def status_json(state: LabState, *, bgp: bool) -> dict[str, Any]:
    """The documented shape (docs/api.md: name, backend, nodes, pods) plus the lab's own fields.

    Each node lists its root and BIRD socket, and `outside` the outside address, its
    router's socket and sessions (with their state when `bgp`), for tools such as
    `netwright doctor --lab`; passwords appear only as `<secret ...>` references.
    """
    out: dict[str, Any] = {
        "name": state.name,
        "backend": state.backend,
        "phase": state.phase,
        "stateDir": state.directory,
        "spec": state.spec,
        "underlay": {"netns": state.underlay_netns, "prefix": state.underlay_prefix},
        "outside": _outside_json(state),
        "nodes": [
            {
                "name": n.name,
                "netns": n.netns,
                "ip": n.ip,
                "blocks": list(n.blocks),
                "root": n.root,
                "birdSocket": n.bird_socket or None,
            }
            for n in state.nodes
        ],
        "pods": [
            {
                "name": p.name,
                "node": p.node,
                "netns": p.netns,
                "ips": list(p.ips),
                "portMappings": p.port_mappings,
            }
            for p in state.pods
        ],
        "processes": [{"what": p.what, "netns": p.netns, "pid": p.pid} for p in state.processes],
        "timings": {k: round(v, 4) for k, v in state.timings.items()},
    }
    if bgp and state.processes:
        from netwright.lab.bird import node_sessions, router_session_states  # noqa: PLC0415

        sessions = node_sessions(state)
        for node in out["nodes"]:
            node["bgpSessions"] = sessions.get(node["name"], [])
        if out["outside"] is not None and out["outside"]["birdSocket"]:
            states = router_session_states(state)
            for s in out["outside"]["sessions"]:
                s["state"] = states.get(s["protocol"], "unknown")
    return out


def _outside_json(state: LabState) -> dict[str, Any] | None:
    """The outside address and its router; passwords appear as their Secret reference only."""
    o = state.outside
    if o is None:
        return None
    return {
        "ip": o.ip,
        "netns": state.underlay_netns,
        "note": o.note or None,
        "birdSocket": o.bird_socket or None,
        "sessions": [
            {
                "node": s.node,
                "peer": s.peer,
                "protocol": s.protocol,
                "nodeAS": s.node_as,
                "routerAS": s.router_as,
                "holdTime": s.hold_time,
                "keepaliveTime": s.keepalive_time,
                "gracefulRestart": s.graceful_restart,
                "restartTime": s.restart_time,
                "password": f"<secret {s.password_ref}>" if s.password_ref else None,
            }
            for s in o.sessions
        ],
    }


def _print_status(state: LabState, *, bgp: bool) -> None:
    doc = status_json(state, bgp=bgp)
    print(
        f"lab {state.name}: backend {state.backend}, {state.phase}, "
        f"underlay {state.underlay_netns} {state.underlay_prefix}, state {state.directory}"
    )
    for n in doc["nodes"]:
        print(
            f"  node {n['name']:<6} netns {n['netns']:<14} {n['ip']:<15} "
            f"blocks {', '.join(n['blocks']) or '-'}"
        )
        for s in n.get("bgpSessions", []):
            print(f"    bgp {s['name']:<14} {s['state']:<6} {s['info']}")
    o = doc["outside"]
    if o is not None:
        print(
            f"  outside {o['ip']} in {o['netns']}"
            + (f" ({o['note']})" if o["note"] else "")
            + (f", router BIRD {o['birdSocket']}" if o["birdSocket"] else ", no router")
        )
        for s in o["sessions"]:
            print(
                f"    router {s['protocol']:<14} AS {s['routerAS']} <-> {s['node']} "
                f"AS {s['nodeAS']} {s.get('state', '')}"
            )
    for p in doc["pods"]:
        ports = " ".join(
            f"{m['hostPort']}->{m['containerPort']}/{m['protocol']}" for m in p["portMappings"]
        )
        print(
            f"  pod  {p['name']:<6} netns {p['netns']:<14} {', '.join(p['ips']) or '-'}"
            f"{'  ports ' + ports if ports else ''}"
        )


def cmd_status(args: argparse.Namespace) -> int:
    from netwright.lab.state import LabState  # noqa: PLC0415

    state = LabState.require(args.name)
    if args.output == "json":
        print(json.dumps(status_json(state, bgp=True), indent=2))
    else:
        _print_status(state, bgp=True)
    return EXIT_OK


def cmd_down(args: argparse.Namespace) -> int:
    from netwright.lab.lifecycle import down  # noqa: PLC0415
    from netwright.lab.state import LabState, lab_dir  # noqa: PLC0415

    state = LabState.load(args.name)
    if state is None:
        directory = lab_dir(args.name)
        if os.path.isdir(directory):
            # `up` saves the state file before it makes anything: without one, the
            # directory holds nothing but what `up` was about to record.
            from netwright.lab.lifecycle import prune_state_root  # noqa: PLC0415

            shutil.rmtree(directory)
            prune_state_root()
            _say(f"lab {args.name}: removed {directory}, which had no state file")
            return EXIT_OK
        _say(f"lab {args.name}: not up (no state in {directory}); nothing to do")
        return EXIT_OK
    _say(
        f"lab {state.name}: stopping {len(state.processes)} processes, "
        f"deleting {len(state.namespaces)} namespaces"
    )
    problems = down(state, say=_say)
    for p in problems:
        _say(f"  {p}")
    if problems:
        _say(
            f"lab {state.name}: not everything could be removed; "
            f"the state file stays in {state.directory}"
        )
        return EXIT_FAILED
    _say(f"lab {state.name}: down")
    return EXIT_OK


def _lab_name(text: str) -> str:
    import argparse  # noqa: PLC0415 - only the parser needs it

    try:
        return check_name(text)
    except LabError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    """Register `lab` and its subcommands on the top-level subparsers."""
    lab = subparsers.add_parser(
        "lab",
        parents=[parent],
        help="the local lab: a multi-node pod network in network namespaces",
        description="Build a whole cluster's pod network on this machine: an underlay switch and "
        "node namespaces provisioned by netwright from a spec directory, pods attached by the real "
        "CNI plugins, BIRD for bgp. Needs root.",
        epilog="Exit codes: 0 ok, 1 a check failed or the lab could not be built or removed.",
    )
    sub = lab.add_subparsers(dest="lab_command", required=True, metavar="COMMAND")

    def named(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--name",
            type=_lab_name,
            default="nw",
            help="the lab's name; prefixes every namespace (default %(default)s)",
        )

    p = sub.add_parser("up", parents=[parent], help="build the lab and provision every node")
    p.add_argument(
        "--backend",
        choices=("vxlan", "host-gw", "bgp"),
        default="vxlan",
        help="the example spec to use (default %(default)s)",
    )
    p.add_argument(
        "--nodes",
        type=_argtypes.int_range(1, MAX_NODES),
        metavar="N",
        help=f"number of nodes, 1 to {MAX_NODES} (default: the spec's, 3 in the examples)",
    )
    p.add_argument(
        "--pods",
        type=_argtypes.int_range(0, MAX_PODS),
        default=2,
        metavar="P",
        help=f"pods per node, 0 to {MAX_PODS} (default %(default)s)",
    )
    p.add_argument(
        "--spec",
        type=_argtypes.directory,
        metavar="DIR",
        help="spec directory to copy (default: the packaged example for --backend)",
    )
    named(p)
    p.set_defaults(func=cmd_up)

    p = sub.add_parser(
        "test", parents=[parent], help="check the lab: routing, pings, MTU, idempotence, CNI"
    )
    named(p)
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("status", parents=[parent], help="nodes, blocks, pods and BGP sessions")
    named(p)
    p.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="output format (default %(default)s)",
    )
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "down", parents=[parent], help="remove everything the lab made (safe to run twice)"
    )
    named(p)
    p.set_defaults(func=cmd_down)

    add_bench_parser(sub, parent)
