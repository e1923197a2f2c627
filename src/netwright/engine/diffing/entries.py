"""The diff's neighbour and fdb steps: the entries on netwright's VTEPs.

Why it exists: a VXLAN peer is a neighbour entry and an fdb entry on a VTEP; at
thousands of peers a no-op must not hash every synced key, so both steps skip the
entries the observer found in place and equal (`synced_*`), and delete the entries
of peers that left in one batch per VTEP (`departing_entries`). Only permanent
entries are ever deleted: a VTEP's kernel-made ones (IPv6 multicast, say) stay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netwright.engine import _text
from netwright.engine.changes import Change, added

if TYPE_CHECKING:
    from collections.abc import Collection, Hashable, Mapping, Sequence

    from netwright.engine.diffing._plan import Context, Plan
    from netwright.engine.observing import ObservedState
    from netwright.engine.ownership import Ownership


def diff_neighbours(ctx: Context) -> None:
    """Neighbour entries: present (the default), or a scope's absent ones."""
    scope = ctx.scope
    if scope is not None and scope.absent:
        if scope.covers("neighbour"):
            desired = ctx.desired.neighbours
            _absent_entries(
                "neighbour",
                [(n, n.key) for n in desired],
                {r.neighbour.key: (r.neighbour, r.permanent) for r in ctx.observed.neighbours},
                ctx.observed.unrecorded.synced_neighbours,
                observed=ctx.observed,
                own=ctx.own,
                plan=ctx.plan,
            )
        return
    _present_neighbours(ctx)
    _departing(ctx, "neighbour")
    if scope is not None and not scope.purges("neighbour"):
        ctx.plan.keep_implied("neighbour")


def diff_fdb(ctx: Context) -> None:
    """Fdb entries: present (the default), or a scope's absent ones."""
    scope = ctx.scope
    if scope is not None and scope.absent:
        if scope.covers("fdb"):
            _absent_entries(
                "fdb",
                [(f, (f.dev, f.mac.lower(), f.dst)) for f in ctx.desired.fdb],
                {
                    (r.entry.dev, r.entry.mac.lower(), r.entry.dst): (r.entry, r.permanent)
                    for r in ctx.observed.fdb
                },
                ctx.observed.unrecorded.synced_fdb,
                observed=ctx.observed,
                own=ctx.own,
                plan=ctx.plan,
            )
        return
    _present_fdb(ctx)
    _departing(ctx, "fdb")
    if scope is not None and not scope.purges("fdb"):
        ctx.plan.keep_implied("fdb")


def _departing(ctx: Context, kind: str) -> None:
    """Entries of peers that left, from the observer, in wire form: one change each."""
    links, own, gone = ctx.links, ctx.own, ctx.gone
    for entries in ctx.observed.unrecorded.departing_entries:
        if entries.kind != kind:
            continue
        rec = links.get(entries.dev)
        if rec is None or not own.vtep(rec) or entries.dev in gone:
            raise ValueError(f"diff: `observed` gave {entries.kind} entries on {entries.dev}")
        ctx.plan.delete(entries.kind, entries.dev, entries, count=len(entries.entries))


def _present_neighbours(ctx: Context) -> None:
    desired, observed, own, plan = ctx.desired, ctx.observed, ctx.own, ctx.plan
    links, gone = ctx.links, ctx.gone
    devs = ctx.entry_devs()
    have_n = {
        r.neighbour.key: r
        for r in observed.neighbours
        if r.neighbour.dev in links and own.vtep(links[r.neighbour.dev])
    }
    want_n: set[Hashable] = set()
    synced_n = observed.unrecorded.synced_neighbours
    n_adds: list[Change] = []
    for i, n in enumerate(desired.neighbours):
        if synced_n and i in synced_n and n.dev in devs and n.dev not in gone:
            continue  # in place and equal (the observer's no-op fast path)
        nkey = n.key
        if have_n:
            want_n.add(nkey)
        if n.dev not in devs and ctx.dev_problem("neighbour", nkey, n, n.dev, devs):
            continue
        nrec = have_n.get(nkey) if have_n else None
        if nrec is None or n.dev in gone:
            n_adds.append(added("neighbour", nkey, n))
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
    if stale_n and synced_n:
        want_n.update(desired.neighbours[i].key for i in synced_n)
        stale_n = [(k, r) for k, r in stale_n if k not in want_n]
    for nkey, nrec in sorted(stale_n, key=lambda kv: _text.sort_key("neighbour", kv[0])):
        plan.delete("neighbour", nkey, nrec.neighbour, implied=nrec.neighbour.dev in gone)


def _present_fdb(ctx: Context) -> None:
    desired, observed, own, plan = ctx.desired, ctx.observed, ctx.own, ctx.plan
    links, gone = ctx.links, ctx.gone
    devs = ctx.entry_devs()
    have_f = {
        r.entry.key: r
        for r in observed.fdb
        if r.entry.dev in links and own.vtep(links[r.entry.dev])
    }
    want_f: set[Hashable] = set()
    synced_f = observed.unrecorded.synced_fdb
    f_adds: list[Change] = []
    for i, f in enumerate(desired.fdb):
        if synced_f and i in synced_f and f.dev in devs and f.dev not in gone:
            continue  # in place and equal (the observer's no-op fast path)
        frec = None
        if have_f:
            fkey = (f.dev, f.mac.lower(), f.dst)
            want_f.add(fkey)
            frec = have_f.get(fkey)
        if f.dev not in devs and ctx.dev_problem("fdb", f.key, f, f.dev, devs):
            continue
        if frec is None or f.dev in gone:
            f_adds.append(added("fdb", f.key, f))
        elif not frec.permanent:
            plan.change("fdb", f.key, frec.entry, f, fields=("state",))
    plan.put_adds("fdb", f_adds)
    if synced_f and any(k not in want_f and r.permanent for k, r in have_f.items()):
        want_f.update((f.dev, f.mac.lower(), f.dst) for f in (desired.fdb[i] for i in synced_f))
    for fkey2, frec in have_f.items():
        if fkey2 not in want_f and frec.permanent:
            plan.delete("fdb", fkey2, frec.entry, implied=frec.entry.dev in gone)


def _absent_entries(
    kind: str,
    entries: Sequence[tuple[Any, Any]],
    found: Mapping[Any, tuple[Any, bool]],
    synced: Collection[int],
    *,
    observed: ObservedState,
    own: Ownership,
    plan: Plan,
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
                "delete " + _text.text(kind, entry),
                f"link {entry.dev} (not one of netwright's VXLAN devices)",
            )
        elif i in synced:
            plan.delete(kind, entry.key, entry)
        elif (hit := found.get(match)) is not None and hit[1]:
            plan.delete(kind, entry.key, hit[0])
