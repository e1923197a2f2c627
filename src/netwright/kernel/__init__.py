"""The kernel adapter: the only package in netwright that speaks netlink, and the only
one that imports pyroute2.

pyroute2 encodes the link and address requests, and is imported only when a session
first writes one (`_pyroute2`); the bulk objects and every dump go through a `struct`
codec (`_netlink`); nftables through libnftables. The engine reaches a node's kernel
through `open_session(target)` and nothing else, and is typed against
`KernelSession` (a `Protocol`), which a test or a front end may stand in for.
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
from netwright.kernel.session import KernelReader, KernelSession, KernelWriter

__all__ = [
    "AddressRecord",
    "EntrySet",
    "FdbRecord",
    "KernelReader",
    "KernelSession",
    "KernelWriter",
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
