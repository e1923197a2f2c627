"""Provision one node, keep a spec directory's allocations: the calls every front end makes.

Why it exists: "load or receive the spec, observe the node's facts, plan, run the
engine under the target's lock, report" is one use case, whether the CLI, the lab, an
Ansible module or the node agent asks for it (`provision`); making a few listed objects
so, without a spec, is the fine-grained modules' (`provision_objects`); writing the allocation back
into a spec directory is another (`write_ipblocks`: `allocate --write`, the Ansible
`allocate` module). They live here once, above the pipeline (pure) and the engine
(I/O), so every front end does them the same way and none of them imports another.

What it must not do: print or exit (it returns a `Report`, and says what a person should
know through `say`), or change anything before every check has passed: the node is in
the spec, the target is this node's (it holds none of the other nodes' addresses, and
holds this node's, or the caller named the underlay), and the lock is held.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netwright._atomic import write_atomic
from netwright.documents import ipblock_line, ipblocks_yaml
from netwright.engine import run
from netwright.engine.facts import observe_addresses
from netwright.errors import NetwrightError
from netwright.locking import DEFAULT_WAIT, target_lock
from netwright.model.config import NodeFacts
from netwright.model.spec import Source
from netwright.validate import IPBLOCKS_FILE, caching

if TYPE_CHECKING:
    from collections.abc import Callable

    from netwright.engine import Progress, Report, Scope
    from netwright.engine.facts import HeldAddress
    from netwright.kernel import Memo, Target
    from netwright.model.state import NodeState
    from netwright.pipeline import Pipeline

__all__ = [
    "DEFAULT_WAIT",
    "IPBlocksFile",
    "Options",
    "WrongTargetError",
    "node_facts",
    "provision",
    "provision_objects",
    "write_ipblocks",
]


class WrongTargetError(NetwrightError):
    """The target is not the node's: refused before any change."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """How to provision, beyond the node and the target."""

    #: The underlay named by the user: lets a target that holds no address of the node
    #: be provisioned (its link's MTU is used when it exists).
    underlay_dev: str | None = None
    #: The underlay MTU where no live link says it.
    underlay_mtu: int = 1500
    #: Seconds to wait for another run on the same target to finish.
    wait_lock: float = DEFAULT_WAIT


def _where(target: Target) -> str:
    return f"namespace {target.netns}" if target.netns else "this host's network namespace"


def _owners(pipeline: Pipeline, held: tuple[HeldAddress, ...]) -> dict[str, str]:
    """Node name by address, for the addresses the target holds (one pass over the nodes)."""
    wanted = {h.address.ip for h in held}
    if not wanted:
        return {}
    return {
        str(address): node.name
        for node in pipeline.spec.cluster.nodes
        for address in node.addresses
        if address in wanted
    }


def node_facts(
    pipeline: Pipeline,
    node: str,
    target: Target,
    options: Options,
    *,
    check: bool,
    say: Callable[[str], None] | None = None,
) -> NodeFacts:
    """What only the live node knows, after making sure `target` is `node`'s.

    The underlay is the link holding the node's first address (a link netwright does
    not own wins, then the lowest ifindex), with its MTU and subnet. Refuses
    (`WrongTargetError`) a target holding another node's address, and, outside check
    mode, a target holding none of this node's unless `options.underlay_dev` names it.
    """
    pipeline.known(node)
    addresses = pipeline.index.nodes[node].addresses
    held = observe_addresses(target)
    owners = _owners(pipeline, held)
    for h in held:
        owner = owners.get(str(h.address.ip))
        if owner is not None and owner != node:
            raise WrongTargetError(
                f"{_where(target)} holds {h.address.ip} (on {h.dev}), which is node {owner}'s"
                f" address, not {node}'s; nothing was changed"
            )
    for address in addresses:
        mine = [h for h in held if h.address.ip == address]
        if mine:
            best = min(mine, key=lambda h: (h.owned, h.index))
            return NodeFacts(
                underlay_dev=best.dev,
                underlay_mtu=best.mtu,
                underlay_prefix=ipaddress.ip_network(best.address.network),
                root=target.root,
            )
    listed = ", ".join(str(a) for a in addresses) or "none in the spec"
    if options.underlay_dev is not None:
        dev = options.underlay_dev
        on_link = [h for h in held if h.dev == dev]
        mtu = on_link[0].mtu if on_link else options.underlay_mtu
        if say is not None:
            said = f"MTU {mtu} (from {dev})" if on_link else f"MTU {mtu} (--underlay-mtu)"
            say(
                f"note: {_where(target)} holds no address of {node} ({listed});"
                f" underlay {dev} as named (--underlay), {said}, subnet unknown"
            )
        return NodeFacts(underlay_dev=dev, underlay_mtu=mtu, root=target.root)
    if not check:
        raise WrongTargetError(
            f"{_where(target)} holds no address of node {node} ({listed}): is it {node}?"
            f" Name its underlay with --underlay DEV to provision it anyway; nothing was changed"
        )
    assumed = NodeFacts(underlay_mtu=options.underlay_mtu, root=target.root)
    if say is not None:
        say(
            f"note: no link in {target} holds {node}'s address {listed};"
            f" assumed underlay {assumed.underlay_dev},"
            f" MTU {assumed.underlay_mtu} (--underlay-mtu), subnet unknown (no directRouting);"
            f" apply refuses this target unless --underlay names its underlay"
        )
    return assumed


