"""render_node: a node's devices, conflists, routing and NAT, and the NodeConfig round trip."""

from __future__ import annotations

import ipaddress
import json
import random
from typing import Any

import pytest

from netwright.errors import ValidationError
from netwright.model.config import NodeConfig, NodeFacts
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
    Selector,
    VxlanSettings,
)
from netwright.render import ClusterIndex, bird_ident, peers_of, render_node, router_id

ip = ipaddress.ip_address
net = ipaddress.ip_network

V4 = IPPool(name="pods-v4", cidr=net("10.244.0.0/16"), block_size=24, backend="main")
V6 = IPPool(name="pods-v6", cidr=net("fd10::/48"), block_size=64, backend="main")


def backend(kind: BackendType, **kw: Any) -> Backend:
    extra: dict[str, Any] = {}
    if kind is BackendType.VXLAN:
        extra["vxlan"] = VxlanSettings(**kw)
    if kind is BackendType.BGP:
        extra["bgp"] = BgpSettings(as_number=64512, **kw)
    return Backend(name="main", type=kind, **extra)


def nodes(count: int = 3, *, v6_underlay: bool = False) -> tuple[Node, ...]:
    out = []
    for i in range(1, count + 1):
        v4, v6 = ip(f"172.31.255.{10 + i}"), ip(f"fd00::{i}")
        out.append(Node(name=f"n{i}", addresses=(v6, v4) if v6_underlay else (v4, v6)))
    return tuple(out)


def blocks_for(count: int = 3, *, pools: tuple[IPPool, ...] = (V4,)) -> list[IPBlock]:
    out = []
    for i in range(1, count + 1):
        for pool in pools:
            cidr = net(f"10.244.{i}.0/24") if pool.version == 4 else net(f"fd10:0:0:{i}::/64")
            out.append(IPBlock(pool=pool.name, cidr=cidr, node=f"n{i}"))
    return out


def cluster(
    kind: BackendType = BackendType.VXLAN,
    *,
    pools: tuple[IPPool, ...] = (V4,),
    network: Network | None = None,
    v6_underlay: bool = False,
    backends: tuple[Backend, ...] | None = None,
    **backend_kw: Any,
) -> ClusterSpec:
    network = network or Network(
        name="podnet",
        type=NetworkType.BRIDGE,
        ip_pools=tuple(p.name for p in pools),
        bridge_name="cni0",
    )
    return ClusterSpec(
        nodes=nodes(v6_underlay=v6_underlay),
        backends=backends or (backend(kind, **backend_kw),),
        pools=pools,
        networks=(network,),
    )


def render(spec: ClusterSpec, pools: tuple[IPPool, ...] = (V4,), **facts: Any) -> NodeConfig:
    return render_node(spec, "n1", blocks_for(pools=pools), NodeFacts(**facts))


# -- MTU ------------------------------------------------------------------------------

MTU_CASES = [
    pytest.param(BackendType.VXLAN, False, None, 1500, 1450, id="vxlan-v4-underlay-auto"),
    pytest.param(BackendType.VXLAN, True, None, 1500, 1430, id="vxlan-v6-underlay-auto"),
    pytest.param(BackendType.VXLAN, False, None, 1400, 1350, id="vxlan-small-underlay"),
    pytest.param(BackendType.HOST_GW, False, None, 1500, 1500, id="host-gw-auto"),
    pytest.param(BackendType.BGP, False, None, 9000, 9000, id="bgp-auto-jumbo"),
    pytest.param(BackendType.IPIP, False, None, 1500, 1480, id="ipip-auto"),
    pytest.param(BackendType.WIREGUARD, False, None, 1500, 1440, id="wireguard-v4-auto"),
    pytest.param(BackendType.WIREGUARD, True, None, 1500, 1420, id="wireguard-v6-auto"),
    pytest.param(BackendType.VXLAN, False, 1300, 1500, 1300, id="vxlan-fixed"),
]


@pytest.mark.parametrize(("kind", "v6_underlay", "fixed", "underlay", "expected"), MTU_CASES)
def test_network_mtu(
    kind: BackendType, v6_underlay: bool, fixed: int | None, underlay: int, expected: int
) -> None:
    network = Network(
        name="podnet", type=NetworkType.BRIDGE, ip_pools=("pods-v4",), bridge_name="cni0", mtu=fixed
    )
    config = render(cluster(kind, network=network, v6_underlay=v6_underlay), underlay_mtu=underlay)
    (main,) = (c.config["plugins"][0] for c in config.conflists)
    assert main["mtu"] == expected
    assert config.bridges[0].mtu == expected


