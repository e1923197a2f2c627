"""The `struct` fast path must agree with pyroute2 (encoding and decoding) and the kernel.

The codec tests need no root: they check our encoders against pyroute2's decoders (link
and address requests against the very bytes pyroute2's request compiler, `IPBatch`,
would send) and our decoders against pyroute2's encoders. Nexthop messages, which
pyroute2 0.9.7 does not know, and the link and address dumps are checked against the
kernel and `ip -json` in throwaway namespaces.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TYPE_CHECKING

import pytest
from _netns import ipj, quiet, sh, underlay
from pyroute2 import IPBatch
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from netwright.errors import KernelError
from netwright.kernel import _netlink as nl
from netwright.kernel._pyroute2 import Requests
from netwright.model.state import VxlanLink

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


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


# ---------------------------------------------------------------- links and addresses
#
# Their requests are pyroute2's own (`_pyroute2`): the tests below check that the
# session asks pyroute2 for the right request (the kwargs an `IPRoute` user would
# pass, for each model value), that the compiled bytes reach the socket unchanged but
# for what the socket owns (sequence, port, NLM_F_REQUEST, NLM_F_ACK), and that the
# codec's link and address decoders read pyroute2's requests back to the same values.

MAC = bytes.fromhex("0e6eac1fff0b")
V4 = ipaddress.ip_address("172.31.255.11").packed
V6 = ipaddress.ip_address("fd00::1").packed
VX4 = VxlanLink(vni=1, port=8472, local=ipaddress.ip_address("172.31.255.11"), dev="eth0")
VX6 = VxlanLink(vni=7, port=4789, local=ipaddress.ip_address("fd00::1"), learning=True)


def pyroute2_request(call: str, *args: object, **kwargs: object) -> bytes:
    """What pyroute2 would send for `IPRoute().<call>(...)`: type, flags, payload."""
    batch = IPBatch()
    try:
        getattr(batch, call)(*args, **kwargs)
        data = bytes(batch.batch)
    finally:
        batch.close()
    return data[4:8] + data[16:]  # the header without length, sequence number and port


def ours(message: nl.Message) -> bytes:
    kind, flags, payload = message
    return framed((kind, flags | nl.NLM_F_ACK, payload))[4:8] + payload


@pytest.fixture(scope="module")
def requests() -> Iterator[Requests]:
    compiler = Requests()
    try:
        yield compiler
    finally:
        compiler.close()


LINK_AND_ADDRESS_REQUESTS = [
    pytest.param(
        ("link", "add", {"ifname": "cni0", "kind": "bridge", "mtu": 1450}),
        ("link_create", {"name": "cni0", "kind": "bridge", "mtu": 1450}),
        id="create-bridge",
    ),
    pytest.param(
        ("link", "add", {"ifname": "cni0", "kind": "bridge"}),
        ("link_create", {"name": "cni0", "kind": "bridge"}),
        id="create-bridge-bare",
    ),
    pytest.param(
        (
            "link",
            "add",
            {
                "ifname": "nwvx.1",
                "kind": "vxlan",
                "mtu": 1450,
                "address": "0e:6e:ac:1f:ff:0b",
                "vxlan_id": 1,
                "vxlan_port": 8472,
                "vxlan_learning": 0,
                "vxlan_local": "172.31.255.11",
                "vxlan_link": 2,
            },
        ),
        (
            "link_create",
            {
                "name": "nwvx.1",
                "kind": "vxlan",
                "mtu": 1450,
                "mac": "0e:6e:ac:1f:ff:0b",
                "vxlan": VX4,
                "vxlan_link": 2,
            },
        ),
        id="create-vxlan-v4",
    ),
    pytest.param(
        (
            "link",
            "add",
            {
                "ifname": "nwvx.1",
                "kind": "vxlan",
                "vxlan_id": 7,
                "vxlan_port": 4789,
                "vxlan_learning": 1,
                "vxlan_local6": "fd00::1",
            },
        ),
        ("link_create", {"name": "nwvx.1", "kind": "vxlan", "vxlan": VX6}),
        id="create-vxlan-v6-learning",
    ),
    pytest.param(
        ("link", "add", {"ifname": "nwprobe0", "kind": "ipip", "mtu": 0xFFFFFFFF}),
        ("link_probe", {"name": "nwprobe0", "kind": "ipip"}),
        id="probe-kind",
    ),
    pytest.param(
        ("link", "set", {"ifname": "cni0", "ifalias": "netwright", "state": "up"}),
        ("link_set", {"name": "cni0", "alias": "netwright", "up": True}),
        id="set-alias-up-by-name",
    ),
    pytest.param(
        ("link", "set", {"index": 5, "mtu": 1400, "address": "0e:6e:ac:1f:ff:0b", "state": "down"}),
        ("link_set", {"index": 5, "mtu": 1400, "mac": "0e:6e:ac:1f:ff:0b", "up": False}),
        id="set-mtu-mac-down",
    ),
    pytest.param(
        ("link", "set", {"index": 5, "mtu": 1400}),
        ("link_set", {"index": 5, "mtu": 1400}),
        id="set-mtu",
    ),
    pytest.param(
        ("link", "del", {"index": 5}), ("link_delete", {"index": 5}), id="delete-link"
    ),
    pytest.param(
        ("link", "del", {"ifname": "cni0"}),
        ("link_delete", {"name": "cni0"}),
        id="delete-link-by-name",
    ),
    pytest.param(
        ("addr", "add", {"index": 5, "address": "10.244.1.1", "prefixlen": 24}),
        ("address", {"delete": False, "index": 5, "address": ipaddress.ip_interface("10.244.1.1/24")}),
        id="add-address-v4",
    ),
    pytest.param(
        ("addr", "add", {"index": 5, "address": "fd00::1", "prefixlen": 64, "flags": 2}),  # IFA_F_NODAD
        ("address", {"delete": False, "index": 5, "address": ipaddress.ip_interface("fd00::1/64")}),
        id="add-address-v6",
    ),
    pytest.param(
        ("addr", "del", {"index": 5, "address": "10.244.1.1", "prefixlen": 24}),
        ("address", {"delete": True, "index": 5, "address": ipaddress.ip_interface("10.244.1.1/24")}),
        id="delete-address-v4",
    ),
    pytest.param(
        ("addr", "del", {"index": 5, "address": "fd00::1", "prefixlen": 64}),
        ("address", {"delete": True, "index": 5, "address": ipaddress.ip_interface("fd00::1/64")}),
        id="delete-address-v6",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("pyroute2_call", "session_call"), LINK_AND_ADDRESS_REQUESTS)
def test_link_and_address_requests_are_pyroute2s_own(
    requests: Requests,
    pyroute2_call: tuple[str, str, dict[str, object]],
    session_call: tuple[str, dict[str, object]],
) -> None:
    call, cmd, kwargs = pyroute2_call
    method, arguments = session_call
    message = getattr(requests, method)(**arguments)
    _kind, flags, _payload = message
    assert not flags & (nl.NLM_F_REQUEST | nl.NLM_F_ACK)  # the socket's business
    assert ours(message) == pyroute2_request(call, cmd, **kwargs)


def test_link_requests_read_back_through_the_codec(requests: Requests) -> None:
    kind, flags, payload = requests.link_create(
        name="nwvx.1", kind="vxlan", mtu=1450, mac="0e:6e:ac:1f:ff:0b", vxlan=VX4, vxlan_link=2
    )
    assert (kind, flags) == (nl.RTM_NEWLINK, nl.NLM_F_CREATE | nl.NLM_F_EXCL)
    assert nl.parse_link(payload, 0, len(payload)) == nl.RawLink(
        ifindex=0,
        flags=0,
        name="nwvx.1",
        mtu=1450,
        address=MAC,
        alias=None,
        master=0,
        kind="vxlan",
        vxlan=nl.RawVxlan(vni=1, port=8472, learning=False, local=V4, link=2),
    )
    _kind, _flags, payload = requests.link_create(name="nwvx.6", kind="vxlan", vxlan=VX6)
    assert nl.parse_link(payload, 0, len(payload)).vxlan == nl.RawVxlan(
        vni=7, port=4789, learning=True, local=V6, link=0
    )
    kind, flags, payload = requests.link_set(name="cni0", alias="netwright", up=True)
    assert (kind, flags) == (nl.RTM_NEWLINK, 0)
    raw = nl.parse_link(payload, 0, len(payload))
    assert (raw.ifindex, raw.flags, raw.name, raw.alias) == (0, nl.IFF_UP, "cni0", "netwright")
    assert nl.IFINFOMSG.unpack_from(payload, 0)[4] == nl.IFF_UP  # ifi_change: only IFF_UP
    kind, flags, payload = requests.link_set(index=5, mtu=1400)
    assert nl.IFINFOMSG.unpack_from(payload, 0)[2:] == (5, 0, 0)  # state left alone
    kind, _flags, payload = requests.link_probe(name="nwprobe0", kind="wireguard")
    raw = nl.parse_link(payload, 0, len(payload))
    assert (kind, raw.name, raw.mtu, raw.kind) == (
        nl.RTM_NEWLINK,
        "nwprobe0",
        0xFFFFFFFF,
        "wireguard",
    )


@pytest.mark.parametrize("address", ["10.244.1.1/24", "fd00::1/64"])
def test_address_requests_read_back_through_the_codec(requests: Requests, address: str) -> None:
    iface = ipaddress.ip_interface(address)
    for delete, (want_kind, want_flags) in (
        (False, (nl.RTM_NEWADDR, nl.NLM_F_CREATE | nl.NLM_F_EXCL)),
        (True, (nl.RTM_DELADDR, 0)),
    ):
        kind, flags, payload = requests.address(delete=delete, index=7, address=iface)
        assert (kind, flags) == (want_kind, want_flags)
        family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
        assert nl.parse_address(payload, 0, len(payload)) == nl.RawAddress(
            family, iface.network.prefixlen, 0, 7, iface.ip.packed
        )


def test_requests_compile_inside_a_running_event_loop() -> None:
    """pyroute2's synchronous API runs a loop of its own; a running one must not stop it."""

    async def inside() -> nl.Message:
        compiler = Requests()
        try:
            return compiler.link_create(name="cni0", kind="bridge", mtu=1450)
        finally:
            compiler.close()

    outside = Requests()
    try:
        assert asyncio.run(inside()) == outside.link_create(name="cni0", kind="bridge", mtu=1450)
    finally:
        outside.close()


