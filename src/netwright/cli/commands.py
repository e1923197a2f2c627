"""The commands behind `netwright validate | allocate | render | plan | apply | controller | agent`.

Each takes the parsed arguments and returns an exit code; netwright's own errors pass
through to `netwright.cli`, which prints them. Heavy modules (pyroute2, jinja2, kopf)
are imported inside the command that needs them: `netwright validate` never pays for
the engine or the operator.
"""

from __future__ import annotations

import gc
import json
import sys
from typing import TYPE_CHECKING

from netwright import _console
from netwright.cli._common import EXIT_ERROR, EXIT_OK, EXIT_PENDING, Fail, err
from netwright.locking import DEFAULT_WAIT

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from netwright.engine import Progress
    from netwright.model.config import NodeFacts
    from netwright.pipeline import Pipeline
    from netwright.validate import LoadedSpec


def _load(args: argparse.Namespace) -> LoadedSpec:
    from netwright.validate import load_spec  # noqa: PLC0415

    spec = load_spec(args.dir)
    _say_ignored(args, spec)
    return spec


def _say_ignored(args: argparse.Namespace, spec: LoadedSpec) -> None:
    """With --verbose, the documents of other API groups that were skipped."""
    if args.verbose:
        for doc in spec.ignored:
            err(f"{doc.file}:{doc.line}: ignored {doc.api_version} {doc.kind}/{doc.name}")


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
                say=err,
                progress=progress,
            )
        except KeyboardInterrupt as exc:
            raise Fail(_console.exit_code(exc), [_interrupted(progress)]) from None
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
            err(f"node {args.node}: applying {total:,} changes")

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
