"""The `netwright` argument parser: every subcommand, its flags and its help.

Values are checked while parsing (`netwright._argtypes`): a bad one is one line and
exit 2 before anything is read. The lab and doctor register their own subcommands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netwright import _argtypes
from netwright._version import __version__
from netwright.cli import commands
from netwright.doctor.commands import add_parser as add_doctor_parser
from netwright.lab.commands import add_parser as add_lab_parser
from netwright.locking import DEFAULT_WAIT

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence


def _spec_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="a spec directory (every *.yaml/*.yml under it)")


def _node_args(p: argparse.ArgumentParser, *, live: bool) -> None:
    p.add_argument("--node", required=True, metavar="N", help="the Node to work on")
    p.add_argument(
        "--underlay-mtu",
        type=_argtypes.int_range(_argtypes.MTU_MIN, _argtypes.MTU_MAX),
        default=1500,
        metavar="N",
        help="the underlay MTU where no live link says it (68-65535, default 1500)",
    )
    p.add_argument(
        "--root",
        type=_argtypes.root_path,
        default="/",
        metavar="PATH",
        help="prefix of every file path the node owns (conflists, BIRD config, state)",
    )
    if live:
        p.add_argument(
            "--netns",
            type=_argtypes.netns_name,
            metavar="NS",
            help="work in this named network namespace, not the current one",
        )
        p.add_argument(
            "--proc-sys",
            type=_argtypes.proc_sys,
            default="/proc/sys",
            metavar="PATH",
            help="read and write sysctls under PATH instead of /proc/sys: a writable mount of "
            "the host's /proc/sys/net at PATH/net, where /proc/sys is read-only (an "
            "unprivileged container)",
        )
        p.add_argument(
            "--underlay",
            type=_argtypes.ifname,
            metavar="DEV",
            help="the node's underlay device, for a target that holds none of the node's "
            "addresses (apply refuses such a target otherwise); its MTU is read when it exists",
        )


def _wait_lock(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--wait-lock",
        type=_argtypes.seconds(86400),
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help="wait this long for another run on the same root or namespace to finish "
        "(default %(default)g); then exit 1 naming it",
    )


def _api_args(p: argparse.ArgumentParser) -> None:
    """How the controller and the agent reach the API, and where they serve metrics."""
    p.add_argument(
        "--kubeconfig",
        type=_argtypes.existing_file,
        metavar="FILE",
        help="use this kubeconfig (else an in-cluster service account, else KUBECONFIG or "
        "~/.kube/config)",
    )
    p.add_argument(
        "--metrics-port",
        type=_argtypes.int_range(0, 65535),
        default=0,
        metavar="PORT",
        help="serve Prometheus metrics on this port at /metrics (default 0: off)",
    )
    p.add_argument(
        "--health-port",
        type=_argtypes.int_range(0, 65535),
        default=0,
        metavar="PORT",
        help="answer liveness probes on this port at /healthz while the process watches "
        "and works (default 0: off)",
    )


def _output(p: argparse.ArgumentParser, choices: Sequence[str] = ("text", "yaml", "json")) -> None:
    p.add_argument(
        "-o",
        "--output",
        choices=choices,
        default=choices[0],
        help="output format (default %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _argtypes.Parser(
        prog="netwright",
        description="Declarative pod networking: validate a spec directory (IPPool, Network, "
        "Backend, BGPPeer and v1 Nodes), allocate per-node blocks, render a node's "
        "configuration, and plan or apply it on a live node; or keep a cluster in step "
        "from the Kubernetes API (controller, agent).",
        epilog="Exit codes: 0 ok, 1 error while acting, 2 invalid input, "
        "3 changes pending (plan --exit-code).",
    )
    parser.add_argument("--version", action="version", version=f"netwright {__version__}")
    parent = _argtypes.Parser(add_help=False)
    parent.add_argument(
        "-v", "--verbose", action="store_true", help="say more (ignored documents, ...)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "validate",
        parents=[parent],
        help="check a spec directory: schema, CEL rules and cross-object rules",
        description="Check every document against its CRD schema (strictly: unknown fields are "
        "errors) and CEL rules, then the rules between objects. Prints every problem, "
        "one per line: file:line: Kind/name: field: what is wrong and what is allowed.",
    )
    _spec_dir(p)
    p.set_defaults(func=commands.cmd_validate)

    p = sub.add_parser(
        "allocate",
        parents=[parent],
        help="per-node IPBlocks for every pool; --write stores them in DIR/ipblocks.yaml",
        description="Allocate one block per selected node and pool: existing blocks never move, "
        "blocks of departed nodes are freed, joining nodes get the lowest free blocks.",
    )
    _spec_dir(p)
    p.add_argument(
        "--write", action="store_true", help="rewrite DIR/ipblocks.yaml (and no other file)"
    )
    _output(p)
    p.set_defaults(func=commands.cmd_allocate)

    p = sub.add_parser(
        "render",
        parents=[parent],
        help="a node's NodeNetworkConfig: blocks, conflists, tunnel, BIRD config",
    )
    _spec_dir(p)
    _node_args(p, live=False)
    _output(p, ("yaml", "json"))
    p.set_defaults(func=commands.cmd_render)

    p = sub.add_parser(
        "plan",
        parents=[parent],
        help="the changes apply would make to a node",
    )
    _spec_dir(p)
    _node_args(p, live=True)
    p.add_argument("--exit-code", action="store_true", help="exit 3 when changes are pending")
    _output(p)
    p.set_defaults(func=commands.cmd_plan)

    p = sub.add_parser("apply", parents=[parent], help="make a node match its plan")
    _spec_dir(p)
    _node_args(p, live=True)
    p.add_argument("--check", action="store_true", help="only show the changes (= plan)")
    _wait_lock(p)
    _output(p)
    p.set_defaults(func=commands.cmd_apply)

    p = sub.add_parser(
        "controller",
        parents=[parent],
        help="the kopf controller: IPBlocks and NodeNetworkConfigs from the API's objects",
        description="Watch IPPools, Networks, Backends, BGPPeers and Nodes; validate them as "
        "`validate` does; allocate IPBlocks and write one NodeNetworkConfig per node. "
        "Connects with in-cluster credentials or KUBECONFIG. Runs until stopped.",
    )
    p.add_argument(
        "--no-leader-election",
        action="store_true",
        help="act at once, without waiting for a Lease (every replica is safe to run)",
    )
    p.add_argument(
        "--lease-namespace",
        default="kube-system",
        metavar="NS",
        help="the namespace of the controller's Lease (default %(default)s)",
    )
    p.add_argument(
        "--lease-duration",
        type=_argtypes.int_range(1, 3600),
        default=15,
        metavar="SECONDS",
        help="how long a leader that stopped renewing keeps the Lease (default %(default)s)",
    )
    p.add_argument("--identity", metavar="NAME", help="this replica's name in Events")
    p.add_argument(
        "--resync-interval",
        type=_argtypes.seconds(86400, low=1),
        default=300.0,
        metavar="SECONDS",
        help="list everything again this often, as a backstop to the watches (default 300)",
    )
    _api_args(p)
    p.set_defaults(func=commands.cmd_controller)

    p = sub.add_parser(
        "agent",
        parents=[parent],
        help="the node agent: keep a node as its NodeNetworkConfig says",
        description="Watch this node's NodeNetworkConfig and what it needs of the others "
        "(their Nodes and IPBlocks); provision the node as `apply` does on every change and "
        "every --resync-interval seconds, repairing drift; report in the config's status.",
    )
    _node_args(p, live=True)
    p.add_argument(
        "--resync-interval",
        type=_argtypes.seconds(86400, low=1),
        default=60.0,
        metavar="SECONDS",
        help="observe and repair the node this often besides on changes (default 60)",
    )
    _wait_lock(p)
    _api_args(p)
    p.set_defaults(func=commands.cmd_agent)

    add_lab_parser(sub, parent)
    add_doctor_parser(sub, parent)
    return parser
