"""A small rtnetlink codec: routes, nexthop objects, neighbours, fdb; link and address dumps.

Why it exists: at thousands of peers, pyroute2's generic message classes cost more
than the kernel work they describe (issue 4: 2.7 s of 3.4 s for 5,000 routes is
message building; a full parse of a route dump costs 0.8 s where a `struct` parse
filtered by protocol costs 45 ms), and pyroute2 0.9.7 has no nexthop object API at
all. So the objects that come by the thousand are packed and parsed here with
`struct`, sent many per `send()` with one acknowledgement barrier at the end
(`Socket.transact`, which also carries the link and address requests pyroute2
encodes: `_pyroute2`). Link and address *dumps* are parsed here too, for another
reason: every run reads them, and a no-op run must not pay `import pyroute2` (about
100 ms per process) to read a handful of links.

What it must not do: interpret what it parses (ownership and keys are the engine's
business), drift from the kernel's layout, or encode link and address requests
(pyroute2 does, issue 4). `tests/kernel/test_engine_codec.py` checks every encoder
against pyroute2's decoder and every decoder (link and address ones included)
against pyroute2's encoder, nexthop messages (unknown to pyroute2) and the link and
address dumps against the kernel and `ip -json`.

The hard cases, each handled below:

- Errors arrive asynchronously: messages sent without NLM_F_ACK stay silent on
  success and answer with an NLMSG_ERROR carrying their sequence number on failure.
  A final NLMSG_NOOP with NLM_F_ACK is the barrier: rtnetlink handles a socket's
  messages in order and synchronously inside `send()`, so once the barrier's ack
  arrives every earlier error has been queued before it (`netlink_rcv_skb`).
- Thousands of errors could overflow the receive buffer: NETLINK_CAP_ACK keeps each
  error at 36 bytes, the buffer is forced large, and pending errors are drained
  between chunks.
- A dump can be interrupted by a concurrent change (NLM_F_DUMP_INTR): the dump is
  retried, a few times, then reported.
- IPv4 and IPv6 share the route dump; the table may sit in `rtm_table` (< 256) or
  only in RTA_TABLE; an IPv4 route's missing RTA_PRIORITY means metric 0.
"""

from __future__ import annotations

import errno as errno_mod
import functools
import itertools
import operator
import os
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from netwright.errors import KernelError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

# netlink
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLMSGERR_ATTR_MSG = 1

# rtnetlink message types
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWNEIGH = 28
RTM_DELNEIGH = 29
RTM_GETNEIGH = 30
RTM_NEWNEXTHOP = 104
RTM_DELNEXTHOP = 105
RTM_GETNEXTHOP = 106

# links
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_EXT_MASK = 29
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_VXLAN_ID = 1
IFLA_VXLAN_LINK = 3
IFLA_VXLAN_LOCAL = 4
IFLA_VXLAN_LEARNING = 7
IFLA_VXLAN_PORT = 15
IFLA_VXLAN_LOCAL6 = 17
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFF_UP = 0x1

# addresses
IFA_ADDRESS = 1
IFA_LOCAL = 2

# routes
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_PREFSRC = 7
RTA_MULTIPATH = 9
RTA_TABLE = 15
RTA_NH_ID = 30
RTN_UNSPEC = 0
RTN_UNICAST = 1
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255
RTNH_F_ONLINK = 4
RT_TABLE_UNSPEC = 0

# nexthop objects
NHA_ID = 1
NHA_GROUP = 2
NHA_BLACKHOLE = 4
NHA_OIF = 5
NHA_GATEWAY = 6

# neighbours and fdb
NDA_DST = 1
NDA_LLADDR = 2
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
AF_BRIDGE = 7

HDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")
IFADDRMSG = struct.Struct("=BBBBI")
RTMSG = struct.Struct("=BBBBBBBBI")
NHMSG = struct.Struct("=BBBBI")
NDMSG = struct.Struct("=BBHiHBB")
RTA = struct.Struct("=HH")
U32 = struct.Struct("=I")
BE16 = struct.Struct(">H")
I32 = struct.Struct("=i")

_CHUNK = 64 * 1024
_RCVBUF = 32 * 1024 * 1024
_SNDBUF = 4 * 1024 * 1024

FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
INET = (socket.AF_INET, socket.AF_INET6)


def attr(kind: int, payload: bytes) -> bytes:
    size = 4 + len(payload)
    return RTA.pack(size, kind) + payload + b"\0" * (-size % 4)