def test_mtu_takes_the_largest_overhead_of_the_networks_pools() -> None:
    v6 = IPPool(name="pods-v6", cidr=net("fd10::/48"), block_size=64, backend="flat")
    spec = ClusterSpec(
        nodes=nodes(),
        backends=(backend(BackendType.VXLAN), Backend(name="flat", type=BackendType.HOST_GW)),
        pools=(V4, v6),
        networks=(
            Network(
                name="podnet",
                type=NetworkType.BRIDGE,
                ip_pools=("pods-v4", "pods-v6"),
                bridge_name="cni0",
            ),
        ),
    )
    config = render(spec, pools=(V4, v6))
    assert config.conflists[0].config["plugins"][0]["mtu"] == 1450
    assert {r.pool: str(r.type) for r in config.routing} == {
        "pods-v4": "vxlan",
        "pods-v6": "host-gw",
    }


# -- devices --------------------------------------------------------------------------


def test_vxlan_tunnel() -> None:
    config = render(cluster(BackendType.VXLAN, vni=42, port=4789), underlay_dev="ens3")
    (tunnel,) = config.tunnels
    assert tunnel.name == "nwvx.42"
    assert (tunnel.vni, tunnel.port, tunnel.mtu) == (42, 4789, 1450)
    assert tunnel.mac == "0e:6e:ac:1f:ff:0b"
    assert tunnel.local == ip("172.31.255.11")
    assert tunnel.dev == "ens3"
    assert [str(a) for a in tunnel.addresses] == ["10.244.1.0/32"]
    assert config.routing[0].device == "nwvx.42"


def test_vxlan_tunnel_name_fits_ifnamsiz() -> None:
    config = render(cluster(BackendType.VXLAN, vni=16777215))
    assert config.tunnels[0].name == "nwvx.16777215"
    assert len(config.tunnels[0].name) <= 15


def test_dual_stack_vxlan_has_one_vtep_with_both_addresses() -> None:
    config = render(cluster(BackendType.VXLAN, pools=(V4, V6)), pools=(V4, V6))
    (tunnel,) = config.tunnels
    assert [str(a) for a in tunnel.addresses] == ["10.244.1.0/32", "fd10:0:0:1::/128"]
    assert [str(a) for a in config.bridges[0].addresses] == ["10.244.1.1/24", "fd10:0:0:1::1/64"]
    assert [r.pool for r in config.routing] == ["pods-v4", "pods-v6"]


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [
        pytest.param(BackendType.IPIP, "nwip.", id="ipip"),
        pytest.param(BackendType.WIREGUARD, "nwwg.", id="wireguard"),
    ],
)
def test_unsupported_tunnels_still_render(kind: BackendType, prefix: str) -> None:
    config = render(cluster(kind))
    (tunnel,) = config.tunnels
    assert tunnel.type is kind
    assert tunnel.name.startswith(prefix)
    assert len(tunnel.name) <= 15
    assert tunnel.vni is None
    assert tunnel.mac is None


@pytest.mark.parametrize(
    "kind",
    [pytest.param(BackendType.HOST_GW, id="host-gw"), pytest.param(BackendType.BGP, id="bgp")],
)
def test_routed_backends_have_no_tunnel(kind: BackendType) -> None:
    config = render(cluster(kind), underlay_dev="ens3")
    assert config.tunnels == ()
    assert config.routing[0].device == "ens3"


def test_bridge_gets_gateway_and_mtu() -> None:
    config = render(cluster())
    (bridge,) = config.bridges
    assert bridge.name == "cni0"
    assert [str(a) for a in bridge.addresses] == ["10.244.1.1/24"]
    assert bridge.mtu == 1450  # vxlan over an IPv4 underlay of 1500


# -- conflists ------------------------------------------------------------------------


def test_bridge_conflist() -> None:
    network = Network(
        name="podnet",
        type=NetworkType.BRIDGE,
        ip_pools=("pods-v4", "pods-v6"),
        bridge_name="br-pods",
        priority=20,
        cni_version="0.4.0",
        plugins=({"type": "portmap"}, {"type": "tuning", "sysctl": {"net.core.somaxconn": "500"}}),
    )
    spec = cluster(pools=(V4, V6), network=network)
    config = render(spec, pools=(V4, V6), root="/srv/n1")
    (conflist,) = config.conflists
    assert conflist.file == "20-podnet.conflist"
    assert conflist.config == {
        "cniVersion": "0.4.0",
        "name": "podnet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "br-pods",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "mtu": 1450,
                "ipam": {
                    "type": "host-local",
                    "ranges": [
                        [{"subnet": "10.244.1.0/24", "gateway": "10.244.1.1"}],
                        [{"subnet": "fd10:0:0:1::/64", "gateway": "fd10:0:0:1::1"}],
                    ],
                    "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
                    "dataDir": "/srv/n1/var/lib/cni/networks",
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "tuning", "sysctl": {"net.core.somaxconn": "500"}},
        ],
    }
    json.dumps(conflist.config)  # plain JSON


