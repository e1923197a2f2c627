"""Render: the cluster spec and its blocks → one node's `NodeConfig` (pure)."""

from __future__ import annotations

from netwright.render.bird import bird_ident, router_id
from netwright.render.index import ClusterIndex, peers_of
from netwright.render.paths import BIRD_CONFIG, BIRD_SOCKET, CNI_DIR, under
from netwright.render.rendering import render_node
from netwright.render.tunnels import OVERHEAD, network_mtu, overhead

__all__ = [
    "BIRD_CONFIG",
    "BIRD_SOCKET",
    "CNI_DIR",
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
