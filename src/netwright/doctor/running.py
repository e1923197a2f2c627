"""`netwright doctor`: find the node, measure it, judge it, print the list.

Why it exists: the one sequence behind the command. With `--lab NAME` the node's
namespace, root and spec directory come from the lab's state file (read only);
otherwise from `--netns`, `--root` and SPEC_DIR. The plan is loaded once; the
node's desired state (`netwright plan`'s) says what to expect of the MTUs, the
sysctls, BIRD and the NAT table, and its diff against the live node is the
routes, fdb, devices and files checks.

What it must not do: change the node (see `gathering`), or exit 0 when a check FAILs.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netwright import _console
from netwright.doctor import gathering
from netwright.doctor.node_verdicts import (
    LinkMtu,
    Mtus,
    Nat,
    Sysctls,
    judge_bird,
    judge_bridge_nf,
    judge_forwarding,
    judge_mtu,
    judge_nat,
    judge_plan,
    judge_rp_filter,
)
from netwright.doctor.verdicts import (
    Check,
    Ipam,
    Status,
    judge_conflist,
    judge_ipam,
    judge_plugins,
    worst,
)

if TYPE_CHECKING:
    import argparse

    from netwright.model.state import NodeState
    from netwright.pipeline import Pipeline

EXIT_OK, EXIT_FAILED = 0, 1  # invalid input (exit 2) is the CLI's to report, not the doctor's
CNI_DIR = "etc/cni/net.d"


@dataclass(frozen=True, kw_only=True, slots=True)
class Where:
    """The node to diagnose: its namespace (None: this one), root and spec directory."""

    node: str
    netns: str | None
    root: str
    spec: str


def where(args: argparse.Namespace) -> Where:
    """From `--lab` (the lab's state, read only), or from the arguments.

    `cmd_doctor` has already refused a call with neither `--lab` nor SPEC_DIR.
    """
    if args.lab:
        from netwright.lab.state import LabState  # noqa: PLC0415 - see pyproject's contracts

        state = LabState.require(args.lab)
        n = state.node(args.node)
        return Where(node=n.name, netns=n.netns, root=n.root, spec=state.spec)
    return Where(node=args.node, netns=args.netns, root=args.root, spec=args.dir)


def diagnose(at: Where, *, cni_bin_dir: str, underlay_mtu: int = 1500) -> list[Check]:
    """Every check of the list, in the order an operator walks it."""
    from netwright.engine import Target  # noqa: PLC0415
    from netwright.pipeline import Pipeline  # noqa: PLC0415
    from netwright.provisioning import Options, provision  # noqa: PLC0415

    pipeline = Pipeline.load(at.spec)
    pipeline.known(at.node)
    notes: list[str] = []
    report = provision(
        pipeline,
        at.node,
        Target(netns=at.netns, root=at.root),
        check=True,
        options=Options(underlay_mtu=underlay_mtu),
        say=notes.append,
    )
    assert report.facts is not None  # provisioning always says what it took the node to be
    state = pipeline.plan(at.node, report.facts)
    checks: list[Check] = []

    # -- conflist and plugins
    conf_dir = os.path.join(at.root, CNI_DIR)
    expected = next((f.path for f in state.files if f.path.startswith(conf_dir + "/")), None)
    conflist, raw = gathering.conflist(conf_dir, expected)
    checks.append(judge_conflist(conflist))
    answers = gathering.plugins(conflist.plugins, conflist.cni_version, cni_bin_dir)
    checks.append(judge_plugins(conflist.cni_version, answers, cni_bin_dir))

    # -- the pods behind the bridges, host-local's reservations
    links = gathering.ip_json(at.netns, "-d", "link", "show")
    bridges = [link.name for link in state.links if link.kind == "bridge"]
    held, veths, pod_ends, unreadable = gathering.pods(at.netns, links, bridges)
    data_dir = gathering.host_local_dir(raw)
    blocks = tuple(b.cidr for b in pipeline.allocation.blocks if b.node == at.node)
    checks.append(
        judge_ipam(
            Ipam(
                data_dir=data_dir or "-",
                blocks=blocks,
                reservations=tuple(gathering.reservations(data_dir)) if data_dir else (),
                held=held,
                unreadable=unreadable,
                used=data_dir is not None,
            )
        )
    )

    # -- the plan: routes, fdb, devices, files
    checks.extend(judge_plan(gathering.plan_diff(report, _apply_command(at))))

    # -- MTU chain
    live = {link["ifname"]: link for link in links}
    devices = tuple(
        LinkMtu(
            name=link.name,
            kind=link.kind,
            mtu=live[link.name].get("mtu") if link.name in live else None,
            expected=link.mtu,
        )
        for link in sorted(state.links, key=lambda link: link.kind != "vxlan")
    )
    address = pipeline.index.nodes[at.node].addresses
    checks.append(
        judge_mtu(
            Mtus(
                underlay=report.facts.underlay_dev,
                # None when no such link: the plan assumed one (see the `target` check)
                underlay_mtu=live.get(report.facts.underlay_dev, {}).get("mtu"),
                underlay_family=address[0].version if address else 4,
                devices=devices,
                conflist=gathering.conflist_mtus(raw),
                veths=tuple(veths),
                pods=tuple(pod_ends),
            )
        )
    )

    # -- sysctls
    wanted = {s.name: s.value for s in state.sysctls}
    rp_devs = [report.facts.underlay_dev, *(link.name for link in state.links)]
    found, rp = gathering.sysctls(at.netns, wanted, [d for d in rp_devs if d in live])
    drops = gathering.forward_drop(at.netns)
    values = Sysctls(wanted=wanted, found=found, rp_filter=rp, forward_drop=drops)
    checks += [judge_forwarding(values), judge_rp_filter(values), judge_bridge_nf(values)]

    # -- BIRD, NAT
    if state.bird is not None:
        checks.append(_bird(pipeline, state, at))
    if state.nft is not None:
        text = gathering.nft_table(at.netns, state.nft.family, state.nft.name)
        sources = tuple(_nat_sources(pipeline))
        checks.append(
            judge_nat(Nat(table=f"{state.nft.family} {state.nft.name}", text=text, sources=sources))
        )
    if notes:
        checks.append(Check(name="target", status=Status.WARN, measured="; ".join(notes)))
    return checks


def _bird(pipeline: Pipeline, state: NodeState, at: Where) -> Check:
    assert state.bird is not None
    config = next((f.content for f in state.files if f.path == state.bird.config), "")
    protocols = gathering.bgp_protocols(config)
    bgp_pools = {
        p.name
        for p in pipeline.spec.cluster.pools
        for b in pipeline.spec.cluster.backends
        if p.backend == b.name and str(b.type) == "bgp"
    }
    remote = frozenset(
        str(b.cidr) for b in pipeline.allocation.blocks if b.node != at.node and b.pool in bgp_pools
    )
    return judge_bird(
        gathering.bird(state.bird, protocols, at.netns, remote if protocols else frozenset())
    )


def _nat_sources(pipeline: Pipeline) -> list[str]:
    return [str(p.cidr) for p in pipeline.spec.cluster.pools if p.nat_outgoing]


def _apply_command(at: Where) -> str:
    argv = ["netwright", "apply", at.spec, "--node", at.node]
    if at.netns:
        argv += ["--netns", at.netns]
    if at.root != "/":
        argv += ["--root", at.root]
    return shlex.join(argv)


def to_json(at: Where, checks: list[Check]) -> dict[str, Any]:
    counts = {str(s): sum(1 for c in checks if c.status is s) for s in Status}
    return {
        "node": at.node,
        "target": {"netns": at.netns, "root": at.root, "spec": at.spec},
        "ok": counts["FAIL"] == 0,
        "summary": counts,
        "checks": [c.to_json() for c in checks],
    }


def lines(at: Where, checks: list[Check], *, verbose: bool) -> list[str]:
    width = max((len(c.name) for c in checks), default=0)
    out = []
    for c in checks:
        out.append(f"{c.status!s:<4} {c.name:<{width}}  {c.measured}")
        if c.status is not Status.PASS or verbose:
            out.extend(f"     {'':<{width}}  - {d}" for d in c.details)
        if c.todo and c.status is not Status.PASS:
            out.append(f"     {'':<{width}}  do: {c.todo}")
    counts = {s: sum(1 for c in checks if c.status is s) for s in Status}
    where_ = f"netns {at.netns}" if at.netns else "this namespace"
    out.append(
        f"node {at.node} ({where_}, root {at.root}): "
        + ", ".join(f"{n} {s}" for s, n in counts.items())
    )
    return out


def run(args: argparse.Namespace) -> int:
    at = where(args)
    checks = diagnose(at, cni_bin_dir=args.cni_bin_dir, underlay_mtu=args.underlay_mtu)
    if args.output == "json":
        sys.stdout.write(json.dumps(to_json(at, checks), indent=2) + "\n")
    else:
        for line in lines(at, checks, verbose=args.verbose):
            _console.write(line)
    return EXIT_FAILED if worst(c.status for c in checks) is Status.FAIL else EXIT_OK
