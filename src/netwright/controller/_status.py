"""The statuses and Events of the objects users write: Ready, with `validate`'s words.

Why it exists: every IPPool, Network, Backend and BGPPeer gets a `Ready` condition
(with `observedGeneration` and a `lastTransitionTime` that moves only when the status
does) and an Event when it is not Ready; nothing is written that the object already
says, so a restart writes no status.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from netwright.documents import SPEC_KINDS, condition, conditions_key

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from netwright.controller._objects import Snapshot
    from netwright.errors import Issue

READY = "Ready"
#: How many invalid objects a "Blocked" message names before "and N more".
NAMED_MAX = 20


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusWrite:
    plural: str
    name: str
    status: dict[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class Note:
    """A Kubernetes Event to post: about which object, why, and what was done."""

    kind: str
    name: str
    reason: str
    message: str
    warning: bool = False


def conditions_equal(a: Iterable[Mapping[str, Any]], b: Iterable[Mapping[str, Any]]) -> bool:
    """Equal but for `lastTransitionTime` (a condition that did not change keeps its time)."""
    return conditions_key(a) == conditions_key(b)


def ready_status(
    obj: Mapping[str, Any], *, ready: bool, reason: str, message: str, now: str
) -> dict[str, Any] | None:
    """The object's new status (its `Ready` condition), or None when it already says so."""
    generation = obj.get("metadata", {}).get("generation", 0)
    old = obj.get("status") or {}
    previous = {c.get("type"): c for c in old.get("conditions") or ()}
    ready_condition = condition(
        previous.get(READY),
        READY,
        status=ready,
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )
    others = [c for t, c in previous.items() if t != READY]
    conditions = [ready_condition, *others]
    if old.get("observedGeneration") == generation and conditions_equal(
        old.get("conditions") or (), conditions
    ):
        return None
    return {"observedGeneration": generation, "conditions": conditions}


def issue_text(issue: Issue) -> str:
    """The line `netwright validate` prints, without the file (an API object has none)."""
    return str(replace(issue, file="", line=0))


def object_statuses(
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


def blocked(issues: list[Issue]) -> tuple[str, str]:
    names = sorted({f"{i.kind}/{i.name}" for i in issues if i.kind})
    shown = ", ".join(names[:NAMED_MAX]) or "the spec"
    if len(names) > NAMED_MAX:
        shown += f" and {len(names) - NAMED_MAX} more"
    return (
        "Blocked",
        (
            f"no IPBlock or NodeNetworkConfig is written while {shown} "
            f"{'is' if len(names) == 1 else 'are'} invalid"
        ),
    )
