"""Sorting a route dump: what each route the fast path left is, to netwright.

Why it exists: `RouteReads.routes` reads the dump in three passes (the leftover
runs taken across in C, the no-op fast path per run, then this, one route at a
time); this pass decides nothing for the diff, it only files each route: synced
(equal to the desired route at its key), leftover (netwright's, at no desired key,
through one of its nexthops), going with a vanishing device, foreign-used
nexthop, or a record for the diff to look at. Routes are compared in wire form
(`_wire.WireRoute`); one through a nexthop object takes gateway, device and onlink
from that object, which must be netwright's.
"""

from __future__ import annotations

import operator
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netwright.kernel import _netlink as nl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright.kernel._wire import WireRoute
    from netwright.kernel.records import WireKey

#: A RawRoute's wire key (`WireKey`): family, table, dst, dst_len, metric.
_WIRE_KEY = operator.itemgetter(
    *nl.field_numbers(nl.RawRoute, "family", "table", "dst", "dst_len", "metric")
)


def _same_route(
    want: WireRoute, raw: nl.RawRoute, nexthops: dict[int, nl.RawNexthop], index: dict[str, int]
) -> bool:
    """Is `raw` (at want's key, unicast) the desired route? Compared in wire form.

    A route through a nexthop object takes gateway, device and onlink from that
    object (the compat copies in the route are ignored), which must be netwright's.
    """
    if raw.nhid:
        nh = nexthops.get(raw.nhid)
        if nh is None:
            return False
        gateway, oif, flags = nh.gateway, nh.oif, nh.flags
    else:
        gateway, oif, flags = raw.gateway, raw.oif, raw.flags
    _i, want_gw, want_dev, want_onlink, want_src = want
    if gateway != want_gw or bool(flags & nl.RTNH_F_ONLINK) != want_onlink:
        return False
    if want_dev is not None and oif != index.get(want_dev):
        return False
    return raw.src == want_src


@dataclass(slots=True)
class Found:
    """What `RouteReads.routes` sorts the dumped routes into."""

    #: Routes for the diff to look at, parsed, not yet records.
    records: list[nl.RawRoute] = field(default_factory=list)
    #: Desired routes found in place and equal: index -> the nexthop id they use.
    synced: dict[int, int] = field(default_factory=dict)
    #: The leftover routes: each one's nexthop id, and its wire key.
    left_nh: list[int] = field(default_factory=list)
    left_keys: list[WireKey] = field(default_factory=list)
    #: What goes with a vanishing device: its routes' wire keys.
    on_gone: dict[str, list[WireKey]] = field(default_factory=dict)
    #: Nexthop ids that routes of other protocols use.
    foreign_nh: set[int] = field(default_factory=set)


def sort_routes(
    rest: list[nl.RawRoute],
    found: Found,
    *,
    protocol: int,
    wire: Mapping[WireKey, WireRoute],
    owned_nh: dict[int, nl.RawNexthop],
    index: dict[str, int],
    doomed: dict[int, str],
    doomed_nh: dict[int, str],
) -> Found:
    """Sort the parsed routes the fast path left (`rest`) into `found`.

    Skipped: other families, cloned routes, routes with a ToS (netwright makes
    none). A foreign route counts its nexthop as foreign-used, and is recorded
    only at a desired key (a conflict). One of `protocol` at no desired key goes
    with its vanishing device, or is a leftover through one of `owned_nh`, or is
    recorded; at a desired key it is synced when equal, else recorded.
    """
    inet = (socket.AF_INET, socket.AF_INET6)
    raw: nl.RawRoute
    for raw in rest:
        if raw.family not in inet or raw.flags & nl.RTM_F_CLONED or raw.tos:
            continue
        want = wire.get((raw.family, raw.table, raw.dst, raw.dst_len, raw.metric))
        i = None if want is None else want[0]
        if raw.protocol != protocol:
            if raw.nhid:
                found.foreign_nh.add(raw.nhid)
            if i is None:
                continue
        elif i is None:
            if doomed:
                going = doomed_nh.get(raw.nhid) if raw.nhid else doomed.get(raw.oif)
                if going is not None:
                    found.on_gone.setdefault(going, []).append(_WIRE_KEY(raw))
                    continue
            if raw.nhid in owned_nh:
                found.left_nh.append(raw.nhid)
                found.left_keys.append(_WIRE_KEY(raw))
                continue
        elif want is not None and raw.type == nl.RTN_UNICAST:
            # `_same_route`, inlined: a no-op runs this once per desired route.
            nhid = raw.nhid
            if nhid:
                nh = owned_nh.get(nhid)
                same = (
                    nh is not None
                    and nh.gateway == want[1]
                    and bool(nh.flags & nl.RTNH_F_ONLINK) == want[3]
                    and (want[2] is None or nh.oif == index.get(want[2]))
                    and raw.src == want[4]
                )
            else:
                same = _same_route(want, raw, owned_nh, index)
            if same:
                found.synced[i] = nhid
                continue
        found.records.append(raw)
    return found
