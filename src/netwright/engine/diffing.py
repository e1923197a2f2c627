"""Diff: desired state against observed state, as a `Delta` of changes. Pure.

Why it exists: deciding what to change is the part of the engine worth testing
exhaustively, so it takes two values and returns one, without I/O (`STYLE.md`
section 2). `apply` then only carries the decisions out.

What it must not do: touch the kernel or the disk, change or delete anything that
`Ownership` does not grant to netwright, or overwrite a foreign object: a foreign
object at a desired key becomes a `Conflict` naming both, and nothing that depends
on it is planned.

The hard cases, each handled below:

- A link whose kind or vxlan settings differ cannot be changed in place (the kernel
  refuses to change a VNI or port of a live VTEP): it is deleted and created again,
  and everything the kernel hangs on it (addresses, routes, neighbours, fdb,
  nexthops) vanishes with it. Such objects are planned as adds if still desired,
  and listed as `implied` deletes if not, which apply does not send.
- Routes with a gateway go through nexthop objects (LAB-NOTES gotcha 15: the fib_info
  hash ignores the gateway, so plain routes cost O(n^2) at thousands of peers).
  Nexthop ids are chosen here, never reused from foreign objects; an existing
  netwright nexthop with the same gateway, device and onlink flag is shared; one
  that no remaining route uses is deleted last (after routes moved off it). The
  routes at no desired key through such nexthops are deleted explicitly before
  them, as one summary change (`RouteSet`, from the observer): a nexthop delete that takes
  routes along makes the kernel walk the whole FIB (`__remove_nexthop_fib` ->
  `fib_flush`) once per nexthop, O(n^2) at thousands of peers (5,000: 102 ms, against
  62 ms for routes first, then nexthops). Routes that reach the diff as records
  through such a nexthop are still implied deletes. A nexthop that a foreign route
  uses is never deleted. An equal route that is plain, not by nexthop, is left alone.
- An IPv6 route's metric 0 is stored as 1024 (`Route.key` normalises it).
- Sysctls are never deleted, only set; a missing optional one is a note, not a change.
- Files compare by the digest of their materialised content (secrets in clear), and
  their old content is shown only when it cannot hold a secret.
- A group or owner that does not exist on the host: the file is written as root
  (so said in the notes), and compared as root, so that a second run is a no-op.
"""

from __future__ import annotations

