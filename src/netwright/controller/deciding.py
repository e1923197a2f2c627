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

import ipaddress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from netwright.documents import ipblock_document, node_network_config
from netwright.errors import AllocationError, Issue
from netwright.model.config import NodeFacts
from netwright.model.spec import GROUP_VERSION, IPBlock, block_name
from netwright.pipeline import Pipeline
from netwright.validate import IPBLOCKS_FILE, Document, validate_documents

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: The kinds users write, by plural (the resource the controller watches and reports on).
SPEC_KINDS: dict[str, str] = {
    "backends": "Backend",
    "ippools": "IPPool",
    "networks": "Network",
    "bgppeers": "BGPPeer",
}
#: Every plural the controller keeps in its snapshot (`nodes` are core v1 Nodes).
ALL_PLURALS = (*SPEC_KINDS, "ipblocks", "nodenetworkconfigs", "nodes")

READY = "Ready"


@dataclass(frozen=True, kw_only=True, slots=True)
class Snapshot:
    """The objects the controller has seen, by plural, then name: raw API dicts."""

    objects: Mapping[str, Mapping[str, Mapping[str, Any]]]

    def of(self, plural: str) -> Mapping[str, Mapping[str, Any]]:
        return self.objects.get(plural, {})


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusWrite:
    plural: str
    name: str
    status: dict[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class ConfigWrite:
    """A NodeNetworkConfig to create (`resource_version` None) or replace (with it)."""

    node: str
    document: dict[str, Any]
    resource_version: str | None
    #: The blocks to create once this write succeeded (never before: the claim comes first).
    blocks: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Note:
    """A Kubernetes Event to post: about which object, why, and what was done."""

    kind: str
    name: str
    reason: str
    message: str
    warning: bool = False


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


# -- objects as the validator reads them -----------------------------------------------


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


def what_matters(plural: str, obj: Mapping[str, Any]) -> Any:
    """The part of an object that decisions depend on: a change elsewhere (a kubelet's
    heartbeat in a Node's status, an agent's NodeNetworkConfig status, the controller's
    own status writes) needs no new decision. The snapshot still keeps the whole object
    (its resourceVersion is what the next write of it must carry)."""
    meta = obj.get("metadata", {})
    if plural == "nodes":
        return node_document(obj)
    if plural in ("ipblocks", "nodenetworkconfigs"):
        return obj.get("spec")
    status = obj.get("status") or {}
    return (
        meta.get("generation"),
        meta.get("labels"),
        obj.get("spec"),
        status.get("observedGeneration"),
    )


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


#: What stands for a BGP password the controller never reads (see `stand_in_secrets`).
STAND_IN = "netwright-controller-reads-no-secret"


def stand_in_secrets(snapshot: Snapshot) -> list[dict[str, Any]]:
    """A Secret document for every BGPPeer's `passwordSecretRef`, with a stand-in value.

    The controller reads no Secret (it needs no such permission): what it renders holds
    passwords only as placeholders with their references, and the node agent reads the
    real value where its node needs it. The stand-in only lets the validator's "is the
    Secret there" check pass, and never appears in anything written.
    """
    keys: dict[tuple[str, str], dict[str, str]] = {}
    for obj in snapshot.of("bgppeers").values():
        ref = obj.get("spec", {}).get("passwordSecretRef") or {}
        if isinstance(ref, dict) and ref.get("namespace") and ref.get("name") and ref.get("key"):
            keys.setdefault((ref["namespace"], ref["name"]), {})[ref["key"]] = STAND_IN
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"namespace": namespace, "name": name},
            "stringData": data,
        }
        for (namespace, name), data in sorted(keys.items())
    ]


