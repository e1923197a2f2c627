"""The route step of a scoped run that does not purge: the listed routes only.

Why it exists: a fine-grained module states some routes, not a node's; netwright's
other routes stay, and so do the nexthops they use. Kept apart from the whole
node's route step, whose no-op fast path it does not share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netwright.engine import _text
from netwright.engine.changes import Change, added
from netwright.engine.diffing._plan import Ids
from netwright.kernel.records import Nexthop

if TYPE_CHECKING:
    from collections.abc import Hashable

    from netwright.engine.diffing._plan import Plan
    from netwright.engine.observing import ObservedState
    from netwright.engine.ownership import Ownership
    from netwright.engine.scope import Scope
    from netwright.kernel.records import RouteRecord
    from netwright.model.state import NodeState, Route


def diff_routes_scoped(
    desired: NodeState,
    *,
    observed: ObservedState,
    own: Ownership,
    plan: Plan,
    scope: Scope,
) -> None:
    """Routes of a scope that does not purge: the listed ones, added, changed or deleted.

    Present: as `_diff_routes` for the listed routes, but netwright's routes that are
    not listed stay, and so do the nexthops they use. Absent: the listed routes that
    are netwright's are deleted. Either way a nexthop object is deleted only when this
    run takes its last route off it (no route that stays, ours or foreign, uses it).
    """
    routes = desired.routes
    synced = observed.unrecorded.synced_routes
    have = {r.route.key: r for r in observed.routes}
    owned_nh: dict[int, Nexthop] = {
        r.id: r.nexthop for r in observed.nexthops or () if own.nexthop(r) and r.nexthop is not None
    }
    leftover = observed.unrecorded.leftover_routes
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
                theirs = "existing " + _text.route_text(rec.route, proto=rec.protocol)
                plan.conflict("route", key, "delete " + _text.text("route", route), theirs)
                continue
            plan.delete("route", key, rec.route, nhid=rec.nhid)
            if rec.nhid:
                freed[rec.nhid] = owned_nh.get(rec.nhid) or _nexthop_of(rec.route, rec.nhid)
    else:
        use_nh = observed.nexthops is not None
        taken = observed.nexthop_ids
        ids = Ids(taken if taken is not None else (r.id for r in observed.nexthops or ()))
        shared: dict[tuple[Any, str, bool], Nexthop] = {}
        known = list(owned_nh.values())
        if leftover is not None:  # the unlisted routes' nexthops may serve too
            known.extend(leftover.nexthop(v) for v in leftover.vias if v[0] not in owned_nh)
        for nh in sorted(known, key=lambda n: n.id):
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
                theirs = "existing " + _text.route_text(rec.route, proto=rec.protocol)
                plan.conflict("route", key, _text.text("route", route), theirs)
                continue
            fields = () if rec is None else route_fields(route, rec)
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
                adds.append(added("route", key, route, nhid))
            else:
                plan.change("route", key, rec.route, route, nhid=nhid, fields=fields)
                if rec.nhid:
                    freed[rec.nhid] = owned_nh.get(rec.nhid) or _nexthop_of(rec.route, rec.nhid)
        plan.put_adds("route", adds)
        plan.put_adds("nexthop", [added("nexthop", nh.id, nh) for nh in new.values()])
    # Still used: by listed routes that stay, by netwright's unlisted routes (recorded
    # or leftover), by routes of other protocols.
    used = set(keep)
    used.update(r.nhid for k, r in have.items() if k not in listed and r.nhid)
    if leftover is not None:
        used.update(leftover.nexthops)
    used.update(observed.foreign_nexthop_users)
    for nhid, gone_nh in sorted(freed.items()):
        if nhid not in used and gone_nh is not None:
            plan.delete("nexthop", nhid, gone_nh)


def _nexthop_of(route: Route, nhid: int) -> Nexthop | None:
    """The nexthop object a route through `nhid` goes by (None for a plain route)."""
    if route.gateway is None or route.dev is None:
        return None
    return Nexthop(id=nhid, gateway=route.gateway, dev=route.dev, onlink=route.onlink)


def route_fields(want: Route, rec: RouteRecord) -> tuple[str, ...]:
    """The fields in which a live route differs from the desired one."""
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
