"""Routes that leave with their nexthop: kept as wire keys, deleted in one batch.

Why it exists: removing peers leaves netwright's routes at no desired key through
netwright nexthops that no desired route can keep. Deleting such a nexthop first
would take its routes along, but the kernel then walks the whole FIB once per
nexthop (docs/troubleshooting.md, "Deleting a nexthop walks the whole FIB"), so the
routes are deleted first, by key, in one batch. At 5,000 departing peers a record
per route would cost more than the deletes: these routes stay wire keys, read
across a run of messages in C where the whole run departs (`departing_runs`).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from netwright.kernel import _netlink as nl

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from netwright.kernel._wire import WireRoute
    from netwright.kernel.records import WireKey
    from netwright.model.state import Route

RTM_F_CLONED = 0x200
#: RawRoute fields `departing_runs` reads: protocol, tos, flags, nexthop id, the wire key.
_DEPARTING_FIELDS = nl.field_numbers(
    nl.RawRoute, "protocol", "tos", "flags", "nhid", "family", "table", "dst", "dst_len", "metric"
)


def departing_runs(
    parse: nl.FastParser,
    runs: Sequence[nl.Run],
    *,
    protocol: int,
    owned_nh: Mapping[int, nl.RawNexthop],
) -> tuple[list[nl.Run], list[nl.Run], list[int], list[WireKey]]:
    """Split off the runs of routes that all depart with their nexthop, unparsed.

    With no route desired, every route of `protocol` through one of `owned_nh` (of
    a family, ToS and flags `Session.routes`' loop keeps) departs: removing 5,000
    peers, that is every dumped route. A run made only of those is read across in C
    (`FastParser.columns`), giving each route's nexthop id and wire key and no
    record. Returns (the other runs, the runs taken, their nexthop ids, their keys).
    """
    other: list[nl.Run] = []
    taken: list[nl.Run] = []
    nhids: list[int] = []
    keys: list[WireKey] = []
    inet = {socket.AF_INET, socket.AF_INET6}
    for run in runs:
        cols = parse.columns(run, _DEPARTING_FIELDS)
        if cols is not None:
            proto, tos, flags, nhid, family, table, dst, dst_len, metric = cols
            if (
                proto.count(protocol) == len(proto)
                and not any(tos)
                and not any(map(RTM_F_CLONED.__and__, flags))
                and inet.issuperset(family)
                and owned_nh.keys() >= set(nhid)
            ):
                taken.append(run)
                nhids.extend(nhid)
                keys.extend(zip(family, table, dst, dst_len, metric, strict=True))
                continue
        other.append(run)
    return other, taken, nhids, keys


def through_kept_or_leaving(
    through: dict[int, list[nl.RawRoute]],
    *,
    records: list[nl.RawRoute],
    synced: dict[int, int],
    desired: Sequence[Route],
    wire: Mapping[WireKey, WireRoute],
    index: dict[str, int],
    owned_nh: dict[int, nl.RawNexthop],
    foreign_nh: set[int],
    protocol: int,
) -> tuple[list[nl.RawRoute], set[int], list[WireKey]]:
    """Routes at no desired key through a netwright nexthop (`through`, by nexthop id).

    A nexthop that no desired route can keep (none at a desired key uses it, none
    has its gateway, device and onlink flag to share it) and no foreign route uses
    goes with every route through it: those routes are kept as wire keys only, one
    `RouteSet` deleted before the nexthops. The others are recorded. Returns (the
    routes to record, the nexthops leaving, their routes' wire keys).
    """
    at_desired = {nhid for nhid in synced.values() if nhid}
    for raw in records:
        wire_key = (raw.family, raw.table, raw.dst, raw.dst_len, raw.metric)
        if raw.nhid and raw.protocol == protocol and wire_key in wire:
            at_desired.add(raw.nhid)
    shareable = {
        (r.gateway.packed, index.get(r.dev), r.onlink)
        for r in desired
        if r.gateway is not None and r.dev is not None
    }
    kept: list[nl.RawRoute] = []
    leaving: set[int] = set()
    keys: list[WireKey] = []
    for nhid, raws in through.items():
        nh = owned_nh[nhid]
        key = (nh.gateway, nh.oif, bool(nh.flags & nl.RTNH_F_ONLINK))
        if nhid in foreign_nh or nhid in at_desired or key in shareable:
            kept.extend(raws)
        else:
            leaving.add(nhid)
            keys.extend((r.family, r.table, r.dst, r.dst_len, r.metric) for r in raws)
    return kept, leaving, keys
