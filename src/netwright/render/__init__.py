"""Render: the cluster spec and its blocks → one node's `NodeConfig` (pure)."""

from __future__ import annotations

from netwright.render.rendering import (
    BIRD_SOCKET,
    OVERHEAD,
    ClusterIndex,
    bird_ident,
    network_mtu,
    overhead,
    peers_of,
    render_node,
    router_id,
    under,
)

__all__ = [
    "BIRD_SOCKET",
    "OVERHEAD",
    "ClusterIndex",
    "bird_ident",
    "network_mtu",
    "overhead",
    "peers_of",
    "render_node",
    "router_id",
    "under",
]
