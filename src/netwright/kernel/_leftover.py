"""Leftover routes read by wire key: runs of them taken across in C, unparsed.

Why it exists: removing peers leaves netwright's routes at no desired key through
netwright's nexthops; the session reports them by wire key only
(`records.LeftoverRoutes`), and the diff decides which go in one batch before
their nexthops (docs/troubleshooting.md, "Deleting a nexthop walks the whole FIB").
At 5,000 departed peers a record per route would cost more than the deletes, and
so would parsing each message: where no route is desired at all, a run of
messages made only of such routes is read across in C (`leftover_runs`).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from netwright.kernel import _netlink as nl

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from netwright.kernel.records import WireKey

#: RawRoute fields `leftover_runs` reads: protocol, tos, flags, nexthop id, the wire key.
_LEFTOVER_FIELDS = nl.field_numbers(
    nl.RawRoute, "protocol", "tos", "flags", "nhid", "family", "table", "dst", "dst_len", "metric"
)


def leftover_runs(
    parse: nl.FastParser,
    runs: Sequence[nl.Run],
    *,
    protocol: int,
    owned_nh: Mapping[int, nl.RawNexthop],
) -> tuple[list[nl.Run], list[int], list[WireKey]]:
    """Split off the runs made only of leftover routes, unparsed.

    With no route desired, every route of `protocol` through one of `owned_nh` (of
    a family, ToS and flags `Session.routes`' loop looks at) is a leftover:
    removing 5,000 peers, that is every dumped route. A run made only of those is
    read across in C (`FastParser.columns`), giving each route's nexthop id and
    wire key and no record. Returns (the other runs, the nexthop ids of the routes
    taken, their keys).
    """
    other: list[nl.Run] = []
    nhids: list[int] = []
    keys: list[WireKey] = []
    inet = {socket.AF_INET, socket.AF_INET6}
    for run in runs:
        cols = parse.columns(run, _LEFTOVER_FIELDS)
        if cols is not None:
            proto, tos, flags, nhid, family, table, dst, dst_len, metric = cols
            if (
                proto.count(protocol) == len(proto)
                and not any(tos)
                and not any(map(nl.RTM_F_CLONED.__and__, flags))
                and inet.issuperset(family)
                and owned_nh.keys() >= set(nhid)
            ):
                nhids.extend(nhid)
                keys.extend(zip(family, table, dst, dst_len, metric, strict=True))
                continue
        other.append(run)
    return other, nhids, keys
