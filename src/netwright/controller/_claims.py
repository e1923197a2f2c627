"""Which blocks the allocation starts from: real IPBlocks, and the claims they allow.

Why it exists: several controllers may write at once, and the API server arbitrates.
An IPBlock's name derives from pool and CIDR, so creating one is unique per CIDR; a
node's NodeNetworkConfig is written create-only or with its `resourceVersion`, so its
`spec.blocks` is the node's claim, recorded before the blocks exist. This module
counts, from one snapshot, the blocks that stand: a node's real block per pool (the
one its claim names), claims not yet backed (the lowest node name wins a CIDR two
nodes claim; the other is contested), a node's second block and blocks of pools that
are gone (both to be freed).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netwright.model.spec import IPBlock

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright.controller._objects import Snapshot


def _block(pool: str, cidr: str, node: str) -> IPBlock | None:
    try:
        return IPBlock(pool=pool, cidr=ipaddress.ip_network(cidr), node=node)
    except ValueError:
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Blocks:
    """The blocks the allocation starts from: real IPBlocks, plus the claims they allow."""

    real: dict[str, IPBlock]  # by name, blocks of known pools
    counted: dict[str, IPBlock]  # by name: real ones (one per node and pool) + valid claims
    #: Real blocks that are a node's second of a pool (never made by this code; repaired).
    extra: tuple[str, ...]
    #: Real blocks of pools that no longer exist: freed.
    orphaned: tuple[str, ...]
    contested: frozenset[str]


def claimed(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(pool, cidr) of every block a NodeNetworkConfig claims."""
    return [
        (b.get("pool", ""), b.get("cidr", ""))
        for b in config.get("spec", {}).get("blocks") or ()
        if isinstance(b, dict)
    ]


def count_blocks(snapshot: Snapshot) -> Blocks:
    pools = set(snapshot.of("ippools"))
    nodes = set(snapshot.of("nodes"))
    real: dict[str, IPBlock] = {}
    orphaned: list[str] = []
    for name, obj in sorted(snapshot.of("ipblocks").items()):
        spec = obj.get("spec", {})
        block = _block(spec.get("pool", ""), spec.get("cidr", ""), spec.get("node", ""))
        if block is None or block.pool not in pools:
            orphaned.append(name)
            continue
        real[name] = block
    claims_of = {
        node: {(pool, cidr) for pool, cidr in claimed(obj)}
        for node, obj in snapshot.of("nodenetworkconfigs").items()
    }
    # One real block per node and pool: the one its claim names, else the lowest address.
    by_node_pool: dict[tuple[str, str], list[IPBlock]] = {}
    for block in real.values():
        by_node_pool.setdefault((block.node, block.pool), []).append(block)
    counted: dict[str, IPBlock] = {}
    extra: list[str] = []
    for (node, pool), blocks in by_node_pool.items():
        mine = claims_of.get(node, set())
        blocks.sort(key=lambda b: ((b.pool, str(b.cidr)) not in mine, int(b.cidr[0])))
        counted[blocks[0].name] = blocks[0]
        if node in claims_of:  # repaired only once the node's claim says which one it keeps
            extra += [b.name for b in blocks[1:]]
        del pool
    # Claims not yet backed by an IPBlock, by CIDR: the lowest node name's counts.
    candidates: dict[str, list[IPBlock]] = {}
    for node, claims in claims_of.items():
        if node not in nodes:
            continue
        for pool, cidr in claims:
            block = _block(pool, cidr, node)
            if block is None or pool not in pools or block.name in real:
                continue
            if (node, pool) in by_node_pool:
                continue  # a real block of this pool wins over the claim
            candidates.setdefault(block.name, []).append(block)
    contested: set[str] = set()
    for name, blocks in candidates.items():
        blocks.sort(key=lambda b: b.node)
        counted[name] = blocks[0]
        contested.update(b.node for b in blocks[1:])
    return Blocks(
        real=real,
        counted=counted,
        extra=tuple(sorted(extra)),
        orphaned=tuple(orphaned),
        contested=frozenset(contested),
    )
