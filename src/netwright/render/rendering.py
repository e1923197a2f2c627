"""Render one node's configuration (`NodeConfig`) from the cluster spec and its blocks.

This is the step that decides what a node runs: its tunnel devices, bridges,
CNI conflists, BIRD configuration and NAT. It is pure: values in, values out,
no files, no kernel, no clock. It must not compute routes to other nodes (that
is `plan`, from the peers' data) and must never put a secret value into
anything it returns: BIRD passwords appear as `SecretValue.placeholder`, and
the `SecretValue`s ride beside the text for the file writer alone.

It runs once per node over the whole cluster (the 10,000-node benchmark), so
everything that scans the cluster happens once, in `ClusterIndex.build`; a
node's render then costs its own data plus the lookups it needs. The one
exception is inherent: a full BGP mesh gives every node one session per other
member.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from dataclasses import dataclass, replace
from importlib import resources
from typing import TYPE_CHECKING, Any

from netwright.errors import Issue, ValidationError
from netwright.model.config import (
    BirdConfig,
    Bridge,
    Conflist,
    NatOutgoing,
    NodeConfig,
    NodeFacts,
    Peer,
    PoolRouting,
    Tunnel,
)
from netwright.model.spec import BackendType, NetworkType, VxlanSettings
from netwright.model.state import interface, vtep_mac
from netwright.validate.checks import (
    interface_name_problem,
    interface_name_rule,
    reserved_device,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import jinja2

    from netwright._types import IPAddress, IPNetwork
    from netwright.model.spec import (
        Backend,
        BGPPeer,
        BgpSettings,
        ClusterSpec,
        IPBlock,
        IPPool,
        Network,
        Node,
        SecretRef,
    )

#: Encapsulation overhead in bytes by backend type, over an IPv4 / IPv6 underlay.
#: vxlan: outer IP + UDP 8 + VXLAN 8 + inner Ethernet 14 (flannel's 50 over IPv4);
#: ipip: the outer header alone (IPv4-in-IPv6 pays the 40-byte IPv6 header);
#: wireguard: outer IP + UDP 8 + its 32-byte header and tag.
OVERHEAD: Mapping[BackendType, tuple[int, int]] = {
    BackendType.VXLAN: (50, 70),
    BackendType.HOST_GW: (0, 0),
    BackendType.BGP: (0, 0),
    BackendType.IPIP: (20, 40),
    BackendType.WIREGUARD: (60, 80),
}

#: Tunnel types netwright creates a device for.
TUNNEL_TYPES = frozenset({BackendType.VXLAN, BackendType.IPIP, BackendType.WIREGUARD})

#: A vxlan Backend's settings where its spec gives none.
_VXLAN_DEFAULTS = VxlanSettings()

#: Kernel metric of the routes BIRD installs: distinct from netwright's own
#: (metric 0, proto 211), so the two never share a kernel route key, even while
#: a pool moves between a routed backend and bgp.
BIRD_KERNEL_METRIC = 32

CNI_DIR = "etc/cni/net.d"
CNI_DATA_DIR = "var/lib/cni/networks"
BIRD_CONFIG = "etc/bird/bird.conf"
BIRD_SOCKET = "run/bird/bird.ctl"
BIRD_LOG = "var/log/bird/bird.log"

# BIRD's SYM_MAX_LEN: longer symbols are a parse error.
_BIRD_SYMBOL_MAX = 64
_BIRD_BAD = re.compile(r"[^A-Za-z0-9_]")


def overhead(backend: BackendType, underlay_version: int) -> int:
    """Bytes a backend's encapsulation costs over an IPv4 or IPv6 underlay."""
    v4, v6 = OVERHEAD[backend]
    return v4 if underlay_version == 4 else v6


def under(root: str, relative: str) -> str:
    """`relative` below the node's root (`--root`); `/` keeps the system paths.

    A `..` component would climb out of the root: `validate` refuses every spec
    value that could produce one, and this refuses it again where paths are made.
    """
    if ".." in relative.split("/"):
        raise ValidationError(
            [Issue(message=f"{relative} would land outside the node's root {root}")]
        )
    return root.rstrip("/") + "/" + relative.lstrip("/")