def covers(current: Any, desired: Any) -> bool:
    """`current` says all `desired` says: equal, but for keys only `current` has (the
    defaults the API server's schema fills in, such as a route's `directRouting`)."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(
            k in current and covers(current[k], v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(current) == len(desired)
            and all(covers(c, d) for c, d in zip(current, desired, strict=True))
        )
    return bool(current == desired) and type(current) is type(desired)


# -- status --------------------------------------------------------------------------


def conditions_equal(a: Iterable[Mapping[str, Any]], b: Iterable[Mapping[str, Any]]) -> bool:
    """Equal but for `lastTransitionTime` (a condition that did not change keeps its time)."""

    def key(items: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            (
                c.get("type"),
                c.get("status"),
                c.get("reason"),
                c.get("message"),
                c.get("observedGeneration"),
            )
            for c in items
        )

    return key(a) == key(b)


def ready_status(
    obj: Mapping[str, Any], *, ready: bool, reason: str, message: str, now: str
) -> dict[str, Any] | None:
    """The object's new status (its `Ready` condition), or None when it already says so."""
    generation = obj.get("metadata", {}).get("generation", 0)
    old = obj.get("status") or {}
    previous = {c.get("type"): c for c in old.get("conditions") or ()}
    status = "True" if ready else "False"
    before = previous.get(READY)
    since = (
        before["lastTransitionTime"]
        if before and before.get("status") == status and before.get("lastTransitionTime")
        else now
    )
    condition = {
        "type": READY,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }
    others = [c for t, c in previous.items() if t != READY]
    conditions = [condition, *others]
    if old.get("observedGeneration") == generation and conditions_equal(
        old.get("conditions") or (), conditions
    ):
        return None
    return {"observedGeneration": generation, "conditions": conditions}


def issue_text(issue: Issue) -> str:
    """The line `netwright validate` prints, without the file (an API object has none)."""
    return str(replace(issue, file="", line=0))


def _statuses(
    snapshot: Snapshot, issues: Iterable[Issue], now: str, *, fallback: tuple[str, str] | None
) -> list[StatusWrite]:
    """Ready=False for every object named by an issue, Ready=True for the others (or the
    `fallback` reason and message for them when something else is wrong)."""
    by_object: dict[tuple[str, str], list[str]] = {}
    for issue in issues:
        by_object.setdefault((issue.kind, issue.name), []).append(issue_text(issue))
    out = []
    for plural, kind in SPEC_KINDS.items():
        for name, obj in sorted(snapshot.of(plural).items()):
            problems = by_object.get((kind, name))
            if problems:
                reason = "OutOfSpace" if "out of space" in problems[0] else "Invalid"
                status = ready_status(
                    obj, ready=False, reason=reason, message="; ".join(problems), now=now
                )
            elif fallback is not None:
                status = ready_status(
                    obj, ready=False, reason=fallback[0], message=fallback[1], now=now
                )
            else:
                status = ready_status(obj, ready=True, reason="Valid", message="valid", now=now)
            if status is not None:
                out.append(StatusWrite(plural=plural, name=name, status=status))
    return out


def status_notes(statuses: Iterable[StatusWrite]) -> list[Note]:
    """A Warning Event for every status write that says the object is not Ready."""
    notes = []
    for write in statuses:
        ready = write.status["conditions"][0]
        if ready["status"] != "True":
            notes.append(
                Note(
                    kind=SPEC_KINDS[write.plural],
                    name=write.name,
                    reason=ready["reason"],
                    message=ready["message"],
                    warning=True,
                )
            )
    return notes


# -- the decision --------------------------------------------------------------------


def _blocked(issues: list[Issue]) -> tuple[str, str]:
    names = sorted({f"{i.kind}/{i.name}" for i in issues if i.kind})
    return (
        "Blocked",
        (
            f"no IPBlock or NodeNetworkConfig is written while {', '.join(names) or 'the spec'} "
            f"{'is' if len(names) == 1 else 'are'} invalid"
        ),
    )


def decide(snapshot: Snapshot, now: str, facts: NodeFacts | None = None) -> Decision:
    """Every write that makes the API match the spec the snapshot holds; none if it does."""
    blocks = count_blocks(snapshot)
    spec, issues = validate_documents(documents(snapshot, blocks))
    if spec is None:
        invalid = _statuses(snapshot, issues, now, fallback=_blocked(issues))
        return Decision(
            statuses=tuple(invalid), notes=tuple(status_notes(invalid)), issues=tuple(issues)
        )
    try:
        pipeline = Pipeline.from_spec(spec)
    except AllocationError as exc:
        short = _statuses(snapshot, exc.issues, now, fallback=_blocked(list(exc.issues)))
        return Decision(statuses=tuple(short), notes=tuple(status_notes(short)), issues=exc.issues)
    statuses = _statuses(snapshot, (), now, fallback=None)
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
    "Blocks",
    "ConfigWrite",
    "Decision",
    "Note",
    "Snapshot",
    "StatusWrite",
    "block_name",
    "count_blocks",
    "decide",
    "node_document",
    "ready_status",
    "spec_document",
    "what_matters",
]