def test_ptp_conflist_has_no_bridge_and_no_explicit_gateway() -> None:
    network = Network(name="p2p", type=NetworkType.PTP, ip_pools=("pods-v4",), mtu=1400)
    config = render(cluster(network=network))
    assert config.bridges == ()
    (conflist,) = config.conflists
    main = conflist.config["plugins"][0]
    assert main == {
        "type": "ptp",
        "mtu": 1400,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": "10.244.1.0/24"}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "/var/lib/cni/networks",
        },
    }


def test_given_capabilities_are_kept() -> None:
    network = Network(
        name="podnet",
        type=NetworkType.PTP,
        ip_pools=("pods-v4",),
        plugins=({"type": "portmap", "capabilities": {"portMappings": False}, "snat": True},),
    )
    config = render(cluster(network=network))
    assert config.conflists[0].config["plugins"][1] == {
        "type": "portmap",
        "capabilities": {"portMappings": False},
        "snat": True,
    }


def test_network_node_selector() -> None:
    network = Network(
        name="podnet",
        type=NetworkType.BRIDGE,
        ip_pools=("pods-v4",),
        bridge_name="cni0",
        node_selector=Selector(match_labels=(("role", "gpu"),)),
    )
    config = render(cluster(network=network))
    assert config.conflists == ()
    assert config.bridges == ()
    assert config.routing  # routing does not depend on the Network


def test_no_block_no_conflist() -> None:
    config = render_node(cluster(), "n1", [], NodeFacts())
    assert config.conflists == ()
    assert config.tunnels == ()
    assert config.routing == ()
    assert config.blocks == ()


def test_only_own_blocks() -> None:
    config = render(cluster(pools=(V4, V6)), pools=(V4, V6))
    assert {b.node for b in config.blocks} == {"n1"}
    assert [str(b.cidr) for b in config.blocks] == ["10.244.1.0/24", "fd10:0:0:1::/64"]


# -- NAT ------------------------------------------------------------------------------


def test_nat_outgoing_sources_and_exclude() -> None:
    nat4 = IPPool(
        name="pods-v4", cidr=net("10.244.0.0/16"), block_size=24, backend="main", nat_outgoing=True
    )
    other = IPPool(name="other", cidr=net("10.96.0.0/16"), block_size=24, backend="main")
    spec = cluster(pools=(nat4, V6, other))
    config = render(spec, pools=(nat4, V6))
    assert config.nat is not None
    assert [str(n) for n in config.nat.sources] == ["10.244.0.0/16"]
    assert [str(n) for n in config.nat.exclude] == ["10.96.0.0/16", "10.244.0.0/16", "fd10::/48"]


def test_no_nat_without_nat_outgoing() -> None:
    assert render(cluster()).nat is None


# -- errors, determinism, index ----------------------------------------------------------


def test_unknown_node() -> None:
    with pytest.raises(ValidationError, match="Node/n9: no such node"):
        render_node(cluster(), "n9", blocks_for(), NodeFacts())


def test_index_gives_the_same_result_and_order_does_not_matter() -> None:
    spec = cluster(pools=(V4, V6))
    blocks = blocks_for(pools=(V4, V6))
    plain = render_node(spec, "n2", blocks, NodeFacts())
    shuffled = list(blocks)
    random.Random(7).shuffle(shuffled)
    index = ClusterIndex.build(spec, shuffled)
    assert render_node(spec, "n2", shuffled, NodeFacts(), index=index) == plain


def test_peers_of() -> None:
    peers = peers_of(cluster(), blocks_for(), "n2")
    assert [p.name for p in peers] == ["n1", "n3"]
    assert peers[0].ip == ip("172.31.255.11")
    assert peers[0].addresses == (ip("172.31.255.11"), ip("fd00::1"))
    assert [str(b.cidr) for b in peers[0].blocks] == ["10.244.1.0/24"]
    assert peers[0].address(6) == ip("fd00::1")


# -- round trip and secrets -----------------------------------------------------------------

REF = SecretRef(namespace="kube-system", name="bgp-secrets", key="tor-a")
SECRET = SecretValue(REF, "hunter2-very-secret")