def provision(
    pipeline: Pipeline,
    node: str,
    target: Target,
    *,
    check: bool,
    options: Options | None = None,
    say: Callable[[str], None] | None = None,
    progress: Progress | None = None,
    memo: Memo | None = None,
) -> Report:
    """Plan `node` on `target` and, unless `check`, apply the plan; return what happened.

    `memo`: handed to the engine's run (`netwright.engine.run`), for a caller that
    provisions the same node again and again (the node agent) to keep what one run
    learnt for the next; None: nothing is carried over.

    Outside check mode the target's lock is held from observing the facts to the last
    change (`LockBusyError` when another run keeps it longer than `options.wait_lock`).
    Raises `ValidationError` for a node not in the spec, `WrongTargetError` for a target
    that is not the node's, and the engine's `KernelError`s; a `Report` whose `ok` is
    False says which changes failed.
    """
    options = options or Options()
    pipeline.known(node)
    if check:
        facts = node_facts(pipeline, node, target, options, check=True, say=say)
        report = run(pipeline.plan(node, facts), target, check=True, memo=memo)
    else:
        with target_lock(target, wait=options.wait_lock, say=say):
            facts = node_facts(pipeline, node, target, options, check=False, say=say)
            plan = pipeline.plan(node, facts)
            report = run(plan, target, check=False, progress=progress, memo=memo)
    return dataclasses.replace(report, facts=facts)


def provision_objects(
    state: NodeState,
    target: Target,
    *,
    check: bool,
    scope: Scope,
    options: Options | None = None,
    say: Callable[[str], None] | None = None,
    memo: Memo | None = None,
) -> Report:
    """Make the objects of a partial `state` so on `target`, within `scope`; report.

    The use case of the fine-grained Ansible modules (`link`, `route`, ...): no spec,
    no plan, the objects as the caller lists them, and only the scoped kinds changed
    (`netwright.engine.Scope`). Outside check mode the target's lock is held for the
    whole run, as `provision` holds it, so such a run and a node's provisioning never
    interleave. Nothing is changed when anything conflicts. `memo` as for `provision`.
    """
    options = options or Options()
    if check:
        return run(state, target, check=True, scope=scope, memo=memo)
    with target_lock(target, wait=options.wait_lock, say=say):
        return run(state, target, check=False, scope=scope, memo=memo)


@dataclass(frozen=True, kw_only=True, slots=True)
class IPBlocksFile:
    """`ipblocks.yaml` of a spec directory: as it was, as the allocation has it."""

    path: str
    before: str | None  # None: there was no such file
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def write_ipblocks(directory: str, pipeline: Pipeline, *, check: bool = False) -> IPBlocksFile:
    """Keep `directory`'s `ipblocks.yaml` in step with the pipeline's allocation.

    The one file a spec directory has that netwright writes (`allocate --write`, the
    Ansible `allocate` module): rewritten whole and atomically when it differs, never
    in check mode. A directory loaded alone is left warm in the spec cache, so the
    next load of it (the provisioning that follows) skips validation.
    """
    path = os.path.join(directory, IPBLOCKS_FILE)
    try:
        with open(path, encoding="utf-8") as stream:
            before: str | None = stream.read()
    except FileNotFoundError:
        before = None
    after = ipblocks_yaml(pipeline.allocation.blocks)
    written = IPBlocksFile(path=path, before=before, after=after)
    if written.changed and not check:
        write_atomic(path, written.after)
        if not pipeline.default_nodes_used:  # the cache knows the directory alone
            _remember_written(directory, path, pipeline)
    return written


def _remember_written(directory: str, path: str, pipeline: Pipeline) -> None:
    """Leave the spec cache warm for the directory just written (see `caching.remember`)."""
    spec, blocks = pipeline.spec, pipeline.allocation.blocks
    placed = tuple(
        dataclasses.replace(b, source=Source(file=path, line=ipblock_line(i)))
        for i, b in enumerate(blocks)
    )
    cluster = dataclasses.replace(spec.cluster, blocks=placed)
    caching.remember(directory, dataclasses.replace(spec, cluster=cluster))
