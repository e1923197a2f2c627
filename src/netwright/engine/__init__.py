"""The engine: observe a node, diff it against the desired state, apply the difference.

`run(state, target, check=...)` is what the front ends call (CLI `plan`/`apply`,
Ansible modules, the node agent). `observe` and `apply` are the only functions that
touch the node, both through `netwright.kernel`; `diff` is pure. Only objects
netwright owns are changed (`Ownership`); foreign objects in the way are reported as
conflicts, never overwritten.

Link and address writes need pyroute2, which `netwright.kernel` imports only when a
run first sends one (a no-op never does); `prepare_link_writes()` pays that import
(about 100 ms) up front, for a process that would rather not pay it mid-run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netwright.engine.applying import ApplyResult, Progress, apply, apply_with
from netwright.engine.changes import Change, Conflict, Delta, Op
from netwright.engine.diffing import diff
from netwright.engine.observing import (
    ObservedState,
    Unrecorded,
    observe,
    observe_facts,
    observe_with,
)
from netwright.engine.ownership import Ownership
from netwright.engine.scope import Scope, scoped_basis
from netwright.kernel import Memo, Target, host, open_session, prepare_link_writes

if TYPE_CHECKING:
    from collections.abc import Iterator

    from netwright.model.config import NodeFacts
    from netwright.model.state import NodeState

__all__ = [
    "ApplyResult",
    "Change",
    "Conflict",
    "Delta",
    "Memo",
    "ObservedState",
    "Op",
    "Ownership",
    "Progress",
    "Report",
    "Scope",
    "Target",
    "Unrecorded",
    "apply",
    "diff",
    "observe",
    "observe_facts",
    "prepare_link_writes",
    "run",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    """What one engine run found (`delta`) and, unless in check mode, did (`result`)."""

    node: str
    target: Target
    check: bool
    delta: Delta
    result: ApplyResult | None = None
    #: What the run took the node's underlay to be (set by `netwright.provisioning`).
    facts: NodeFacts | None = None

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing conflicts (check mode: nothing conflicts)."""
        if self.result is None:
            return not self.delta.conflicts
        return self.result.ok

    @property
    def pending(self) -> bool:
        """Check mode: changes are pending (`plan --exit-code` exits 3)."""
        return not self.delta.empty

    def lines(self, *, verbose: bool = False) -> list[str]:
        """For people; `verbose` lists every object a summary line folds."""
        out = self.plan_lines(verbose=verbose)
        if self.result is not None:
            out.extend(self.result.lines())
        return out

    def plan_lines(self, *, verbose: bool = False) -> list[str]:
        """The lines `netwright plan` prints for this run's delta, without what apply did."""
        counts = self.delta.summary()
        head = (
            f"node {self.node} ({self.target}): {counts['add']} to add,"
            f" {counts['change']} to change, {counts['delete']} to delete"
        )
        return [head, *self.delta.lines(verbose=verbose)]

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "target": {"netns": self.target.netns, "root": self.target.root},
            "check": self.check,
            "ok": self.ok,
            "delta": self.delta.to_json(),
            "result": None if self.result is None else self.result.to_json(),
            "facts": None if self.facts is None else _facts_json(self.facts),
        }


def _facts_json(facts: NodeFacts) -> dict[str, Any]:
    prefix = facts.underlay_prefix
    return {
        "underlay": facts.underlay_dev,
        "underlayMtu": facts.underlay_mtu,
        "underlayPrefix": None if prefix is None else str(prefix),
        "root": facts.root,
    }


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while observing and diffing (restored after).

    Observing thousands of peers allocates tens of thousands of short-lived
    tuples, none of them in a cycle; each 700 allocations the collector would
    walk the young ones again (about 0.5 ms of a 4 ms no-op at 1,000 host-gw
    peers). Reference counting still frees everything as it goes.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def run(
    state: NodeState,
    target: Target,
    *,
    check: bool,
    progress: Progress | None = None,
    scope: Scope | None = None,
    memo: Memo | None = None,
) -> Report:
    """Observe `target`, diff against `state`, and apply unless `check`.

    With a `scope`, `state` is partial: only the scoped kinds change (see `Scope`).
    With a `memo` (`netwright.kernel.Memo`), the session reuses and adds to what
    earlier runs given the same memo learnt (a caller that runs again and again,
    the node agent, holds one); without, nothing is carried over from run to run.
    Raises `UnsupportedKernelError` (before changing anything) when the state needs a
    link type the kernel lacks, and `KernelError` when the target cannot be read.
    """
    if scope is not None:
        return _run_scoped(state, target, check=check, progress=progress, scope=scope, memo=memo)
    with open_session(target, memo=memo) as session:
        with _collector_paused():
            observed = observe_with(session, state)
            delta = diff(state, observed)
        if check:
            return Report(node=state.node, target=target, check=True, delta=delta)
        result = apply_with(session, delta, progress)  # checks link kinds before any change
        return Report(node=state.node, target=target, check=False, delta=delta, result=result)


def _run_scoped(
    state: NodeState,
    target: Target,
    *,
    check: bool,
    progress: Progress | None,
    scope: Scope,
    memo: Memo | None,
) -> Report:
    """`run` for a partial state: its links completed from the live ones first.

    Unlike a whole node's run, a scoped one changes nothing when anything conflicts.

    The observer and the diff both take the links that stay from the desired state
    (`scoped_basis`), so both are given the completed one.
    """
    with open_session(target, memo=memo) as session:
        with _collector_paused():
            session.refresh_links()
            held = host.load_state(target.root)
            own = Ownership.from_state(held)  # the one policy, for all three steps
            basis, conflicts = scoped_basis(state, session.links(), scope, own)
            observed = observe_with(session, basis, state=held, own=own)
            delta = diff(basis, observed, ownership=own, scope=scope)
        if conflicts:
            delta = dataclasses.replace(delta, conflicts=(*conflicts, *delta.conflicts))
        if check:
            return Report(node=state.node, target=target, check=True, delta=delta)
        if delta.conflicts:  # all or nothing: the caller named these objects together
            result = ApplyResult(conflicts=delta.conflicts, notes=delta.notes)
        else:
            result = apply_with(session, delta, progress)
        return Report(node=state.node, target=target, check=False, delta=delta, result=result)
