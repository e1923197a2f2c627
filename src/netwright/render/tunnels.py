"""A node's tunnel devices and the routing of each of its pools.

Each block the node holds belongs to a pool, and the pool's Backend decides
how its traffic leaves: through a tunnel device (vxlan, ipip, wireguard; one
per Backend, named from its VNI or a hash of its name) or straight out of the
underlay (host-gw, bgp). The encapsulation overhead per backend is here too, as
it decides both a tunnel's MTU and a Network's (`network_mtu`).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from netwright.model.config import NodeFacts, PoolRouting, Tunnel
from netwright.model.spec import BackendType, VxlanSettings
from netwright.model.state import interface, vtep_mac

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from netwright.model.spec import Backend, IPBlock, Network, Node
    from netwright.render.index import ClusterIndex


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


def overhead(backend: BackendType, underlay_version: int) -> int:
    """Bytes a backend's encapsulation costs over an IPv4 or IPv6 underlay."""
    v4, v6 = OVERHEAD[backend]
    return v4 if underlay_version == 4 else v6


def tunnel_name(backend: Backend) -> str:
    """The tunnel device of a Backend: `nwvx.<vni>`, or `nwip.`/`nwwg.` and a hash of its name.

    `validate.names.TUNNEL_PREFIXES` reserves these prefixes: no spec may name a device so.
    """
    if backend.type is BackendType.VXLAN:
        vni = (backend.vxlan or _VXLAN_DEFAULTS).vni
        return f"nwvx.{vni}"  # at most 13 characters: IFNAMSIZ allows 15
    prefix = "nwip" if backend.type is BackendType.IPIP else "nwwg"
    return f"{prefix}.{hashlib.sha256(backend.name.encode()).hexdigest()[:8]}"


def tunnels_and_routing(
    ix: ClusterIndex, node: Node, own: Sequence[IPBlock], facts: NodeFacts
) -> tuple[tuple[Tunnel, ...], tuple[PoolRouting, ...]]:
    """A tunnel device per tunnel Backend of the node's blocks, and how each pool routes."""
    tunnel_blocks: dict[str, tuple[Backend, list[IPBlock]]] = {}
    routing: list[PoolRouting] = []
    for block in own:
        found = ix.pool_backend(block.pool)
        if found is None:
            continue
        pool, backend = found
        if backend.type in TUNNEL_TYPES:
            device = tunnel_name(backend)
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
