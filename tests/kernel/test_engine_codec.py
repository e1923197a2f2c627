"""The `struct` fast path must agree with pyroute2 (encoding and decoding) and the kernel.

The codec tests need no root: they check our encoders against pyroute2's decoders and
our decoders against pyroute2's encoders. Nexthop messages, which pyroute2 0.9.7 does
not know, are checked against the kernel and `ip -json` in a throwaway namespace.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING

import pytest
from _netns import ipj, quiet, sh, underlay
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from netwright.kernel import _nlcodec as nl

if TYPE_CHECKING:
    from collections.abc import Callable


def framed(message: nl.Message) -> bytes:
    kind, flags, payload = message
    return nl.HDR.pack(16 + len(payload), kind, nl.NLM_F_REQUEST | flags, 1, 0) + payload


def decode(cls: type, data: bytes) -> object:
    msg = cls(data)
    msg.decode()
    return msg


@pytest.mark.parametrize(
    ("family", "dst", "plen", "gw"),
    [
        (socket.AF_INET, "10.244.2.0", 24, "10.244.2.0"),
        (socket.AF_INET6, "fd00:244:2::", 64, "fe80::1"),
    ],
    ids=["v4", "v6"],
)
def test_route_encoder_matches_pyroute2_decoder(family: int, dst: str, plen: int, gw: str) -> None:
    raw = nl.route_message(
        delete=False,
        family=family,
        dst=ipaddress.ip_address(dst).packed,
        dst_len=plen,
        table=1000,
        metric=100,
        protocol=211,
        gateway=ipaddress.ip_address(gw).packed,
        oif=7,
        onlink=True,
    )
    msg = decode(rtmsg, framed(raw))
    assert msg["header"]["type"] == nl.RTM_NEWROUTE  # type: ignore[index]
    assert (
        msg["header"]["flags"] & (nl.NLM_F_CREATE | nl.NLM_F_EXCL)
        == nl.NLM_F_CREATE | nl.NLM_F_EXCL
    )  # type: ignore[index]
    assert (msg["family"], msg["dst_len"], msg["proto"], msg["type"], msg["flags"]) == (
        family,
        plen,
        211,
        1,
        nl.RTNH_F_ONLINK,
    )  # type: ignore[index]
    assert msg.get_attr("RTA_DST") == dst  # type: ignore[attr-defined]
    assert msg.get_attr("RTA_GATEWAY") == gw  # type: ignore[attr-defined]
    assert msg.get_attr("RTA_OIF") == 7  # type: ignore[attr-defined]
    assert msg.get_attr("RTA_PRIORITY") == 100  # type: ignore[attr-defined]
    assert msg.get_attr("RTA_TABLE") == 1000  # type: ignore[attr-defined]


def test_route_by_nexthop_and_delete_match_pyroute2() -> None:
    add = decode(
        rtmsg,
        framed(
            nl.route_message(
                delete=False,
                replace=True,
                family=socket.AF_INET,
                dst=bytes([10, 1, 0, 0]),
                dst_len=16,
                table=254,
                metric=0,
                protocol=211,
                nhid=42,
            )
        ),
    )
    # pyroute2 0.9.7 has no RTA_NH_ID (30) in its map: it must see exactly one unknown
    # 4-byte attribute of that type (the value itself is checked against the kernel below).
    unknown = [a[1]["header"] for a in add["attrs"] if a[0] == "UNKNOWN"]  # type: ignore[index]
    assert unknown == [{"length": 8, "type": nl.RTA_NH_ID}]
    assert add.get_attr("RTA_GATEWAY") is None  # type: ignore[attr-defined]
    assert add["header"]["flags"] & nl.NLM_F_REPLACE  # type: ignore[index]
    delete = decode(
        rtmsg,
        framed(
            nl.route_message(
                delete=True,
                family=socket.AF_INET,
                dst=bytes([10, 1, 0, 0]),
                dst_len=16,
                table=254,
                metric=0,
                protocol=211,
            )
        ),
    )
    assert delete["header"]["type"] == nl.RTM_DELROUTE  # type: ignore[index]
    assert (delete["proto"], delete["scope"], delete["type"]) == (211, nl.RT_SCOPE_NOWHERE, 0)  # type: ignore[index]


def test_route_decoder_matches_pyroute2_encoder() -> None:
    msg = rtmsg()
    msg["header"]["type"] = nl.RTM_NEWROUTE
    msg["family"] = socket.AF_INET
    msg["dst_len"] = 24
    msg["table"] = 254
    msg["proto"] = 211
    msg["type"] = 1
    msg["flags"] = nl.RTNH_F_ONLINK
    msg["attrs"] = [
        ("RTA_TABLE", 254),
        ("RTA_DST", "10.244.2.0"),
        ("RTA_GATEWAY", "172.31.255.12"),
        ("RTA_OIF", 3),
        ("RTA_PRIORITY", 20),
        ("RTA_PREFSRC", "10.244.1.1"),
    ]
    msg.encode()
    data = bytes(msg.data)
    route = nl.parse_route(data, 16, len(data))
    assert (route.family, route.dst, route.dst_len, route.table, route.metric, route.protocol) == (
        socket.AF_INET,
        bytes([10, 244, 2, 0]),
        24,
        254,
        20,
        211,
    )
    assert route.gateway == bytes([172, 31, 255, 12])
    assert route.oif == 3
    assert route.src == bytes([10, 244, 1, 1])
    assert route.flags & nl.RTNH_F_ONLINK
    assert route.nhid == 0


def test_neighbour_and_fdb_encoders_match_pyroute2() -> None:
    mac = bytes.fromhex("0e6eac1fff0c")
    n = decode(
        ndmsg,
        framed(
            nl.neighbour_message(
                delete=False,
                family=socket.AF_INET,
                ifindex=5,
                dst=bytes([10, 244, 2, 0]),
                lladdr=mac,
            )
        ),
    )
    assert (n["family"], n["ifindex"], n["state"]) == (socket.AF_INET, 5, nl.NUD_PERMANENT)  # type: ignore[index]
    assert n.get_attr("NDA_DST") == "10.244.2.0"  # type: ignore[attr-defined]
    assert n.get_attr("NDA_LLADDR") == "0e:6e:ac:1f:ff:0c"  # type: ignore[attr-defined]
    f = decode(
        ndmsg,
        framed(nl.fdb_message(delete=False, ifindex=5, lladdr=mac, dst=bytes([172, 31, 255, 12]))),
    )
    assert (f["family"], f["ifindex"], f["state"], f["flags"]) == (
        nl.AF_BRIDGE,
        5,
        nl.NUD_PERMANENT,
        nl.NTF_SELF,
    )  # type: ignore[index]
    assert f["header"]["flags"] & nl.NLM_F_APPEND  # type: ignore[index]
    assert f.get_attr("NDA_DST") == "172.31.255.12"  # type: ignore[attr-defined]
    assert f.get_attr("NDA_LLADDR") == "0e:6e:ac:1f:ff:0c"  # type: ignore[attr-defined]


def test_neighbour_decoder_matches_pyroute2_encoder() -> None:
    msg = ndmsg()
    msg["header"]["type"] = nl.RTM_NEWNEIGH
    msg["family"] = socket.AF_INET6
    msg["ifindex"] = 9
    msg["state"] = nl.NUD_PERMANENT
    msg["attrs"] = [("NDA_DST", "fd00::1"), ("NDA_LLADDR", "0e:6e:ac:1f:ff:0c")]
    msg.encode()
    data = bytes(msg.data)
    raw = nl.parse_neighbour(data, 16, len(data))
    assert (raw.family, raw.ifindex, raw.state) == (socket.AF_INET6, 9, nl.NUD_PERMANENT)
    assert raw.dst == ipaddress.ip_address("fd00::1").packed
    assert raw.lladdr == bytes.fromhex("0e6eac1fff0c")


@pytest.mark.kernel
@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="kernel tests need root")
def test_nexthops_and_batches_against_the_kernel(netns: Callable[[str], str]) -> None:
    from netwright.kernel._netns import entered

    ns = netns("codec")
    quiet(ns)
    underlay(ns, "172.31.255.11/24")
    ifindex = next(lk["ifindex"] for lk in ipj(ns, "ip", "link", "show") if lk["ifname"] == "eth0")
    with entered(ns):
        sock = nl.Socket()
    try:
        msgs = [
            nl.nexthop_message(
                delete=False,
                nhid=100 + i,
                family=socket.AF_INET,
                protocol=211,
                gateway=bytes([172, 31, 255, 20 + i]),
                oif=ifindex,
                onlink=i % 2 == 1,
            )
            for i in range(3)
        ]
        msgs += [
            nl.route_message(
                delete=False,
                family=socket.AF_INET,
                dst=bytes([10, 64, i, 0]),
                dst_len=24,
                table=254,
                metric=0,
                protocol=211,
                nhid=100 + i,
            )
            for i in range(3)
        ]
        msgs.append(
            nl.nexthop_message(
                delete=False,
                nhid=100,
                family=socket.AF_INET,
                protocol=211,
                gateway=bytes([172, 31, 255, 99]),
                oif=ifindex,
            )
        )  # EEXIST
        failures = sock.transact(msgs)
        assert [(f.index, f.errno) for f in failures] == [(6, 17)]
        shown = {n["id"]: n for n in ipj(ns, "ip", "nexthop", "show")}
        assert {
            i: (n["gateway"], n["dev"], n["protocol"], "onlink" in n.get("flags", []))
            for i, n in shown.items()
        } == {
            100: ("172.31.255.20", "eth0", "211", False),
            101: ("172.31.255.21", "eth0", "211", True),
            102: ("172.31.255.22", "eth0", "211", False),
        }
        dumped = [
            nl.parse_nexthop(d, o, e)
            for d, o, e in sock.dump(nl.RTM_GETNEXTHOP, nl.NHMSG.pack(0, 0, 0, 0, 0), what="nh")
        ]
        assert {
            (n.id, n.gateway, n.oif, n.protocol, bool(n.flags & nl.RTNH_F_ONLINK)) for n in dumped
        } == {(100 + i, bytes([172, 31, 255, 20 + i]), ifindex, 211, i % 2 == 1) for i in range(3)}
        routes = {r["dst"]: r.get("nhid") for r in ipj(ns, "ip", "route", "show", "proto", "211")}
        assert routes == {"10.64.0.0/24": 100, "10.64.1.0/24": 101, "10.64.2.0/24": 102}
        assert (
            sock.transact([nl.nexthop_message(delete=True, nhid=100 + i) for i in range(3)]) == []
        )
        assert ipj(ns, "ip", "route", "show", "proto", "211") == []  # routes go with their nexthop
    finally:
        sock.close()
    sh(ns, "ip", "link", "show")