def bird_ident(*parts: str, suffix: str = "") -> str:
    """A valid, unique BIRD symbol from Kubernetes names.

    Names may hold `-` and `.`, which BIRD symbols may not; replacing them could
    make two names collide (`a-b`, `a.b`), so a name that needed changing (or
    is too long) carries a short hash of the original parts.
    """
    clean = [_BIRD_BAD.sub("_", p) for p in parts]
    head = "_".join(clean)
    if clean == list(parts) and len(head) + len(suffix) <= _BIRD_SYMBOL_MAX and head[:1].isalpha():
        return head + suffix
    tag = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]
    if not head[:1].isalpha():
        head = "n" + head
    keep = _BIRD_SYMBOL_MAX - len(suffix) - len(tag) - 1
    return f"{head[:keep]}_{tag}{suffix}"


def router_id(node: Node) -> str:
    """The node's IPv4 address, or a stable non-zero 32-bit id derived from its name."""
    v4 = node.address(4)
    if v4 is not None:
        return str(v4)
    raw = int.from_bytes(hashlib.sha256(node.name.encode()).digest()[:4], "big") or 1
    return str(ipaddress.IPv4Address(raw))


def _first_address(block: IPNetwork) -> IPAddress:
    return block.network_address + 1


# -- the cluster index ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _BgpFamily:
    """The in-cluster BGP topology of one address family, computed once."""

    version: int
    settings: BgpSettings
    pools: tuple[IPPool, ...]
    members: tuple[Node, ...]  # sorted by name
    member_names: frozenset[str]
    reflectors: tuple[Node, ...]  # sorted by name; empty without routeReflectors
    reflector_names: frozenset[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class _PeerSelection:
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
    bgp: Mapping[int, _BgpFamily]
    bgp_peers: tuple[tuple[BGPPeer, _PeerSelection], ...]

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
            pool_cidrs=tuple(sorted((p.cidr for p in cluster.pools), key=_net_order)),
            bgp=bgp,
            bgp_peers=bgp_peers,
        )

    def pool_backend(self, pool_name: str) -> tuple[IPPool, Backend] | None:
        pool = self.pools.get(pool_name)
        if pool is None:
            return None
        backend = self.backends.get(pool.backend)
        return None if backend is None else (pool, backend)


def _net_order(net: IPNetwork) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)


def _bgp_families(
    cluster: ClusterSpec,
    nodes: Mapping[str, Node],
    backends: Mapping[str, Backend],
    blocks_by_node: Mapping[str, tuple[IPBlock, ...]],
) -> dict[int, _BgpFamily]:
    """Who takes part in BGP, per family.

    A node is a member of a family when an enabled bgp pool of that family
    selects it or it holds a block of one, and it has an address of that family
    to speak from. Every node applies the same rule, so sessions are symmetric.
    """
    out: dict[int, _BgpFamily] = {}
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
        out[version] = _BgpFamily(
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
) -> _PeerSelection:
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
    return _PeerSelection(
        opening=opening, targets=tuple(targets), target_names=frozenset(n.name for n in targets)
    )


# -- peers -----------------------------------------------------------------------


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


# -- the node --------------------------------------------------------------------


