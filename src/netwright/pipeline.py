"""The pure pipeline end to end: spec directory → allocation → per-node desired state.

Front ends (the CLI, the lab, Ansible modules) call this instead of chaining the
steps themselves, so they all provision a node the same way. Loading reads the
spec directory; everything after it is pure. The engine is not called here: a
front end hands the `NodeState` to `netwright.engine.run` with its own target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from netwright.errors import Issue, ValidationError
from netwright.ipam import allocate
from netwright.plan import plan_node
from netwright.render import ClusterIndex, peers_of, render_node
from netwright.validate import load_spec

if TYPE_CHECKING:
    from netwright.ipam import Allocation
    from netwright.model.config import NodeConfig, NodeFacts, Peer
    from netwright.model.state import NodeState
    from netwright.validate import LoadedSpec


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A validated spec with its allocation, ready to render and plan any of its nodes."""

    spec: LoadedSpec
    allocation: Allocation
    index: ClusterIndex

    @classmethod
    def load(cls, directory: str) -> Pipeline:
        """Validate and allocate (in memory; nothing is written); raises on invalid input."""
        spec = load_spec(directory)
        allocation = allocate(spec.cluster)
        return cls(spec, allocation, ClusterIndex.build(spec.cluster, allocation.blocks))

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.spec.cluster.nodes)

    def _known(self, node: str) -> None:
        if node not in self.index.nodes:
            names = ", ".join(self.node_names[:10]) + (" …" if len(self.node_names) > 10 else "")
            raise ValidationError(
                [Issue(kind="Node", name=node, message=f"is not in the spec (nodes: {names})")]
            )

    def render(self, node: str, facts: NodeFacts) -> NodeConfig:
        self._known(node)
        cluster, blocks = self.spec.cluster, self.allocation.blocks
        return render_node(cluster, node, blocks, facts, index=self.index)

    def peers(self, node: str) -> tuple[Peer, ...]:
        return peers_of(self.spec.cluster, self.allocation.blocks, node, index=self.index)

    def plan(self, node: str, facts: NodeFacts) -> NodeState:
        """The node's desired kernel and file state."""
        return plan_node(self.render(node, facts), self.peers(node), facts)
