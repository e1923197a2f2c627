"""The API's objects as the controller sees them and as the validator reads them. Pure.

Why it exists: the controller keeps every object it watches in a `Snapshot` of raw
API dicts; deciding needs them as the documents a spec directory would hold (without
status and server-set metadata), needs to know which changes matter at all (a
kubelet's heartbeat does not), and needs to compare what the API holds with what it
would write, allowing for the defaults the API server fills in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netwright import documents
from netwright.documents import node_document

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, kw_only=True, slots=True)
class Snapshot:
    """The objects the controller has seen, by plural, then name: raw API dicts."""

    objects: Mapping[str, Mapping[str, Mapping[str, Any]]]

    def of(self, plural: str) -> Mapping[str, Mapping[str, Any]]:
        return self.objects.get(plural, {})


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


#: What stands for a BGP password the controller never reads (see `stand_in_secrets`).
STAND_IN = "netwright-controller-reads-no-secret"


def stand_in_secrets(snapshot: Snapshot) -> list[dict[str, Any]]:
    """A Secret document for every BGPPeer's `passwordSecretRef`, with a stand-in value.

    The controller reads no Secret (it needs no such permission): what it renders holds
    passwords only as placeholders with their references, and the node agent reads the
    real value where its node needs it. The stand-in only lets the validator's "is the
    Secret there" check pass, and never appears in anything written.
    """
    return documents.stand_in_secrets(snapshot.of("bgppeers").values(), STAND_IN)


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