def render_node(
    cluster: ClusterSpec,
    node_name: str,
    blocks: Sequence[IPBlock],
    facts: NodeFacts,
    *,
    index: ClusterIndex | None = None,
    local: bool = False,
) -> NodeConfig:
    """The node-local configuration of `node_name`.

    `blocks` are the cluster's allocated IPBlocks (the node's own are picked
    out). Pass `index` (`ClusterIndex.build(cluster, blocks)`) when rendering
    many nodes of one cluster. `local=True` leaves out everything that names
    other nodes (the BIRD text): what a NodeNetworkConfig holds, so that it stays
    the same size at any cluster size and a node joining rewrites no other node's.
    """
    ix = index if index is not None else ClusterIndex.build(cluster, blocks)
    node = ix.nodes.get(node_name)
    if node is None:
        raise ValidationError(
            [Issue(kind="Node", name=node_name, message="no such node in the spec")]
        )
    if not node.addresses:
        raise ValidationError(
            [
                Issue(
                    kind="Node",
                    name=node_name,
                    path="status.addresses",
                    message="has no InternalIP",
                )
            ]
        )
    own = tuple(b for b in ix.blocks_by_node.get(node_name, ()) if b.pool in ix.pools)
    own_by_pool = {b.pool: b for b in own}

    tunnels, routing = _tunnels_and_routing(ix, node, own, facts)
    bridges, conflists = _networks(ix, node, own_by_pool, facts)
    return NodeConfig(
        node=node.name,
        node_ip=node.ip,
        blocks=own,
        tunnels=tunnels,
        bridges=bridges,
        routing=routing,
        conflists=conflists,
        bird=_bird(ix, node, own, facts, settings_only=local),
        nat=_nat(ix, own),
    )


def _tunnel_name(backend: Backend) -> str:
    if backend.type is BackendType.VXLAN:
        vni = (backend.vxlan or _VXLAN_DEFAULTS).vni
        return f"nwvx.{vni}"  # at most 13 characters: IFNAMSIZ allows 15
    prefix = "nwip" if backend.type is BackendType.IPIP else "nwwg"
    return f"{prefix}.{hashlib.sha256(backend.name.encode()).hexdigest()[:8]}"


def _tunnels_and_routing(
    ix: ClusterIndex, node: Node, own: Sequence[IPBlock], facts: NodeFacts
) -> tuple[tuple[Tunnel, ...], tuple[PoolRouting, ...]]:
    tunnel_blocks: dict[str, tuple[Backend, list[IPBlock]]] = {}
    routing: list[PoolRouting] = []
    for block in own:
        found = ix.pool_backend(block.pool)
        if found is None:
            continue
        pool, backend = found
        if backend.type in TUNNEL_TYPES:
            device = _tunnel_name(backend)
            tunnel_blocks.setdefault(device, (backend, []))[1].append(block)
        else:
            device = facts.underlay_dev
        routing.append(
            PoolRouting(
                pool=pool.name,
                cidr=pool.cidr,
                backend=backend.name,
                type=backend.type,
                device=device,
                direct_routing=backend.vxlan.direct_routing if backend.vxlan is not None else False,
            )
        )
    tunnels = []
    for name in sorted(tunnel_blocks):
        backend, tblocks = tunnel_blocks[name]
        vxlan = (backend.vxlan or _VXLAN_DEFAULTS) if backend.type is BackendType.VXLAN else None
        tunnels.append(
            Tunnel(
                name=name,
                backend=backend.name,
                type=backend.type,
                vni=vxlan.vni if vxlan is not None else None,
                port=vxlan.port if vxlan is not None else None,
                mtu=facts.underlay_mtu - overhead(backend.type, node.ip.version),
                mac=vtep_mac(node.ip) if vxlan is not None else None,
                local=node.ip,
                dev=facts.underlay_dev if backend.type is not BackendType.WIREGUARD else None,
                # flannel's scheme: the block's network address as a host address
                addresses=tuple(
                    interface(b.cidr.network_address, b.cidr.max_prefixlen) for b in tblocks
                ),
            )
        )
    return tuple(tunnels), tuple(sorted(routing, key=lambda r: r.pool))


def network_mtu(ix: ClusterIndex, network: Network, node: Node, facts: NodeFacts) -> int:
    """A Network's MTU: its own, or the underlay's minus the largest overhead of its pools."""
    if network.mtu is not None:
        return network.mtu
    worst = 0
    for name in network.ip_pools:
        found = ix.pool_backend(name)
        if found is not None:
            worst = max(worst, overhead(found[1].type, node.ip.version))
    return facts.underlay_mtu - worst


