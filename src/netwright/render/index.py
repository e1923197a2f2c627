"""Lookups over a whole cluster, built once and shared by every node's render.

Rendering runs once per node over the whole cluster (the 10,000-node
benchmark), so everything that scans the cluster happens here, once: nodes,
pools and backends by name, each node's blocks, who takes part in BGP per
address family, and which nodes each BGPPeer selects. A node's render then
costs its own data plus the lookups it needs. `peers_of` lists the other nodes
a node routes to, from the same index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from netwright.model.config import Peer
from netwright.model.spec import BackendType

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from netwright._types import IPNetwork
    from netwright.model.spec import (
        Backend,
        BGPPeer,
        BgpSettings,
        ClusterSpec,
        IPBlock,
        IPPool,
        Node,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class BgpFamily:
    """The in-cluster BGP topology of one address family, computed once."""

    version: int
    settings: BgpSettings
    pools: tuple[IPPool, ...]
    members: tuple[Node, ...]  # sorted by name
    member_names: frozenset[str]
    reflectors: tuple[Node, ...]  # sorted by name; empty without routeReflectors
    reflector_names: frozenset[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerSelection:
    """Which bgp nodes a BGPPeer's selectors pick, computed once."""

    opening: frozenset[str]  # nodeSelector: the nodes that open the session
    targets: tuple[Node, ...]  # peerSelector: the in-cluster peers, sorted by name
    target_names: frozenset[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterIndex:
    """Lookups over a cluster and its blocks, built once and shared by every node's render."""

    cluster: ClusterSpec
    nodes: Mapping[str, Node]
    pools: Mapping[str, IPPool]
    backends: Mapping[str, Backend]
    blocks_by_node: Mapping[str, tuple[IPBlock, ...]]
    pool_cidrs: tuple[IPNetwork, ...]
    bgp: Mapping[int, BgpFamily]
    bgp_peers: tuple[tuple[BGPPeer, PeerSelection], ...]

    @classmethod
    def build(cls, cluster: ClusterSpec, blocks: Iterable[IPBlock]) -> ClusterIndex:
        nodes = {n.name: n for n in cluster.nodes}
        pools = {p.name: p for p in cluster.pools}
        backends = {b.name: b for b in cluster.backends}
        by_node: dict[str, list[IPBlock]] = {}
        for b in blocks:
            by_node.setdefault(b.node, []).append(b)
        blocks_by_node = {
            k: tuple(sorted(v, key=lambda b: (b.pool, b.cidr.version, b.cidr)))
            for k, v in by_node.items()
        }
        bgp = _bgp_families(cluster, nodes, backends, blocks_by_node)
        every_bgp_node = frozenset().union(*(f.member_names for f in bgp.values()))
        bgp_peers = tuple(
            (peer, _select_peers(peer, nodes, every_bgp_node))
            for peer in sorted(cluster.peers, key=lambda p: p.name)
        )
        return cls(
            cluster=cluster,
            nodes=nodes,
            pools=pools,
            backends=backends,
            blocks_by_node=blocks_by_node,
            pool_cidrs=tuple(sorted((p.cidr for p in cluster.pools), key=net_order)),
            bgp=bgp,
            bgp_peers=bgp_peers,
        )

    def pool_backend(self, pool_name: str) -> tuple[IPPool, Backend] | None:
        pool = self.pools.get(pool_name)
        if pool is None:
            return None
        backend = self.backends.get(pool.backend)
        return None if backend is None else (pool, backend)


def net_order(net: IPNetwork) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)


def _bgp_families(
    cluster: ClusterSpec,
    nodes: Mapping[str, Node],
    backends: Mapping[str, Backend],
    blocks_by_node: Mapping[str, tuple[IPBlock, ...]],
) -> dict[int, BgpFamily]:
    """Who takes part in BGP, per family.

    A node is a member of a family when an enabled bgp pool of that family
    selects it or it holds a block of one, and it has an address of that family
    to speak from. Every node applies the same rule, so sessions are symmetric.
    """
    out: dict[int, BgpFamily] = {}
    bgp_backends = sorted(
        (b for b in backends.values() if b.type is BackendType.BGP and b.bgp is not None),
        key=lambda b: b.name,
    )
    for version in (4, 6):
        fam_pools = [
            p
            for b in bgp_backends
            for p in sorted(cluster.pools, key=lambda p: p.name)
            if p.backend == b.name and p.version == version
        ]
        if not fam_pools:
            continue
        # validate guarantees one AS; the first backend's settings decide the topology
        first = next(b for b in bgp_backends if any(p.backend == b.name for p in fam_pools))
        assert first.bgp is not None
        pool_names = {p.name for p in fam_pools}
        selecting = [p for p in fam_pools if not p.disabled]
        members = [
            n
            for n in nodes.values()
            if n.address(version) is not None
            and (
                any(p.node_selector.matches(n.labels) for p in selecting)
                or any(b.pool in pool_names for b in blocks_by_node.get(n.name, ()))
            )
        ]
        members.sort(key=lambda n: n.name)
        rr = first.bgp.route_reflectors
        reflectors = [n for n in members if rr.matches(n.labels)] if rr is not None else []
        out[version] = BgpFamily(
            version=version,
            settings=first.bgp,
            pools=tuple(fam_pools),
            members=tuple(members),
            member_names=frozenset(n.name for n in members),
            reflectors=tuple(reflectors),
            reflector_names=frozenset(n.name for n in reflectors),
        )
    return out


def _select_peers(
    peer: BGPPeer, nodes: Mapping[str, Node], bgp_nodes: frozenset[str]
) -> PeerSelection:
    opening = frozenset(
        name for name in bgp_nodes if peer.node_selector.matches(nodes[name].labels)
    )
    targets: list[Node] = []
    if peer.peer_selector is not None:
        sel = peer.peer_selector
        targets = sorted(
            (nodes[name] for name in bgp_nodes if sel.matches(nodes[name].labels)),
            key=lambda n: n.name,
        )
    return PeerSelection(
        opening=opening, targets=tuple(targets), target_names=frozenset(n.name for n in targets)
    )


def peers_of(
    cluster: ClusterSpec,
    blocks: Sequence[IPBlock],
    node_name: str,
    *,
    index: ClusterIndex | None = None,
) -> tuple[Peer, ...]:
    """Every other node with an address, and its blocks, sorted by name."""
    ix = index if index is not None else ClusterIndex.build(cluster, blocks)
    return tuple(
        Peer(
            name=n.name,
            ip=n.ip,
            addresses=n.addresses,
            blocks=ix.blocks_by_node.get(n.name, ()),
        )
        for n in sorted(ix.nodes.values(), key=lambda n: n.name)
        if n.name != node_name and n.addresses
    )
