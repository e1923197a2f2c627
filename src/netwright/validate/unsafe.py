"""Cross-object checks of what would break a node rather than merely fail.

"Valid" means "safe to apply". Single-document safety rules live in the CRDs as
CEL, so that the API server enforces them too (a pool over 127.0.0.0/8 and the
other special ranges, a BGP peer on an unspecified, link-local, multicast or
broadcast address, a VXLAN port of a node's own UDP service, a bridge named
like a device the kernel or netwright owns). What stays here needs more than
one object: pools holding a node's own address, conflist names and MTUs of a
Network, BGP peers on a node's own address.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import TYPE_CHECKING

from netwright.validate.names import file_name_problem

if TYPE_CHECKING:
    from netwright._types import IPAddress
    from netwright.errors import Issue
    from netwright.model.spec import ClusterSpec
    from netwright.validate.document import Located

#: The smallest MTU on which Linux keeps IPv6 (RFC 8200): below it the kernel
#: drops the link's IPv6 addresses, the bridge's gateway among them.
IPV6_MIN_MTU = 1280


def check_unsafe_pools(cluster: ClusterSpec, at: Located, issues: list[Issue]) -> None:
    """Pools holding a node's own address.

    Node addresses are sorted once per family and each pool bisects its span,
    so the cost is n·log n in the nodes plus the addresses that pools hold,
    never pools x nodes.
    """
    by_family: dict[int, list[tuple[int, str, IPAddress]]] = defaultdict(list)
    for node in cluster.nodes:
        for address in node.addresses:
            by_family[address.version].append((int(address), node.name, address))
    for addresses in by_family.values():
        addresses.sort()
    for pool in cluster.pools:
        cidr = pool.cidr
        addresses = by_family.get(cidr.version, [])
        lo = bisect.bisect_left(addresses, (int(cidr.network_address),))
        hi = bisect.bisect_right(addresses, (int(cidr.broadcast_address) + 1,))
        held = [
            (name, address)
            for _, name, address in addresses[lo:hi]
            if not any(address in r for r in pool.reserved)
        ]
        if held:
            first, address = held[0]
            more = f" (and {len(held) - 1} more nodes' addresses)" if len(held) > 1 else ""
            issues.append(
                at.issue(
                    "IPPool",
                    pool.name,
                    "spec.cidr",
                    f"{cidr} contains Node/{first}'s address {address}{more}, which would "
                    "route the node's own underlay into pods; choose a cidr clear of every "
                    "node address, or list those addresses in spec.reserved",
                )
            )


def check_unsafe_networks(cluster: ClusterSpec, at: Located, issues: list[Issue]) -> None:
    """Conflist names, and MTUs too small for a Network's IPv6 pool."""
    pools = {p.name: p for p in cluster.pools}
    for net in cluster.networks:
        problem = file_name_problem(net.conflist_name)
        if problem is not None:
            issues.append(at.issue("Network", net.name, "metadata.name", problem))
        if net.mtu is not None and net.mtu < IPV6_MIN_MTU:
            v6 = next((p for p in net.ip_pools if p in pools and pools[p].version == 6), None)
            if v6 is not None:
                issues.append(
                    at.issue(
                        "Network",
                        net.name,
                        "spec.mtu",
                        f"{net.mtu} is below {IPV6_MIN_MTU}, the IPv6 minimum, and IPPool/{v6} "
                        "is IPv6: the kernel drops IPv6 from such a link, gateway included; "
                        f"use {IPV6_MIN_MTU} or more, or auto",
                    )
                )


def check_unsafe_peers(cluster: ClusterSpec, at: Located, issues: list[Issue]) -> None:
    """BGP peer addresses that are a cluster node's own."""
    if all(p.peer_ip is None for p in cluster.peers):
        return
    owners = {a: n.name for n in cluster.nodes for a in n.addresses}
    for peer in cluster.peers:
        node = owners.get(peer.peer_ip) if peer.peer_ip is not None else None
        if node is not None:
            issues.append(
                at.issue(
                    "BGPPeer",
                    peer.name,
                    "spec.peerIP",
                    f"{peer.peer_ip} is Node/{node}'s address: that node would peer with itself "
                    "and the others would hold two sessions to one neighbour; select cluster "
                    "nodes with spec.peerSelector instead",
                )
            )