import dataclasses
import operator
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from netwright.engine import _render
from netwright.kernel import host
from netwright.kernel.records import EntrySet, Nexthop, NexthopSet, RouteSet
from netwright.model.state import (
    LINK_ALIAS,
    NFT_FAMILY,
    NFT_TABLE,
    RT_PROTO_NETWRIGHT,
    Address,
    File,
    Sysctl,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence

    from netwright.engine.observing import ObservedState
    from netwright.kernel.records import LinkRecord, NexthopRecord, RouteRecord
    from netwright.model.state import Link, NodeState, Route

#: Kinds in dependency order: adds go forward, deletes backward.
KINDS = ("link", "address", "nexthop", "route", "neighbour", "fdb", "sysctl", "nft", "file", "bird")
#: The key of the one change that deletes the routes through deleted nexthops.
DEPARTING = "through deleted nexthops"
#: First id tried for a new nexthop object ("nw"); taken ids are skipped.
NHID_BASE = 0x6E770001


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
        return _render.change_line(self)


_CHANGE_FIELDS = ("op", "kind", "key", "before", "after", "nhid", "implied", "fields", "count")
assert tuple(f.name for f in dataclasses.fields(Change)) == _CHANGE_FIELDS
_NEW = object.__new__
_SET = tuple(Change.__dict__[name].__set__ for name in _CHANGE_FIELDS)


def _added(kind: str, key: Hashable, after: Any, nhid: int = 0) -> Change:
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
        (`_render.LIST_AT_MOST`), or always with `verbose` (the CLI's `-v`).
        """
        out: list[str] = []
        for c in self.changes:
            out.extend(_render.change_lines(c, verbose=verbose))
        out.extend(f"! {c}" for c in self.conflicts)
        out.extend(f"# {n}" for n in self.notes)
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain JSON; every summary change lists its objects by key ("objects")."""
        return {
            "summary": self.summary(),
            "changes": [_render.change_json(c, objects=True) for c in self.changes],
            "conflicts": [
                {"kind": c.kind, "key": _render.key_text(c.kind, c.key), "message": str(c)}
                for c in self.conflicts
            ],
            "notes": list(self.notes),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Ownership:
    """What netwright may change or delete on a node (`DESIGN.md`, Ownership on the host).

    Routes and nexthop objects of its protocol; links carrying its alias, and
    links without any alias that its state file lists as being created, by name and
    kind (`links`: a run killed between a link's create and its alias left them so,
    `host.State`); neighbour and fdb entries on its VTEPs; its own nft table; the
    files its state file lists. Everything else is read-only.
    """

    protocol: int = RT_PROTO_NETWRIGHT
    alias: str = LINK_ALIAS
    nft_table: tuple[str, str] = (NFT_FAMILY, NFT_TABLE)
    files: frozenset[str] = frozenset()
    #: Links being created, name -> kind, from netwright's state file.
    links: Mapping[str, str] = field(default_factory=dict)

    def link(self, rec: LinkRecord) -> bool:
        if rec.alias == self.alias:
            return True
        return not rec.alias and self.links.get(rec.link.name) == rec.link.kind

    def unmarked(self, rec: LinkRecord) -> bool:
        """netwright's link still without its alias (the diff gives it one)."""
        return rec.alias != self.alias and self.link(rec)

    def vtep(self, rec: LinkRecord) -> bool:
        return self.link(rec) and rec.link.kind == "vxlan"

    def route(self, rec: RouteRecord) -> bool:
        return rec.protocol == self.protocol

    def nexthop(self, rec: NexthopRecord) -> bool:
        return rec.protocol == self.protocol

    def nft(self, family: str, name: str) -> bool:
        return (family, name) == self.nft_table

    def file(self, path: str) -> bool:
        return path in self.files


#: The kinds a `Scope` may name (a route scope covers its nexthop objects too).
SCOPE_KINDS = frozenset({"link", "route", "neighbour", "fdb", "sysctl", "nft", "file", "bird"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Scope:
    """A partial desired state: only objects of `kinds` are planned, as listed.

    Why it exists: the fine-grained Ansible modules (`link`, `route`, ...) each state
    some objects of one kind, not a whole node. With a scope, the diff plans changes
    for the scoped kinds only, and nothing for the others: no implied deletion of a
    link, route, file or table merely because the partial state does not list it.

    - present (`absent` False): the listed objects are made to exist as given;
      netwright's objects of the kind that are not listed stay, unless `purge`.
    - `purge`: netwright's objects of the kind that are not listed are deleted too
      (files only under `file_dirs`: a conflist purge must not take BIRD's file).
    - `absent`: the listed objects are deleted where they are netwright's; a foreign
      one at a listed key is a conflict, and stays.

    Sysctls are never deleted (`absent` and `purge` do nothing to them); a link that
    must be re-created (another kind, another VNI) still takes what hangs on it along.
    """

    kinds: frozenset[str]
    purge: bool = False
    absent: bool = False
    #: For `purge` of files: the directories whose netwright files may be removed.
    file_dirs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kinds))  # a set given is fine
        unknown = sorted(set(self.kinds) - SCOPE_KINDS)
        if unknown or not self.kinds:
            raise ValueError(
                f"Scope: unknown kinds {unknown}; allowed {sorted(SCOPE_KINDS)}"
                if unknown
                else "Scope: no kinds"
            )
        if self.purge and self.absent:
            raise ValueError("Scope: `purge` goes with present, not with `absent`")

    def covers(self, kind: str) -> bool:
        return kind in self.kinds

    @property
    def present(self) -> bool:
        return not self.absent

    def purges(self, kind: str) -> bool:
        """Unlisted objects of `kind` are deleted (the default, unscoped, behaviour)."""
        return self.purge and kind in self.kinds

    def under(self, path: str) -> bool:
        return any(path.startswith(d.rstrip("/") + "/") for d in self.file_dirs)


def scoped_basis(
    partial: NodeState,
    links: Mapping[str, LinkRecord],
    scope: Scope,
    own: Ownership | None = None,
) -> tuple[NodeState, tuple[Conflict, ...]]:
    """The desired state a scoped run observes and diffs, from the listed objects.

    The observer and the diff decide from the desired links which links go (and take
    their routes and entries along), so the links are completed from the live ones
    netwright owns: kept as they are unless the scope is links' own and says
    otherwise (`purge` drops the unlisted, `absent` the listed). A listed link that
    is foreign is a conflict in absent mode (present mode finds it in the diff).
    Everything else is as listed.
    """
    own = own or Ownership()
    owned = {name: rec.link for name, rec in links.items() if own.link(rec)}
    conflicts: list[Conflict] = []
    if not scope.covers("link"):
        keep = dict(owned)
    elif scope.absent:
        listed = {lk.name for lk in partial.links}
        keep = {n: lk for n, lk in owned.items() if n not in listed}
        for lk in partial.links:
            rec = links.get(lk.name)
            if rec is not None and not own.link(rec):
                conflicts.append(
                    Conflict(
                        kind="link",
                        key=lk.key,
                        ours=f"delete {_render.text('link', lk)}",
                        theirs="existing " + _render.text("link", rec.link),
                    )
                )
    else:
        keep = {lk.name: lk for lk in partial.links}
        if not scope.purge:
            keep = {n: lk for n, lk in owned.items() if n not in keep} | keep
    return dataclasses.replace(partial, links=tuple(keep.values())), tuple(conflicts)


def _keep_implied(plan: _Plan, kind: str) -> None:
    """Without purge: drop the deletes of `kind` but those that go with a deleted link."""
    bucket = plan.changes.get((kind, Op.DELETE))
    if bucket:
        plan.changes[kind, Op.DELETE] = [c for c in bucket if c.implied]


@dataclass(kw_only=True)
class _Plan:
    changes: dict[tuple[str, str], list[Change]] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def put(self, change: Change) -> None:
        # Keyed by the op itself: a StrEnum hashes and compares as its string.
        self.changes.setdefault((change.kind, change.op), []).append(change)

    def put_adds(self, kind: str, adds: list[Change]) -> None:
        """Adds built in bulk with `_added`, in their order."""
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

    def ordered(self) -> tuple[Change, ...]:
        def take(kind: str, op: Op) -> list[Change]:
            items = self.changes.get((kind, str(op)), [])
            if op is not Op.DELETE:
                return items
            one = [c for c in items if not c.summary]
            summaries = [c for c in items if c.summary]
            return [
                *sorted(one, key=lambda c: _render.sort_key(c.kind, c.key)),
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


_FIRST = operator.itemgetter(0)


def _set_size(objects: RouteSet | NexthopSet | EntrySet) -> int:
    if isinstance(objects, RouteSet):
        return len(objects.keys)
    if isinstance(objects, NexthopSet):
        return len(objects.ids)
    return len(objects.entries)


def vanishing_links(
    desired: NodeState, links: Mapping[str, LinkRecord], own: Ownership | None = None
) -> set[str]:
    """The links `diff` deletes (owned, and undesired or to be re-created): what the
    kernel hangs on them goes with them. The observer asks, to keep those objects
    by key instead of recording them; `diff` decides with the same function."""
    own = own or Ownership()
    wanted = {lk.name: lk for lk in desired.links}
    out = set()
    for name, rec in links.items():
        if not own.link(rec):
            continue
        want = wanted.get(name)
        if want is None or _link_recreate(want, rec.link):
            out.add(name)
    return out


def _link_recreate(want: Link, have: Link) -> bool:
    if want.kind != have.kind:
        return True
    if want.vxlan is None:
        return False
    return want.vxlan != have.vxlan


def _link_fields(want: Link, have: Link) -> tuple[str, ...]:
    fields = []
    if want.mtu is not None and want.mtu != have.mtu:
        fields.append("mtu")
    if want.mac is not None and want.mac.lower() != (have.mac or "").lower():
        fields.append("mac")
    if want.up != have.up:
        fields.append("up")
    return tuple(fields)


def _route_fields(want: Route, rec: RouteRecord) -> tuple[str, ...]:
    have = rec.route
    fields = []
    if not rec.unicast:
        fields.append("type")
    if want.gateway != have.gateway:
        fields.append("gateway")
    if want.dev is not None and want.dev != have.dev:
        fields.append("dev")
    if want.onlink != have.onlink:
        fields.append("onlink")
    if want.src != have.src:
        fields.append("src")
    return tuple(fields)


def _norm_sysctl(value: str) -> str:
    return " ".join(value.split())


class _Ids:
    """Fresh nexthop ids: never one the namespace already uses (ours or not)."""

    def __init__(self, used: Iterable[int]) -> None:
        self._used = set(used)
        self._next = NHID_BASE

    def take(self) -> int:
        while self._next in self._used:
            self._next += 1
        self._used.add(self._next)
        return self._next


def diff(
    desired: NodeState,
    observed: ObservedState,
    *,
    ownership: Ownership | None = None,
    scope: Scope | None = None,
) -> Delta:
    """The changes that turn `observed` into `desired`, touching only what netwright owns.

    With a `scope`, `desired` is partial (see `Scope`; its links completed by
    `scoped_basis`, which the observer must have been given too): only the scoped
    kinds are planned.
    """
    own = ownership or Ownership(files=observed.owned_files, links=observed.pending_links)
    synced = (
        observed.synced_routes
        or observed.synced_neighbours
        or observed.synced_fdb
        or observed.vanishing
        or observed.departing_routes
        or observed.departing_entries
    )
    if synced and observed.basis is not desired:
        raise ValueError("diff: `observed` was observed for another desired state")
    plan = _Plan()
    links = observed.links

    # --- links
    gone: set[str] = set()  # owned links deleted or re-created: their dependants vanish
    blocked: set[str] = set()  # desired names held by foreign links
    wanted_links = {lk.name: lk for lk in desired.links}
    for link in desired.links if scope is None or scope.covers("link") else ():
        rec = links.get(link.name)
        if rec is None:
            plan.add("link", link.key, link)
        elif not own.link(rec):
            blocked.add(link.name)
            plan.conflict(
                "link",
                link.key,
                _render.text("link", link),
                "existing " + _render.text("link", rec.link),
            )
        elif _link_recreate(link, rec.link):
            gone.add(link.name)
            plan.delete("link", link.key, rec.link, fields=("kind", "vxlan"))
            plan.add("link", link.key, link)
        elif own.unmarked(rec):
            # Created by a run killed before it set the alias: every link change sets
            # the alias, so this one may have no other field.
            fields = _link_fields(link, rec.link)
            plan.change("link", link.key, rec.link, link, fields=fields)
            plan.notes.append(
                f"link {link.name}: left without netwright's alias by an interrupted run;"
                " apply gives it the alias"
            )
        elif fields := _link_fields(link, rec.link):
            plan.change("link", link.key, rec.link, link, fields=fields)
    for name, rec in sorted(links.items()) if scope is None or scope.covers("link") else ():
        if own.link(rec) and name not in wanted_links:
            gone.add(name)
            plan.delete("link", name, rec.link)
    devs = set(wanted_links) - blocked  # where netwright may put addresses and entries
    for (dev, kind), going in sorted(observed.vanishing.items(), key=_FIRST):
        if dev not in gone:
            raise ValueError(f"diff: `observed` gave {kind}s on link {dev} as vanishing")
        if isinstance(going, int):  # counted only: the summary names none
            plan.delete(kind, dev, None, implied=True, count=going)
        else:
            plan.delete(kind, dev, going, implied=True, count=_set_size(going))

    def dev_problem(kind: str, key: Hashable, obj: Any, dev: str) -> bool:
        """True if `dev` cannot take netwright's object (a conflict is recorded unless blocked)."""
        if dev in devs:
            return False
        if dev not in blocked:
            ours = _render.text(kind, obj)
            rec = links.get(dev)
            theirs = (
                f"existing link {dev}"
                if rec is not None
                else f"link {dev}, absent from the desired links"
            )
            if scope is not None:  # entries only: a scoped run names links it does not plan
                theirs = (
                    f"existing link {dev} (not one of netwright's VXLAN devices)"
                    if rec is not None
                    else f"link {dev}, which does not exist"
                )
            plan.conflict(kind, key, ours, theirs)
        return True

    # --- addresses
    have_addr = {
        (a.dev, a.address): a
        for a in observed.addresses
        if a.dev in links and own.link(links[a.dev]) and not a.link_local
    }
    want_addr: set[Hashable] = set()
    if scope is not None:  # no address is ever scoped: only those of deleted links go
        have_addr = {k: r for k, r in have_addr.items() if r.dev in gone}
    for a in desired.addresses:
        want_addr.add(a.key)
        if dev_problem("address", a.key, a, a.dev):
            continue
        if a.key in have_addr and a.dev not in gone:
            continue
        plan.add("address", a.key, a)
    for akey, arec in have_addr.items():
        if akey not in want_addr:
            plan.delete(
                "address",
                akey,
                Address(dev=arec.dev, address=arec.address),
                implied=arec.dev in gone,
            )

    # --- nexthops and routes
    if scope is None or scope.purges("route"):
        _diff_routes(desired, observed=observed, own=own, plan=plan, gone=gone, blocked=blocked)
    elif scope.covers("route"):
        _diff_routes_scoped(desired, observed=observed, own=own, plan=plan, scope=scope)

    if scope is not None:
        # Entries go on netwright's VTEPs only; a scoped run may name any link.
        devs = {d for d in devs if (r := links.get(d)) is None or own.vtep(r)}
        if scope.absent:
            _diff_entries_absent(desired, observed=observed, own=own, plan=plan, scope=scope)

    # --- neighbours and fdb (on netwright's VTEPs)
    if scope is None or scope.present:
        have_n = {
            r.neighbour.key: r
            for r in observed.neighbours
            if r.neighbour.dev in links and own.vtep(links[r.neighbour.dev])
        }
        want_n: set[Hashable] = set()
        synced_n = observed.synced_neighbours
        n_adds: list[Change] = []
        for i, n in enumerate(desired.neighbours):
            if synced_n and i in synced_n and n.dev in devs and n.dev not in gone:
                continue  # in place and equal (the observer's no-op fast path)
            nkey = n.key
            if have_n:
                want_n.add(nkey)
            if n.dev not in devs and dev_problem("neighbour", nkey, n, n.dev):
                continue
            nrec = have_n.get(nkey) if have_n else None
            if nrec is None or n.dev in gone:
                n_adds.append(_added("neighbour", nkey, n))
            elif not nrec.permanent or nrec.neighbour.mac != n.mac.lower():
                fields = tuple(
                    f
                    for f, bad in (
                        ("mac", nrec.neighbour.mac != n.mac.lower()),
                        ("state", not nrec.permanent),
                    )
                    if bad
                )
                plan.change("neighbour", n.key, nrec.neighbour, n, fields=fields)
        plan.put_adds("neighbour", n_adds)
        # Only permanent entries are ever deleted: a VTEP's kernel-made ones (IPv6
        # multicast, say) must not make a no-op hash every synced key below.
        stale_n = [(k, r) for k, r in have_n.items() if k not in want_n and r.permanent]
        for entries in observed.departing_entries:
            # Entries of peers that left, from the observer, in wire form: one change each.
            rec = links.get(entries.dev)
            if rec is None or not own.vtep(rec) or entries.dev in gone:
                raise ValueError(f"diff: `observed` gave {entries.kind} entries on {entries.dev}")
            plan.delete(entries.kind, entries.dev, entries, count=len(entries.entries))
        if stale_n and synced_n:
            want_n.update(desired.neighbours[i].key for i in synced_n)
            stale_n = [(k, r) for k, r in stale_n if k not in want_n]
        for nkey, nrec in sorted(stale_n, key=lambda kv: _render.sort_key("neighbour", kv[0])):
            plan.delete("neighbour", nkey, nrec.neighbour, implied=nrec.neighbour.dev in gone)

        have_f = {
            r.entry.key: r
            for r in observed.fdb
            if r.entry.dev in links and own.vtep(links[r.entry.dev])
        }
        want_f: set[Hashable] = set()
        synced_f = observed.synced_fdb
        f_adds: list[Change] = []
        for i, f in enumerate(desired.fdb):
            if synced_f and i in synced_f and f.dev in devs and f.dev not in gone:
                continue  # in place and equal (the observer's no-op fast path)
            frec = None
            if have_f:
                fkey = (f.dev, f.mac.lower(), f.dst)
                want_f.add(fkey)
                frec = have_f.get(fkey)
            if f.dev not in devs and dev_problem("fdb", f.key, f, f.dev):
                continue
            if frec is None or f.dev in gone:
                f_adds.append(_added("fdb", f.key, f))
            elif not frec.permanent:
                plan.change("fdb", f.key, frec.entry, f, fields=("state",))
        plan.put_adds("fdb", f_adds)
        if synced_f and any(k not in want_f and r.permanent for k, r in have_f.items()):
            want_f.update((f.dev, f.mac.lower(), f.dst) for f in (desired.fdb[i] for i in synced_f))
        for fkey2, frec in have_f.items():
            if fkey2 not in want_f and frec.permanent:
                plan.delete("fdb", fkey2, frec.entry, implied=frec.entry.dev in gone)

    if scope is not None and scope.present:
        for kind in ("neighbour", "fdb"):
            if not scope.purges(kind):
                _keep_implied(plan, kind)

    # --- sysctls
    for s in desired.sysctls if scope is None or scope.present else ():
        current = observed.sysctls.get(s.name)
        if current is None:
            if s.optional:
                plan.notes.append(f"sysctl {s.name}: not in this kernel, skipped")
            else:
                plan.change("sysctl", s.key, None, s, fields=("value",))
        elif _norm_sysctl(current) != _norm_sysctl(s.value):
            plan.change("sysctl", s.key, Sysctl(name=s.name, value=current), s, fields=("value",))

    # --- nft
    nft = observed.nft
    if scope is not None and (not scope.covers("nft") or scope.absent):
        if scope.covers("nft") and nft is not None and own.nft(nft.family, nft.name):
            plan.delete("nft", (nft.family, nft.name), nft)
    elif desired.nft is not None:
        if nft is None:
            plan.add("nft", desired.nft.key, desired.nft)
        elif nft.digest != host.nft_digest(desired.nft):
            plan.change("nft", desired.nft.key, nft, desired.nft, fields=("rules",))
    elif nft is not None and own.nft(nft.family, nft.name):
        plan.delete("nft", (nft.family, nft.name), nft)

    # --- files, then BIRD
    if scope is None:
        changed_files = _diff_files(desired, observed, own, plan)
    elif scope.covers("file") and scope.absent:
        changed_files = _delete_files(desired, observed, own, plan)
    elif scope.covers("file"):
        changed_files = _diff_files(desired, observed, own, plan, scope=scope)
    else:
        changed_files = set()
    bird = desired.bird if scope is None or scope.covers("bird") else None
    if bird is not None and bird.config in changed_files:
        plan.change("bird", bird.socket, None, bird, fields=("config",))
    elif bird is not None and bird.config in observed.bird_pending:
        # Written by an earlier run, never loaded (BIRD down, or that run killed).
        plan.change("bird", bird.socket, None, bird, fields=("config",))
        plan.notes.append(f"bird {bird.socket}: reload of {bird.config} still pending")

    settled = frozenset(
        name
        for name in observed.pending_links
        if (rec := links.get(name)) is None or not own.unmarked(rec)
    )
    return Delta(
        changes=plan.ordered(),
        conflicts=tuple(plan.conflicts),
        notes=tuple(plan.notes),
        settled_links=settled,
    )


def _diff_routes(
    desired: NodeState,
    *,
    observed: ObservedState,
    own: Ownership,
    plan: _Plan,
    gone: set[str],
    blocked: set[str],
) -> None:
    use_nh = observed.nexthops is not None
    routes = desired.routes
    synced = observed.synced_routes
    owned_nh: dict[int, Nexthop] = {}
    for r in observed.nexthops or ():
        if own.nexthop(r) and r.nexthop is not None:
            owned_nh[r.id] = r.nexthop
    shared: dict[tuple[Any, str, bool], Nexthop] | None = None

    def share(key: tuple[Any, str, bool]) -> Nexthop | None:
        """An existing netwright nexthop for `key` (indexed on first use: a no-op needs none)."""
        nonlocal shared
        if shared is None:
            shared = {}
            found = list(owned_nh.values())
            for i, nhid in synced.items():  # a synced route's nexthop equals the route
                r = routes[i]
                if nhid and r.gateway is not None and r.dev is not None:
                    found.append(Nexthop(id=nhid, gateway=r.gateway, dev=r.dev, onlink=r.onlink))
            for nh in sorted(found, key=lambda n: n.id):
                if nh.dev not in gone:
                    shared.setdefault(nh.key, nh)
        return shared.get(key) if shared else None

    taken = observed.nexthop_ids
    ids = _Ids(taken if taken is not None else (r.id for r in observed.nexthops or ()))
    keep: set[int] = set()
    new: dict[tuple[Any, str, bool], Nexthop] = {}
    have = {r.route.key: r for r in observed.routes}
    want: set[Hashable] = set()

    # Thousands of routes on a first apply: with no route of the key's recorded
    # (`have` empty), keys need no hashing; a new nexthop's key is hashed twice.
    adds: list[Change] = []
    everything_in_place = len(synced) == len(routes) and not gone and not blocked
    if everything_in_place:  # a no-op: the loop below would only collect these
        keep.update(synced.values())
        keep.discard(0)
    for i, route in enumerate(() if everything_in_place else routes):
        in_place = synced.get(i) if synced else None
        if in_place is not None and route.dev not in gone and route.dev not in blocked:
            if in_place:  # the observer's no-op fast path: in place and equal
                keep.add(in_place)
            continue
        key = route.key
        if have:
            want.add(key)
        if route.dev is not None and route.dev in blocked:
            if in_place:
                keep.add(in_place)
            continue
        rec = have.get(key) if have else None
        if rec is not None and not own.route(rec):
            theirs = "existing " + _render.route_text(rec.route, proto=rec.protocol)
            plan.conflict("route", key, _render.text("route", route), theirs)
            continue
        vanished = in_place is not None or (rec is not None and rec.route.dev in gone)
        fields = () if rec is None or vanished else _route_fields(route, rec)
        if rec is not None and not vanished and not fields:
            if rec.nhid:
                keep.add(rec.nhid)
            continue
        nhid = 0
        gateway = route.gateway
        if use_nh and gateway is not None and route.dev is not None:
            nkey = (gateway, route.dev, route.onlink)
            found = new.get(nkey)
            if found is None:
                found = share(nkey)
                if found is None:
                    found = Nexthop(id=ids.take(), gateway=gateway, dev=route.dev, onlink=nkey[2])
                    new[nkey] = found
                else:
                    keep.add(found.id)
            nhid = found.id
        if rec is None or vanished:
            adds.append(_added("route", key, route, nhid))
        else:
            plan.change("route", key, rec.route, route, nhid=nhid, fields=fields)
    plan.put_adds("route", adds)
    plan.put_adds("nexthop", [_added("nexthop", nh.id, nh) for nh in new.values()])
    dropped: set[int] = set()
    for nhid, nh in sorted(owned_nh.items()):
        if nhid in keep:
            continue
        if nhid in observed.foreign_nexthop_users:
            plan.notes.append(
                f"{_render.text('nexthop', nh)}: kept, routes netwright does not own use it"
            )
            continue
        dropped.add(nhid)
        plan.delete("nexthop", nhid, nh, implied=nh.dev in gone)
    departing = observed.departing_routes
    if departing is not None:
        # The observer found these nexthops unused by any desired route, and gave
        # them no record: they must not be among those the diff keeps or knows.
        if stays := sorted(departing.nexthops & (keep | owned_nh.keys())):
            raise ValueError(f"diff: `observed` gave routes via nexthops {stays}, which stay")
        plan.delete("route", DEPARTING, departing, count=len(departing.keys))
        plan.delete(
            "nexthop",
            DEPARTING,
            NexthopSet(ids=departing.nexthops, vias=departing.vias),
            count=len(departing.nexthops),
        )
    if synced and any(own.route(rec) and key not in want for key, rec in have.items()):
        want.update(routes[i].key for i in synced)
    for key, rec in have.items():
        if own.route(rec) and key not in want:
            implied = rec.route.dev in gone or rec.nhid in dropped
            plan.delete("route", key, rec.route, nhid=rec.nhid, implied=implied)


def _diff_files(
    desired: NodeState,
    observed: ObservedState,
    own: Ownership,
    plan: _Plan,
    *,
    scope: Scope | None = None,
) -> set[str]:
    changed: set[str] = set()
    wanted = set()
    for f in desired.files:
        wanted.add(f.path)
        target = _effective(f, observed, plan)
        rec = observed.files.get(f.path)
        if rec is not None and f.secrets:
            rec = dataclasses.replace(rec, text=None)
        if rec is None:
            plan.add("file", f.path, target)
            changed.add(f.path)
            continue
        if not rec.regular:
            plan.conflict(
                "file", f.path, _render.text("file", target), f"existing non-regular file {f.path}"
            )
            continue
        fields = tuple(
            name
            for name, differs in (
                ("content", rec.digest != host.content_digest(f)),
                ("mode", rec.mode != target.mode),
                ("owner", rec.owner != target.owner),
                ("group", rec.group != target.group),
            )
            if differs
        )
        if not fields:
            if not own.file(f.path):
                # Exactly what netwright would write (written before netwright recorded
                # its files ahead, or a copy put in place by hand): adopted, that is
                # recorded as netwright's; a change without fields, which writes nothing.
                plan.change("file", f.path, rec, target)
                plan.notes.append(f"file {f.path}: as netwright would write it; adopted")
            continue
        if not own.file(f.path):
            plan.conflict(
                "file",
                f.path,
                _render.text("file", target),
                f"existing file {f.path} ({', '.join(fields)} differ)",
            )
            continue
        plan.change("file", f.path, rec, target, fields=fields)
        changed.add(f.path)
    for path in sorted(observed.owned_files - wanted):
        if scope is None or (scope.purge and scope.under(path)):
            plan.delete("file", path, observed.files.get(path))
    return changed


def _delete_files(
    desired: NodeState, observed: ObservedState, own: Ownership, plan: _Plan
) -> set[str]:
    """Scoped, absent: the listed files netwright wrote go; a foreign one is a conflict."""
    for f in desired.files:
        rec = observed.files.get(f.path)
        if rec is None:
            continue
        if own.file(f.path):
            plan.delete("file", f.path, rec)
        else:
            plan.conflict("file", f.path, f"delete file {f.path}", f"existing file {f.path}")
    return set()


def _diff_routes_scoped(
    desired: NodeState,
    *,
    observed: ObservedState,
    own: Ownership,
    plan: _Plan,
    scope: Scope,
) -> None:
    """Routes of a scope that does not purge: the listed ones, added, changed or deleted.

    Present: as `_diff_routes` for the listed routes, but netwright's routes that are
    not listed stay, and so do the nexthops they use. Absent: the listed routes that
    are netwright's are deleted. Either way a nexthop object is deleted only when this
    run takes its last route off it (no route that stays, ours or foreign, uses it).
    """
    routes = desired.routes
    synced = observed.synced_routes
    have = {r.route.key: r for r in observed.routes}
    owned_nh: dict[int, Nexthop] = {
        r.id: r.nexthop for r in observed.nexthops or () if own.nexthop(r) and r.nexthop is not None
    }
    keep: set[int] = set()
    freed: dict[int, Nexthop | None] = {}
    listed: set[Hashable] = set()
    if scope.absent:
        for i, route in enumerate(routes):
            key = route.key
            listed.add(key)
            nhid = synced.get(i)
            if nhid is not None:
                plan.delete("route", key, route, nhid=nhid)
                if nhid:
                    freed[nhid] = owned_nh.get(nhid) or _nexthop_of(route, nhid)
                continue
            rec = have.get(key)
            if rec is None:
                continue
            if not own.route(rec):
                theirs = "existing " + _render.route_text(rec.route, proto=rec.protocol)
                plan.conflict("route", key, "delete " + _render.text("route", route), theirs)
                continue
            plan.delete("route", key, rec.route, nhid=rec.nhid)
            if rec.nhid:
                freed[rec.nhid] = owned_nh.get(rec.nhid) or _nexthop_of(rec.route, rec.nhid)
    else:
        use_nh = observed.nexthops is not None
        taken = observed.nexthop_ids
        ids = _Ids(taken if taken is not None else (r.id for r in observed.nexthops or ()))
        shared: dict[tuple[Any, str, bool], Nexthop] = {}
        for _, nh in sorted(owned_nh.items()):
            shared.setdefault(nh.key, nh)
        for i, nhid in synced.items():
            r = routes[i]
            if nhid and r.gateway is not None and r.dev is not None:
                nh = Nexthop(id=nhid, gateway=r.gateway, dev=r.dev, onlink=r.onlink)
                shared.setdefault(nh.key, nh)
        adds: list[Change] = []
        new: dict[tuple[Any, str, bool], Nexthop] = {}
        for i, route in enumerate(routes):
            key = route.key
            listed.add(key)
            in_place = synced.get(i)
            if in_place is not None:
                keep.add(in_place)
                continue
            rec = have.get(key)
            if rec is not None and not own.route(rec):
                theirs = "existing " + _render.route_text(rec.route, proto=rec.protocol)
                plan.conflict("route", key, _render.text("route", route), theirs)
                continue
            fields = () if rec is None else _route_fields(route, rec)
            if rec is not None and not fields:
                keep.add(rec.nhid)
                continue
            nhid = 0
            if use_nh and route.gateway is not None and route.dev is not None:
                nkey = (route.gateway, route.dev, route.onlink)
                found: Nexthop | None = new.get(nkey) or shared.get(nkey)
                if found is None:
                    found = Nexthop(
                        id=ids.take(), gateway=route.gateway, dev=route.dev, onlink=route.onlink
                    )
                    new[nkey] = found
                nhid = found.id
                keep.add(nhid)
            if rec is None:
                adds.append(_added("route", key, route, nhid))
            else:
                plan.change("route", key, rec.route, route, nhid=nhid, fields=fields)
                if rec.nhid:
                    freed[rec.nhid] = owned_nh.get(rec.nhid) or _nexthop_of(rec.route, rec.nhid)
        plan.put_adds("route", adds)
        plan.put_adds("nexthop", [_added("nexthop", nh.id, nh) for nh in new.values()])
    # Still used: by listed routes that stay, by netwright's unlisted routes (recorded
    # or departing), by routes of other protocols.
    used = set(keep)
    used.update(r.nhid for k, r in have.items() if k not in listed and r.nhid)
    if observed.departing_routes is not None:
        used.update(observed.departing_routes.nexthops)
    used.update(observed.foreign_nexthop_users)
    for nhid, gone_nh in sorted(freed.items()):
        if nhid not in used and gone_nh is not None:
            plan.delete("nexthop", nhid, gone_nh)


def _nexthop_of(route: Route, nhid: int) -> Nexthop | None:
    """The nexthop object a route through `nhid` goes by (None for a plain route)."""
    if route.gateway is None or route.dev is None:
        return None
    return Nexthop(id=nhid, gateway=route.gateway, dev=route.dev, onlink=route.onlink)


def _diff_entries_absent(
    desired: NodeState, *, observed: ObservedState, own: Ownership, plan: _Plan, scope: Scope
) -> None:
    """Scoped, absent: the listed neighbour and fdb entries that are netwright's go."""
    if scope.covers("neighbour"):
        _absent_entries(
            "neighbour",
            [(n, n.key) for n in desired.neighbours],
            {r.neighbour.key: (r.neighbour, r.permanent) for r in observed.neighbours},
            observed.synced_neighbours,
            observed=observed,
            own=own,
            plan=plan,
        )
    if scope.covers("fdb"):
        _absent_entries(
            "fdb",
            [(f, (f.dev, f.mac.lower(), f.dst)) for f in desired.fdb],
            {
                (r.entry.dev, r.entry.mac.lower(), r.entry.dst): (r.entry, r.permanent)
                for r in observed.fdb
            },
            observed.synced_fdb,
            observed=observed,
            own=own,
            plan=plan,
        )


def _absent_entries(
    kind: str,
    entries: Sequence[tuple[Any, Any]],
    found: Mapping[Any, tuple[Any, bool]],
    synced: Collection[int],
    *,
    observed: ObservedState,
    own: Ownership,
    plan: _Plan,
) -> None:
    """The listed entries (each with its match key) of `kind` that are netwright's go."""
    for i, (entry, match) in enumerate(entries):
        rec = observed.links.get(entry.dev)
        if rec is None:
            continue
        if not own.vtep(rec):
            plan.conflict(
                kind,
                entry.key,
                "delete " + _render.text(kind, entry),
                f"link {entry.dev} (not one of netwright's VXLAN devices)",
            )
        elif i in synced:
            plan.delete(kind, entry.key, entry)
        elif (hit := found.get(match)) is not None and hit[1]:
            plan.delete(kind, entry.key, hit[0])


def _effective(f: File, observed: ObservedState, plan: _Plan) -> File:
    """`f` with owner and group as this host can honour them (missing ones: root)."""
    account = observed.users.get(f.owner)
    owner = f.owner
    if account is None or account.uid is None:
        plan.notes.append(f"file {f.path}: user {f.owner} does not exist; owner root instead")
        owner = "root"
        primary: str | None = "root"
    else:
        primary = account.group
    group = f.group if f.group is not None else primary or "root"
    if group != "root" and group not in observed.groups:
        plan.notes.append(f"file {f.path}: group {group} does not exist; group root instead")
        group = "root"
    if owner == f.owner and group == f.group:
        return f
    return dataclasses.replace(f, owner=owner, group=group)