def test_a_request_pyroute2_cannot_encode_names_the_object(requests: Requests) -> None:
    with pytest.raises(KernelError, match=r"^link cni0: pyroute2 cannot encode the request"):
        requests.link_create(name="cni0", kind="bridge", mac="not a mac")


def test_link_decoder_matches_pyroute2_encoder() -> None:
    msg = ifinfmsg()
    msg["header"]["type"] = nl.RTM_NEWLINK
    msg["index"] = 7
    msg["flags"] = nl.IFF_UP
    data_attrs = [
        ("IFLA_VXLAN_ID", 1),
        ("IFLA_VXLAN_LINK", 2),
        ("IFLA_VXLAN_LOCAL", "172.31.255.11"),
        ("IFLA_VXLAN_LEARNING", 0),
        ("IFLA_VXLAN_PORT", 8472),
    ]
    msg["attrs"] = [
        ("IFLA_IFNAME", "nwvx.1"),
        ("IFLA_MTU", 1450),
        ("IFLA_ADDRESS", "0e:6e:ac:1f:ff:0b"),
        ("IFLA_IFALIAS", "netwright"),
        ("IFLA_MASTER", 3),
        (
            "IFLA_LINKINFO",
            {"attrs": [("IFLA_INFO_KIND", "vxlan"), ("IFLA_INFO_DATA", {"attrs": data_attrs})]},
        ),
    ]
    msg.encode()
    data = bytes(msg.data)
    assert nl.parse_link(data, 16, len(data)) == nl.RawLink(
        ifindex=7,
        flags=nl.IFF_UP,
        name="nwvx.1",
        mtu=1450,
        address=MAC,
        alias="netwright",
        master=3,
        kind="vxlan",
        vxlan=nl.RawVxlan(vni=1, port=8472, learning=False, local=V4, link=2),
    )


