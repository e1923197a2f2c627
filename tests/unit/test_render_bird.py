"""The BIRD configuration render_node writes for bgp Backends: topology, peers, secrets, syntax.

Every rendered configuration is also parsed by the real `bird -p` (parse only,
no daemon, no root), with the password placeholders and with the materialized
secrets.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from netwright.model.config import NodeConfig, NodeFacts
from netwright.model.spec import (
    Backend,
    BackendType,
    BGPPeer,
    BgpSettings,
    ClusterSpec,
    GracefulRestart,
    IPBlock,
    IPPool,
    Network,
    NetworkType,
    Node,
    SecretRef,
    SecretValue,
    Selector,
)
from netwright.model.state import File
from netwright.render import render_node

if TYPE_CHECKING:
    from pathlib import Path

ip = ipaddress.ip_address
net = ipaddress.ip_network

V4 = IPPool(name="pods-v4", cidr=net("10.244.0.0/16"), block_size=24, backend="bgp")
V6 = IPPool(name="pods-v6", cidr=net("fd10::/48"), block_size=64, backend="bgp")
REF = SecretRef(namespace="kube-system", name="bgp-secrets", key="tor-a")
SECRET = SecretValue(REF, "s3cret-pass")
RR = Selector(match_labels=(("netwright.io/route-reflector", "true"),))


def make_nodes(
    names: list[str], *, reflectors: tuple[str, ...] = (), v6_only: tuple[str, ...] = ()
) -> tuple[Node, ...]:
    out = []
    for i, name in enumerate(names, start=1):
        labels = {"rack": "a" if i % 2 else "b"}
        if name in reflectors:
            labels["netwright.io/route-reflector"] = "true"
        addrs: tuple[Any, ...] = (
            (ip(f"fd00::{i:x}"),)
            if name in v6_only
            else (ip(f"172.31.255.{10 + i}"), ip(f"fd00::{i:x}"))
        )
        out.append(Node(name=name, labels=labels, addresses=addrs))
    return tuple(out)


def make_blocks(nodes: tuple[Node, ...], pools: tuple[IPPool, ...]) -> list[IPBlock]:
    out = []
    for i, node in enumerate(nodes, start=1):
        for pool in pools:
            if pool.version == 4 and node.address(4) is None:
                continue
            cidr = net(f"10.244.{i}.0/24") if pool.version == 4 else net(f"fd10:0:0:{i:x}::/64")
            out.append(IPBlock(pool=pool.name, cidr=cidr, node=node.name))
    return out


def bgp_cluster(
    names: list[str] | None = None,
    *,
    pools: tuple[IPPool, ...] = (V4,),
    mesh: bool = True,
    reflectors: tuple[str, ...] = (),
    peers: tuple[BGPPeer, ...] = (),
    v6_only: tuple[str, ...] = (),
) -> tuple[ClusterSpec, list[IPBlock]]:
    nodes = make_nodes(names or ["n1", "n2", "n3"], reflectors=reflectors, v6_only=v6_only)
    spec = ClusterSpec(
        nodes=nodes,
        backends=(
            Backend(
                name="bgp",
                type=BackendType.BGP,
                bgp=BgpSettings(
                    as_number=64512,
                    node_to_node_mesh=mesh,
                    route_reflectors=RR if reflectors else None,
                ),
            ),
        ),
        pools=pools,
        networks=(
            Network(
                name="podnet",
                type=NetworkType.BRIDGE,
                ip_pools=tuple(p.name for p in pools),
                bridge_name="cni0",
            ),
        ),
        peers=peers,
        secrets={REF: SECRET},
    )
    return spec, make_blocks(nodes, pools)


def bird_text(spec: ClusterSpec, blocks: list[IPBlock], node: str = "n1", root: str = "/") -> str:
    config = render_node(spec, node, blocks, NodeFacts(root=root))
    assert config.bird is not None
    return config.bird.config


def sessions(text: str) -> dict[str, str]:
    """protocol name → its body."""
    pattern = re.compile(r"^protocol bgp (\S+)[^{]*\{\n(.*?)^\}", re.MULTILINE | re.DOTALL)
    return {m.group(1): m.group(2) for m in pattern.finditer(text)}


def neighbors(text: str) -> list[str]:
    return re.findall(r"neighbor (\S+) as", text)


# -- topology ---------------------------------------------------------------------------


def test_full_mesh() -> None:
    spec, blocks = bgp_cluster()
    text = bird_text(spec, blocks)
    assert "router id 172.31.255.11;" in text
    assert sorted(sessions(text)) == ["node_n2_v4", "node_n3_v4"]
    assert neighbors(text) == ["172.31.255.12", "172.31.255.13"]
    assert "direct;" in text
    assert "connect delay time 1;" in text
    assert "route 10.244.1.0/24 blackhole;" in text
    assert "10.244.2.0" not in text
    assert "export where source = RTS_BGP;" in text
    assert "bgp_next_hop = 172.31.255.11;" in text
    assert "rr client" not in text


def test_no_mesh_no_reflectors_no_in_cluster_sessions() -> None:
    spec, blocks = bgp_cluster(mesh=False)
    assert sessions(bird_text(spec, blocks)) == {}


def test_route_reflector_peers_with_everyone() -> None:
    spec, blocks = bgp_cluster(["n1", "n2", "n3", "n4"], reflectors=("n1", "n2"))
    text = bird_text(spec, blocks, "n1")
    found = sessions(text)
    assert sorted(found) == ["node_n2_v4", "node_n3_v4", "node_n4_v4"]
    assert "rr client" not in found["node_n2_v4"]  # reflectors peer as equals
    for client in ("node_n3_v4", "node_n4_v4"):
        assert "rr client;" in found[client]
        assert "rr cluster id 172.31.255.11;" in found[client]
    # reflected routes go out with their own next hop: only own blocks get this node's
    assert "if source = RTS_BGP then accept;" in text


def test_route_reflector_client_peers_only_with_reflectors() -> None:
    spec, blocks = bgp_cluster(["n1", "n2", "n3", "n4"], reflectors=("n1", "n2"))
    text = bird_text(spec, blocks, "n3")
    assert sorted(sessions(text)) == ["node_n1_v4", "node_n2_v4"]
    assert "rr client" not in text


def test_sessions_are_symmetric() -> None:
    spec, blocks = bgp_cluster(["n1", "n2", "n3", "n4"], reflectors=("n2",))
    pairs = set()
    for node in ("n1", "n2", "n3", "n4"):
        for name in sessions(bird_text(spec, blocks, node)):
            pairs.add((node, name.removeprefix("node_").removesuffix("_v4")))
    assert all((b, a) in pairs for a, b in pairs)
    assert pairs == {(n, "n2") for n in ("n1", "n3", "n4")} | {
        ("n2", n) for n in ("n1", "n3", "n4")
    }


def test_dual_stack_sessions_per_family() -> None:
    spec, blocks = bgp_cluster(pools=(V4, V6))
    text = bird_text(spec, blocks)
    assert sorted(sessions(text)) == ["node_n2_v4", "node_n2_v6", "node_n3_v4", "node_n3_v6"]
    assert "protocol kernel nw_kernel_v6" in text
    assert "route fd10:0:0:1::/64 blackhole;" in text
    assert "local fd00::1 as 64512;" in text


def test_v6_only_node_gets_a_derived_router_id() -> None:
    spec, blocks = bgp_cluster(pools=(V6,), v6_only=("n1",))
    text = bird_text(spec, blocks)
    rid = re.search(r"router id (\S+);", text)
    assert rid is not None
    assert rid.group(1) != "0.0.0.0"
    assert ipaddress.ip_address(rid.group(1)).version == 4


def test_node_names_become_valid_identifiers() -> None:
    spec, blocks = bgp_cluster(["worker-1.example.com", "worker-2.example.com", "w" * 100])
    text = bird_text(spec, blocks, "worker-1.example.com")
    names = list(sessions(text))
    assert len(names) == 2
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", n) for n in names), names


def test_deterministic_whatever_the_input_order() -> None:
    spec, blocks = bgp_cluster(["n1", "n2", "n3", "n4"])
    reordered = ClusterSpec(
        nodes=tuple(reversed(spec.nodes)),
        backends=spec.backends,
        pools=spec.pools,
        networks=spec.networks,
        secrets=spec.secrets,
    )
    assert bird_text(spec, blocks) == bird_text(reordered, list(reversed(blocks)))


def test_log_and_socket_follow_the_root() -> None:
    spec, blocks = bgp_cluster()
    assert "log syslog all;" in bird_text(spec, blocks)
    rooted = bird_text(spec, blocks, root="/srv/lab/n1")
    assert 'log "/srv/lab/n1/var/log/bird/bird.log" all;' in rooted
    assert "/srv/lab/n1/run/bird/bird.ctl" in rooted


def test_no_bird_without_bgp() -> None:
    spec, blocks = bgp_cluster()
    vx = ClusterSpec(
        nodes=spec.nodes,
        backends=(Backend(name="bgp", type=BackendType.VXLAN),),
        pools=spec.pools,
        networks=spec.networks,
    )
    assert render_node(vx, "n1", blocks, NodeFacts()).bird is None


# -- BGPPeers -----------------------------------------------------------------------------

TOR_A = BGPPeer(
    name="tor-a",
    as_number=64513,
    peer_ip=ip("172.31.255.1"),
    node_selector=Selector(match_labels=(("rack", "a"),)),
    password_ref=REF,
    hold_time=9,
    keepalive_time=3,
    graceful_restart=GracefulRestart(enabled=True, restart_time=60),
)
TOR_IBGP = BGPPeer(name="tor-i", as_number=64512, peer_ip=ip("172.31.255.2"), hold_time=0)


def test_external_ebgp_peer() -> None:
    spec, blocks = bgp_cluster(peers=(TOR_A,))
    found = sessions(bird_text(spec, blocks, "n1"))
    body = found["peer_tor_a_346f267c_v4"]
    assert "neighbor 172.31.255.1 as 64513;" in body
    assert "local 172.31.255.11 as 64512;" in body
    assert "hold time 9;" in body
    assert "keepalive time 3;" in body
    assert "graceful restart on;" in body
    assert "graceful restart time 60;" in body
    assert 'password "<secret kube-system/bgp-secrets/tor-a>";' in body
    assert "import none;" in body
    assert "export filter nw_export_own_v4;" in body


def test_external_peer_node_selector() -> None:
    spec, blocks = bgp_cluster(peers=(TOR_A,))
    config = render_node(spec, "n2", blocks, NodeFacts())  # rack b
    assert config.bird is not None
    assert "tor_a" not in config.bird.config
    assert config.bird.secret_refs == ()
    assert config.bird.secrets == ()


def test_external_ibgp_peer_with_hold_time_zero() -> None:
    spec, blocks = bgp_cluster(peers=(TOR_IBGP,))
    (body,) = (
        b for n, b in sessions(bird_text(spec, blocks)).items() if n.startswith("peer_tor_i")
    )
    assert "neighbor 172.31.255.2 as 64512;" in body
    assert "hold time 0;" in body
    assert "keepalive time" not in body


def test_in_cluster_peer_selector_sessions_on_both_sides() -> None:
    peer = BGPPeer(
        name="edge",
        as_number=64512,
        peer_selector=Selector(match_labels=(("rack", "b"),)),
        node_selector=Selector(match_labels=(("rack", "a"),)),
    )
    spec, blocks = bgp_cluster(["n1", "n2", "n3", "n4"], mesh=False, peers=(peer,))
    # n1, n3 in rack a open towards n2, n4 in rack b, and n2, n4 answer
    assert neighbors(bird_text(spec, blocks, "n1")) == ["172.31.255.12", "172.31.255.14"]
    assert neighbors(bird_text(spec, blocks, "n2")) == ["172.31.255.11", "172.31.255.13"]


def test_in_cluster_peer_does_not_duplicate_a_mesh_session() -> None:
    peer = BGPPeer(name="all", as_number=64512, peer_selector=Selector())
    spec, blocks = bgp_cluster(peers=(peer,))
    assert neighbors(bird_text(spec, blocks, "n1")) == ["172.31.255.12", "172.31.255.13"]


# -- syntax: the real parser ---------------------------------------------------------------

BIRD = shutil.which("bird")

PARSE_CASES = [
    pytest.param({}, "n1", id="mesh"),
    pytest.param({"pools": (V4, V6)}, "n2", id="mesh-dual-stack"),
    pytest.param({"names": ["n1", "n2", "n3", "n4"], "reflectors": ("n1",)}, "n1", id="reflector"),
    pytest.param({"names": ["n1", "n2", "n3", "n4"], "reflectors": ("n1",)}, "n3", id="rr-client"),
    pytest.param({"peers": (TOR_A, TOR_IBGP)}, "n1", id="external-peers"),
    pytest.param({"pools": (V6,), "v6_only": ("n1",)}, "n1", id="v6-only"),
    pytest.param(
        {"names": ["worker-1.example.com", "b" * 90]}, "worker-1.example.com", id="odd-names"
    ),
    pytest.param({"mesh": False}, "n1", id="no-sessions"),
]


@pytest.mark.skipif(BIRD is None, reason="bird (bird2) is not installed")
@pytest.mark.parametrize(("kw", "node"), PARSE_CASES)
def test_bird_parses_the_rendered_config(tmp_path: Path, kw: dict[str, Any], node: str) -> None:
    spec, blocks = bgp_cluster(**kw)
    config: NodeConfig = render_node(spec, node, blocks, NodeFacts(root=str(tmp_path)))
    assert config.bird is not None
    file = File(path="bird.conf", content=config.bird.config, secrets=config.bird.secrets)
    for variant, text in (("placeholders", file.content), ("materialized", file.materialize())):
        path = tmp_path / f"{variant}.conf"
        path.write_text(text)
        assert BIRD is not None
        done = subprocess.run(
            [BIRD, "-p", "-c", str(path)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{variant}: {done.stderr}\n{text}"
    if config.bird.secret_refs:
        assert SECRET.reveal() in file.materialize()
        assert SECRET.reveal() not in file.content
