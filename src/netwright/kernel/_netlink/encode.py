"""rtnetlink encoders for the objects that come by the thousand: routes, nexthop
objects, neighbours, fdb entries; and the link dump's request.

Why it exists: at thousands of peers, pyroute2's generic message classes cost more
than the kernel work they describe, and pyroute2 has no nexthop object API, so
these are packed here with `struct`. Link and address *requests* are pyroute2's
(`kernel._pyroute2`). `tests/kernel/test_engine_codec.py` checks every encoder
against pyroute2's decoder.
"""

from __future__ import annotations

import socket
import struct
from typing import TYPE_CHECKING

from netwright.kernel._netlink.constants import (
    AF_BRIDGE,
    IFINFOMSG,
    IFLA_EXT_MASK,
    NDA_DST,
    NDA_LLADDR,
    NDMSG,
    NHA_GATEWAY,
    NHA_ID,
    NHA_OIF,
    NHMSG,
    NLM_F_APPEND,
    NLM_F_CREATE,
    NLM_F_EXCL,
    NLM_F_REPLACE,
    NTF_SELF,
    NUD_PERMANENT,
    RT_SCOPE_LINK,
    RT_SCOPE_NOWHERE,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_UNSPEC,
    RTA,
    RTA_DST,
    RTA_GATEWAY,
    RTA_NH_ID,
    RTA_OIF,
    RTA_PREFSRC,
    RTA_PRIORITY,
    RTA_TABLE,
    RTEXT_FILTER_SKIP_STATS,
    RTM_DELNEIGH,
    RTM_DELNEXTHOP,
    RTM_DELROUTE,
    RTM_NEWNEIGH,
    RTM_NEWNEXTHOP,
    RTM_NEWROUTE,
    RTMSG,
    RTN_UNICAST,
    RTN_UNSPEC,
    RTNH_F_ONLINK,
    U32,
    Message,
)

if TYPE_CHECKING:
    from collections.abc import Iterable


def attr(kind: int, payload: bytes) -> bytes:
    size = 4 + len(payload)
    return RTA.pack(size, kind) + payload + b"\0" * (-size % 4)


def attr_u32(kind: int, value: int) -> bytes:
    return RTA.pack(8, kind) + U32.pack(value)


# ---------------------------------------------------------------- encoders
# Each returns (message type, flags, payload); `Socket.transact` adds the header.

# Whole-message layouts for the forms that come by the thousand (IPv4, main-ish
# table, metric 0, no source): one `pack` instead of one per attribute. Each must
# give exactly the bytes of the general encoder below (`test_engine_codec`).
_V4_ROUTE_BY_NH = struct.Struct("=BBBBBBBBI HHI HH4s HHI")
_V4_ROUTE_DEL = struct.Struct("=BBBBBBBBI HHI HH4s")
_V4_NEXTHOP = struct.Struct("=BBBBI HHI HHI HH4s")
_NEXTHOP_DEL = struct.Struct("=BBBBI HHI")
_V4_NEIGH = struct.Struct("=BBHiHBB HH4s HH6s2x")
_V4_FDB = struct.Struct("=BBHiHBB HH6s2x HH4s")


def route_message(
    *,
    delete: bool,
    replace: bool = False,
    family: int,
    dst: bytes,
    dst_len: int,
    table: int,
    metric: int,
    protocol: int,
    gateway: bytes | None = None,
    oif: int = 0,
    onlink: bool = False,
    src: bytes | None = None,
    nhid: int = 0,
) -> Message:
    """RTM_NEWROUTE / RTM_DELROUTE for one unicast route (see `route_message_any`)."""
    if delete:
        return route_delete_messages(((family, table, dst, dst_len, metric),), protocol=protocol)[0]
    if nhid and family == socket.AF_INET and dst_len and not metric and table < 256 and src is None:
        body = _V4_ROUTE_BY_NH.pack(
            family, dst_len, 0, 0, table, protocol, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0,
            8, RTA_TABLE, table, 8, RTA_DST, dst, 8, RTA_NH_ID, nhid,
        )  # fmt: skip
        return RTM_NEWROUTE, NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL), body
    return route_message_any(
        delete=delete,
        replace=replace,
        family=family,
        dst=dst,
        dst_len=dst_len,
        table=table,
        metric=metric,
        protocol=protocol,
        gateway=gateway,
        oif=oif,
        onlink=onlink,
        src=src,
        nhid=nhid,
    )


