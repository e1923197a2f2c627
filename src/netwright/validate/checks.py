"""Cross-object checks: the rules no single document's schema can express.

Overlapping pools, references between kinds, address families, duplicate names
and addresses, capacity, and the consistency of existing IPBlocks. Each check
appends `Issue`s and returns nothing; all checks always run, so a user sees
every problem at once. All of them are linear or n·log n in the cluster size.

"Valid" means "safe to apply": the checks also refuse specs that would break
a node rather than merely fail, namely pools that hold a node's own address or
the kernel's special ranges, device names the kernel refuses or already uses,
a conflist name that is not a plain file name, and the rest of that class
(`unsafe`, with the device- and file-name rules of `names`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from netwright.model.spec import BackendType, ClusterSpec
from netwright.validate.document import listing
from netwright.validate.reading import IPBLOCKS_FILE
from netwright.validate.unsafe import check_unsafe_networks, check_unsafe_peers, check_unsafe_pools

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from netwright._types import IPNetwork
    from netwright.errors import Issue
    from netwright.model.spec import IPPool, Node
    from netwright.validate.document import Located

#: Characters a BIRD quoted string cannot hold (a BGP password is written into one).
_BIRD_UNSAFE = ('"', "\\", "\n", "\r")
#: Backends whose routes need the remote node's address in the pool's own family.
_SAME_FAMILY_NEXT_HOP = (BackendType.HOST_GW, BackendType.BGP)


def check_node_addresses(cluster: ClusterSpec, at: Located, issues: list[Issue]) -> None:
    seen: dict[object, str] = {}
    for node in cluster.nodes:
        for address in node.addresses:
            other = seen.setdefault(address, node.name)
            if other != node.name:
                issues.append(
                    at.issue(
                        "Node",
                        node.name,
                        "status.addresses",
                        f"address {address} is also Node/{other}'s; node addresses are unique",
                    )
                )


def _disjoint(
    items: Iterable[tuple[IPNetwork, str]], report: Callable[[str, IPNetwork, str, IPNetwork], None]
) -> None:
    """Report every item that overlaps an earlier one, per family, in n·log n."""
    by_family: dict[int, list[tuple[IPNetwork, str]]] = defaultdict(list)
    for net, name in items:
        by_family[net.version].append((net, name))
    for nets in by_family.values():
        nets.sort(key=lambda item: (int(item[0].network_address), item[0].prefixlen))
        reach: tuple[IPNetwork, str] | None = None  # the one reaching farthest so far
        for net, name in nets:
            if reach is not None and int(net.network_address) <= int(reach[0].broadcast_address):
                report(name, net, reach[1], reach[0])
            if reach is None or int(net.broadcast_address) > int(reach[0].broadcast_address):
                reach = (net, name)


def check_pools(
    cluster: ClusterSpec, selected: Mapping[str, list[Node]], at: Located, issues: list[Issue]
) -> None:
    backends = {b.name: b for b in cluster.backends}
    _disjoint(
        ((p.cidr, p.name) for p in cluster.pools),
        lambda name, net, other, other_net: issues.append(
            at.issue("IPPool", name, "spec.cidr", f"{net} overlaps IPPool/{other} ({other_net})")
        ),
    )
    for pool in cluster.pools:
        backend = backends.get(pool.backend)
        if backend is None:
            at.dangling(
                ("IPPool", pool.name, "spec.backend"), ("Backend", pool.backend), backends, issues
            )
            continue
        if backend.type in _SAME_FAMILY_NEXT_HOP:
            missing = [n.name for n in selected[pool.name] if n.address(pool.version) is None]
            if missing:
                issues.append(
                    at.issue(
                        "IPPool",
                        pool.name,
                        "spec.backend",
                        f"{backend.type} routes IPv{pool.version} blocks via each node's "
                        f"IPv{pool.version} address, but {len(missing)} selected node(s) have "
                        f"none: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}; "
                        "give them an InternalIP of that family, or use a vxlan Backend",
                    )
                )


def _free_blocks(pool: IPPool) -> int:
    """How many blocks of the pool are not covered by `reserved`."""
    taken: set[IPNetwork] = set()
    covered = 0
    for net in sorted(set(pool.reserved), key=lambda n: n.prefixlen):
        if any(net.subnet_of(t) for t in taken):  # type: ignore[arg-type]
            continue
        taken.add(net)
        if net.prefixlen <= pool.block_size:
            covered += 1 << (pool.block_size - net.prefixlen)
        else:
            covered += 1  # a reservation smaller than a block takes its whole block
    return pool.capacity - covered


def check_capacity(
    cluster: ClusterSpec, selected: Mapping[str, list[Node]], at: Located, issues: list[Issue]
) -> None:
    for pool in cluster.pools:
        if pool.disabled:
            continue
        wanted = len(selected[pool.name])
        free = _free_blocks(pool)
        if wanted > free:
            issues.append(
                at.issue(
                    "IPPool",
                    pool.name,
                    "spec.blockSize",
                    f"/{pool.block_size} blocks of {pool.cidr} give {free} usable blocks, but "
                    f"{wanted} nodes are selected; use a larger cidr or a longer blockSize",
                )
            )


def check_networks(cluster: ClusterSpec, at: Located, issues: list[Issue]) -> None:
    pools = {p.name: p for p in cluster.pools}
    bridges: dict[str, str] = {}
    for net in cluster.networks:
        families: dict[int, str] = {}
        for i, name in enumerate(net.ip_pools):
            pool = pools.get(name)
            if pool is None:
                at.dangling(
                    ("Network", net.name, f"spec.ipPools[{i}]"), ("IPPool", name), pools, issues
                )
                continue
            other = families.setdefault(pool.version, name)
            if other != name:
                issues.append(
                    at.issue(
                        "Network",
                        net.name,
                        f"spec.ipPools[{i}]",
                        f"IPPool/{name} is IPv{pool.version} like IPPool/{other}; "
                        "a Network takes at most one pool per address family",
                    )
                )
        if net.bridge_name is not None:
            other = bridges.setdefault(net.bridge_name, net.name)
            if other != net.name:
                issues.append(
                    at.issue(
                        "Network",
                        net.name,
                        "spec.bridge.name",
                        f"bridge {net.bridge_name} is already Network/{other}'s; "
                        "each Network needs its own bridge",
                    )
                )


def check_backends(cluster: ClusterSpec, at: Located, issues: list[Issue]) -> None:
    vnis: dict[int, str] = {}
    for backend in cluster.backends:
        if backend.vxlan is not None:
            other = vnis.setdefault(backend.vxlan.vni, backend.name)
            if other != backend.name:
                issues.append(
                    at.issue(
                        "Backend",
                        backend.name,
                        "spec.vxlan.vni",
                        f"VNI {backend.vxlan.vni} is already Backend/{other}'s; "
                        "each vxlan Backend needs its own VNI (1..16777215)",
                    )
                )
    bgp_as = {b.bgp.as_number for b in cluster.backends if b.bgp is not None}
    if len(bgp_as) > 1:
        for backend in cluster.backends:
            if backend.bgp is not None:
                issues.append(
                    at.issue(
                        "Backend",
                        backend.name,
                        "spec.bgp.asNumber",
                        "bgp Backends disagree on the cluster's AS number "
                        f"({listing(map(str, bgp_as))}); a node runs one BIRD with one AS",
                    )
                )


def check_peers(cluster: ClusterSpec, at: Located, issues: list[Issue]) -> None:
    for peer in cluster.peers:
        ref = peer.password_ref
        if ref is not None and ref not in cluster.secrets:
            have = {
                r.key for r in cluster.secrets if (r.namespace, r.name) == (ref.namespace, ref.name)
            }
            why = (
                f"Secret {ref.namespace}/{ref.name} has no key `{ref.key}` (keys: {listing(have)})"
                if have
                else f"Secret {ref.namespace}/{ref.name} is not in the spec directory"
            )
            issues.append(at.issue("BGPPeer", peer.name, "spec.passwordSecretRef", why))
        elif ref is not None and any(c in cluster.secrets[ref].reveal() for c in _BIRD_UNSAFE):
            # Only which characters are wrong is said, never the value itself.
            issues.append(
                at.issue(
                    "BGPPeer",
                    peer.name,
                    "spec.passwordSecretRef",
                    f"the password in Secret {ref.namespace}/{ref.name} key `{ref.key}` contains "
                    "a double quote, a backslash or a line break, which BIRD's configuration "
                    "cannot carry; use printable characters other than those",
                )
            )


def check_blocks(cluster: ClusterSpec, at: Located, issues: list[Issue]) -> None:
    pools = {p.name: p for p in cluster.pools}
    per_node: dict[tuple[str, str], str] = {}
    for block in cluster.blocks:
        pool = pools.get(block.pool)
        where = at.docs[("IPBlock", block.name)]
        if where.relpath != IPBLOCKS_FILE:
            issues.append(
                at.issue(
                    "IPBlock",
                    block.name,
                    "",
                    "IPBlocks live in ipblocks.yaml at the top of the spec directory, "
                    "which `netwright allocate --write` owns",
                )
            )
        if pool is None:
            at.dangling(("IPBlock", block.name, "spec.pool"), ("IPPool", block.pool), pools, issues)
            continue
        if (
            block.cidr.version != pool.version
            or block.cidr.prefixlen != pool.block_size
            or not block.cidr.subnet_of(pool.cidr)  # type: ignore[arg-type]
        ):
            issues.append(
                at.issue(
                    "IPBlock",
                    block.name,
                    "spec.cidr",
                    f"{block.cidr} is not a /{pool.block_size} block of IPPool/{pool.name} "
                    f"({pool.cidr})",
                )
            )
            continue
        for reserved in pool.reserved:
            if block.cidr.overlaps(reserved):
                issues.append(
                    at.issue(
                        "IPBlock",
                        block.name,
                        "spec.cidr",
                        f"{block.cidr} overlaps {reserved}, reserved in IPPool/{pool.name}",
                    )
                )
        other = per_node.setdefault((block.pool, block.node), block.name)
        if other != block.name:
            issues.append(
                at.issue(
                    "IPBlock",
                    block.name,
                    "spec.node",
                    f"node {block.node} already has IPBlock/{other} of IPPool/{block.pool}; "
                    "a node has one block per pool",
                )
            )
    _disjoint(
        ((b.cidr, b.name) for b in cluster.blocks),
        lambda name, net, other, other_net: issues.append(
            at.issue("IPBlock", name, "spec.cidr", f"{net} overlaps IPBlock/{other} ({other_net})")
        ),
    )


def selected_nodes(cluster: ClusterSpec) -> dict[str, list[Node]]:
    """For each pool, the nodes its `nodeSelector` selects, in node order."""
    return {
        p.name: [n for n in cluster.nodes if p.node_selector.matches(n.labels)]
        if not p.node_selector.is_empty
        else list(cluster.nodes)
        for p in cluster.pools
    }


def check_cluster(cluster: ClusterSpec, at: Located) -> list[Issue]:
    """Every cross-object problem of a cluster whose documents each passed their schema."""
    issues: list[Issue] = []
    selected = selected_nodes(cluster)
    check_node_addresses(cluster, at, issues)
    check_backends(cluster, at, issues)
    check_pools(cluster, selected, at, issues)
    check_capacity(cluster, selected, at, issues)
    check_networks(cluster, at, issues)
    check_peers(cluster, at, issues)
    check_blocks(cluster, at, issues)
    check_unsafe_pools(cluster, at, issues)
    check_unsafe_networks(cluster, at, issues)
    check_unsafe_peers(cluster, at, issues)
    return issues
