"""The kernel adapter: the only package in netwright that speaks netlink, and the only
one that imports pyroute2.

pyroute2 encodes the link and address requests, and is imported only when a session
first writes one (`_pyroute2`); the bulk objects and every dump go through a `struct`
codec (`_nlcodec`); nftables through libnftables. The engine reaches a node's kernel
through `open_session(target)` and nothing else.
"""

from __future__ import annotations

from netwright.kernel.records import (
    AddressRecord,
    EntrySet,
    FdbRecord,
    LinkRecord,
    NeighbourRecord,
    NetlinkRequestError,
    Nexthop,
    NexthopRecord,
    NexthopSet,
    RouteRecord,
    RouteSet,
    Target,
)
from netwright.kernel.rtnl import Session, open_session, prepare_link_writes

__all__ = [
    "AddressRecord",
    "EntrySet",
    "FdbRecord",
    "LinkRecord",
    "NeighbourRecord",
    "NetlinkRequestError",
    "Nexthop",
    "NexthopRecord",
    "NexthopSet",
    "RouteRecord",
    "RouteSet",
    "Session",
    "Target",
    "open_session",
    "prepare_link_writes",
]
