"""A plan: the `Change`s, `Conflict`s and notes a diff produces, as values.

Why it exists: the diff builds a `Delta`, apply carries it out, and every front end
prints it or turns it into JSON; all three share these types, so they sit below
each of them. A change says what happens to one object (or, as a summary, to many
that go in one batch); how it reads is `netwright.engine._text`'s business.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from netwright.engine import _json, _text
from netwright.kernel.records import EntrySet, NexthopSet, RouteSet

if TYPE_CHECKING:
    from collections.abc import Hashable

#: Kinds in dependency order: adds go forward, deletes backward.
KINDS = ("link", "address", "nexthop", "route", "neighbour", "fdb", "sysctl", "nft", "file", "bird")
#: The key of the one change that deletes the routes through deleted nexthops.
DEPARTING = "through deleted nexthops"


class Op(StrEnum):
    ADD = "add"
    CHANGE = "change"
    DELETE = "delete"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One planned change. `before`/`after` are model values (or kernel records)."""

    op: Op
    kind: str
    key: Hashable
    before: Any = None
    after: Any = None
    #: For routes: the nexthop object the route goes through (0: a plain route).
    nhid: int = 0
    #: Vanishes with its link or nexthop: shown, but apply sends nothing for it.
    implied: bool = False
    #: For a change: the fields that differ.
    fields: tuple[str, ...] = ()
    #: Objects this change stands for: > 1 only for a summary, either an implied
    #: delete of what goes with a deleted link (`key` is then the link's name,
    #: `before` that link's objects of the kind by key: a `RouteSet`, `NexthopSet`
    #: or `EntrySet`, or None when only counted), the routes deleted before the
    #: nexthops they go through (`before` a `RouteSet`, then a `NexthopSet` for
    #: those nexthops), or the entries of peers that left on a VTEP that stays
    #: (`before` an `EntrySet`, `key` the VTEP's name).
    count: int = 1

    @property
    def summary(self) -> bool:
        """Stands for `count` objects, not one (it may be 1 of them)."""
        return (self.before is None and self.after is None) or isinstance(
            self.before, RouteSet | NexthopSet | EntrySet
        )

    def __str__(self) -> str:
        return _text.change_line(self)


_CHANGE_FIELDS = ("op", "kind", "key", "before", "after", "nhid", "implied", "fields", "count")
assert tuple(f.name for f in dataclasses.fields(Change)) == _CHANGE_FIELDS
_NEW = object.__new__
_SET = tuple(Change.__dict__[name].__set__ for name in _CHANGE_FIELDS)


def added(kind: str, key: Hashable, after: Any, nhid: int = 0) -> Change:
    """`Change(op=Op.ADD, kind=kind, key=key, after=after, nhid=nhid)` in half the time.

    A first apply builds one per object (10,000 for 5,000 host-gw peers), and a
    frozen dataclass's `__init__` goes through `object.__setattr__` per field; this
    sets the slots directly. A unit test keeps the two equal.
    """
    c = _NEW(Change)
    s_op, s_kind, s_key, s_before, s_after, s_nhid, s_implied, s_fields, s_count = _SET
    s_op(c, Op.ADD)
    s_kind(c, kind)
    s_key(c, key)
    s_before(c, None)
    s_after(c, after)
    s_nhid(c, nhid)
    s_implied(c, False)  # noqa: FBT003 - a slot setter takes its value positionally
    s_fields(c, ())
    s_count(c, 1)
    return c


@dataclass(frozen=True, kw_only=True, slots=True)
class Conflict:
    """A foreign object where netwright's must go; never overwritten."""

    kind: str
    key: Hashable
    ours: str
    theirs: str

    def __str__(self) -> str:
        return f"{self.ours}: conflicts with {self.theirs}, which netwright does not own"


@dataclass(frozen=True, kw_only=True, slots=True)
class Delta:
    """The changes that make observed equal desired, in the order they must happen."""

    changes: tuple[Change, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    notes: tuple[str, ...] = ()
    #: Links netwright's state file lists as being created that need that record no
    #: more (found marked, absent, or not as recorded): apply drops them from it.
    #: Bookkeeping, not a change: it leaves `empty` alone.
    settled_links: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for c in self.changes:
            counts[str(c.op)] += c.count
        return {str(op): counts.get(str(op), 0) for op in Op} | {"conflict": len(self.conflicts)}

    def by_kind(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for c in self.changes:
            out.setdefault(c.kind, {}).setdefault(str(c.op), 0)
            out[c.kind][str(c.op)] += c.count
        return out

    def lines(self, *, verbose: bool = False) -> list[str]:
        """The diff for people: one `+`/`-`/`~` line per change, then conflicts and notes.

        A summary change (routes, nexthops or entries deleted in one batch) lists
        its objects by key below its line when it stands for few of them
        (`_text.LIST_AT_MOST`), or always with `verbose` (the CLI's `-v`).
        """
        out: list[str] = []
        for c in self.changes:
            out.extend(_text.change_lines(c, verbose=verbose))
        out.extend(f"! {c}" for c in self.conflicts)
        out.extend(f"# {n}" for n in self.notes)
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain JSON; every summary change lists its objects by key ("objects")."""
        return {
            "summary": self.summary(),
            "changes": [_json.change_json(c, objects=True) for c in self.changes],
            "conflicts": [
                {"kind": c.kind, "key": _text.key_text(c.kind, c.key), "message": str(c)}
                for c in self.conflicts
            ],
            "notes": list(self.notes),
        }
