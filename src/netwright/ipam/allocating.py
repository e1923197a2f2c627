"""Per-node block allocation (IPAM): stable, deterministic, collision-free.

The rules, in the order they are applied to each pool:

1. An existing block whose node still exists and is still selected stays where
   it is, whatever else changed (blocks never move).
2. An existing block whose node is gone, or no longer selected, is freed.
3. Every selected node without a block gets the lowest free block, nodes taken
   in name order, so the same input always gives the same bytes out. A block is
   free when it overlaps neither a kept block nor a `reserved` range.
4. A `disabled` pool keeps its blocks but hands out no new ones.

Pure: no I/O. Works on block indices (offset from the pool's start, in units of
blocks) so IPv6 pools with 2^64 blocks cost no more than small IPv4 ones: the
walk over free space is lazy and visits only the gaps it hands out.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netwright.errors import AllocationError, Issue
from netwright.model.spec import IPBlock

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from netwright._types import IPNetwork
    from netwright.model.spec import ClusterSpec, IPPool, Node


@dataclass(frozen=True, kw_only=True, slots=True)
class Allocation:
    """The blocks after allocating, and what changed against the existing ones."""

    blocks: tuple[IPBlock, ...]  # sorted by pool, then address
    added: tuple[IPBlock, ...]
    freed: tuple[IPBlock, ...]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.freed)


def _index_range(pool: IPPool, net: IPNetwork) -> tuple[int, int]:
    """The half-open range of block indices that `net` (inside the pool) touches."""
    shift = pool.cidr.max_prefixlen - pool.block_size
    start = (int(net.network_address) - int(pool.cidr.network_address)) >> shift
    end = ((int(net.broadcast_address) - int(pool.cidr.network_address)) >> shift) + 1
    return start, end


def _free_indices(pool: IPPool, taken: list[tuple[int, int]]) -> Iterator[int]:
    """Block indices not inside any taken range, lowest first, lazily."""
    taken.sort()
    cursor = 0
    for start, end in taken:
        while cursor < start:
            yield cursor
            cursor += 1
        cursor = max(cursor, end)
    while cursor < pool.capacity:
        yield cursor
        cursor += 1


def _block_at(pool: IPPool, index: int) -> IPNetwork:
    shift = pool.cidr.max_prefixlen - pool.block_size
    base = int(pool.cidr.network_address) + (index << shift)
    return ipaddress.ip_network((base, pool.block_size))


def allocate_pool(
    pool: IPPool, selected: Sequence[Node], existing: Sequence[IPBlock]
) -> tuple[list[IPBlock], list[IPBlock], list[IPBlock], int]:
    """(kept + added, added, freed, shortfall) for one pool."""
    wanted = {n.name for n in selected}
    kept: list[IPBlock] = []
    freed: list[IPBlock] = []
    for block in existing:
        (kept if block.node in wanted else freed).append(block)
    if pool.disabled:
        return kept, [], freed, 0
    have = {b.node for b in kept}
    joining = sorted(n for n in wanted if n not in have)
    if not joining:
        return kept, [], freed, 0
    taken = [_index_range(pool, r) for r in pool.reserved]
    taken += [_index_range(pool, b.cidr) for b in kept]
    added: list[IPBlock] = []
    free = _free_indices(pool, taken)
    for node, index in zip(joining, free, strict=False):
        added.append(IPBlock(pool=pool.name, cidr=_block_at(pool, index), node=node))
    return kept + added, added, freed, len(joining) - len(added)


def _sort_key(block: IPBlock) -> tuple[str, int, int]:
    return (block.pool, block.cidr.version, int(block.cidr.network_address))


def allocate(cluster: ClusterSpec) -> Allocation:
    """Blocks for every node each pool selects, given the cluster's existing IPBlocks.

    Raises `AllocationError` naming every pool that is out of space.
    """
    by_pool: dict[str, list[IPBlock]] = {p.name: [] for p in cluster.pools}
    for block in cluster.blocks:
        by_pool.setdefault(block.pool, []).append(block)
    blocks: list[IPBlock] = []
    added: list[IPBlock] = []
    freed: list[IPBlock] = []
    issues: list[Issue] = []
    for pool in cluster.pools:
        selected = (
            cluster.nodes
            if pool.node_selector.is_empty
            else tuple(n for n in cluster.nodes if pool.node_selector.matches(n.labels))
        )
        result, new, gone, short = allocate_pool(pool, selected, by_pool[pool.name])
        if short:
            have = len(result)
            issues.append(
                Issue(
                    file=pool.source.file,
                    line=pool.source.line,
                    kind="IPPool",
                    name=pool.name,
                    path="spec.cidr",
                    message=f"out of space: {pool.cidr} has {pool.capacity} blocks of "
                    f"/{pool.block_size} ({pool.capacity - have} reserved), but "
                    f"{have + short} are needed, one per selected node",
                )
            )
        blocks += result
        added += new
        freed += gone
    if issues:
        raise AllocationError(issues)
    return Allocation(
        blocks=tuple(sorted(blocks, key=_sort_key)),
        added=tuple(sorted(added, key=_sort_key)),
        freed=tuple(sorted(freed, key=_sort_key)),
    )