@pytest.mark.parametrize(
    ("family", "address", "prefixlen", "attrs"),
    [
        (socket.AF_INET, "10.244.1.1", 24, [("IFA_ADDRESS", "10.244.1.1"), ("IFA_LOCAL", "10.244.1.1")]),
        (socket.AF_INET6, "fd00::1", 64, [("IFA_ADDRESS", "fd00::1")]),
    ],
    ids=["v4", "v6"],
)  # fmt: skip
def test_address_decoder_matches_pyroute2_encoder(
    family: int, address: str, prefixlen: int, attrs: list[tuple[str, str]]
) -> None:
    msg = ifaddrmsg()
    msg["header"]["type"] = nl.RTM_NEWADDR
    msg["family"] = family
    msg["prefixlen"] = prefixlen
    msg["scope"] = 0
    msg["index"] = 7
    msg["attrs"] = attrs
    msg.encode()
    data = bytes(msg.data)
    assert nl.parse_address(data, 16, len(data)) == nl.RawAddress(
        family, prefixlen, 0, 7, ipaddress.ip_address(address).packed
    )


@pytest.mark.kernel
def test_link_and_address_dumps_match_ip_json(netns: Callable[[str], str]) -> None:
    from netwright.kernel import Target, open_session

    ns = netns("dump")
    quiet(ns)
    underlay(ns, "172.31.255.11/24")
    sh(ns, "ip", "addr", "add", "fd00:31::11/64", "dev", "eth0", "nodad")
    sh(ns, "ip", "link", "add", "br0", "mtu", "1400", "type", "bridge")
    sh(ns, "ip", "link", "set", "br0", "alias", "someone else's")
    sh(ns, "ip", "link", "set", "ul", "master", "br0")
    sh(
        ns, "ip", "link", "add", "vx0", "address", "0e:6e:ac:1f:ff:0b", "type", "vxlan",
        "id", "42", "local", "172.31.255.11", "dev", "eth0", "dstport", "4789", "nolearning",
    )  # fmt: skip
    sh(ns, "ip", "link", "add", "vx6", "type", "vxlan", "id", "43", "local", "fd00:31::11",
       "dstport", "8472")  # fmt: skip
    with open_session(Target(netns=ns)) as session:
        links = session.links()
        addresses = session.addresses(sorted(links))
    for shown in ipj(ns, "ip", "-d", "link", "show"):
        rec = links[shown["ifname"]]
        assert rec.index == shown["ifindex"]
        assert rec.alias == shown.get("ifalias")
        assert rec.link.mtu == shown["mtu"]
        assert rec.link.mac == shown["address"]
        assert rec.link.up == ("UP" in shown["flags"])
        assert rec.link.kind == shown.get("linkinfo", {}).get("info_kind", "")
        master = shown.get("master")
        assert rec.master == (links[master].index if master else 0)
        data = shown.get("linkinfo", {}).get("info_data", {})
        if rec.link.kind == "vxlan":
            vx = rec.link.vxlan
            assert vx is not None
            assert (vx.vni, vx.port, vx.learning, str(vx.local), vx.dev) == (
                data["id"],
                data["port"],
                data["learning"],
                data.get("local") or data.get("local6"),
                data.get("link"),
            )
    shown_addrs = {
        (a["ifname"], f"{i['local']}/{i['prefixlen']}", i["scope"] == "link" and i["family"] == "inet6")
        for a in ipj(ns, "ip", "addr", "show")
        for i in a["addr_info"]
    }  # fmt: skip
    assert {(a.dev, str(a.address), a.link_local) for a in addresses} == shown_addrs