def route_delete_messages(
    keys: Iterable[tuple[int, int, bytes, int, int]], *, protocol: int
) -> list[Message]:
    """`route_message(delete=True, ...)` for each wire key (family, table, dst,
    dst_len, metric), without a call per key where it can: a removal sends thousands."""
    pack = _V4_ROUTE_DEL.pack
    v4, nowhere, unspec = socket.AF_INET, RT_SCOPE_NOWHERE, RTN_UNSPEC
    out: list[Message] = []
    for family, table, dst, dst_len, metric in keys:
        if family == v4 and dst_len and not metric and table < 256:
            body = pack(
                family, dst_len, 0, 0, table, protocol, nowhere, unspec, 0,
                8, RTA_TABLE, table, 8, RTA_DST, dst,
            )  # fmt: skip
            out.append((RTM_DELROUTE, 0, body))
        else:
            out.append(
                route_message_any(
                    delete=True,
                    family=family,
                    dst=dst,
                    dst_len=dst_len,
                    table=table,
                    metric=metric,
                    protocol=protocol,
                )
            )
    return out


def route_message_any(
    *,
    delete: bool,
    replace: bool = False,
    family: int,
    dst: bytes,
    dst_len: int,
    table: int,
    metric: int,
    protocol: int,
    gateway: bytes | None = None,
    oif: int = 0,
    onlink: bool = False,
    src: bytes | None = None,
    nhid: int = 0,
) -> Message:
    """RTM_NEWROUTE / RTM_DELROUTE for one unicast route.

    A delete names protocol, table, destination and metric and leaves type and
    scope open (RTN_UNSPEC, RT_SCOPE_NOWHERE), as `ip route del` does: the kernel
    then matches only routes of that protocol (`fib_table_delete`,
    `ip6_route_del` both compare `fc_protocol` when it is set), so a foreign route
    at the same destination can never be the one removed.
    """
    if delete:
        head = RTMSG.pack(
            family,
            dst_len,
            0,
            0,
            table if table < 256 else RT_TABLE_UNSPEC,
            protocol,
            RT_SCOPE_NOWHERE,
            RTN_UNSPEC,
            0,
        )
        kind, flags = RTM_DELROUTE, 0
    else:
        scope = RT_SCOPE_UNIVERSE if (gateway is not None or nhid) else RT_SCOPE_LINK
        head = RTMSG.pack(
            family,
            dst_len,
            0,
            0,
            table if table < 256 else RT_TABLE_UNSPEC,
            protocol,
            scope,
            RTN_UNICAST,
            RTNH_F_ONLINK if (onlink and not nhid) else 0,
        )
        kind = RTM_NEWROUTE
        flags = NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
    body = [head, attr_u32(RTA_TABLE, table)]
    if dst_len:
        body.append(attr(RTA_DST, dst))
    if metric:
        body.append(attr_u32(RTA_PRIORITY, metric))
    if not delete:
        if nhid:
            body.append(attr_u32(RTA_NH_ID, nhid))
        else:
            if gateway is not None:
                body.append(attr(RTA_GATEWAY, gateway))
            if oif:
                body.append(attr_u32(RTA_OIF, oif))
        if src is not None:
            body.append(attr(RTA_PREFSRC, src))
    return kind, flags, b"".join(body)


def nexthop_message(
    *,
    delete: bool,
    nhid: int,
    family: int = 0,
    protocol: int = 0,
    gateway: bytes | None = None,
    oif: int = 0,
    onlink: bool = False,
) -> Message:
    if delete:
        return RTM_DELNEXTHOP, 0, _NEXTHOP_DEL.pack(socket.AF_UNSPEC, 0, 0, 0, 0, 8, NHA_ID, nhid)
    if family == socket.AF_INET and gateway is not None:
        body = _V4_NEXTHOP.pack(
            family, 0, protocol, 0, RTNH_F_ONLINK if onlink else 0,
            8, NHA_ID, nhid, 8, NHA_OIF, oif, 8, NHA_GATEWAY, gateway,
        )  # fmt: skip
        return RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_EXCL, body
    return nexthop_message_any(
        delete=delete,
        nhid=nhid,
        family=family,
        protocol=protocol,
        gateway=gateway,
        oif=oif,
        onlink=onlink,
    )