def attr_u32(kind: int, value: int) -> bytes:
    return RTA.pack(8, kind) + U32.pack(value)


def attrs(data: bytes, start: int, end: int) -> dict[int, bytes]:
    """The attributes of one message as {type: payload} (nested ones stay raw)."""
    out: dict[int, bytes] = {}
    off = start
    unpack = RTA.unpack_from
    while off + 4 <= end:
        size, kind = unpack(data, off)
        if size < 4:
            break
        out[kind & 0x3FFF] = data[off + 4 : off + size]
        off += (size + 3) & ~3
    return out


# ---------------------------------------------------------------- encoders
# Each returns (message type, flags, payload); `Socket.transact` adds the header.

Message = tuple[int, int, bytes]
#: Dumped messages sharing one header, back to back: (buffer, first payload start,
#: count, payload length); see `Socket.dump_runs`.
Run = tuple[bytes, int, int, int]


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


# ---------------------------------------------------------------- decoded records
# Named tuples, not dataclasses: a dump yields thousands, and a frozen dataclass's
# __init__ (one object.__setattr__ per field) cost three times the parse itself.


class RawRoute(NamedTuple):
    family: int
    dst: bytes
    dst_len: int
    table: int
    metric: int
    tos: int
    protocol: int
    type: int
    scope: int
    flags: int
    gateway: bytes | None
    oif: int
    src: bytes | None
    nhid: int
    multipath: bool


class RawNexthop(NamedTuple):
    id: int
    family: int
    protocol: int
    flags: int
    gateway: bytes | None
    oif: int
    group: bool
    blackhole: bool


class RawNeighbour(NamedTuple):
    family: int
    ifindex: int
    state: int
    flags: int
    dst: bytes | None
    lladdr: bytes | None


_ZERO4 = bytes(4)
_ZERO16 = bytes(16)
_u32 = U32.unpack
_rtmsg = RTMSG.unpack_from
_nhmsg = NHMSG.unpack_from
_ndmsg = NDMSG.unpack_from


def parse_route(data: bytes, off: int, end: int) -> RawRoute:
    family, dst_len, _src_len, tos, table, proto, scope, rtype, flags = _rtmsg(data, off)
    a = attrs(data, off + RTMSG.size, end)
    get = a.get
    raw_table = get(RTA_TABLE)
    if raw_table is not None:
        table = _u32(raw_table)[0]
    raw_metric = get(RTA_PRIORITY)
    raw_oif = get(RTA_OIF)
    raw_nhid = get(RTA_NH_ID)
    return RawRoute(
        family,
        get(RTA_DST) or (_ZERO4 if family == socket.AF_INET else _ZERO16),
        dst_len,
        table,
        0 if raw_metric is None else _u32(raw_metric)[0],
        tos,
        proto,
        rtype,
        scope,
        flags,
        get(RTA_GATEWAY),
        0 if raw_oif is None else _u32(raw_oif)[0],
        get(RTA_PREFSRC),
        0 if raw_nhid is None else _u32(raw_nhid)[0],
        RTA_MULTIPATH in a,
    )


def parse_nexthop(data: bytes, off: int, end: int) -> RawNexthop:
    family, _scope, proto, _resvd, flags = _nhmsg(data, off)
    a = attrs(data, off + NHMSG.size, end)
    get = a.get
    raw_id = get(NHA_ID)
    raw_oif = get(NHA_OIF)
    return RawNexthop(
        0 if raw_id is None else _u32(raw_id)[0],
        family,
        proto,
        flags,
        get(NHA_GATEWAY),
        0 if raw_oif is None else _u32(raw_oif)[0],
        NHA_GROUP in a,
        NHA_BLACKHOLE in a,
    )


def parse_neighbour(data: bytes, off: int, end: int) -> RawNeighbour:
    family, _p1, _p2, ifindex, state, flags, _type = _ndmsg(data, off)
    a = attrs(data, off + NDMSG.size, end)
    return RawNeighbour(family, ifindex, state, flags, a.get(NDA_DST), a.get(NDA_LLADDR))


class RawVxlan(NamedTuple):
    vni: int
    port: int
    learning: bool
    local: bytes | None
    link: int


class RawLink(NamedTuple):
    ifindex: int
    flags: int
    name: str
    mtu: int
    address: bytes | None
    alias: str | None
    master: int
    kind: str
    vxlan: RawVxlan | None


