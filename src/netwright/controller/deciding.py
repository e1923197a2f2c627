"""What the controller should write, decided from what the API holds: pure, no I/O.

Why it exists: the controller's handlers only collect objects into a `Snapshot`; every
decision (valid or not, which IPBlocks to create or free, which NodeNetworkConfigs to
write, which statuses and Events) is made here, from values, so it is unit-tested
without an API server and every replica decides the same from the same objects.

What makes it hard, and the rules that answer it:

- Several controllers may run at once (no leader, or a lost Lease). The API server
  arbitrates: an IPBlock's name derives from pool and CIDR, so a create-only write of
  a block is unique per CIDR; a node's NodeNetworkConfig is unique per node and is
  written create-only or with its `resourceVersion`, so it is the node's *claim*: its
  `spec.blocks` records which blocks the node gets before they are created. A block
  is created only for a node whose claim names it, so a node never gets a second block
  of a pool, and a CIDR never gets a second owner.
- A claim not yet backed by an IPBlock counts as allocated (a controller that crashed
  between claim and create finishes the job after a restart, and nothing moves), unless
  an IPBlock of that CIDR belongs to another node (that writer won: the node is
  allocated again). Two unbacked claims of one CIDR: only the lowest node name's counts,
  the other node is *contested* and nothing is written for it until an IPBlock decides.
- A Node without an InternalIP yet (the kubelet writes addresses after creating it) is
  pending: it gets nothing, and nothing of it is freed.
- Anything invalid: its object gets `Ready=False` with the words `netwright validate`
  prints, and no IPBlock or NodeNetworkConfig is written or freed at all.
- Nothing is written that is already so: a restart decides no writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netwright.controller._claims import Blocks, claimed, count_blocks
from netwright.controller._objects import (
    STAND_IN,
    Snapshot,
    covers,
    stand_in_secrets,
    what_matters,
)
from netwright.controller._status import (
    Note,
    StatusWrite,
    blocked,
    conditions_equal,
    issue_text,
    object_statuses,
    ready_status,
    status_notes,
)
from netwright.documents import (
    ALL_PLURALS,
    SPEC_KINDS,
    ipblock_document,
    node_document,
    node_network_config,
    spec_document,
)
from netwright.errors import AllocationError, Issue
from netwright.model.config import NodeFacts
from netwright.model.spec import IPBlock, block_name
from netwright.pipeline import Pipeline
from netwright.validate import IPBLOCKS_FILE, Document, validate_documents


@dataclass(frozen=True, kw_only=True, slots=True)
class ConfigWrite:
    """A NodeNetworkConfig to create (`resource_version` None) or replace (with it)."""

    node: str
    document: dict[str, Any]
    resource_version: str | None
    #: The blocks to create once this write succeeded (never before: the claim comes first).
    blocks: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    statuses: tuple[StatusWrite, ...] = ()
    configs: tuple[ConfigWrite, ...] = ()
    #: Blocks of claims already written (a restart, a lost create): created directly.
    blocks: tuple[dict[str, Any], ...] = ()
    delete_blocks: tuple[str, ...] = ()
    delete_configs: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()
    issues: tuple[Issue, ...] = ()
    #: Nodes left alone this round (a contested claim): decide again when the API moves.
    contested: frozenset[str] = field(default_factory=frozenset)

    @property
    def writes(self) -> int:
        return (
            len(self.statuses)
            + len(self.configs)
            + sum(len(c.blocks) for c in self.configs)
            + len(self.blocks)
            + len(self.delete_blocks)
            + len(self.delete_configs)
        )


def documents(snapshot: Snapshot, blocks: Blocks) -> list[Document]:
    """The snapshot as the validator's documents; IPBlocks where a spec directory keeps them."""
    out: list[Document] = []
    for plural, kind in SPEC_KINDS.items():
        for name, obj in sorted(snapshot.of(plural).items()):
            where = f"{kind}/{name}"
            out.append(Document(where, where, 0, spec_document({**obj, "kind": kind})))
    for name, obj in sorted(snapshot.of("nodes").items()):
        doc = node_document(obj)
        if doc is not None:
            out.append(Document(f"Node/{name}", f"Node/{name}", 0, doc))
    for block in sorted(blocks.counted.values()):
        out.append(Document(IPBLOCKS_FILE, IPBLOCKS_FILE, 0, ipblock_document(block)))
    out += [
        Document(f"Secret/{d['metadata']['name']}", "", 0, d) for d in stand_in_secrets(snapshot)
    ]
    return out


