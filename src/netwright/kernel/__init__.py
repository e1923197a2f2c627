"""The kernel adapter: the only package in netwright that speaks netlink (`struct`, libnftables).

The engine reaches a node's kernel through `open_session(target)` and nothing else.
"""

from __future__ import annotations

from netwright.kernel.records import (
    AddressRecord,
    FdbRecord,
    LinkRecord,
    NeighbourRecord,
    NetlinkRequestError,
    Nexthop,
    NexthopRecord,
    RouteRecord,
    Target,
)
from netwright.kernel.rtnl import Session, open_session

__all__ = [
    "AddressRecord",
    "FdbRecord",
    "LinkRecord",
    "NeighbourRecord",
    "NetlinkRequestError",
    "Nexthop",
    "NexthopRecord",
    "RouteRecord",
    "Session",
    "Target",
    "open_session",
]