class RawAddress(NamedTuple):
    family: int
    prefixlen: int
    scope: int
    ifindex: int
    address: bytes | None  # IFA_LOCAL, else IFA_ADDRESS


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.split(b"\0", 1)[0].decode(errors="replace")


def parse_link(data: bytes, off: int, end: int) -> RawLink:
    _family, _type, index, flags, _change = IFINFOMSG.unpack_from(data, off)
    a = attrs(data, off + IFINFOMSG.size, end)
    raw_mtu = a.get(IFLA_MTU)
    raw_master = a.get(IFLA_MASTER)
    kind = ""
    vxlan = None
    info = a.get(IFLA_LINKINFO)
    if info is not None:
        i = attrs(info, 0, len(info))
        kind = _text(i.get(IFLA_INFO_KIND)) or ""
        raw_data = i.get(IFLA_INFO_DATA)
        if kind == "vxlan" and raw_data is not None:
            d = attrs(raw_data, 0, len(raw_data))
            vni, port, learning, link = (
                d.get(IFLA_VXLAN_ID),
                d.get(IFLA_VXLAN_PORT),
                d.get(IFLA_VXLAN_LEARNING),
                d.get(IFLA_VXLAN_LINK),
            )
            vxlan = RawVxlan(
                0 if vni is None else _u32(vni[:4])[0],
                0 if port is None else BE16.unpack(port[:2])[0],
                bool(learning and learning[0]),
                d.get(IFLA_VXLAN_LOCAL) or d.get(IFLA_VXLAN_LOCAL6),
                0 if link is None else _u32(link[:4])[0],
            )
    return RawLink(
        index,
        flags,
        _text(a.get(IFLA_IFNAME)) or "",
        0 if raw_mtu is None else _u32(raw_mtu[:4])[0],
        a.get(IFLA_ADDRESS),
        _text(a.get(IFLA_IFALIAS)),
        0 if raw_master is None else _u32(raw_master[:4])[0],
        kind,
        vxlan,
    )


def parse_address(data: bytes, off: int, end: int) -> RawAddress:
    family, prefixlen, _flags, scope, index = IFADDRMSG.unpack_from(data, off)
    a = attrs(data, off + IFADDRMSG.size, end)
    return RawAddress(family, prefixlen, scope, index, a.get(IFA_LOCAL) or a.get(IFA_ADDRESS))


# ---------------------------------------------------------------- the fast path for dumps
#
# A dump of thousands of routes, nexthops or neighbours repeats a handful of message
# layouts: the same attributes, in the same order, with the same sizes. Walking the
# attributes of each message in Python costs about 1 us per attribute; for a layout
# seen before, one `Struct.unpack_from` reads the header, every attribute header and
# every value at once, and a C-level comparison of the attribute headers (plus the
# family) proves the message really has that layout. Anything else (a new layout, an
# attribute the record cannot express such as RTA_MULTIPATH or NHA_GROUP, trailing
# bytes) takes the full parse above, which stays the reference: the tests compare
# both on pyroute2-encoded and kernel-dumped messages.


def _maker(cls: type) -> Callable[[Iterable[Any]], Any]:
    """`cls._make` without its Python frame and length check (`pick` gives every field)."""
    return functools.partial(tuple.__new__, cls)


class _Head(NamedTuple):
    """A field's default: header field number `at` (e.g. rtm_table without RTA_TABLE)."""

    at: int


class _Layout(NamedTuple):
    unpack: Callable[[bytes, int], tuple[Any, ...]]
    check: Callable[[tuple[Any, ...]], Any]  # picks the family and attribute headers
    expected: Any
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]  # the record's fields from vals+defaults
    defaults: tuple[Any, ...]
    run: struct.Struct  # the same layout behind its 16-byte header, padded: a run of messages
    picks: tuple[int, ...]  # where each record field sits in vals+defaults
    family: bytes  # the family byte `check` expects
    heads: tuple[tuple[int, bytes], ...]  # each attribute header: (payload offset, its bytes)