def decide(snapshot: Snapshot, now: str, facts: NodeFacts | None = None) -> Decision:
    """Every write that makes the API match the spec the snapshot holds; none if it does."""
    blocks = count_blocks(snapshot)
    spec, issues = validate_documents(documents(snapshot, blocks))
    if spec is None:
        invalid = object_statuses(snapshot, issues, now, fallback=blocked(issues))
        return Decision(
            statuses=tuple(invalid), notes=tuple(status_notes(invalid)), issues=tuple(issues)
        )
    try:
        pipeline = Pipeline.from_spec(spec)
    except AllocationError as exc:
        short = object_statuses(snapshot, exc.issues, now, fallback=blocked(list(exc.issues)))
        return Decision(statuses=tuple(short), notes=tuple(status_notes(short)), issues=exc.issues)
    statuses = object_statuses(snapshot, (), now, fallback=None)
    notes: list[Note] = status_notes(statuses)
    facts = facts or NodeFacts()
    allocation = pipeline.allocation
    api_nodes = snapshot.of("nodes")
    configs_now = snapshot.of("nodenetworkconfigs")

    mine: dict[str, list[IPBlock]] = {}
    for block in allocation.blocks:
        mine.setdefault(block.node, []).append(block)
    config_writes: list[ConfigWrite] = []
    direct: list[dict[str, Any]] = []
    for node in pipeline.node_names:
        if node in blocks.contested:
            continue
        missing = [ipblock_document(b) for b in mine.get(node, ()) if b.name not in blocks.real]
        doc = node_network_config(node, pipeline.render(node, facts, local=True))
        current = configs_now.get(node)
        if current is not None and covers(current.get("spec"), doc["spec"]):
            direct += missing
            continue
        version = None if current is None else current["metadata"]["resourceVersion"]
        config_writes.append(
            ConfigWrite(node=node, document=doc, resource_version=version, blocks=tuple(missing))
        )
        new = ", ".join(f"{b['spec']['cidr']} of IPPool/{b['spec']['pool']}" for b in missing)
        notes.append(
            Note(
                kind="NodeNetworkConfig",
                name=node,
                reason="Created" if current is None else "Updated",
                message=f"node {node}: {'allocated ' + new if new else 'configuration rendered'}",
            )
        )

    # Freeing: blocks of nodes that are gone (never of a pending node, which still exists).
    delete_blocks = [b.name for b in allocation.freed if b.node not in api_nodes]
    delete_blocks += [*blocks.orphaned, *blocks.extra]
    delete_blocks = sorted(set(delete_blocks) & set(snapshot.of("ipblocks")))
    for name in delete_blocks:
        gone = snapshot.of("ipblocks")[name].get("spec", {})
        notes.append(
            Note(
                kind="IPBlock",
                name=name,
                reason="Freed",
                message=f"freed {gone.get('cidr')} of IPPool/{gone.get('pool')} "
                f"(node {gone.get('node')})",
            )
        )
    delete_configs = sorted(n for n in configs_now if n not in api_nodes)
    return Decision(
        statuses=tuple(statuses),
        configs=tuple(config_writes),
        blocks=tuple(direct),
        delete_blocks=tuple(delete_blocks),
        delete_configs=tuple(delete_configs),
        notes=tuple(notes),
        contested=blocks.contested,
    )


__all__ = [
    "ALL_PLURALS",
    "SPEC_KINDS",
    "STAND_IN",
    "Blocks",
    "ConfigWrite",
    "Decision",
    "Note",
    "Snapshot",
    "StatusWrite",
    "block_name",
    "claimed",
    "conditions_equal",
    "count_blocks",
    "covers",
    "decide",
    "documents",
    "issue_text",
    "node_document",
    "ready_status",
    "spec_document",
    "stand_in_secrets",
    "status_notes",
    "what_matters",
]