def bgp_cluster() -> ClusterSpec:
    return ClusterSpec(
        nodes=nodes(),
        backends=(backend(BackendType.BGP),),
        pools=(
            IPPool(
                name="pods-v4",
                cidr=net("10.244.0.0/16"),
                block_size=24,
                backend="main",
                nat_outgoing=True,
            ),
        ),
        networks=(
            Network(
                name="podnet", type=NetworkType.BRIDGE, ip_pools=("pods-v4",), bridge_name="cni0"
            ),
        ),
        peers=(
            BGPPeer(name="tor-a", as_number=64513, peer_ip=ip("172.31.255.1"), password_ref=REF),
        ),
        secrets={REF: SECRET},
    )


ROUND_TRIP = [
    pytest.param(lambda: render(cluster()), id="vxlan"),
    pytest.param(lambda: render(cluster(pools=(V4, V6)), pools=(V4, V6)), id="vxlan-dual-stack"),
    pytest.param(lambda: render(cluster(BackendType.HOST_GW)), id="host-gw"),
    pytest.param(lambda: render(cluster(BackendType.WIREGUARD)), id="wireguard"),
    pytest.param(lambda: render(bgp_cluster(), root="/srv/n1"), id="bgp-nat-secret"),
    pytest.param(lambda: render_node(cluster(), "n1", [], NodeFacts()), id="no-blocks"),
]


@pytest.mark.parametrize("make", ROUND_TRIP)
def test_round_trip(make: Any) -> None:
    config = make()
    wire = json.loads(json.dumps(config.to_dict()))
    assert wire == config.to_dict()
    back = NodeConfig.from_dict(wire, secrets={REF: SECRET})
    assert back == config
    assert back.to_dict() == wire


def test_spec_shape() -> None:
    spec = render(bgp_cluster()).to_dict()
    assert set(spec) == {
        "node",
        "nodeIP",
        "blocks",
        "tunnels",
        "bridges",
        "routing",
        "conflists",
        "bird",
        "natOutgoing",
    }
    assert spec["blocks"] == [{"pool": "pods-v4", "cidr": "10.244.1.0/24"}]
    assert spec["routing"] == [
        {
            "pool": "pods-v4",
            "cidr": "10.244.0.0/16",
            "backend": "main",
            "type": "bgp",
            "device": "eth0",
            "directRouting": False,
        }
    ]
    assert spec["bird"]["secretRefs"] == [
        {"namespace": "kube-system", "name": "bgp-secrets", "key": "tor-a"}
    ]
    assert spec["natOutgoing"] == {"sources": ["10.244.0.0/16"], "exclude": ["10.244.0.0/16"]}
    tunnel = render(cluster()).to_dict()["tunnels"][0]
    assert list(tunnel) == [
        "name",
        "backend",
        "type",
        "vni",
        "port",
        "mtu",
        "mac",
        "local",
        "dev",
        "addresses",
    ]


def test_secret_never_leaves_except_through_materialize() -> None:
    config = render(bgp_cluster())
    assert config.bird is not None
    cleartext = SECRET.reveal()
    assert '"<secret kube-system/bgp-secrets/tor-a>"' in config.bird.config
    assert cleartext not in config.bird.config
    assert cleartext not in json.dumps(config.to_dict())
    assert cleartext not in repr(config)
    assert cleartext not in str(config)
    assert config.bird.secrets == (SECRET,)


def test_from_dict_without_secrets_reports_them_missing() -> None:
    config = render(bgp_cluster())
    back = NodeConfig.from_dict(config.to_dict())
    assert back.bird is not None
    assert back.bird.secrets == ()
    assert back.bird.missing == (REF,)


# -- names ----------------------------------------------------------------------------------

IDENT = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        pytest.param(("node", "n2"), "node_n2_v4", id="plain"),
        pytest.param(("node", "worker-1"), None, id="dash"),
        pytest.param(("node", "a" * 200), None, id="long"),
        pytest.param(("9lives",), None, id="digit-first"),
    ],
)
def test_bird_ident(parts: tuple[str, ...], expected: str | None) -> None:
    got = bird_ident(*parts, suffix="_v4")
    import re

    assert re.match(IDENT, got), got
    assert got.endswith("_v4")
    if expected is not None:
        assert got == expected


def test_bird_ident_keeps_distinct_names_distinct() -> None:
    assert bird_ident("node", "a-b") != bird_ident("node", "a.b")
    assert bird_ident("node", "a-b") != bird_ident("node", "a_b")


def test_router_id() -> None:
    assert router_id(nodes()[0]) == "172.31.255.11"
    v6_only = Node(name="v6-node", addresses=(ip("fd00::9"),))
    rid = router_id(v6_only)
    assert rid == router_id(v6_only)
    assert ipaddress.IPv4Address(rid) != ipaddress.IPv4Address(0)