class FastParser:
    """Parses one kind of message through cached layouts, falling back to `slow`.

    `head`: struct format of the fixed header (its first field is the family).
    `u32` / `raw`: attribute types read as a u32 or as bytes; `refuse`: types whose
    presence sends the message to the full parse; others are skipped. `fields`: for
    each record field, ("head", i), ("attr", type, default) or ("const", value); a
    default may be `_Head(i)` or a dict by family.
    """

    def __init__(
        self,
        *,
        head: str,
        u32: frozenset[int],
        raw: frozenset[int],
        refuse: frozenset[int],
        fields: Sequence[tuple[Any, ...]],
        make: Callable[[Iterable[Any]], Any],
        slow: Callable[[bytes, int, int], Any],
    ) -> None:
        self.head = head
        self.head_size = struct.calcsize("=" + head)
        self.head_count = len(struct.unpack("=" + head, bytes(self.head_size)))
        self.u32, self.raw, self.refuse = u32, raw, refuse
        self.fields = fields
        self.make = make
        self.slow = slow
        self.layouts: dict[int, _Layout | None] = {}

    def _compile(self, data: bytes, off: int, end: int) -> _Layout | None:
        fmt = ["=", self.head]
        n = self.head_count
        checks = [0]
        expected: list[int] = [data[off]]
        where: dict[int, int] = {}
        heads: list[tuple[int, bytes]] = []
        pos = off + self.head_size
        while pos + 4 <= end:
            size, kind = RTA.unpack_from(data, pos)
            if size < 4 or pos + size > end:
                return None
            plain = kind & 0x3FFF
            if plain in self.refuse or plain in where:
                return None
            pad = (-size) % 4
            heads.append((pos - off, data[pos : pos + 4]))
            fmt.append("HH")
            checks += [n, n + 1]
            expected += [size, kind]
            n += 2
            if plain in self.u32 and size == 8:
                fmt.append("I")
                where[plain] = n
                n += 1
            elif plain in self.raw:
                fmt.append(f"{size - 4}s")
                where[plain] = n
                n += 1
            elif size > 4:
                fmt.append(f"{size - 4}x")
            if pad:
                fmt.append(f"{pad}x")
            pos += size + pad
        unpack = struct.Struct("".join(fmt))
        if unpack.size != end - off:
            return None
        run = struct.Struct("=16x" + "".join(fmt[1:]) + "x" * (-(end - off) % 4))
        defaults: list[Any] = []
        picks = []
        for spec in self.fields:
            if spec[0] == "head":
                picks.append(spec[1])
            elif spec[0] == "attr" and spec[1] in where:
                picks.append(where[spec[1]])
            elif spec[0] == "attr" and isinstance(spec[2], _Head):
                picks.append(spec[2].at)
            else:
                default = spec[-1]
                if isinstance(default, dict):
                    default = default.get(data[off])
                picks.append(n + len(defaults))
                defaults.append(default)
        return _Layout(
            unpack.unpack_from,
            operator.itemgetter(*checks),
            tuple(expected) if len(checks) > 1 else expected[0],
            operator.itemgetter(*picks),
            tuple(defaults),
            run,
            tuple(picks),
            data[off : off + 1],
            tuple(heads),
        )

    def __call__(self, data: bytes, off: int, end: int) -> Any:
        length = end - off
        layout = self.layouts.get(length)
        if layout is not None:
            vals = layout.unpack(data, off)
            if layout.check(vals) == layout.expected:
                return self.make(layout.pick(vals + layout.defaults))
        if len(self.layouts) >= 64 and length not in self.layouts:
            self.layouts.clear()  # a long-lived parser: keep learning, within bounds
        self.layouts[length] = self._compile(data, off, end)
        return self.slow(data, off, end)

    def parse_runs(self, runs: Sequence[Run]) -> list[Any]:
        """Every message of `runs` (`Socket.dump_runs`), in order, as `self` parses it.

        A run of same-length messages whose layout is known is unpacked by one
        `iter_unpack` (headers skipped: `dump_runs` has read them), its layout
        checks compared in C, and its records built by `map`, so no Python code
        runs per message. A message that fails its check takes the full parse.
        """
        out: list[Any] = []
        for data, start_off, all_count, length in runs:
            off, count = start_off, all_count
            stride = (length + 19) & ~3
            if length not in self.layouts:  # the first of its length: parse it, compile
                out.append(self(data, off, off + length))
                off, count = off + stride, count - 1
            layout = self.layouts.get(length)
            if layout is None or count <= 1:
                out.extend(
                    self(data, o, o + length) for o in range(off, off + count * stride, stride)
                )
                continue
            start = off - 16
            vals = list(
                layout.run.iter_unpack(memoryview(data)[start : start + count * layout.run.size])
            )
            expected = layout.expected
            checks = list(map(layout.check, vals))
            defaults = itertools.repeat(layout.defaults)
            if checks.count(expected) == count:
                out.extend(map(self.make, map(layout.pick, map(tuple.__add__, vals, defaults))))
                continue
            for k, v in enumerate(vals):
                if checks[k] == expected:
                    out.append(self.make(layout.pick(v + layout.defaults)))
                else:
                    o = off + k * layout.run.size
                    out.append(self.slow(data, o, o + length))
        return out

    def _unpack_run(self, run: Run) -> tuple[_Layout, list[tuple[Any, ...]]] | None:
        """The layout of `run` and each message's values, if every message has it."""
        data, off, count, length = run
        if length not in self.layouts and count > 1:
            if len(self.layouts) >= 64:
                self.layouts.clear()
            self.layouts[length] = self._compile(data, off, off + length)
        layout = self.layouts.get(length)
        if layout is None or count < 2:
            return None
        start = off - 16
        size = layout.run.size
        # `layout.check` for every message at once: its family byte and attribute
        # headers, each read across the run with one strided slice.
        view = memoryview(data)
        span = (count - 1) * size
        if view[off : off + span + 1 : size].tobytes() != layout.family * count:
            return None
        step = size // 4
        for at, head in layout.heads:
            if view[off + at : off + at + span + 4].cast("I")[::step].tobytes() != head * count:
                return None
        return layout, list(layout.run.iter_unpack(view[start : start + count * size]))

    def columns(self, run: Run, fields: Sequence[int]) -> list[Sequence[Any]] | None:
        """Record fields `fields` of every message of `run`, one sequence per field,
        without building a record; None when `match_run` would return None."""
        unpacked = self._unpack_run(run)
        if unpacked is None:
            return None
        layout, vals = unpacked
        across = list(zip(*vals, strict=True))
        width = len(across)
        out: list[Sequence[Any]] = []
        for f in fields:
            at = layout.picks[f]
            out.append(across[at] if at < width else [layout.defaults[at - width]] * len(vals))
        return out

    def match_run(
        self, run: Run, key: Sequence[int], table: Mapping[Any, Any], also: Sequence[int]
    ) -> tuple[list[Any], list[Any], list[Any]] | None:
        """Split one run by a lookup, without building records for the hits.

        `key`: record field numbers (two or more); `also`: record field numbers
        (none: no values; one: the field's value; more: a tuple). Returns the
        `table` values of the messages whose record fields `key`, as a tuple, are
        a key of `table` (a value is never None), the record fields `also` of each
        of those, and the records of the other messages, in order; every value is
        what `self` would parse. None when the run has no compiled layout or a
        message fails its check: then `parse_runs` is the way.
        """
        unpacked = self._unpack_run(run)
        if unpacked is None:
            return None
        layout, vals = unpacked
        count = len(vals)
        picks = layout.picks
        width = len(vals[0])
        if all(picks[f] < width for f in (*key, *also)):
            full = vals  # every field needed is in the message: no defaults to add
        else:
            full = list(map(tuple.__add__, vals, itertools.repeat(layout.defaults)))
        hits = list(map(table.get, map(operator.itemgetter(*(picks[f] for f in key)), full)))
        alsos = list(map(operator.itemgetter(*(picks[f] for f in also)), full)) if also else []
        if None not in hits:
            return hits, alsos, []
        defaults = layout.defaults if full is vals else ()
        if hits.count(None) == count:  # no hit (a removal): every record, built in C
            rows = map(tuple.__add__, full, itertools.repeat(defaults)) if defaults else full
            return [], [], list(map(self.make, map(layout.pick, rows)))
        rest = [self.make(layout.pick(full[k] + defaults)) for k, h in enumerate(hits) if h is None]
        kept = [k for k, h in enumerate(hits) if h is not None]
        return [hits[k] for k in kept], [alsos[k] for k in kept] if also else [], rest


