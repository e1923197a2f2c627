"""What the node agent concludes: the spec it applies and the status it reports. Pure.

Why it exists: the agent's loop (`running`) only gathers objects and calls
`netwright.provisioning.provision`; which spec that is (the API's objects as the
validator reads them, with the IPBlocks the controller created), whether a run
repaired drift (changes made although nothing it was given changed), and the status
that says so are decided here, from values, and unit-tested without a kernel or a
server.

What it must not do: list the other nodes in anything it writes (status stays small at
any cluster size), or write a status that says what the current one already says.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netwright.documents import (
    SPEC_KINDS,
    condition,
    conditions_key,
    node_document,
    spec_document,
    stand_in_secrets,
)
from netwright.model.spec import GROUP_VERSION
from netwright.validate import IPBLOCKS_FILE, Document

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from netwright.kernel.birdctl import Session

#: How many drift entries status keeps (newest first): status stays small.
DRIFT_KEPT = 20


#: Stands for the passwords of BGP sessions other nodes open (never this node's).
STAND_IN = "netwright-agent-reads-only-its-own-secrets"


def needed_secrets(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(namespace, name) of every Secret this node's BIRD configuration needs."""
    refs = (config.get("spec", {}).get("bird") or {}).get("secretRefs") or ()
    return sorted({(r["namespace"], r["name"]) for r in refs})


def secret_documents(
    objects: Mapping[str, Mapping[str, Mapping[str, Any]]],
    secrets: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[Document]:
    """The Secrets the BGPPeers reference: the ones read (this node's), else stand-ins.

    Only the node's own sessions need a real password; the others' Secrets stand in so
    that the spec validates, and their value is never written anywhere.
    """
    docs = []
    for (namespace, name), secret in sorted(secrets.items()):
        doc = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"namespace": namespace, "name": name},
            "data": dict(secret.get("data") or {}),
        }
        docs.append(Document(f"Secret/{namespace}/{name}", "", 0, doc))
    peers = objects.get("bgppeers", {}).values()
    for stand_in in stand_in_secrets(peers, STAND_IN, known=secrets.keys()):
        meta = stand_in["metadata"]
        docs.append(Document(f"Secret/{meta['namespace']}/{meta['name']}", "", 0, stand_in))
    return docs


