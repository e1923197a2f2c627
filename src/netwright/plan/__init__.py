"""Plan: a node's `NodeConfig` and its peers → desired `NodeState` (pure)."""

from __future__ import annotations

from netwright.plan.planning import nat_table, plan_node

__all__ = ["nat_table", "plan_node"]
