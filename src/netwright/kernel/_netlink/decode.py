"""rtnetlink decoders: a message as a named tuple of its raw fields, uninterpreted.

Why it exists: every run reads links, addresses, routes, nexthops and entries, and
a no-op must not pay `import pyroute2` (about 100 ms per process) to read them.
These full parses are the reference the fast parser (`fastparse`) is checked
against. The hard cases: IPv4 and IPv6 share the route dump; the table may sit in
`rtm_table` (< 256) or only in RTA_TABLE; an IPv4 route's missing RTA_PRIORITY
means metric 0. What it must not do: interpret what it parses (ownership and keys
are the engine's business).
"""

from __future__ import annotations

import socket
from typing import Any, NamedTuple

from netwright.kernel._netlink.constants import (
    BE16,
    IFA_ADDRESS,
    IFA_LOCAL,
    IFADDRMSG,
    IFINFOMSG,
    IFLA_ADDRESS,
    IFLA_IFALIAS,
    IFLA_IFNAME,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    IFLA_MASTER,
    IFLA_MTU,
    IFLA_VXLAN_ID,
    IFLA_VXLAN_LEARNING,
    IFLA_VXLAN_LINK,
    IFLA_VXLAN_LOCAL,
    IFLA_VXLAN_LOCAL6,
    IFLA_VXLAN_PORT,
    NDA_DST,
    NDA_LLADDR,
    NDMSG,
    NHA_BLACKHOLE,
    NHA_GATEWAY,
    NHA_GROUP,
    NHA_ID,
    NHA_OIF,
    NHMSG,
    RTA,
    RTA_DST,
    RTA_GATEWAY,
    RTA_MULTIPATH,
    RTA_NH_ID,
    RTA_OIF,
    RTA_PREFSRC,
    RTA_PRIORITY,
    RTA_TABLE,
    RTMSG,
    U32,
)


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


# ---------------------------------------------------------------- decoded records
# Named tuples, not dataclasses: a dump yields thousands, and a frozen dataclass's
# __init__ (one object.__setattr__ per field) cost three times the parse itself.


def field_numbers(record: type[tuple[Any, ...]], *names: str) -> tuple[int, ...]:
    """Where fields `names` sit in a record type: what the fast path reads by number.

    `FastParser.match_run` and `columns` take field numbers (they read tuples in C);
    callers name the fields, and a renamed or reordered field fails here, at import.
    """
    fields: tuple[str, ...] = record._fields  # type: ignore[attr-defined]
    return tuple(fields.index(name) for name in names)


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