def nexthop_delete_messages(ids: Iterable[int]) -> list[Message]:
    """`nexthop_message(delete=True, nhid=...)` for each id, in one comprehension."""
    pack, unspec = _NEXTHOP_DEL.pack, socket.AF_UNSPEC
    return [(RTM_DELNEXTHOP, 0, pack(unspec, 0, 0, 0, 0, 8, NHA_ID, nhid)) for nhid in ids]


def nexthop_message_any(
    *,
    delete: bool,
    nhid: int,
    family: int = 0,
    protocol: int = 0,
    gateway: bytes | None = None,
    oif: int = 0,
    onlink: bool = False,
) -> Message:
    if delete:
        return RTM_DELNEXTHOP, 0, NHMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr_u32(NHA_ID, nhid)
    body = [
        NHMSG.pack(family, 0, protocol, 0, RTNH_F_ONLINK if onlink else 0),
        attr_u32(NHA_ID, nhid),
        attr_u32(NHA_OIF, oif),
    ]
    if gateway is not None:
        body.append(attr(NHA_GATEWAY, gateway))
    return RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_EXCL, b"".join(body)


def neighbour_message(
    *,
    delete: bool,
    family: int,
    ifindex: int,
    dst: bytes,
    lladdr: bytes | None = None,
) -> Message:
    """A permanent neighbour (ARP/NDP) entry; an add replaces what sits at its key."""
    if not delete and family == socket.AF_INET and lladdr is not None and len(lladdr) == 6:
        body = _V4_NEIGH.pack(
            family, 0, 0, ifindex, NUD_PERMANENT, 0, 0, 8, NDA_DST, dst, 10, NDA_LLADDR, lladdr
        )
        return RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, body
    return neighbour_message_any(
        delete=delete, family=family, ifindex=ifindex, dst=dst, lladdr=lladdr
    )


def neighbour_message_any(
    *,
    delete: bool,
    family: int,
    ifindex: int,
    dst: bytes,
    lladdr: bytes | None = None,
) -> Message:
    """`neighbour_message` by the general encoder."""
    if delete:
        head = NDMSG.pack(family, 0, 0, ifindex, 0, 0, 0)
        return RTM_DELNEIGH, 0, head + attr(NDA_DST, dst)
    head = NDMSG.pack(family, 0, 0, ifindex, NUD_PERMANENT, 0, 0)
    body = head + attr(NDA_DST, dst) + attr(NDA_LLADDR, lladdr or b"")
    return RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, body


def fdb_message(
    *,
    delete: bool,
    ifindex: int,
    lladdr: bytes,
    dst: bytes,
    replace: bool = False,
) -> Message:
    """A permanent `self` fdb entry on a VTEP (`bridge fdb append MAC dev D dst IP self`).

    NLM_F_APPEND, not REPLACE: one MAC may have several remotes on a VTEP, and our
    key is (dev, MAC, dst); appending a remote that is already there is a no-op
    in `vxlan_fdb_update_existing`. A delete names the remote, so it removes only it.
    """
    if not delete and len(lladdr) == 6 and len(dst) == 4:
        body = _V4_FDB.pack(
            AF_BRIDGE, 0, 0, ifindex, NUD_PERMANENT, NTF_SELF, 0,
            10, NDA_LLADDR, lladdr, 8, NDA_DST, dst,
        )  # fmt: skip
        return RTM_NEWNEIGH, NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_APPEND), body
    return fdb_message_any(delete=delete, ifindex=ifindex, lladdr=lladdr, dst=dst, replace=replace)


def fdb_message_any(
    *,
    delete: bool,
    ifindex: int,
    lladdr: bytes,
    dst: bytes,
    replace: bool = False,
) -> Message:
    """`fdb_message` by the general encoder."""
    if delete:
        head = NDMSG.pack(AF_BRIDGE, 0, 0, ifindex, 0, NTF_SELF, 0)
        return RTM_DELNEIGH, 0, head + attr(NDA_LLADDR, lladdr) + attr(NDA_DST, dst)
    head = NDMSG.pack(AF_BRIDGE, 0, 0, ifindex, NUD_PERMANENT, NTF_SELF, 0)
    body = head + attr(NDA_LLADDR, lladdr) + attr(NDA_DST, dst)
    return RTM_NEWNEIGH, NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_APPEND), body


# ---------------------------------------------------------------- link and address dumps
# Link and address *requests* are pyroute2's (`_pyroute2`); only their dumps are read here.


def link_dump_request() -> bytes:
    """The RTM_GETLINK dump payload: every link, without statistics."""
    return IFINFOMSG.pack(0, 0, 0, 0, 0) + attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
