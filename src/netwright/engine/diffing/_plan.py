"""The diff's working state: the plan being built and what each step tells the next.

Why it exists: `diff` runs one step per kind of object (`netwright.engine.diffing`'s
table); they share the ownership policy, the plan they add changes to, and what
the link step found (links that go, names held by foreign links). `Context` holds
that, so a step is a function of one argument and adding a kind adds one step.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netwright.engine import _text
from netwright.engine.changes import KINDS, Change, Conflict, Op

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable, Mapping

    from netwright.engine.observing import ObservedState
    from netwright.engine.ownership import Ownership
    from netwright.engine.scope import Scope
    from netwright.kernel.records import LinkRecord
    from netwright.model.state import NodeState

#: First id tried for a new nexthop object ("nw"); taken ids are skipped.
NHID_BASE = 0x6E770001
FIRST = operator.itemgetter(0)


@dataclass(kw_only=True)
class Plan:
    """The changes, conflicts and notes found so far, changes by (kind, op)."""

    changes: dict[tuple[str, str], list[Change]] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def put(self, change: Change) -> None:
        # Keyed by the op itself: a StrEnum hashes and compares as its string.
        self.changes.setdefault((change.kind, change.op), []).append(change)

    def put_adds(self, kind: str, adds: list[Change]) -> None:
        """Adds built in bulk with `changes.added`, in their order."""
        if adds:
            self.changes.setdefault((kind, Op.ADD), []).extend(adds)

    def add(self, kind: str, key: Hashable, after: Any, **kw: Any) -> None:
        self.put(Change(op=Op.ADD, kind=kind, key=key, after=after, **kw))

    def delete(self, kind: str, key: Hashable, before: Any, **kw: Any) -> None:
        self.put(Change(op=Op.DELETE, kind=kind, key=key, before=before, **kw))

    def change(self, kind: str, key: Hashable, before: Any, after: Any, **kw: Any) -> None:
        self.put(Change(op=Op.CHANGE, kind=kind, key=key, before=before, after=after, **kw))

    def conflict(self, kind: str, key: Hashable, ours: str, theirs: str) -> None:
        self.conflicts.append(Conflict(kind=kind, key=key, ours=ours, theirs=theirs))

    def keep_implied(self, kind: str) -> None:
        """Drop the deletes of `kind` but those that go with a deleted link."""
        bucket = self.changes.get((kind, Op.DELETE))
        if bucket:
            self.changes[kind, Op.DELETE] = [c for c in bucket if c.implied]

    def ordered(self) -> tuple[Change, ...]:
        def take(kind: str, op: Op) -> list[Change]:
            items = self.changes.get((kind, str(op)), [])
            if op is not Op.DELETE:
                return items
            one = [c for c in items if not c.summary]
            summaries = [c for c in items if c.summary]
            return [
                *sorted(one, key=lambda c: _text.sort_key(c.kind, c.key)),
                *sorted(summaries, key=lambda c: str(c.key)),
            ]

        out: list[Change] = []
        for kind in reversed(KINDS):
            if kind != "nexthop":
                out.extend(take(kind, Op.DELETE))
        for kind in KINDS:
            out.extend(take(kind, Op.CHANGE))
            out.extend(take(kind, Op.ADD))
        # Last: a nexthop delete takes its routes along, so routes move off it first.
        out.extend(take("nexthop", Op.DELETE))
        return tuple(out)


class Ids:
    """Fresh nexthop ids: never one the namespace already uses (ours or not)."""

    def __init__(self, used: Iterable[int]) -> None:
        self._used = set(used)
        self._next = NHID_BASE

    def take(self) -> int:
        while self._next in self._used:
            self._next += 1
        self._used.add(self._next)
        return self._next


@dataclass(kw_only=True)
class Context:
    """One diff's inputs and what its steps found, for the steps after them."""

    desired: NodeState
    observed: ObservedState
    own: Ownership
    scope: Scope | None
    plan: Plan = field(default_factory=Plan)
    #: Owned links deleted or re-created: what hangs on them vanishes (link step).
    gone: set[str] = field(default_factory=set)
    #: Desired link names held by foreign links (link step).
    blocked: set[str] = field(default_factory=set)
    #: Files the file step adds or changes (BIRD reloads after its config's).
    changed_files: set[str] = field(default_factory=set)

    @property
    def links(self) -> Mapping[str, LinkRecord]:
        return self.observed.links

    def planned(self, kind: str) -> bool:
        """The step for `kind` plans anything at all in this run."""
        return self.scope is None or self.scope.covers(kind)

    def devs(self) -> set[str]:
        """Where netwright may put addresses: desired links not held by foreign ones."""
        return {lk.name for lk in self.desired.links} - self.blocked

    def entry_devs(self) -> set[str]:
        """Where netwright may put neighbour and fdb entries (a scoped run: its VTEPs)."""
        devs = self.devs()
        if self.scope is None:
            return devs
        links, own = self.links, self.own
        return {d for d in devs if (r := links.get(d)) is None or own.vtep(r)}

    def dev_problem(self, kind: str, key: Hashable, obj: Any, dev: str, devs: set[str]) -> bool:
        """True if `dev` cannot take netwright's object (a conflict is recorded unless blocked)."""
        if dev in devs:
            return False
        if dev not in self.blocked:
            ours = _text.text(kind, obj)
            rec = self.links.get(dev)
            theirs = (
                f"existing link {dev}"
                if rec is not None
                else f"link {dev}, absent from the desired links"
            )
            if self.scope is not None:  # entries only: a scoped run names links it does not plan
                theirs = (
                    f"existing link {dev} (not one of netwright's VXLAN devices)"
                    if rec is not None
                    else f"link {dev}, which does not exist"
                )
            self.plan.conflict(kind, key, ours, theirs)
        return True
