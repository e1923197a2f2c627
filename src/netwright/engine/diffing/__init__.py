"""Diff: desired state against observed state, as a `Delta` of changes. Pure.

Why it exists: deciding what to change is the part of the engine worth testing
exhaustively, so it takes two values and returns one, without I/O. `apply` then
only carries the decisions out.

What it must not do: touch the kernel or the disk, change or delete anything that
`Ownership` does not grant to netwright, or overwrite a foreign object: a foreign
object at a desired key becomes a `Conflict` naming both, and nothing that depends
on it is planned.

How: one step per kind of object, in `STEPS`, each a function of the diff's
`Context` (its module says what is hard about its kind). The link step runs first:
the others depend on which links go and which names foreign links hold. Adding a
kind of object is adding one step to the table (and the kind to `changes.KINDS`,
which orders the changes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netwright.engine.changes import Delta
from netwright.engine.diffing._plan import Context
from netwright.engine.diffing.addresses import diff_addresses
from netwright.engine.diffing.entries import diff_fdb, diff_neighbours
from netwright.engine.diffing.host_objects import diff_bird, diff_file_step, diff_nft, diff_sysctls
from netwright.engine.diffing.links import diff_links
from netwright.engine.diffing.routes import diff_routes

# Re-exported where callers have always found it (the Ansible collection's tests).
from netwright.engine.scope import scoped_basis

if TYPE_CHECKING:
    from collections.abc import Callable

    from netwright.engine.observing import ObservedState
    from netwright.engine.ownership import Ownership
    from netwright.engine.scope import Scope
    from netwright.model.state import NodeState

__all__ = ["STEPS", "diff", "scoped_basis"]

#: The steps of a diff, in the order they run: (the kind, or kinds, it plans; step).
STEPS: tuple[tuple[str, Callable[[Context], None]], ...] = (
    ("link", diff_links),
    ("address", diff_addresses),
    ("route, nexthop", diff_routes),
    ("neighbour", diff_neighbours),
    ("fdb", diff_fdb),
    ("sysctl", diff_sysctls),
    ("nft", diff_nft),
    ("file", diff_file_step),
    ("bird", diff_bird),
)


def diff(
    desired: NodeState,
    observed: ObservedState,
    *,
    ownership: Ownership | None = None,
    scope: Scope | None = None,
) -> Delta:
    """The changes that turn `observed` into `desired`, touching only what netwright owns.

    `ownership` defaults to the policy the observer read (`observed.ownership`).
    With a `scope`, `desired` is partial (see `Scope`; its links completed by
    `scoped_basis`, which the observer must have been given too): only the scoped
    kinds are planned.
    """
    unrecorded = observed.unrecorded
    if not unrecorded.empty and unrecorded.basis is not desired:
        raise ValueError("diff: `observed` was observed for another desired state")
    own = ownership or observed.ownership
    ctx = Context(desired=desired, observed=observed, own=own, scope=scope)
    for _kinds, step in STEPS:
        step(ctx)
    links = observed.links
    settled = frozenset(
        name
        for name in observed.pending_links
        if (rec := links.get(name)) is None or not own.unmarked(rec)
    )
    plan = ctx.plan
    return Delta(
        changes=plan.ordered(),
        conflicts=tuple(plan.conflicts),
        notes=tuple(plan.notes),
        settled_links=settled,
    )
