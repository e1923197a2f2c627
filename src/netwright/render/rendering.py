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

This module puts a node's configuration together and decides its NAT; the
parts come from `index` (the cluster index, and the peers), `tunnels`,
`conflists` (bridges and conflists) and `bird` (BGP sessions and BIRD's text),
and the file locations from `paths`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netwright.errors import Issue, ValidationError
from netwright.model.config import NatOutgoing, NodeConfig, NodeFacts
from netwright.render.bird import bird_config
from netwright.render.conflists import networks
from netwright.render.index import ClusterIndex, net_order
from netwright.render.paths import BIRD_CONFIG, BIRD_SOCKET, CNI_DIR, under
from netwright.render.tunnels import tunnels_and_routing

if TYPE_CHECKING:
    from collections.abc import Sequence

    from netwright.model.spec import ClusterSpec, IPBlock

# The Ansible collection's module_utils import these paths from here.
__all__ = ["BIRD_CONFIG", "BIRD_SOCKET", "CNI_DIR", "render_node", "under"]


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

    tunnels, routing = tunnels_and_routing(ix, node, own, facts)
    bridges, conflists = networks(ix, node, own_by_pool, facts)
    return NodeConfig(
        node=node.name,
        node_ip=node.ip,
        blocks=own,
        tunnels=tunnels,
        bridges=bridges,
        routing=routing,
        conflists=conflists,
        bird=bird_config(ix, node, own, facts, settings_only=local),
        nat=_nat(ix, own),
    )


def _nat(ix: ClusterIndex, own: Sequence[IPBlock]) -> NatOutgoing | None:
    sources = sorted(
        {ix.pools[b.pool].cidr for b in own if ix.pools[b.pool].nat_outgoing}, key=net_order
    )
    if not sources:
        return None
    return NatOutgoing(sources=tuple(sources), exclude=ix.pool_cidrs)
