"""The documents netwright writes and reads back: IPBlocks, NodeNetworkConfigs, API objects.

Why it exists: the same IPBlock is written into a spec directory by `allocate --write`
(and the Ansible `allocate` module), printed by `allocate -o json`, and created in the
API by the controller; the same NodeNetworkConfig is printed by `render` and stored by
the controller. The controller and the agent both read API objects back as the
documents a spec directory would hold (`spec_document`, `node_document`). Each shape is
built here once, so every front end writes and reads the same document. Pure: values
in, plain dicts or text out.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from netwright.model.spec import GROUP_VERSION

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence

    from netwright.model.config import NodeConfig
    from netwright.model.spec import IPBlock

#: The kinds users write, by plural: what the controller and the agent watch in the API.
SPEC_KINDS: dict[str, str] = {
    "backends": "Backend",
    "ippools": "IPPool",
    "networks": "Network",
    "bgppeers": "BGPPeer",
}
#: Every plural the controller and the agent keep in their snapshots (`nodes` are
#: core v1 Nodes).
ALL_PLURALS = (*SPEC_KINDS, "ipblocks", "nodenetworkconfigs", "nodes")

IPBLOCKS_HEADER = (
    "# Managed by `netwright allocate --write`: one IPBlock per node and pool.\n"
    "# Rewritten whole on every allocation; edit the IPPools, not this file.\n"
)
#: Lines of the header, and of each document of `ipblocks_yaml` (its `apiVersion` is
#: the document's second line): where block i's document starts, for the spec cache.
IPBLOCKS_HEADER_LINES = 2
IPBLOCK_DOCUMENT_LINES = 9


def ipblock_document(block: IPBlock) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "IPBlock",
        "metadata": {"name": block.name},
        "spec": {"pool": block.pool, "cidr": str(block.cidr), "node": block.node},
    }


def ipblock_line(index: int) -> int:
    """The line of block `index`'s `apiVersion` in `ipblocks_yaml` (where a document points)."""
    return IPBLOCKS_HEADER_LINES + 2 + IPBLOCK_DOCUMENT_LINES * index


def ipblocks_yaml(blocks: Sequence[IPBlock]) -> str:
    """The whole `ipblocks.yaml`, sorted (pool, then address), written by hand for speed.

    Names, pools and nodes are quoted as JSON strings (valid YAML) so that a node
    called `123` stays a string.
    """
    parts = [IPBLOCKS_HEADER]
    for b in blocks:
        parts.append(
            f"---\napiVersion: {GROUP_VERSION}\nkind: IPBlock\n"
            f"metadata:\n  name: {json.dumps(b.name)}\n"
            f"spec:\n  pool: {json.dumps(b.pool)}\n  cidr: {b.cidr}\n  node: {json.dumps(b.node)}\n"
        )
    return "".join(parts)


def node_network_config(node: str, config: NodeConfig) -> dict[str, Any]:
    """A node's NodeNetworkConfig: its node-local rendered configuration as `spec`."""
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "NodeNetworkConfig",
        "metadata": {"name": node},
        "spec": config.to_dict(),
    }


def spec_document(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A netwright object as a user wrote it: without status and server-set metadata."""
    meta = obj.get("metadata", {})
    metadata: dict[str, Any] = {"name": meta.get("name", "")}
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    doc: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion", GROUP_VERSION),
        "kind": obj.get("kind", ""),
        "metadata": metadata,
    }
    if "spec" in obj:
        doc["spec"] = obj["spec"]
    return doc


def node_document(node: Mapping[str, Any]) -> dict[str, Any] | None:
    """A core Node as the spec reads it (name, labels, InternalIPs), or None while it has
    no InternalIP (pending: the kubelet has not reported its addresses yet)."""
    addresses = [
        {"type": "InternalIP", "address": a["address"]}
        for a in node.get("status", {}).get("addresses") or ()
        if a.get("type") == "InternalIP" and a.get("address")
    ]
    if not addresses:
        return None
    meta = node.get("metadata", {})
    metadata: dict[str, Any] = {"name": meta.get("name", "")}
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": metadata,
        "status": {"addresses": addresses},
    }


#: A condition's message is cut here (the CRDs allow 32,768 bytes; one screen is enough).
MESSAGE_MAX = 4000


def condition(
    previous: Mapping[str, Any] | None,
    kind: str,
    *,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: str,
) -> dict[str, Any]:
    """A status condition as the API conventions have it; `lastTransitionTime` moves only
    when `status` differs from the `previous` condition of that type."""
    text = "True" if status else "False"
    since = (
        previous["lastTransitionTime"]
        if previous and previous.get("status") == text and previous.get("lastTransitionTime")
        else now
    )
    return {
        "type": kind,
        "status": text,
        "reason": reason,
        "message": message[:MESSAGE_MAX],
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }


def conditions_key(conditions: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """What conditions say, but for `lastTransitionTime`: equal keys, nothing new to write."""
    return sorted(
        (
            c.get("type"),
            c.get("status"),
            c.get("reason"),
            c.get("message"),
            c.get("observedGeneration"),
        )
        for c in conditions
    )


def stand_in_secrets(
    bgppeers: Iterable[Mapping[str, Any]],
    value: str,
    *,
    known: Collection[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """A v1 Secret for every (namespace, name) the BGPPeers' `passwordSecretRef`s name,
    but those `known`, each referenced key holding `value`.

    The controller reads no Secret, and the agent only its own node's: a stand-in lets
    the validator's "is the Secret there" check pass, and its value is never written.
    """
    keys: dict[tuple[str, str], dict[str, str]] = {}
    for obj in bgppeers:
        ref = obj.get("spec", {}).get("passwordSecretRef") or {}
        if isinstance(ref, dict) and ref.get("namespace") and ref.get("name") and ref.get("key"):
            where = (ref["namespace"], ref["name"])
            if where not in known:
                keys.setdefault(where, {})[ref["key"]] = value
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"namespace": namespace, "name": name},
            "stringData": data,
        }
        for (namespace, name), data in sorted(keys.items())
    ]