def _plain(value: Any) -> Any:
    """A JSON-able copy of a chained plugin's configuration (mappings and tuples from the model)."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


#: Capabilities libcni must see declared before it passes a plugin its runtimeConfig.
_CAPABILITIES: Mapping[str, Mapping[str, bool]] = {
    "portmap": {"portMappings": True},
    "bandwidth": {"bandwidth": True},
}


def _networks(
    ix: ClusterIndex, node: Node, own_by_pool: Mapping[str, IPBlock], facts: NodeFacts
) -> tuple[tuple[Bridge, ...], tuple[Conflist, ...]]:
    bridges: list[Bridge] = []
    conflists: list[Conflist] = []
    data_dir = under(facts.root, CNI_DATA_DIR)
    for network in ix.cluster.networks:
        if not network.node_selector.matches(node.labels):
            continue
        net_blocks = [own_by_pool[p] for p in network.ip_pools if p in own_by_pool]
        if not net_blocks:
            # host-local needs a range: without a block here the node runs no pods of it yet
            continue
        net_blocks.sort(key=lambda b: b.cidr.version)
        mtu = network_mtu(ix, network, node, facts)
        is_bridge = network.type is NetworkType.BRIDGE
        ranges = []
        for b in net_blocks:
            entry: dict[str, Any] = {"subnet": str(b.cidr)}
            if is_bridge:
                entry["gateway"] = str(_first_address(b.cidr))
            ranges.append([entry])
        ipam = {
            "type": "host-local",
            "ranges": ranges,
            "routes": [{"dst": "0.0.0.0/0" if b.cidr.version == 4 else "::/0"} for b in net_blocks],
            "dataDir": data_dir,
        }
        main: dict[str, Any]
        if is_bridge:
            bridge_name = network.bridge_name or "cni0"
            _check_bridge_name(network, bridge_name, facts)
            main = {
                "type": "bridge",
                "bridge": bridge_name,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "mtu": mtu,
                "ipam": ipam,
            }
            bridges.append(
                Bridge(
                    name=bridge_name,
                    mtu=mtu,
                    addresses=tuple(
                        interface(_first_address(b.cidr), b.cidr.prefixlen) for b in net_blocks
                    ),
                )
            )
        else:
            main = {"type": "ptp", "mtu": mtu, "ipam": ipam}
        chained = []
        for plugin in network.plugins:
            conf = _plain(plugin)
            caps = _CAPABILITIES.get(conf.get("type", ""))
            if caps is not None and "capabilities" not in conf:
                conf["capabilities"] = dict(caps)
            chained.append(conf)
        conflists.append(
            Conflist(
                network=network.name,
                file=network.conflist_name,
                config={
                    "cniVersion": network.cni_version,
                    "name": network.name,
                    "plugins": [main, *chained],
                },
            )
        )
    bridges.sort(key=lambda b: b.name)
    conflists.sort(key=lambda c: c.file)
    return tuple(bridges), tuple(conflists)


def _check_bridge_name(network: Network, name: str, facts: NodeFacts) -> None:
    """Refuse a bridge name the kernel rejects or that is a device it, the node or netwright owns.

    `validate` refuses all of these but the underlay, which only a live node
    (or `render --underlay`) tells; this is the last stop before a device is made.
    """
    problem = interface_name_problem(name)
    owner = reserved_device(name)
    if problem is not None:
        message = f"{name!r} {problem}, which the kernel refuses; {interface_name_rule()}"
    elif owner is not None:
        message = f"{name} is {owner}; name the bridge something else, such as cni0"
    elif name == facts.underlay_dev:
        message = (
            f"{name} is the node's underlay device, which holds its address; "
            "name the bridge something else, such as cni0"
        )
    else:
        return
    raise ValidationError(
        [
            Issue(
                file=network.source.file if network.source.line else "",
                line=network.source.line,
                kind="Network",
                name=network.name,
                path="spec.bridge.name",
                message=message,
            )
        ]
    )


def _nat(ix: ClusterIndex, own: Sequence[IPBlock]) -> NatOutgoing | None:
    sources = sorted(
        {ix.pools[b.pool].cidr for b in own if ix.pools[b.pool].nat_outgoing}, key=_net_order
    )
    if not sources:
        return None
    return NatOutgoing(sources=tuple(sources), exclude=ix.pool_cidrs)


# -- BIRD --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Session:
    """One `protocol bgp` as the template needs it."""

    name: str
    description: str
    version: int
    neighbor: IPAddress
    asn: int
    mesh: bool  # from the family's mesh template (in-cluster); else an external peer
    rr_client: bool = False
    password_ref: SecretRef | None = None
    hold_time: int | None = None
    keepalive_time: int | None = None
    graceful_restart: bool | None = None
    restart_time: int | None = None

    @property
    def password(self) -> str | None:
        """The placeholder `SecretValue.placeholder` shows; the file writer swaps in the value."""
        return None if self.password_ref is None else f"<secret {self.password_ref}>"


@dataclass(frozen=True, kw_only=True, slots=True)
class _Family:
    version: int
    channel: str
    local: IPAddress
    blocks: tuple[IPNetwork, ...]
    pools: tuple[str, ...]  # prefix-set entries: `cidr+`


def _bird(
    ix: ClusterIndex, node: Node, own: Sequence[IPBlock], facts: NodeFacts, *, settings_only: bool
) -> BirdConfig | None:
    """BIRD 2 configuration for a node that takes part in a bgp Backend, else None.

    `settings_only`: the settings and secret references only, without the text, whose
    in-cluster sessions name other nodes. It skips the mesh (O(nodes) per node), and
    its `secret_refs` name the Secret of every BGPPeer that gives the node a session,
    a superset of what the text uses where the mesh already has that neighbour.

    "next hop self" for the node's own blocks only is an export filter setting
    `bgp_next_hop` on them: BIRD keeps a next hop set by the filter, and keeps a
    reflected iBGP route's own (`bgp_use_next_hop` in BIRD's proto/bgp/attrs.c),
    whereas the channel option `next hop self` would rewrite reflected routes
    too. Checked with BIRD 2.0.12 in a three-namespace lab: a full mesh, and a
    reflector whose clients install each other's blocks via the owner's address.
    """
    versions = [v for v, fam in sorted(ix.bgp.items()) if node.name in fam.member_names]
    if not versions:
        return None
    asn = ix.bgp[versions[0]].settings.as_number
    families: list[_Family] = []
    sessions: dict[str, _Session] = {}
    for version in versions:
        fam = ix.bgp[version]
        local = node.address(version)
        assert local is not None  # members have an address of their family
        pool_names = {p.name for p in fam.pools}
        families.append(
            _Family(
                version=version,
                channel=f"ipv{version}",
                local=local,
                blocks=tuple(b.cidr for b in own if b.pool in pool_names),
                pools=tuple(f"{c}+" for c in sorted({p.cidr for p in fam.pools}, key=_net_order)),
            )
        )
        in_cluster: set[IPAddress] = set()
        for s in () if settings_only else _mesh_sessions(fam, node, asn):
            sessions.setdefault(s.name, s)
            in_cluster.add(s.neighbor)
        for peer, sel in ix.bgp_peers:
            for s in _peer_sessions(peer, sel, fam, node, asn):
                if s.mesh and s.neighbor in in_cluster:
                    continue  # BIRD takes one session per neighbour: the mesh already has it
                sessions.setdefault(s.name, s)
                if s.mesh:
                    in_cluster.add(s.neighbor)
    ordered = [sessions[k] for k in sorted(sessions)]
    refs = sorted({s.password_ref for s in ordered if s.password_ref is not None}, key=str)
    secrets = ix.cluster.secrets
    settings = BirdConfig(
        as_number=asn,
        router_id=router_id(node),
        secret_refs=tuple(refs),
        secrets=tuple(secrets[r] for r in refs if r in secrets),
    )
    if settings_only:
        return settings
    text = _bird_template().render(
        node=node.name,
        log_file=None if facts.root.rstrip("/") == "" else under(facts.root, BIRD_LOG),
        socket=under(facts.root, BIRD_SOCKET),
        router_id=router_id(node),
        kernel_metric=BIRD_KERNEL_METRIC,
        asn=asn,
        families=families,
        sessions=ordered,
    )
    return replace(settings, config=text)


def _mesh_sessions(fam: _BgpFamily, node: Node, asn: int) -> list[_Session]:
    """In-cluster iBGP sessions (`API.md`, BGP topology)."""
    version = fam.version
    suffix = f"_v{version}"

    def to(other: Node, *, client: bool) -> _Session:
        addr = other.address(version)
        assert addr is not None
        return _Session(
            name=bird_ident("node", other.name, suffix=suffix),
            description=f"node {other.name}" + (" (route-reflector client)" if client else ""),
            version=version,
            neighbor=addr,
            asn=asn,
            mesh=True,
            rr_client=client,
        )

    if fam.settings.route_reflectors is not None:
        if node.name in fam.reflector_names:
            return [
                to(o, client=o.name not in fam.reflector_names)
                for o in fam.members
                if o.name != node.name
            ]
        return [to(o, client=False) for o in fam.reflectors]
    if fam.settings.node_to_node_mesh:
        return [to(o, client=False) for o in fam.members if o.name != node.name]
    return []


def _peer_sessions(
    peer: BGPPeer, sel: _PeerSelection, fam: _BgpFamily, node: Node, asn: int
) -> Iterable[_Session]:
    """Sessions a BGPPeer asks of this node: to its `peerIP`, or with the nodes it selects."""
    version = fam.version
    suffix = f"_v{version}"
    common: dict[str, Any] = {
        "version": version,
        "password_ref": peer.password_ref,
        "hold_time": peer.hold_time,
        "keepalive_time": peer.keepalive_time if peer.keepalive_time and peer.hold_time else None,
        "graceful_restart": peer.graceful_restart.enabled,
        "restart_time": peer.graceful_restart.restart_time
        if peer.graceful_restart.enabled
        else None,
    }
    if peer.peer_ip is not None:
        if peer.peer_ip.version == version and node.name in sel.opening:
            yield _Session(
                name=bird_ident("peer", peer.name, suffix=suffix),
                description=f"BGPPeer {peer.name}",
                neighbor=peer.peer_ip,
                asn=peer.as_number,
                mesh=False,
                **common,
            )
        return
    # in-cluster: the opening nodes peer with the targets, and the targets answer
    others: Iterable[tuple[Node, int]] = ()
    if node.name in sel.opening:
        others = [(t, peer.as_number) for t in sel.targets]
    if node.name in sel.target_names:
        opening = sorted((n for n in fam.members if n.name in sel.opening), key=lambda n: n.name)
        others = [*others, *((o, asn) for o in opening)]
    seen: set[str] = set()
    for other, remote_as in others:
        addr = other.address(version)
        if other.name == node.name or other.name in seen or addr is None:
            continue
        if other.name not in fam.member_names:
            continue
        seen.add(other.name)
        yield _Session(
            name=bird_ident("peer", peer.name, other.name, suffix=suffix),
            description=f"BGPPeer {peer.name}: node {other.name}",
            neighbor=addr,
            asn=remote_as,
            mesh=True,
            **common,
        )


@functools.cache
def _bird_template() -> jinja2.Template:
    # jinja2 is imported here, not at module level: a CLI run that renders no
    # BIRD configuration should not pay for it.
    import jinja2  # noqa: PLC0415

    text = resources.files("netwright.render").joinpath("templates/bird.conf.j2").read_text()
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - BIRD configuration, not HTML: escaping would corrupt it
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.from_string(text)
