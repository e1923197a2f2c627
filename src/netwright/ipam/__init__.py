"""IPAM: per-node address blocks from IPPools."""

from __future__ import annotations

from netwright.ipam.allocating import Allocation, allocate, allocate_pool

__all__ = ["Allocation", "allocate", "allocate_pool"]
