"""The kernel adapter: the only package in netwright that speaks netlink, and the only
one that imports pyroute2.

pyroute2 encodes the link and address requests, and is imported only when a session
first writes one (`_pyroute2`); the bulk objects and every dump go through a `struct`
codec (`_netlink`); nftables through libnftables. The engine reaches a node's kernel
through `open_session(target)` and nothing else, and is typed against
`KernelSession` (a `Protocol`), which a test or a front end may stand in for. A
caller that opens sessions again and again to the same kernel may hand each the
same `Memo` (`open_session(target, memo=memo)`), which keeps what one session
learnt for the next: nothing in this package is cached for the process.
"""

from __future__ import annotations

from netwright.kernel.memo import Memo
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
    "Memo",
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