def route_parser() -> FastParser:
    """`parse_route`, through cached layouts."""
    return FastParser(
        head="BBBBBBBBI",
        u32=frozenset({RTA_TABLE, RTA_PRIORITY, RTA_OIF, RTA_NH_ID}),
        raw=frozenset({RTA_DST, RTA_GATEWAY, RTA_PREFSRC}),
        refuse=frozenset({RTA_MULTIPATH}),
        fields=(
            ("head", 0),
            ("attr", RTA_DST, {socket.AF_INET: _ZERO4, socket.AF_INET6: _ZERO16}),
            ("head", 1),
            ("attr", RTA_TABLE, _Head(4)),
            ("attr", RTA_PRIORITY, 0),
            ("head", 3),
            ("head", 5),
            ("head", 7),
            ("head", 6),
            ("head", 8),
            ("attr", RTA_GATEWAY, None),
            ("attr", RTA_OIF, 0),
            ("attr", RTA_PREFSRC, None),
            ("attr", RTA_NH_ID, 0),
            ("const", False),
        ),
        make=_maker(RawRoute),
        slow=parse_route,
    )


# ---------------------------------------------------------------- the socket


@dataclass(frozen=True, slots=True)
class Failure:
    """The kernel refused message number `index` of a batch."""

    index: int
    errno: int
    message: str  # the kernel's extended ack text, "" when it sent none

    def __str__(self) -> str:
        name = errno_mod.errorcode.get(self.errno, str(self.errno))
        text = f"{name} ({os.strerror(self.errno)})"
        return f"{text}: {self.message}" if self.message else text


