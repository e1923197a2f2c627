"""The diff's route step: routes and the nexthop objects they go through.

Why it exists: routes are the bulk of a node (one per peer) and the subtle part.
Routes with a gateway go through nexthop objects (see docs/troubleshooting.md,
"Route adds slow down with thousands of gateways": plain routes cost O(n^2) at
thousands of peers). Nexthop ids are chosen here, never reused from foreign objects;
an existing netwright nexthop with the same gateway, device and onlink flag is
shared; one that no remaining route uses is deleted last (after routes moved off
it). The observer lists netwright's routes at no desired key through its nexthops
by wire key only (`LeftoverRoutes`); this step decides what becomes of them. Those
through a nexthop that goes are deleted explicitly before it, as one summary change
(`RouteSet`): a nexthop delete that takes routes along makes the kernel walk the
whole FIB once per nexthop (docs/troubleshooting.md, "Deleting a nexthop walks the
whole FIB"), O(n^2) at thousands of peers (5,000: 102 ms, against 62 ms for routes
first, then nexthops). Those through a nexthop that stays are deleted one by one.
Routes that reach the diff as records through a deleted nexthop are still implied
deletes. A nexthop that a foreign route uses is never deleted. An equal route that
is plain, not by nexthop, is left alone. An IPv6 route's metric 0 is stored as 1024
(`Route.key` normalises it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netwright.engine import _text
from netwright.engine.changes import DEPARTING, Change, added
from netwright.engine.diffing._plan import Ids
from netwright.engine.diffing.routes_scoped import diff_routes_scoped, route_fields
from netwright.kernel.records import Nexthop, NexthopSet, RouteSet

if TYPE_CHECKING:
    from collections.abc import Hashable, KeysView

    from netwright.engine.diffing._plan import Context, Plan
    from netwright.engine.observing import ObservedState
    from netwright.engine.ownership import Ownership
    from netwright.kernel.records import LeftoverRoutes, WireKey
    from netwright.model.state import NodeState


def diff_routes(ctx: Context) -> None:
    """Routes and nexthops: all of netwright's, or a scope's listed routes."""
    scope = ctx.scope
    if scope is None or scope.purges("route"):
        _diff_routes(
            ctx.desired,
            observed=ctx.observed,
            own=ctx.own,
            plan=ctx.plan,
            gone=ctx.gone,
            blocked=ctx.blocked,
        )
    elif scope.covers("route"):
        diff_routes_scoped(
            ctx.desired, observed=ctx.observed, own=ctx.own, plan=ctx.plan, scope=scope
        )


def _diff_routes(
    desired: NodeState,
    *,
    observed: ObservedState,
    own: Ownership,
    plan: Plan,
    gone: set[str],
    blocked: set[str],
) -> None:
    use_nh = observed.nexthops is not None
    routes = desired.routes
    synced = observed.unrecorded.synced_routes
    owned_nh: dict[int, Nexthop] = {}
    for r in observed.nexthops or ():
        if own.nexthop(r) and r.nexthop is not None:
            owned_nh[r.id] = r.nexthop
    leftover = observed.unrecorded.leftover_routes
    shared: dict[tuple[Any, str, bool], Nexthop] | None = None

    def share(key: tuple[Any, str, bool]) -> Nexthop | None:
        """An existing netwright nexthop for `key` (indexed on first use: a no-op needs none)."""
        nonlocal shared
        if shared is None:
            shared = {}
            found = list(owned_nh.values())
            if leftover is not None:  # the leftover routes' nexthops may serve again
                found.extend(leftover.nexthop(v) for v in leftover.vias if v[0] not in owned_nh)
            for i, nhid in synced.items():  # a synced route's nexthop equals the route
                r = routes[i]
                if nhid and r.gateway is not None and r.dev is not None:
                    found.append(Nexthop(id=nhid, gateway=r.gateway, dev=r.dev, onlink=r.onlink))
            for nh in sorted(found, key=lambda n: n.id):
                if nh.dev not in gone:
                    shared.setdefault(nh.key, nh)
        return shared.get(key) if shared else None

    taken = observed.nexthop_ids
    ids = Ids(taken if taken is not None else (r.id for r in observed.nexthops or ()))
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
            theirs = "existing " + _text.route_text(rec.route, proto=rec.protocol)
            plan.conflict("route", key, _text.text("route", route), theirs)
            continue
        vanished = in_place is not None or (rec is not None and rec.route.dev in gone)
        fields = () if rec is None or vanished else route_fields(route, rec)
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
            adds.append(added("route", key, route, nhid))
        else:
            plan.change("route", key, rec.route, route, nhid=nhid, fields=fields)
    plan.put_adds("route", adds)
    plan.put_adds("nexthop", [added("nexthop", nh.id, nh) for nh in new.values()])
    dropped: set[int] = set()
    for nhid, nh in sorted(owned_nh.items()):
        if nhid in keep:
            continue
        if nhid in observed.foreign_nexthop_users:
            plan.notes.append(
                f"{_text.text('nexthop', nh)}: kept, routes netwright does not own use it"
            )
            continue
        dropped.add(nhid)
        plan.delete("nexthop", nhid, nh, implied=nh.dev in gone)
    if leftover is not None:
        _leftover_routes(
            leftover,
            keep=keep,
            recorded=owned_nh.keys(),
            foreign=observed.foreign_nexthop_users,
            plan=plan,
        )
    if synced and any(own.route(rec) and key not in want for key, rec in have.items()):
        want.update(routes[i].key for i in synced)
    for key, rec in have.items():
        if own.route(rec) and key not in want:
            implied = rec.route.dev in gone or rec.nhid in dropped
            plan.delete("route", key, rec.route, nhid=rec.nhid, implied=implied)


def _leftover_routes(
    leftover: LeftoverRoutes,
    *,
    keep: set[int],
    recorded: KeysView[int],
    foreign: frozenset[int],
    plan: Plan,
) -> None:
    """Delete netwright's routes at no desired key through its nexthops.

    A nexthop stays when a desired route uses it (`keep`) or a foreign route does;
    its leftover routes are deleted one by one. The others go: their routes in one
    batch first, then those of them that have no record (a recorded one was
    deleted above) in one batch. Removing every peer, no route stays, and this is
    a few set operations whatever the number of routes.
    """
    vias = {v[0]: v for v in leftover.vias}
    stay = vias.keys() & (keep | foreign)
    if not stay:
        going, going_keys, going_vias = frozenset(vias), leftover.keys, leftover.vias
    else:
        left: list[WireKey] = []
        for key, nhid in zip(leftover.keys, leftover.nexthops, strict=True):
            if nhid in stay:
                route = leftover.route(key, vias[nhid])
                plan.delete("route", route.key, route, nhid=nhid)
            else:
                left.append(key)
        for nhid in sorted(stay - keep - recorded):  # a recorded one is noted above
            nh = _text.text("nexthop", leftover.nexthop(vias[nhid]))
            plan.notes.append(f"{nh}: kept, routes netwright does not own use it")
        going = frozenset(vias.keys() - stay)
        going_keys = tuple(left)
        going_vias = tuple(v for v in leftover.vias if v[0] in going)
    if not going_keys:
        return
    plan.delete(
        "route",
        DEPARTING,
        RouteSet(nexthops=going, keys=going_keys, vias=going_vias),
        count=len(going_keys),
    )
    if unrecorded := going - recorded:
        plan.delete(
            "nexthop",
            DEPARTING,
            NexthopSet(
                ids=frozenset(unrecorded),
                vias=going_vias
                if unrecorded == going
                else tuple(v for v in going_vias if v[0] in unrecorded),
            ),
            count=len(unrecorded),
        )
