"""netwright: declarative pod networking for container clusters.

The public API, one name per step of the pipeline (spec directory → validated
spec → allocation → a node's config → its desired state → the engine):

    import netwright
    from netwright import engine

    pipeline = netwright.Pipeline.load("examples/vxlan")   # validate + allocate
    state = pipeline.plan("n1", netwright.NodeFacts())     # render + plan: pure
    report = engine.run(state, engine.Target(netns="n1"), check=True)   # the diff

Names are imported on first use (PEP 562), so `import netwright` stays cheap:
the CLI must not pay for the engine when it only validates.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from netwright._version import __version__

_EXPORTS = {
    "ClusterSpec": "netwright.model.spec",
    "NodeState": "netwright.model.state",
    "NodeConfig": "netwright.model.config",
    "NodeFacts": "netwright.model.config",
    "load_spec": "netwright.validate",
    "allocate": "netwright.ipam",
    "render_node": "netwright.render",
    "plan_node": "netwright.plan",
    "Pipeline": "netwright.pipeline",
}

__all__ = [
    "ClusterSpec",
    "NodeConfig",
    "NodeFacts",
    "NodeState",
    "Pipeline",
    "__version__",
    "allocate",
    "load_spec",
    "plan_node",
    "render_node",
]

if TYPE_CHECKING:
    from netwright.ipam import allocate
    from netwright.model.config import NodeConfig, NodeFacts
    from netwright.model.spec import ClusterSpec
    from netwright.model.state import NodeState
    from netwright.pipeline import Pipeline
    from netwright.plan import plan_node
    from netwright.render import render_node
    from netwright.validate import load_spec


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'netwright' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