def spec_documents(
    objects: Mapping[str, Mapping[str, Mapping[str, Any]]],
    secrets: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> list[Document]:
    """The API's objects as a spec directory would hold them.

    Nodes without an InternalIP yet are left out (nothing can route to them), and so
    are IPBlocks of unknown pools and a node's second block of a pool (the controller
    frees those); the controller's IPBlocks are where a spec directory keeps them.
    """
    docs: list[Document] = []
    for plural, kind in SPEC_KINDS.items():
        for name, obj in sorted(objects.get(plural, {}).items()):
            doc = spec_document({**obj, "apiVersion": GROUP_VERSION, "kind": kind})
            docs.append(Document(f"{kind}/{name}", f"{kind}/{name}", 0, doc))
    for name, obj in sorted(objects.get("nodes", {}).items()):
        node = node_document(obj)
        if node is not None:
            docs.append(Document(f"Node/{name}", f"Node/{name}", 0, node))
    pools = set(objects.get("ippools", {}))
    seen: set[tuple[str, str]] = set()
    for _name, obj in sorted(objects.get("ipblocks", {}).items()):
        spec = obj.get("spec", {})
        key = (spec.get("node", ""), spec.get("pool", ""))
        if key[1] not in pools or key in seen:
            continue
        seen.add(key)
        doc = spec_document({**obj, "apiVersion": GROUP_VERSION, "kind": "IPBlock", "spec": spec})
        docs.append(Document(IPBLOCKS_FILE, IPBLOCKS_FILE, 0, doc))
    return docs + secret_documents(objects, secrets or {})


def inputs_key(documents: Sequence[Document], generation: int) -> str:
    """A digest of everything a run is given: equal keys, equal desired state."""
    digest = hashlib.sha256(str(generation).encode())
    for doc in documents:
        digest.update(json.dumps(doc.data, sort_keys=True).encode())
    return digest.hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """What one provisioning run of the node did."""

    generation: int
    ok: bool
    #: How many changes it made.
    changes: int = 0
    #: What it changed (or would have), one line each, as `netwright plan` prints them.
    lines: tuple[str, ...] = ()
    #: Why it failed: the error, naming the object.
    error: str = ""
    #: Changes were made although the inputs were the same as at the last good run.
    drift: bool = False
    #: The spec could not be used (invalid): the reason and message say so.
    invalid: bool = False
    vtep_mac: str | None = None
    #: The node's BGP sessions (`bgp_summary`), None when the node runs no BIRD.
    bgp: Mapping[str, Any] | None = None


#: How many sessions that are not Established the status names.
BGP_NAMED = 20


def bgp_summary(sessions: Sequence[Session] | None, unavailable: str = "") -> dict[str, Any]:
    """The BGP part of the status: counts, and the first sessions that are not Established."""
    if sessions is None:
        return {"sessions": 0, "established": 0, "unavailable": unavailable[:1024]}
    down = sorted((s for s in sessions if not s.established), key=lambda s: s.name)
    return {
        "sessions": len(sessions),
        "established": len(sessions) - len(down),
        "notEstablished": [
            {"name": s.name[:253], "state": s.state[:64], "info": s.info[:1024]}
            for s in down[:BGP_NAMED]
        ],
    }


def agent_status(
    current: Mapping[str, Any] | None, outcome: Outcome, now: str
) -> dict[str, Any] | None:
    """The NodeNetworkConfig's new status after `outcome`, or None when nothing changed."""
    current = current or {}
    previous = {c.get("type", ""): c for c in current.get("conditions") or ()}
    g = outcome.generation
    if outcome.ok:
        ready = ("Applied", f"generation {g} applied")
        degraded = ("AsPlanned", "every object is as planned")
    else:
        reason = "InvalidSpec" if outcome.invalid else "ApplyFailed"
        ready = (reason, outcome.error or "; ".join(outcome.lines) or "the run failed")
        degraded = ready

    def said(kind: str, why: tuple[str, str], *, status: bool) -> dict[str, Any]:
        reason, message = why
        return condition(
            previous.get(kind),
            kind,
            status=status,
            reason=reason,
            message=message,
            generation=g,
            now=now,
        )

    conditions = [
        said("Ready", ready, status=outcome.ok),
        said("Degraded", degraded, status=not outcome.ok),
        said("Progressing", ("Idle", "no run in progress"), status=False),
    ]
    drift = list(current.get("drift") or ())
    if outcome.drift and outcome.lines:
        drift = [f"{now} repaired: {line}"[:4096] for line in outcome.lines] + drift
    status: dict[str, Any] = {
        "observedGeneration": g,
        "conditions": conditions,
        "drift": drift[:DRIFT_KEPT],
        "appliedChanges": outcome.changes or current.get("appliedChanges", 0),
    }
    if outcome.vtep_mac:
        status["vtepMAC"] = outcome.vtep_mac
    if outcome.bgp is not None:
        status["bgp"] = dict(outcome.bgp)

    def comparable(s: Mapping[str, Any]) -> Any:
        conds = conditions_key(s.get("conditions") or ())
        rest = {k: v for k, v in s.items() if k != "conditions"}
        if isinstance(rest.get("bgp"), dict):
            # A session that is down goes Active, Connect, Active...: its name is news,
            # its passing state and last error are not (a write per resync otherwise).
            bgp = dict(rest["bgp"])
            bgp["notEstablished"] = [n.get("name") for n in bgp.get("notEstablished") or ()]
            rest["bgp"] = bgp
        rest.setdefault("drift", [])
        rest.setdefault("appliedChanges", 0)
        return conds, json.dumps(rest, sort_keys=True)

    if comparable(current) == comparable(status):
        return None
    return status


def vtep_mac(config: Mapping[str, Any]) -> str | None:
    """The MAC of the node's (first) VTEP, as its NodeNetworkConfig says."""
    for tunnel in config.get("spec", {}).get("tunnels") or ():
        if tunnel.get("mac"):
            return str(tunnel["mac"])
    return None
