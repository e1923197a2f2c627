"""The model: the spec's kinds (`spec`), a node's rendered config (`config`), its kernel state.

`state` holds the desired kernel and file state that `plan` produces and the engine applies.
"""

from __future__ import annotations

from netwright.model.spec import (
    API_GROUP,
    API_VERSION,
    GROUP_VERSION,
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
    Requirement,
    SecretRef,
    SecretValue,
    Selector,
    Source,
    VxlanSettings,
    block_name,
)

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "GROUP_VERSION",
    "BGPPeer",
    "Backend",
    "BackendType",
    "BgpSettings",
    "ClusterSpec",
    "GracefulRestart",
    "IPBlock",
    "IPPool",
    "Network",
    "NetworkType",
    "Node",
    "Requirement",
    "SecretRef",
    "SecretValue",
    "Selector",
    "Source",
    "VxlanSettings",
    "block_name",
]
