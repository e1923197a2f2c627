"""plan_node: links, routes, neighbours, fdb, sysctls and files from a NodeConfig and its peers."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from typing import Any

import pytest

from netwright.errors import ValidationError
from netwright.model.config import NodeConfig, NodeFacts, Peer, PoolRouting
from netwright.model.spec import (
    Backend,
    BackendType,
    BGPPeer,
    BgpSettings,
    ClusterSpec,
    IPBlock,
    IPPool,
    Network,
    NetworkType,
    Node,
    SecretRef,
    SecretValue,
    VxlanSettings,
)
from netwright.model.state import (
    Address,
    BirdControl,
    FdbEntry,
    Link,
    Neighbour,
    NodeState,
    Route,
    Sysctl,
    VxlanLink,
    bridge_mac,
    vtep_mac,
)
from netwright.plan import plan_node
from netwright.render import peers_of, render_node

ip = ipaddress.ip_address
net = ipaddress.ip_network

V4 = IPPool(name="pods-v4", cidr=net("10.244.0.0/16"), block_size=24, backend="main")
V6 = IPPool(name="pods-v6", cidr=net("fd10::/48"), block_size=64, backend="main")
REF = SecretRef(namespace="kube-system", name="bgp-secrets", key="tor-a")
SECRET = SecretValue(REF, "correct-horse-battery")


def spec_and_blocks(
    backend: Backend, pools: tuple[IPPool, ...] = (V4,), **extra: Any
) -> tuple[ClusterSpec, list[IPBlock]]:
    nodes = tuple(
        Node(name=f"n{i}", addresses=(ip(f"172.31.255.{10 + i}"), ip(f"fd00::{i}")))
        for i in (1, 2, 3)
    )
    blocks = [
        IPBlock(
            pool=p.name,
            cidr=net(f"10.244.{i}.0/24") if p.version == 4 else net(f"fd10:0:0:{i}::/64"),
            node=f"n{i}",
        )
        for i in (1, 2, 3)
        for p in pools
    ]
    spec = ClusterSpec(
        nodes=nodes,
        backends=(backend,),
        pools=pools,
        networks=(
            Network(
                name="podnet",
                type=NetworkType.BRIDGE,
                ip_pools=tuple(p.name for p in pools),
                bridge_name="cni0",
            ),
        ),
        **extra,
    )
    return spec, blocks


def plan(
    backend: Backend,
    pools: tuple[IPPool, ...] = (V4,),
    facts: NodeFacts | None = None,
    **extra: Any,
) -> NodeState:
    facts = facts or NodeFacts()
    spec, blocks = spec_and_blocks(backend, pools, **extra)
    config = render_node(spec, "n1", blocks, facts)
    return plan_node(config, peers_of(spec, blocks, "n1"), facts)


VXLAN = Backend(name="main", type=BackendType.VXLAN, vxlan=VxlanSettings(vni=1, port=8472))
DIRECT = Backend(
    name="main", type=BackendType.VXLAN, vxlan=VxlanSettings(vni=1, port=8472, direct_routing=True)
)
HOST_GW = Backend(name="main", type=BackendType.HOST_GW)
BGP = Backend(name="main", type=BackendType.BGP, bgp=BgpSettings(as_number=64512))
MAC2, MAC3 = vtep_mac(ip("172.31.255.12")), vtep_mac(ip("172.31.255.13"))


def test_bridge_mac_is_fixed_per_node_and_bridge() -> None:
    digest = hashlib.sha256(bytes([172, 31, 255, 11]) + b"cni0").hexdigest()
    expected = "0e:6f:" + ":".join(digest[i : i + 2] for i in range(0, 8, 2))
    assert bridge_mac(ip("172.31.255.11"), "cni0") == expected
    assert bridge_mac(ip("172.31.255.11"), "cni1") != expected
    assert bridge_mac(ip("172.31.255.12"), "cni0") != expected
    first = int(expected[:2], 16)
    assert first & 0b10, "locally administered"
    assert not first & 0b01, "unicast"


def test_vxlan() -> None:
    state = plan(VXLAN, facts=NodeFacts(underlay_dev="ens3"))
    assert state.links == (
        Link(name="cni0", kind="bridge", mtu=1450, mac=bridge_mac(ip("172.31.255.11"), "cni0")),
        Link(
            name="nwvx.1",
            kind="vxlan",
            mtu=1450,
            mac="0e:6e:ac:1f:ff:0b",
            vxlan=VxlanLink(
                vni=1, port=8472, local=ip("172.31.255.11"), dev="ens3", learning=False
            ),
        ),
    )
    assert state.addresses == (
        Address(dev="cni0", address=ipaddress.ip_interface("10.244.1.1/24")),
        Address(dev="nwvx.1", address=ipaddress.ip_interface("10.244.1.0/32")),
    )
    assert state.routes == (
        Route(dst=net("10.244.2.0/24"), gateway=ip("10.244.2.0"), dev="nwvx.1", onlink=True),
        Route(dst=net("10.244.3.0/24"), gateway=ip("10.244.3.0"), dev="nwvx.1", onlink=True),
    )
    assert state.neighbours == (
        Neighbour(dev="nwvx.1", ip=ip("10.244.2.0"), mac=MAC2),
        Neighbour(dev="nwvx.1", ip=ip("10.244.3.0"), mac=MAC3),
    )
    assert state.fdb == (
        FdbEntry(dev="nwvx.1", mac=MAC2, dst=ip("172.31.255.12")),
        FdbEntry(dev="nwvx.1", mac=MAC3, dst=ip("172.31.255.13")),
    )
    assert state.bird is None
    assert state.nft is None


def test_vxlan_dual_stack_one_fdb_per_peer() -> None:
    state = plan(VXLAN, pools=(V4, V6))
    assert len(state.routes) == 4
    assert len(state.neighbours) == 4  # one per remote block: the gateway differs
    assert len(state.fdb) == 2  # one per peer and VTEP
    v6 = [r for r in state.routes if r.dst.version == 6]
    assert v6[0] == Route(
        dst=net("fd10:0:0:2::/64"), gateway=ip("fd10:0:0:2::"), dev="nwvx.1", onlink=True
    )


DIRECT_CASES = [
    pytest.param("172.31.255.0/24", "host-gw", id="peers-on-my-subnet"),
    pytest.param("172.31.0.0/28", "vxlan", id="peers-elsewhere"),
    pytest.param(None, "vxlan", id="subnet-unknown"),
]


@pytest.mark.parametrize(("prefix", "expected"), DIRECT_CASES)
def test_direct_routing(prefix: str | None, expected: str) -> None:
    facts = NodeFacts(underlay_prefix=net(prefix) if prefix else None)
    state = plan(DIRECT, facts=facts)
    if expected == "host-gw":
        assert state.routes[0] == Route(
            dst=net("10.244.2.0/24"), gateway=ip("172.31.255.12"), dev="eth0"
        )
        assert state.neighbours == ()
        assert state.fdb == ()
    else:
        assert state.routes[0].dev == "nwvx.1"
        assert state.routes[0].onlink
        assert len(state.fdb) == 2
    assert any(link.kind == "vxlan" for link in state.links)  # the VTEP stays either way


def test_direct_routing_mixed_peers() -> None:
    config = NodeConfig(
        node="n1",
        node_ip=ip("172.31.255.11"),
        routing=(
            PoolRouting(
                pool="p",
                cidr=net("10.244.0.0/16"),
                backend="main",
                type=BackendType.VXLAN,
                device="nwvx.1",
                direct_routing=True,
            ),
        ),
    )
    near = Peer(
        name="near",
        ip=ip("172.31.255.12"),
        addresses=(ip("172.31.255.12"),),
        blocks=(IPBlock(pool="p", cidr=net("10.244.2.0/24"), node="near"),),
    )
    far = Peer(
        name="far",
        ip=ip("192.168.7.3"),
        addresses=(ip("192.168.7.3"),),
        blocks=(IPBlock(pool="p", cidr=net("10.244.3.0/24"), node="far"),),
    )
    state = plan_node(config, [near, far], NodeFacts(underlay_prefix=net("172.31.255.0/24")))
    assert [(str(r.dst), r.dev, r.onlink) for r in state.routes] == [
        ("10.244.2.0/24", "eth0", False),
        ("10.244.3.0/24", "nwvx.1", True),
    ]
    assert [f.dst for f in state.fdb] == [ip("192.168.7.3")]


def test_host_gw_uses_the_peer_address_of_the_block_family() -> None:
    state = plan(HOST_GW, pools=(V4, V6), facts=NodeFacts(underlay_dev="ens3"))
    assert [(str(r.dst), str(r.gateway), r.dev) for r in state.routes] == [
        ("10.244.2.0/24", "172.31.255.12", "ens3"),
        ("fd10:0:0:2::/64", "fd00::2", "ens3"),
        ("10.244.3.0/24", "172.31.255.13", "ens3"),
        ("fd10:0:0:3::/64", "fd00::3", "ens3"),
    ]
    assert [link.kind for link in state.links] == ["bridge"]
    assert state.neighbours == ()
    assert state.fdb == ()


def test_bgp_installs_no_routes_and_asks_for_bird() -> None:
    peer = BGPPeer(name="tor-a", as_number=64513, peer_ip=ip("172.31.255.1"), password_ref=REF)
    state = plan(BGP, facts=NodeFacts(root="/srv/n1"), peers=(peer,), secrets={REF: SECRET})
    assert state.routes == ()
    assert state.bird == BirdControl(
        config="/srv/n1/etc/bird/bird.conf", socket="/srv/n1/run/bird/bird.ctl"
    )
    (bird,) = (f for f in state.files if f.path.endswith("bird.conf"))
    assert (bird.mode, bird.owner, bird.group) == (0o640, "root", "bird")
    assert bird.secrets == (SECRET,)
    assert SECRET.reveal() not in bird.content
    assert SECRET.reveal() not in repr(state)
    assert f'password "{SECRET.reveal()}";' in bird.materialize()


def test_bgp_without_the_secret_value_is_an_error_that_names_the_ref() -> None:
    peer = BGPPeer(name="tor-a", as_number=64513, peer_ip=ip("172.31.255.1"), password_ref=REF)
    spec, blocks = spec_and_blocks(BGP, peers=(peer,))  # no secrets: the operator's view
    config = render_node(spec, "n1", blocks, NodeFacts())
    with pytest.raises(
        ValidationError, match=r"Secret/kube-system/bgp-secrets: data\.tor-a: not found"
    ):
        plan_node(config, peers_of(spec, blocks, "n1"), NodeFacts())
    # the agent reads the secret and resolves the refs
    resolved = NodeConfig.from_dict(config.to_dict(), secrets={REF: SECRET})
    state = plan_node(resolved, peers_of(spec, blocks, "n1"), NodeFacts())
    assert state.bird is not None


@pytest.mark.parametrize(
    ("kind", "link_kind"),
    [
        pytest.param(BackendType.IPIP, "ipip", id="ipip"),
        pytest.param(BackendType.WIREGUARD, "wireguard", id="wireguard"),
    ],
)
def test_unsupported_tunnels_become_links_the_engine_refuses(
    kind: BackendType, link_kind: str
) -> None:
    state = plan(Backend(name="main", type=kind))
    (tunnel,) = (link for link in state.links if link.kind == link_kind)
    assert tunnel.vxlan is None
    assert len(state.routes) == 2  # n2's and n3's blocks: `all` below is not vacuous
    assert all(r.dev == tunnel.name for r in state.routes)


def test_conflist_file() -> None:
    facts = NodeFacts(root="/srv/n1")
    spec, blocks = spec_and_blocks(VXLAN)
    config = render_node(spec, "n1", blocks, facts)
    state = plan_node(config, peers_of(spec, blocks, "n1"), facts)
    (conflist,) = state.files
    assert conflist.path == "/srv/n1/etc/cni/net.d/10-podnet.conflist"
    assert conflist.mode == 0o644
    assert json.loads(conflist.content) == config.conflists[0].config


def test_root_slash_keeps_system_paths() -> None:
    (conflist,) = plan(VXLAN).files
    assert conflist.path == "/etc/cni/net.d/10-podnet.conflist"


SYSCTL_CASES = [
    pytest.param((V4,), id="v4-bridge"),
    pytest.param((V4, V6), id="dual-stack-bridge"),
]


@pytest.mark.parametrize("pools", SYSCTL_CASES)
def test_sysctls(pools: tuple[IPPool, ...]) -> None:
    state = plan(VXLAN, pools=pools)
    by_name = {s.name: s for s in state.sysctls}
    assert by_name["net.ipv4.ip_forward"].value == "1"
    assert by_name["net.ipv4.conf.all.rp_filter"].value == "1"
    assert ("net.ipv6.conf.all.forwarding" in by_name) == any(p.version == 6 for p in pools)
    assert by_name["net.bridge.bridge-nf-call-iptables"] == Sysctl(
        name="net.bridge.bridge-nf-call-iptables", value="1", optional=True
    )
    assert by_name["net.bridge.bridge-nf-call-ip6tables"].optional


def test_no_bridge_no_bridge_nf() -> None:
    config = NodeConfig(node="n1", node_ip=ip("172.31.255.11"))
    names = {s.name for s in plan_node(config, [], NodeFacts()).sysctls}
    assert names == {"net.ipv4.ip_forward", "net.ipv4.conf.all.rp_filter"}


def test_self_and_foreign_pools_are_skipped() -> None:
    spec, blocks = spec_and_blocks(VXLAN)
    config = render_node(spec, "n1", blocks, NodeFacts())
    me = Peer(
        name="n1",
        ip=ip("172.31.255.11"),
        blocks=(IPBlock(pool="pods-v4", cidr=net("10.244.1.0/24"), node="n1"),),
    )
    stranger = Peer(
        name="n9",
        ip=ip("172.31.255.19"),
        blocks=(IPBlock(pool="elsewhere", cidr=net("10.9.0.0/24"), node="n9"),),
    )
    state = plan_node(config, [me, stranger], NodeFacts())
    assert state.routes == ()
    assert state.fdb == ()


# -- scale -----------------------------------------------------------------------------------


def _many_peers(count: int, *, dual: bool) -> list[Peer]:
    base4 = int(ip("10.64.0.0"))
    base6 = int(ip("fd10::"))
    out = []
    for i in range(count):
        addr = ipaddress.IPv4Address(int(ip("172.16.0.2")) + i)
        blocks = [
            IPBlock(pool="v4", cidr=ipaddress.IPv4Network((base4 + (i << 8), 24)), node=f"p{i}")
        ]
        if dual:
            blocks.append(
                IPBlock(
                    pool="v6", cidr=ipaddress.IPv6Network((base6 + (i << 64), 64)), node=f"p{i}"
                )
            )
        out.append(Peer(name=f"p{i}", ip=addr, addresses=(addr,), blocks=tuple(blocks)))
    return out


def _vxlan_config(*, dual: bool) -> NodeConfig:
    pools = [("v4", "10.64.0.0/11"), ("v6", "fd10::/32")] if dual else [("v4", "10.64.0.0/11")]
    routing = tuple(
        PoolRouting(
            pool=name, cidr=net(cidr), backend="vx", type=BackendType.VXLAN, device="nwvx.1"
        )
        for name, cidr in pools
    )
    return NodeConfig(node="n0", node_ip=ip("172.16.0.1"), routing=routing)


@pytest.mark.parametrize(
    "dual", [pytest.param(False, id="v4"), pytest.param(True, id="dual-stack")]
)
def test_five_thousand_peers_give_a_route_neighbour_and_fdb_entry_each(dual: bool) -> None:
    # How fast and how linearly is benchmarks/bench_core.py's (render+plan of one node).
    state = plan_node(_vxlan_config(dual=dual), _many_peers(5000, dual=dual), NodeFacts())
    per_family = 2 if dual else 1
    assert len(state.routes) == len(state.neighbours) == 5000 * per_family
    assert len(state.fdb) == 5000
    assert len({r.dst for r in state.routes}) == 5000 * per_family
