"""The `netwright` command line: the one place that turns errors into exit codes.

Exit codes (docs/api.md#exit-codes): 0 success, 1 an error while acting (kernel, files),
2 invalid input (nothing is applied), 3 `plan --exit-code` with changes pending.
Heavy modules (pyroute2, jinja2, kopf) are imported inside the command that
needs them: `netwright validate` never pays for the engine or the operator.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
from typing import TYPE_CHECKING

from netwright import _argtypes, _console
from netwright._version import __version__
from netwright.doctor.commands import add_parser as add_doctor_parser
from netwright.errors import AllocationError, Issue, NetwrightError, ValidationError
from netwright.lab.commands import add_parser as add_lab_parser
from netwright.locking import DEFAULT_WAIT

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from netwright.engine import Progress
    from netwright.model.config import NodeFacts
    from netwright.pipeline import Pipeline
    from netwright.validate import LoadedSpec

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_PENDING = 0, 1, 2, 3


class _Fail(Exception):  # noqa: N818 - an exit, not an error class of the API
    def __init__(self, code: int, lines: Sequence[str]) -> None:
        self.code = code
        self.lines = lines


def _err(*lines: str) -> None:
    for line in lines:
        _console.say(line)


def _load(args: argparse.Namespace) -> LoadedSpec:
    from netwright.validate import load_spec  # noqa: PLC0415

    spec = load_spec(args.dir)
    _say_ignored(args, spec)
    return spec


def _say_ignored(args: argparse.Namespace, spec: LoadedSpec) -> None:
    """With --verbose, the documents of other API groups that were skipped."""
    if args.verbose:
        for doc in spec.ignored:
            _err(f"{doc.file}:{doc.line}: ignored {doc.api_version} {doc.kind}/{doc.name}")


# -- validate -----------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    spec = _load(args)
    c = spec.cluster
    counts = [
        (len(c.nodes), "Node"),
        (len(c.backends), "Backend"),
        (len(c.pools), "IPPool"),
        (len(c.networks), "Network"),
        (len(c.peers), "BGPPeer"),
        (len(c.blocks), "IPBlock"),
    ]
    summary = ", ".join(f"{n} {kind}{'' if n == 1 else 's'}" for n, kind in counts)
    print(f"{args.dir}: valid ({summary})")
    return EXIT_OK


# -- allocate -----------------------------------------------------------------


def cmd_allocate(args: argparse.Namespace) -> int:
    from netwright.documents import ipblocks_yaml  # noqa: PLC0415
    from netwright.provisioning import write_ipblocks  # noqa: PLC0415

    pipeline = _pipeline(args)
    result = pipeline.allocation
    if args.write:
        written = write_ipblocks(args.dir, pipeline)
        print(
            f"{written.path}: {len(result.blocks)} blocks "
            f"({len(result.added)} added, {len(result.freed)} freed"
            f"{'' if written.changed else ', unchanged'})"
        )
        return EXIT_OK
    if args.output == "yaml":
        sys.stdout.write(ipblocks_yaml(result.blocks))
        return EXIT_OK
    if args.output == "json":
        from netwright._serialize import dump  # noqa: PLC0415
        from netwright.documents import ipblock_document  # noqa: PLC0415

        docs = [ipblock_document(b) for b in result.blocks]
        sys.stdout.write(dump(docs, "json"))
        return EXIT_OK
    added = set(result.added)
    width = max((len(b.pool) for b in result.blocks), default=4)
    print(f"  {'POOL':<{width}}  {'CIDR':<20} NODE")
    for b in result.blocks:
        print(f"{'+' if b in added else ' '} {b.pool:<{width}}  {b.cidr!s:<20} {b.node}")
    for b in result.freed:
        print(f"- {b.pool:<{width}}  {b.cidr!s:<20} {b.node} (node gone: freed)")
    print(f"{len(result.blocks)} blocks, {len(result.added)} new, {len(result.freed)} freed")
    return EXIT_OK


# -- render / plan / apply ----------------------------------------------------


def _facts(args: argparse.Namespace) -> NodeFacts:
    from netwright.model.config import NodeFacts  # noqa: PLC0415

    return NodeFacts(underlay_mtu=args.underlay_mtu, root=args.root)


def _pipeline(args: argparse.Namespace) -> Pipeline:
    from netwright.pipeline import Pipeline  # noqa: PLC0415

    pipeline = Pipeline.load(args.dir)
    _say_ignored(args, pipeline.spec)
    return pipeline


def cmd_render(args: argparse.Namespace) -> int:
    from netwright._serialize import dump  # noqa: PLC0415
    from netwright.documents import node_network_config  # noqa: PLC0415

    doc = node_network_config(args.node, _pipeline(args).render(args.node, _facts(args)))
    sys.stdout.write(dump(doc, args.output))  # render offers only yaml and json
    return EXIT_OK


def _engine(args: argparse.Namespace, *, check: bool) -> int:
    from netwright.engine import Progress, Target  # noqa: PLC0415
    from netwright.provisioning import Options, provision  # noqa: PLC0415

    options = Options(
        underlay_dev=args.underlay,
        underlay_mtu=args.underlay_mtu,
        wait_lock=getattr(args, "wait_lock", DEFAULT_WAIT),
    )
    progress = Progress(started=_applying(args) if args.verbose else None)
    # A spec directory of thousands of nodes leaves about a million long-lived
    # objects; every full collection after loading walks them all again (0.35 s
    # in allocation, 0.35 s in a no-op engine run at 5,001 nodes). Nothing here
    # makes cyclic garbage worth collecting, so collect nothing while the spec is
    # planned and applied (reference counting still frees everything as it goes),
    # and thaw afterwards, for callers that live on, such as tests calling `main`.
    gc.disable()
    try:
        pipeline = _pipeline(args)
        try:
            report = provision(
                pipeline,
                args.node,
                Target(netns=args.netns, root=args.root, proc_sys=args.proc_sys),
                check=check,
                options=options,
                say=_err,
                progress=progress,
            )
        except KeyboardInterrupt as exc:
            raise _Fail(_console.exit_code(exc), [_interrupted(progress)]) from None
    finally:
        gc.enable()
    if args.output == "json":
        print(json.dumps(report.to_json(), indent=2))
    elif args.output == "yaml":
        from netwright._serialize import dump  # noqa: PLC0415

        sys.stdout.write(dump(report.to_json(), "yaml"))
    else:
        for line in report.lines(verbose=args.verbose):
            _console.write(line)
    if not report.ok:
        return EXIT_ERROR
    if check and getattr(args, "exit_code", False) and report.pending:
        return EXIT_PENDING
    return EXIT_OK


def _applying(args: argparse.Namespace) -> Callable[[int], None]:
    def started(total: int) -> None:
        if total:
            _err(f"node {args.node}: applying {total:,} changes")

    return started


def _interrupted(progress: Progress) -> str:
    if not progress.applying and not progress.done:
        return "netwright: interrupted before any change; nothing was changed"
    if progress.applying:
        return (
            f"netwright: interrupted; {progress.done:,} of {progress.total:,} changes made;"
            " run again to finish"
        )
    return f"netwright: interrupted; {progress.done:,} of {progress.total:,} changes made"


def cmd_plan(args: argparse.Namespace) -> int:
    return _engine(args, check=True)


def cmd_apply(args: argparse.Namespace) -> int:
    return _engine(args, check=args.check)


# -- controller / agent (kopf, imported only here) ---------------------------------


def cmd_controller(args: argparse.Namespace) -> int:
    from netwright.controller.running import run  # noqa: PLC0415

    return run(args)


def cmd_agent(args: argparse.Namespace) -> int:
    from netwright.agent.running import run  # noqa: PLC0415

    return run(args)


# -- the parser ---------------------------------------------------------------


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
    p.add_argument("--kubeconfig", metavar="FILE", help="use this kubeconfig (else KUBECONFIG)")
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
    p.set_defaults(func=cmd_validate)

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
    p.set_defaults(func=cmd_allocate)

    p = sub.add_parser(
        "render",
        parents=[parent],
        help="a node's NodeNetworkConfig: blocks, conflists, tunnel, BIRD config",
    )
    _spec_dir(p)
    _node_args(p, live=False)
    _output(p, ("yaml", "json"))
    p.set_defaults(func=cmd_render)

    p = sub.add_parser(
        "plan",
        parents=[parent],
        help="the changes apply would make to a node",
    )
    _spec_dir(p)
    _node_args(p, live=True)
    p.add_argument("--exit-code", action="store_true", help="exit 3 when changes are pending")
    _output(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("apply", parents=[parent], help="make a node match its plan")
    _spec_dir(p)
    _node_args(p, live=True)
    p.add_argument("--check", action="store_true", help="only show the changes (= plan)")
    _wait_lock(p)
    _output(p)
    p.set_defaults(func=cmd_apply)

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
        type=_argtypes.seconds(86400),
        default=300.0,
        metavar="SECONDS",
        help="list everything again this often, as a backstop to the watches (default 300)",
    )
    _api_args(p)
    p.set_defaults(func=cmd_controller)

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
        type=_argtypes.seconds(86400),
        default=60.0,
        metavar="SECONDS",
        help="observe and repair the node this often besides on changes (default 60)",
    )
    _wait_lock(p)
    _api_args(p)
    p.set_defaults(func=cmd_agent)

    add_lab_parser(sub, parent)
    add_doctor_parser(sub, parent)
    return parser


def _report(issues: Sequence[Issue], what: str) -> None:
    for issue in issues:
        _err(str(issue))
    _err(f"{len(issues)} problem{'' if len(issues) == 1 else 's'}; {what}")


def _run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; the one place netwright's errors become lines and exit codes."""
    try:
        return func(args)
    except ValidationError as exc:
        _report(exc.issues, "nothing was applied")
        return EXIT_INVALID
    except AllocationError as exc:
        _report(exc.issues, "nothing was written")
        return EXIT_INVALID
    except _Fail as exc:
        _err(*exc.lines)
        return exc.code
    except NetwrightError as exc:
        _err(f"netwright: {exc}")
        return EXIT_ERROR
    except BrokenPipeError:  # the reader went away (`| head`): the work is done, say nothing
        _console.silence(sys.stdout)
        return EXIT_OK
    except OSError as exc:  # a file or directory the command needed: named, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        _err(f"netwright: {where}{exc.strerror or exc}")
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        _err("netwright: interrupted")
        return _console.exit_code(exc)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    with contextlib.suppress(ValueError):  # not the main thread: a test calling main
        _console.install_signal_handlers()
    code = _run(func, args)
    # What is still buffered goes now, not at exit, where a closed pipe would turn a
    # finished command's status into Python's 120.
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _console.silence(sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