class Socket:
    """One NETLINK_ROUTE socket, created in whatever namespace the thread is in."""

    def __init__(self) -> None:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        try:
            sock.bind((0, 0))
            for opt, size in ((33, _RCVBUF), (32, _SNDBUF)):  # SO_RCVBUFFORCE, SO_SNDBUFFORCE
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, size)
                except PermissionError:
                    base = socket.SO_RCVBUF if opt == 33 else socket.SO_SNDBUF
                    sock.setsockopt(socket.SOL_SOCKET, base, size)
            sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._seq = 1
        self._buf = bytearray(1 << 20)
        self._strides: dict[int, struct.Struct] = {}

    def close(self) -> None:
        self._sock.close()

    def _next_seq(self, count: int = 1) -> int:
        seq = self._seq
        self._seq = (self._seq + count) & 0x7FFFFFFF or 1
        return seq

    def _recv(self, flags: int = 0) -> bytes:
        n = self._sock.recv_into(self._buf, len(self._buf), flags)
        return bytes(self._buf[:n])

    @staticmethod
    def _error(data: bytes, off: int, end: int, flags: int) -> tuple[int, str]:
        code = -I32.unpack_from(data, off + 16)[0]
        text = ""
        if flags & NLM_F_ACK_TLVS:
            start = off + 16 + 4 + 16
            if not flags & NLM_F_CAPPED:
                start = off + 16 + 4 + HDR.unpack_from(data, off + 20)[0]
            tlv = attrs(data, start, end)
            if NLMSGERR_ATTR_MSG in tlv:
                text = tlv[NLMSGERR_ATTR_MSG].rstrip(b"\0").decode(errors="replace")
        return code, text

    def dump(self, kind: int, payload: bytes, *, what: str) -> list[tuple[bytes, int, int]]:
        """All answers to one dump request, as (buffer, payload start, message end)."""
        out: list[tuple[bytes, int, int]] = []
        for data, off, count, length in self.dump_runs(kind, payload, what=what):
            if count == 1:
                out.append((data, off, off + length))
            else:
                stride = (length + 19) & ~3
                stop = off + count * stride
                out.extend(
                    zip(
                        itertools.repeat(data, count),
                        range(off, stop, stride),
                        range(off + length, stop, stride),
                        strict=True,
                    )
                )
        return out

    def dump_runs(self, kind: int, payload: bytes, *, what: str) -> list[Run]:
        """All answers to one dump request, as runs of back-to-back identical headers.

        Each run is (buffer, first payload start, message count, payload length):
        its messages share one header (length, type, flags, sequence number, port),
        so one check of that header stands for all of them, and a run's headers are
        found by one `iter_unpack` per run instead of Python code per message. Only
        the first header of a run is read in Python; the next ones are compared
        with it in C, and the run ends at the first that differs (each equal header
        has the same length, so the next message really starts one stride later).
        """
        for _attempt in range(5):
            seq = self._next_seq()
            self._sock.send(
                HDR.pack(16 + len(payload), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + payload
            )
            out: list[Run] = []
            interrupted = False
            done = False
            while not done:
                data = self._recv()
                size = len(data)
                view = memoryview(data)
                off = 0
                while off + 16 <= size:
                    head = HDR.unpack_from(data, off)
                    length, mtype, flags, mseq, _pid = head
                    if length < 16:
                        break
                    stride = (length + 3) & ~3
                    count = 1
                    fit = (size - off) // stride
                    if fit > 1 and mseq == seq and mtype not in (NLMSG_DONE, NLMSG_ERROR):
                        step = self._strides.get(stride)
                        if step is None:
                            step = self._strides[stride] = struct.Struct(f"=IHHII{stride - 16}x")
                        same = itertools.takewhile(
                            head.__eq__, step.iter_unpack(view[off : off + fit * stride])
                        )
                        count = len(list(same))
                    end = off + length
                    if mseq == seq:
                        if flags & NLM_F_DUMP_INTR:
                            interrupted = True
                        if mtype == NLMSG_DONE:
                            done = True
                        elif mtype == NLMSG_ERROR:
                            code, text = self._error(data, off, end, flags)
                            if code:
                                raise OSError(code, f"{what}: {os.strerror(code)} {text}".rstrip())
                            done = True
                        else:
                            out.append((data, off + 16, count, length - 16))
                    off += count * stride
            if not interrupted:
                return out
        raise KernelError(f"{what}: the dump kept being interrupted by concurrent changes")

    def transact(self, messages: Sequence[Message]) -> list[Failure]:
        """Send `messages` in order, many per send(), and wait for one ack barrier.

        Returns the failures by index into `messages`; an empty list means all done.
        """
        if not messages:
            return []
        base = self._next_seq(len(messages) + 1)
        barrier = (base + len(messages)) & 0x7FFFFFFF
        failures: list[Failure] = []
        chunk: list[bytes] = []
        size = 0
        for i, (kind, flags, payload) in enumerate(messages):
            seq = (base + i) & 0x7FFFFFFF
            chunk.append(HDR.pack(16 + len(payload), kind, NLM_F_REQUEST | flags, seq, 0))
            chunk.append(payload)
            size += 16 + len(payload)
            if size >= _CHUNK:
                self._sock.send(b"".join(chunk))
                chunk, size = [], 0
                self._drain(base, len(messages), barrier, failures, block=False)
        chunk.append(HDR.pack(16, NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, barrier, 0))
        self._sock.send(b"".join(chunk))
        self._drain(base, len(messages), barrier, failures, block=True)
        return failures

    def _drain(
        self,
        base: int,
        count: int,
        barrier: int,
        failures: list[Failure],
        *,
        block: bool,
    ) -> None:
        while True:
            try:
                data = self._recv(0 if block else socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            off = 0
            while off + 16 <= len(data):
                length, mtype, flags, mseq, _pid = HDR.unpack_from(data, off)
                if length < 16:
                    break
                end = off + length
                if mtype == NLMSG_ERROR:
                    code, text = self._error(data, off, end, flags)
                    if mseq == barrier:
                        return
                    index = (mseq - base) & 0x7FFFFFFF
                    if code and index < count:
                        failures.append(Failure(index, code, text))
                off = (end + 3) & ~3


def chunks(items: Iterable[Message], size: int) -> Iterator[list[Message]]:
    batch: list[Message] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def nexthop_parser() -> FastParser:
    """`parse_nexthop`, through cached layouts (groups and blackholes: the full parse)."""
    return FastParser(
        head="BBBBI",
        u32=frozenset({NHA_ID, NHA_OIF}),
        raw=frozenset({NHA_GATEWAY}),
        refuse=frozenset({NHA_GROUP, NHA_BLACKHOLE}),
        fields=(
            ("attr", NHA_ID, 0),
            ("head", 0),
            ("head", 2),
            ("head", 4),
            ("attr", NHA_GATEWAY, None),
            ("attr", NHA_OIF, 0),
            ("const", False),
            ("const", False),
        ),
        make=_maker(RawNexthop),
        slow=parse_nexthop,
    )


def neighbour_parser() -> FastParser:
    """`parse_neighbour`, through cached layouts."""
    return FastParser(
        head="BBHiHBB",
        u32=frozenset(),
        raw=frozenset({NDA_DST, NDA_LLADDR}),
        refuse=frozenset(),
        fields=(
            ("head", 0),
            ("head", 3),
            ("head", 4),
            ("head", 5),
            ("attr", NDA_DST, None),
            ("attr", NDA_LLADDR, None),
        ),
        make=_maker(RawNeighbour),
        slow=parse_neighbour,
    )
