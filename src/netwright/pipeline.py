"""The pure pipeline end to end: spec → allocation → per-node desired state.

A `Pipeline` is built from a spec directory (`load`) or from documents already in
memory (`from_documents`: the controller's and the agent's objects from the API, an
Ansible module's inventory Nodes). Loading a directory reads files; everything after
it is pure. The engine is not called here: `netwright.provisioning` hands the
`NodeState` to the engine with the front end's target.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netwright.errors import Issue, ValidationError
from netwright.ipam import allocate
from netwright.plan import plan_node
from netwright.render import ClusterIndex, peers_of, render_node
from netwright.validate import Document, load_directory, load_spec, validate_documents

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from netwright.ipam import Allocation
    from netwright.model.config import NodeConfig, NodeFacts, Peer
    from netwright.model.state import NodeState
    from netwright.validate import LoadedSpec


def _documents(documents: Iterable[Mapping[str, Any]], origin: str) -> list[Document]:
    return [
        Document(f"{origin}[{i}]", f"{origin}[{i}]", 0, dict(doc))
        for i, doc in enumerate(documents)
    ]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A validated spec with its allocation, ready to render and plan any of its nodes."""

    spec: LoadedSpec
    allocation: Allocation
    index: ClusterIndex
    #: The Nodes came from `default_nodes`, not from the directory (`load`).
    default_nodes_used: bool = False

    @classmethod
    def load(
        cls,
        directory: str,
        *,
        default_nodes: Sequence[Mapping[str, Any]] = (),
        origin: str = "nodes",
    ) -> Pipeline:
        """Validate and allocate (in memory; nothing is written); raises on invalid input.

        `default_nodes` (v1 Node documents, e.g. from an Ansible inventory) stand in
        when the directory holds no Node; problems in them name `origin[i]`.
        """
        if not default_nodes:
            return cls.from_spec(load_spec(directory))
        documents, issues = load_directory(directory)
        if issues:
            raise ValidationError(issues)
        if any(d.kind == "Node" and d.api_version == "v1" for d in documents):
            return cls.from_spec(load_spec(directory))
        documents.extend(_documents(default_nodes, origin))
        spec, invalid = validate_documents(documents)
        if spec is None:
            raise ValidationError(invalid)
        return dataclasses.replace(cls.from_spec(spec), default_nodes_used=True)

    @classmethod
    def from_documents(
        cls, documents: Iterable[Mapping[str, Any]], *, origin: str = "<memory>"
    ) -> Pipeline:
        """Validate and allocate documents given as plain dicts (as the API returns them).

        Problems name `origin[i]` (the i-th document) where a file would be named.
        """
        spec, issues = validate_documents(_documents(documents, origin))
        if spec is None:
            raise ValidationError(issues)
        return cls.from_spec(spec)

    @classmethod
    def from_spec(cls, spec: LoadedSpec) -> Pipeline:
        allocation = allocate(spec.cluster)
        return cls(spec, allocation, ClusterIndex.build(spec.cluster, allocation.blocks))

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.spec.cluster.nodes)

    def known(self, node: str) -> None:
        """Raise `ValidationError` unless `node` is one of the spec's nodes."""
        if node not in self.index.nodes:
            names = ", ".join(self.node_names[:10]) + (" …" if len(self.node_names) > 10 else "")
            raise ValidationError(
                [Issue(kind="Node", name=node, message=f"is not in the spec (nodes: {names})")]
            )

    def render(self, node: str, facts: NodeFacts, *, local: bool = False) -> NodeConfig:
        """The node's configuration; `local=True`: only what names no other node."""
        self.known(node)
        cluster, blocks = self.spec.cluster, self.allocation.blocks
        return render_node(cluster, node, blocks, facts, index=self.index, local=local)

    def peers(self, node: str) -> tuple[Peer, ...]:
        return peers_of(self.spec.cluster, self.allocation.blocks, node, index=self.index)

    def plan(self, node: str, facts: NodeFacts) -> NodeState:
        """The node's desired kernel and file state."""
        return plan_node(self.render(node, facts), self.peers(node), facts)