@pytest.mark.kernel
def test_kind_question_creates_nothing(
    netns: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from netwright.kernel import Target, open_session, rtnl

    ns = netns("kinds")
    asked: list[list[nl.Message]] = []
    real = rtnl.Session.transact

    def counting(self: rtnl.Session, messages: list[nl.Message]) -> list[nl.Failure]:
        asked.append(list(messages))
        return real(self, messages)

    monkeypatch.setattr(rtnl.Session, "transact", counting)
    before = ipj(ns, "ip", "link", "show")
    with open_session(Target(netns=ns)) as session:
        assert session.supports_kind("bridge")
        assert session.supports_kind("vxlan")
        assert not session.supports_kind("ipip")
        assert not session.supports_kind("wireguard")
        assert len(asked) == 4
        # Once per kind per session: asking again does not ask.
        assert session.supports_kind("bridge")
        assert not session.supports_kind("ipip")
        assert len(asked) == 4
    # Another session asks again: a long-lived process sees a module loaded since.
    with open_session(Target(netns=netns("kinds2"))) as session:
        assert session.supports_kind("bridge")
        assert not session.supports_kind("ipip")
    assert len(asked) == 6
    assert ipj(ns, "ip", "link", "show") == before
    # A kind already on the target is proof, without asking.
    sh(ns, "ip", "link", "add", "vethx", "type", "veth", "peer", "name", "vethy")
    with open_session(Target(netns=ns)) as session:
        assert session.supports_kind("veth")
    assert len(asked) == 6


# ---------------------------------------------------------------- the fast path for dumps


def _rtmsg(attrs: list[tuple[str, object]], family: int = socket.AF_INET, **head: int) -> bytes:
    msg = rtmsg()
    msg["header"]["type"] = nl.RTM_NEWROUTE
    msg["family"] = family
    msg["dst_len"] = head.get("dst_len", 24)
    msg["table"] = head.get("table", 254)
    msg["proto"] = head.get("proto", 211)
    msg["type"] = 1
    msg["flags"] = head.get("flags", 0)
    msg["attrs"] = attrs
    msg.encode()
    return bytes(msg.data)


ROUTES = [
    # Same length, same layout: the second and third take the fast path.
    _rtmsg([("RTA_TABLE", 254), ("RTA_DST", "10.64.0.0"), ("RTA_GATEWAY", "172.31.0.1"), ("RTA_OIF", 2)]),
    _rtmsg([("RTA_TABLE", 254), ("RTA_DST", "10.64.1.0"), ("RTA_GATEWAY", "172.31.0.2"), ("RTA_OIF", 2)], flags=4),
    _rtmsg([("RTA_TABLE", 254), ("RTA_DST", "10.64.2.0"), ("RTA_GATEWAY", "172.31.0.3"), ("RTA_OIF", 3)], proto=4),
    # Same length, other attributes in those places: must not be read with that layout.
    _rtmsg([("RTA_TABLE", 254), ("RTA_DST", "10.64.3.0"), ("RTA_PREFSRC", "10.0.0.1"), ("RTA_PRIORITY", 7)]),
    _rtmsg([("RTA_TABLE", 254), ("RTA_DST", "10.64.4.0"), ("RTA_OIF", 2), ("RTA_GATEWAY", "172.31.0.4")]),
    # No RTA_TABLE (rtm_table), no RTA_DST (default route), IPv6, multipath.
    _rtmsg([("RTA_GATEWAY", "172.31.0.1"), ("RTA_OIF", 2)], dst_len=0, table=100),
    _rtmsg([("RTA_GATEWAY", "172.31.0.1"), ("RTA_OIF", 2)], dst_len=0, table=100),
    _rtmsg([("RTA_TABLE", 1000), ("RTA_DST", "fd00::"), ("RTA_PRIORITY", 1024), ("RTA_OIF", 2)], family=socket.AF_INET6, dst_len=64, table=0),
    _rtmsg([("RTA_TABLE", 1000), ("RTA_DST", "fd00:1::"), ("RTA_PRIORITY", 1024), ("RTA_OIF", 2)], family=socket.AF_INET6, dst_len=64, table=0),
    _rtmsg([("RTA_GATEWAY", "fe80::1"), ("RTA_OIF", 2)], family=socket.AF_INET6, dst_len=0, table=100),
    _rtmsg([("RTA_TABLE", 254), ("RTA_DST", "10.64.5.0"), ("RTA_MULTIPATH", [{"oif": 2}, {"oif": 3}])]),
    _rtmsg([("RTA_TABLE", 254), ("RTA_DST", "10.64.6.0"), ("RTA_MULTIPATH", [{"oif": 2}, {"oif": 3}])]),
]  # fmt: skip


def test_fast_route_parse_equals_the_full_parse() -> None:
    parse = nl.route_parser()
    for data in ROUTES * 2:
        assert parse(data, 16, len(data)) == nl.parse_route(data, 16, len(data))
    assert any(layout is not None for layout in parse.layouts.values())
    multipath = ROUTES[-1]
    assert parse.layouts[len(multipath) - 16] is None  # never fast: RawRoute needs the flag
    assert parse(multipath, 16, len(multipath)).multipath


def test_fast_neighbour_parse_equals_the_full_parse() -> None:
    messages = []
    for family, dst, mac, state in (
        (socket.AF_INET, "10.244.2.0", "0e:6e:ac:1f:ff:0c", nl.NUD_PERMANENT),
        (socket.AF_INET, "10.244.3.0", "0e:6e:ac:1f:ff:0d", 2),
        (socket.AF_INET6, "fd00::1", "0e:6e:ac:1f:ff:0e", nl.NUD_PERMANENT),
        (nl.AF_BRIDGE, "172.31.255.12", "0e:6e:ac:1f:ff:0f", nl.NUD_PERMANENT),
        (socket.AF_INET, "10.244.4.0", None, 2),
    ):
        msg = ndmsg()
        msg["header"]["type"] = nl.RTM_NEWNEIGH
        msg["family"] = family
        msg["ifindex"] = 9
        msg["state"] = state
        msg["attrs"] = [("NDA_DST", dst)] + ([("NDA_LLADDR", mac)] if mac else [])
        msg.encode()
        messages.append(bytes(msg.data))
    parse = nl.neighbour_parser()
    for data in messages * 2:
        assert parse(data, 16, len(data)) == nl.parse_neighbour(data, 16, len(data))


@pytest.mark.kernel
def test_fast_parse_equals_the_full_parse_on_kernel_dumps(netns: Callable[[str], str]) -> None:
    from netwright.engine import Target, run
    from netwright.kernel import open_session
    from netwright.model.state import FdbEntry, Link, Neighbour, NodeState, Route, VxlanLink

    ns = netns("fast")
    quiet(ns)
    underlay(ns, "172.31.255.11/24")
    sh(ns, "ip", "-6", "route", "add", "fd00:9::/64", "dev", "eth0", "metric", "7")
    sh(ns, "ip", "route", "add", "10.99.0.0/24", "nexthop", "via", "172.31.255.1", "dev", "eth0",
       "nexthop", "via", "172.31.255.2", "dev", "eth0")  # fmt: skip
    sh(ns, "ip", "nexthop", "add", "id", "7", "via", "172.31.255.1", "dev", "eth0")
    sh(ns, "ip", "nexthop", "add", "id", "8", "group", "7")
    sh(ns, "ip", "nexthop", "add", "id", "9", "blackhole")
    vx = Link(
        name="nwvx.1",
        kind="vxlan",
        mtu=1450,
        vxlan=VxlanLink(vni=1, port=8472, local=ipaddress.ip_address("172.31.255.11"), dev="eth0"),
    )
    peers = _peers(40)
    state = NodeState(
        node="n",
        links=(vx,),
        routes=tuple(Route(dst=b, gateway=b.network_address, dev="nwvx.1", onlink=True) for b, _u in peers[:20])
        + tuple(Route(dst=b, gateway=u, dev="eth0", onlink=True) for b, u in peers[20:]),
        neighbours=tuple(Neighbour(dev="nwvx.1", ip=b.network_address, mac=f"0e:6e:ac:1f:00:{i:02x}") for i, (b, _u) in enumerate(peers)),
        fdb=tuple(FdbEntry(dev="nwvx.1", mac=f"0e:6e:ac:1f:00:{i:02x}", dst=u) for i, (_b, u) in enumerate(peers)),
    )  # fmt: skip
    assert run(state, Target(netns=ns), check=False).ok
    with open_session(Target(netns=ns)) as session:
        sock = session._nl
        for kind, request, fast, full in (
            (nl.RTM_GETROUTE, nl.RTMSG.pack(0, 0, 0, 0, 0, 0, 0, 0, 0), nl.route_parser(), nl.parse_route),
            (nl.RTM_GETNEXTHOP, nl.NHMSG.pack(0, 0, 0, 0, 0), nl.nexthop_parser(), nl.parse_nexthop),
            (nl.RTM_GETNEIGH, nl.NDMSG.pack(0, 0, 0, 0, 0, 0, 0), nl.neighbour_parser(), nl.parse_neighbour),
            (nl.RTM_GETNEIGH, nl.NDMSG.pack(nl.AF_BRIDGE, 0, 0, 0, 0, 0, 0), nl.neighbour_parser(), nl.parse_neighbour),
        ):  # fmt: skip
            messages = sock.dump(kind, request, what="dump")
            assert len(messages) >= 20
            assert [fast(*m) for m in messages] == [full(*m) for m in messages]
            runs = sock.dump_runs(kind, request, what="dump")
            assert any(count > 10 for _d, _o, count, _n in runs)
            assert sum(count for _d, _o, count, _n in runs) == len(messages)
            assert fast.parse_runs(runs) == [full(*m) for m in messages]
            assert any(layout is not None for layout in fast.layouts.values())


FAST_V4 = socket.AF_INET
FAST_GW = ipaddress.ip_address("172.31.0.9").packed
FAST_MAC = bytes.fromhex("0e6eac1f0009")


@pytest.mark.parametrize(
    "kw",
    [
        {"delete": False, "nhid": 0x6E770001},
        {"delete": False, "nhid": 0x6E770001, "replace": True},
        {"delete": False, "nhid": 7, "table": 100},
        {"delete": True},
        {"delete": True, "table": 100},
        {"delete": False, "nhid": 7, "metric": 5},  # general path
        {"delete": False, "gateway": FAST_GW, "oif": 2, "onlink": True},  # general path
    ],
)
def test_whole_message_route_layouts_equal_the_general_encoder(kw: dict[str, object]) -> None:
    args: dict[str, object] = {
        "family": FAST_V4,
        "dst": bytes([10, 64, 3, 0]),
        "dst_len": 24,
        "table": 254,
        "metric": 0,
        "protocol": 211,
    } | kw
    assert nl.route_message(**args) == nl.route_message_any(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("onlink", [True, False])
def test_whole_message_entry_layouts_equal_the_general_encoders(onlink: bool) -> None:
    nh = {
        "delete": False,
        "nhid": 9,
        "family": FAST_V4,
        "protocol": 211,
        "gateway": FAST_GW,
        "oif": 3,
    }
    assert nl.nexthop_message(**nh, onlink=onlink) == nl.nexthop_message_any(**nh, onlink=onlink)  # type: ignore[arg-type]
    for nhid in (1, 0x6E770001, 0xFFFFFFFF):
        assert nl.nexthop_message(delete=True, nhid=nhid) == nl.nexthop_message_any(
            delete=True, nhid=nhid
        )
    n = {"delete": False, "family": FAST_V4, "ifindex": 5, "dst": FAST_GW, "lladdr": FAST_MAC}
    assert nl.neighbour_message(**n) == nl.neighbour_message_any(**n)  # type: ignore[arg-type]
    for replace in (True, False):
        f = {"delete": False, "ifindex": 5, "lladdr": FAST_MAC, "dst": FAST_GW, "replace": replace}
        assert nl.fdb_message(**f) == nl.fdb_message_any(**f)  # type: ignore[arg-type]


def _runs_of(messages: list[bytes]) -> tuple[bytes, list[nl.Run], list[tuple[int, int]]]:
    """`messages` back to back in one buffer (each padded to 4 bytes), split into runs of
    equal length as `Socket.dump_runs` would; with each message's (payload start, end)."""
    buf = b"".join(m + b"\0" * (-len(m) % 4) for m in messages)
    runs: list[nl.Run] = []
    spans = []
    off = 0
    for m in messages:
        spans.append((off + 16, off + len(m)))
        last = runs[-1] if runs else None
        if (
            last is not None
            and last[3] == len(m) - 16
            and last[1] + last[2] * ((len(m) + 3) & ~3) == off + 16
        ):
            runs[-1] = (buf, last[1], last[2] + 1, last[3])
        else:
            runs.append((buf, off + 16, 1, len(m) - 16))
        off += (len(m) + 3) & ~3
    return buf, runs, spans


def _by_nh(i: int) -> bytes:
    """Route 10.64.<i>.0/24 of protocol 211 through nexthop 100 + i, framed."""
    dst = ipaddress.ip_address(f"10.64.{i}.0").packed
    return framed(nl.route_message(delete=False, family=socket.AF_INET, dst=dst, dst_len=24, table=254,
                                   metric=0, protocol=211, nhid=100 + i))  # fmt: skip


def _peers(count: int) -> list[tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]]:
    """Host-gw peers: block 10.64.<i>.0/24 behind node 172.31.0.<i + 1>."""
    return [
        (ipaddress.IPv4Network(f"10.64.{i}.0/24"), ipaddress.IPv4Address(f"172.31.0.{i + 1}"))
        for i in range(count)
    ]


def test_parse_runs_equals_the_full_parse() -> None:
    # Runs of one layout, of one length but another layout (must fail the check),
    # and singles: every record as the full parse gives it, in order.
    same = [
        _rtmsg([("RTA_TABLE", 254), ("RTA_DST", f"10.64.{i}.0"), ("RTA_NH_ID", 100 + i)])
        for i in range(9)
    ]
    odd = _rtmsg([("RTA_TABLE", 254), ("RTA_DST", "10.65.0.0"), ("RTA_OIF", 3)])  # same length
    messages = [*same[:4], odd, *same[4:], *ROUTES, *same]
    buf, runs, spans = _runs_of(messages)
    assert any(r[2] > 3 for r in runs)
    full = [nl.parse_route(buf, o, e) for o, e in spans]
    assert nl.route_parser().parse_runs(runs) == full
    parse = nl.route_parser()
    assert parse.parse_runs(runs) == full  # with its layouts compiled
    assert parse.parse_runs(runs) == full


def test_match_run_splits_as_the_full_parse_does() -> None:
    messages = [_by_nh(i) for i in range(8)]
    buf, runs, spans = _runs_of(messages)
    assert [r[2] for r in runs] == [8]
    full = [nl.parse_route(buf, o, e) for o, e in spans]
    key = (0, 1, 2, 3, 4)
    table = {tuple(full[i][f] for f in key): f"want{i}" for i in (1, 2, 5, 6)}
    table[(socket.AF_INET, bytes(4), 24, 254, 0)] = "nothing dumped"
    parse = nl.route_parser()
    split = parse.match_run(runs[0], key, table, (9, 13))
    assert split is not None
    hits, alsos, rest = split
    assert hits == ["want1", "want2", "want5", "want6"]
    assert alsos == [(full[i].flags, full[i].nhid) for i in (1, 2, 5, 6)]
    assert [nhid for _flags, nhid in alsos] == [101, 102, 105, 106]
    assert rest == [full[i] for i in (0, 3, 4, 7)]
    assert parse.match_run(runs[0], key, {}, ()) == ([], [], full)
    single = (buf, spans[0][0], 1, spans[0][1] - spans[0][0])
    assert parse.match_run(single, key, table, ()) is None
    # Same length, attributes in another order: the run fails its check, and
    # `parse_runs` (the full parse for that message) is the way.
    head = nl.RTMSG.pack(socket.AF_INET, 24, 0, 0, 254, 211, 0, nl.RTN_UNICAST, 0)
    body = (
        head
        + nl.attr_u32(nl.RTA_TABLE, 254)
        + nl.attr_u32(nl.RTA_NH_ID, 7)
        + nl.attr(nl.RTA_DST, bytes(4))
    )
    messages[5] = nl.HDR.pack(16 + len(body), nl.RTM_NEWROUTE, 0, 0, 0) + body
    buf, runs, spans = _runs_of(messages)
    assert [r[2] for r in runs] == [8]
    assert parse.match_run(runs[0], key, table, (9, 13)) is None
    assert parse.parse_runs(runs) == [nl.parse_route(buf, o, e) for o, e in spans]


def test_columns_read_the_fields_the_full_parse_gives() -> None:
    buf, runs, spans = _runs_of([_by_nh(i) for i in range(8)])
    assert [r[2] for r in runs] == [8]
    full = [nl.parse_route(buf, o, e) for o, e in spans]
    # Header fields, attributes, and fields the messages lack (metric, source:
    # their defaults), in any order.
    fields = (6, 13, 1, 0, 3, 4, 12, 5, 9)
    cols = nl.route_parser().columns(runs[0], fields)
    assert cols is not None
    assert [list(c) for c in cols] == [[r[f] for r in full] for f in fields]
    assert list(cols[1]) == [100 + i for i in range(8)]
    assert list(cols[6]) == [None] * 8
    single = (buf, spans[0][0], 1, spans[0][1] - spans[0][0])
    assert nl.route_parser().columns(single, fields) is None


@pytest.mark.kernel
def test_removal_fast_path_agrees_with_the_full_parse(
    netns: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every peer leaving: routes read across in C (`columns`) against the full parse.

    Next to netwright's 40 routes through its nexthops: a foreign route, a foreign
    nexthop, and (second round) a foreign route through one of netwright's
    nexthops, which must then stay while netwright's routes on it go. The
    observation must be the same with the fast paths off; after the removal the
    kernel (`ip -json`) holds no route of protocol 211 and only the nexthop in use.
    """
    from netwright.engine import Target, observe, run
    from netwright.model.state import NodeState, Route

    ns = netns("rmfast")
    quiet(ns)
    underlay(ns, "172.31.255.11/16")
    peers = _peers(40)
    desired = NodeState(
        node="n", routes=tuple(Route(dst=b, gateway=u, dev="eth0", onlink=True) for b, u in peers)
    )
    nothing = NodeState(node="n")
    sh(ns, "ip", "route", "add", "10.66.0.0/24", "via", "172.31.255.1", "dev", "eth0")
    sh(ns, "ip", "nexthop", "add", "id", "77", "via", "172.31.0.3", "dev", "eth0", "onlink")

    def both() -> object:
        fast = observe(Target(netns=ns), nothing)
        with monkeypatch.context() as m:
            m.setattr(nl.FastParser, "columns", lambda *_a, **_k: None)
            m.setattr(nl.FastParser, "match_run", lambda *_a, **_k: None)
            slow = observe(Target(netns=ns), nothing)
        for name in ("routes", "nexthops", "nexthop_ids", "foreign_nexthop_users"):
            assert getattr(fast, name) == getattr(slow, name), name
        for name in ("synced_routes", "vanishing"):
            assert getattr(fast.unrecorded, name) == getattr(slow.unrecorded, name), name
        f, s = fast.unrecorded.leftover_routes, slow.unrecorded.leftover_routes
        if f is None or s is None:
            assert f is s
        else:
            assert f.vias == s.vias
            fast_routes = zip(f.keys, f.nexthops, strict=True)
            assert sorted(fast_routes) == sorted(zip(s.keys, s.nexthops, strict=True))
        return fast

    def kernel() -> tuple[dict[str, dict[str, object]], dict[int, dict[str, object]]]:
        routes = {r["dst"]: r for r in ipj(ns, "ip", "route", "show")}
        return routes, {n["id"]: n for n in ipj(ns, "ip", "nexthop", "show")}

    assert run(desired, Target(netns=ns), check=False).ok
    fast = both()
    assert fast.unrecorded.leftover_routes is not None  # type: ignore[attr-defined]
    assert len(fast.unrecorded.leftover_routes.keys) == 40  # type: ignore[attr-defined]
    assert not fast.routes  # type: ignore[attr-defined]
    report = run(nothing, Target(netns=ns), check=False)
    assert report.result is not None
    assert not report.result.failed
    routes, nexthops = kernel()
    assert not [d for d, r in routes.items() if r.get("protocol") == "211"]
    assert "10.66.0.0/24" in routes
    assert set(nexthops) == {77}
    assert run(nothing, Target(netns=ns), check=True).delta.empty

    # A foreign route through one of netwright's nexthops: that nexthop stays.
    assert run(desired, Target(netns=ns), check=False).ok
    _, nexthops = kernel()
    shared = next(i for i, n in nexthops.items() if n.get("protocol") == "211")
    sh(ns, "ip", "route", "add", "10.67.0.0/24", "nhid", str(shared), "proto", "static")
    fast = both()
    assert shared in fast.foreign_nexthop_users  # type: ignore[attr-defined]
    report = run(nothing, Target(netns=ns), check=False)
    assert report.result is not None
    assert not report.result.failed
    routes, nexthops = kernel()
    assert not [d for d, r in routes.items() if r.get("protocol") == "211"]
    assert routes["10.67.0.0/24"]["nhid"] == shared
    assert set(nexthops) == {77, shared}
    assert run(nothing, Target(netns=ns), check=True).delta.empty


@pytest.mark.kernel
def test_no_op_fast_paths_agree_with_the_full_comparison(
    netns: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The observer's fast paths (runs, `match_run`) against the full parse and comparison.

    One namespace holds, next to netwright's equal objects, everything the fast
    path must not take for equal: a route at a desired key through a nexthop with
    another gateway, a foreign route at a desired key, netwright's routes at no
    desired key, a neighbour with another MAC, a non-permanent neighbour, an fdb
    entry to another remote. The observation must be the same with the fast paths
    switched off (`match_run` answering None), and `ip -json` must agree with it.
    """
    from netwright.engine import Target, observe, run
    from netwright.model.state import FdbEntry, Link, Neighbour, NodeState, Route

    ns = netns("fastpath")
    quiet(ns)
    underlay(ns, "172.31.255.11/24")
    vx = Link(
        name="nwvx.1",
        kind="vxlan",
        mtu=1450,
        vxlan=VxlanLink(vni=1, port=8472, local=ipaddress.ip_address("172.31.255.11"), dev="eth0"),
    )
    peers = [
        (ipaddress.ip_network(f"10.64.{i}.0/24"), ipaddress.ip_address(f"172.31.0.{i + 1}"))
        for i in range(60)
    ]

    def state(gw_shift: int, mac_shift: int, count: int) -> NodeState:
        return NodeState(
            node="n",
            links=(vx,),
            routes=tuple(Route(dst=b, gateway=b.network_address, dev="nwvx.1", onlink=True) for b, _u in peers[:20])
            + tuple(Route(dst=b, gateway=u + (gw_shift if i % 7 == 0 else 0), dev="eth0", onlink=True) for i, (b, u) in enumerate(peers[20:count])),
            neighbours=tuple(Neighbour(dev="nwvx.1", ip=b.network_address, mac=f"0e:6e:ac:1f:00:{(i + (mac_shift if i % 5 == 0 else 0)) % 256:02x}") for i, (b, _u) in enumerate(peers[:count])),
            fdb=tuple(FdbEntry(dev="nwvx.1", mac=f"0e:6e:ac:1f:00:{i:02x}", dst=u + (mac_shift if i % 6 == 0 else 0)) for i, (_b, u) in enumerate(peers[:count])),
        )  # fmt: skip

    assert run(state(0, 0, 60), Target(netns=ns), check=False).ok
    sh(ns, "ip", "route", "add", "10.66.0.0/24", "via", "172.31.255.1", "dev", "eth0")
    sh(ns, "ip", "neigh", "add", "10.64.3.9", "lladdr", "0e:6e:ac:1f:00:99", "dev", "nwvx.1")
    sh(ns, "ip", "route", "del", "10.64.30.0/24", "proto", "211")
    sh(
        ns,
        "ip",
        "route",
        "add",
        "10.64.30.0/24",
        "via",
        "172.31.255.1",
        "dev",
        "eth0",
        "proto",
        "static",
    )
    desired = state(1, 3, 50)  # 10 peers left; some gateways, MACs and remotes moved
    fast = observe(Target(netns=ns), desired)
    with monkeypatch.context() as m:
        m.setattr(nl.FastParser, "match_run", lambda *_a, **_k: None)
        m.setattr(
            nl.FastParser,
            "parse_runs",
            lambda self, runs: [
                self(d, o, o + n)
                for d, s, c, n in runs
                for o in range(s, s + c * ((n + 19) & ~3), (n + 19) & ~3)
            ],
        )
        slow = observe(Target(netns=ns), desired)
    assert fast.unrecorded.synced_routes
    assert fast.unrecorded.synced_neighbours
    assert fast.unrecorded.synced_fdb
    for name in ("routes", "nexthops", "nexthop_ids", "foreign_nexthop_users", "neighbours", "fdb"):
        assert getattr(fast, name) == getattr(slow, name), name
    for name in ("synced_routes", "synced_neighbours", "synced_fdb", "vanishing",
                 "leftover_routes", "departing_entries"):  # fmt: skip
        assert getattr(fast.unrecorded, name) == getattr(slow.unrecorded, name), name
    assert len(fast.unrecorded.synced_routes) < len(desired.routes)
    assert len(fast.unrecorded.synced_neighbours) < len(desired.neighbours)
    assert len(fast.unrecorded.synced_fdb) < len(desired.fdb)
    # The kernel's own account: a synced route is there with its destination and
    # protocol 211, through a nexthop with the desired gateway.
    kernel_routes = {r["dst"]: r for r in ipj(ns, "ip", "route", "show", "proto", "211")}
    kernel_nh = {n["id"]: n for n in ipj(ns, "ip", "nexthop", "show")}
    for i, nhid in fast.unrecorded.synced_routes.items():
        want = desired.routes[i]
        got = kernel_routes[str(want.dst)]
        assert got["nhid"] == nhid
        assert kernel_nh[nhid]["gateway"] == str(want.gateway)
        assert kernel_nh[nhid]["dev"] == want.dev
    report = run(desired, Target(netns=ns), check=False)
    assert report.result is not None
    assert not report.result.failed
    assert len(report.delta.conflicts) == 1  # the foreign route at 10.64.30.0/24
    again = observe(Target(netns=ns), desired)
    # The foreign one stays in the way.
    assert len(again.unrecorded.synced_routes) == len(desired.routes) - 1
    assert len(again.unrecorded.synced_neighbours) == len(desired.neighbours)
    assert len(again.unrecorded.synced_fdb) == len(desired.fdb)


def test_a_long_lived_parser_keeps_learning_layouts() -> None:
    parse = nl.route_parser()
    parse.layouts.update({1000 + i: None for i in range(64)})  # full of odd lengths
    data = ROUTES[0]
    for _ in range(2):
        assert parse(data, 16, len(data)) == nl.parse_route(data, 16, len(data))
    assert parse.layouts[len(data) - 16] is not None
    assert len(parse.layouts) <= 64


def test_nexthop_match_run_splits_as_the_full_parse_does() -> None:
    # The observer's nexthop fast path: the key (family, protocol, flags, gateway,
    # device) in wire form; hits carry their ids, the rest are the full parse's records.
    def nh(i: int, *, protocol: int = 211, onlink: bool = True, oif: int = 2) -> bytes:
        gw = ipaddress.ip_address(f"172.31.0.{i + 1}").packed
        return framed(nl.nexthop_message(delete=False, nhid=1000 + i, family=socket.AF_INET,
                                         protocol=protocol, gateway=gw, oif=oif, onlink=onlink))  # fmt: skip

    messages = [nh(0), nh(1, protocol=4), nh(2, onlink=False), nh(3, oif=3), nh(4), nh(5)]
    buf, runs, spans = _runs_of(messages)
    assert [r[2] for r in runs] == [6]
    full = [nl.parse_nexthop(buf, o, e) for o, e in spans]
    key = (1, 2, 3, 4, 5)
    table = {
        (socket.AF_INET, 211, nl.RTNH_F_ONLINK, ipaddress.ip_address(f"172.31.0.{i + 1}").packed, 2): f"want{i}"
        for i in range(6)
    }  # fmt: skip
    split = nl.nexthop_parser().match_run(runs[0], key, table, (0,))
    assert split is not None
    hits, ids, rest = split
    assert hits == ["want0", "want4", "want5"]
    assert ids == [1000, 1004, 1005]
    assert rest == [full[i] for i in (1, 2, 3)]
    for hit, i in zip(hits, (0, 4, 5), strict=True):
        assert tuple(full[i][f] for f in key) in table
        assert table[tuple(full[i][f] for f in key)] == hit
    # One message of the run in another family (same length): the run fails its
    # check, whichever message it is, and the full parse is the way.
    for k in (0, 3, 5):
        odd = list(messages)
        body = bytearray(odd[k])
        body[16] = socket.AF_INET6
        odd[k] = bytes(body)
        buf, runs, spans = _runs_of(odd)
        assert nl.nexthop_parser().match_run(runs[0], key, table, (0,)) is None
        parse = nl.nexthop_parser()
        assert parse.parse_runs(runs) == [nl.parse_nexthop(buf, o, e) for o, e in spans]


@pytest.mark.kernel
def test_nexthop_fast_path_agrees_with_the_full_parse(
    netns: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nexthops matched in wire form against the full parse, and against `ip -json`.

    Next to netwright's equal nexthops: a foreign nexthop with a desired route's
    gateway and device (read, never taken: its id is never reused), netwright's
    nexthop without onlink where a route wants it, one no route uses, and a desired
    route moved to another gateway. The observation must be the same with the fast
    paths off, for a no-op and for a change; the kernel's ids must all be known.
    """
    from netwright.engine import Target, observe, run
    from netwright.model.state import NodeState, Route

    ns = netns("nhfast")
    quiet(ns)
    underlay(ns, "172.31.255.11/16")
    peers = _peers(40)

    def state(count: int, moved: int = 0) -> NodeState:
        return NodeState(
            node="n",
            routes=tuple(
                Route(dst=b, gateway=u + (moved if i % 9 == 0 else 0), dev="eth0", onlink=True)
                for i, (b, u) in enumerate(peers[:count])
            ),
        )

    assert run(state(40), Target(netns=ns), check=False).ok
    sh(ns, "ip", "nexthop", "add", "id", "77", "via", "172.31.0.3", "dev", "eth0", "onlink")
    sh(ns, "ip", "nexthop", "add", "id", "78", "via", "172.31.0.4", "dev", "eth0", "proto", "211")
    sh(ns, "ip", "route", "add", "10.66.0.0/24", "nhid", "77")
    # netwright's protocol, a desired gateway and flags, another device: only the
    # device tells it apart (the device-free key matches it; the check must not).
    sh(ns, "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
    sh(ns, "ip", "link", "set", "d1", "up")
    sh(ns, "ip", "link", "set", "d0", "up")
    sh(
        ns,
        "ip",
        "nexthop",
        "add",
        "id",
        "79",
        "via",
        "172.31.0.5",
        "dev",
        "d0",
        "onlink",
        "proto",
        "211",
    )

    def both(desired: NodeState) -> tuple[object, object]:
        fast = observe(Target(netns=ns), desired)
        with monkeypatch.context() as m:
            m.setattr(nl.FastParser, "match_run", lambda *_a, **_k: None)
            slow = observe(Target(netns=ns), desired)
        for name in ("routes", "nexthops", "nexthop_ids", "foreign_nexthop_users"):
            assert getattr(fast, name) == getattr(slow, name), name
        for name in ("synced_routes", "vanishing", "leftover_routes"):
            assert getattr(fast.unrecorded, name) == getattr(slow.unrecorded, name), name
        return fast, slow

    noop, _ = both(state(40))
    kernel_ids = {n["id"] for n in ipj(ns, "ip", "nexthop", "show")}
    assert noop.nexthop_ids == kernel_ids  # type: ignore[attr-defined]
    assert 77 in noop.foreign_nexthop_users  # type: ignore[attr-defined]
    assert len(noop.unrecorded.synced_routes) == 40  # type: ignore[attr-defined]
    assert [r.id for r in noop.nexthops] == [78, 79]  # type: ignore[attr-defined]
    both(state(30, moved=100))  # peers left, gateways moved: the matched ones are needed
    report = run(state(30, moved=100), Target(netns=ns), check=False)
    assert report.result is not None
    assert not report.result.failed
    assert run(state(30, moved=100), Target(netns=ns), check=False).delta.empty
    after = {n["id"]: n for n in ipj(ns, "ip", "nexthop", "show")}
    assert after[77]["gateway"] == "172.31.0.3"  # the foreign nexthop stays as it was
    assert "protocol" not in after[77] or after[77]["protocol"] != "211"
    assert 78 not in after
    assert 79 not in after  # netwright's, unused: removed like 78
    routes = {r["dst"]: r for r in ipj(ns, "ip", "route", "show", "proto", "211")}
    assert len(routes) == 30
    for i, (b, u) in enumerate(peers[:30]):
        nh = after[routes[str(b)]["nhid"]]
        assert nh["gateway"] == str(u + (100 if i % 9 == 0 else 0))
        assert routes[str(b)]["nhid"] != 77
    assert ipj(ns, "ip", "route", "show", "10.66.0.0/24")[0]["nhid"] == 77
