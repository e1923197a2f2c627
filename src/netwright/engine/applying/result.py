"""What an apply reports: `ApplyResult`, and `Progress` for a front end that asks.

Why it exists: every front end reads these (the CLI, the Ansible modules, the
agent's status), so they stand apart from the machinery that fills them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netwright.engine import _json

if TYPE_CHECKING:
    from collections.abc import Callable

    from netwright.engine.changes import Change, Conflict


@dataclass(kw_only=True, slots=True)
class Progress:
    """How far an apply got, for a front end that must say so if it is interrupted.

    `total` is set when the apply starts (objects: a summary counts as many as it
    stands for), `done` when it ends, however it ends: an exception (Ctrl-C, SIGTERM)
    leaves `applying` set and `done` counting the changes confirmed so far. `started`,
    if given, is told the total first (progress output for a long apply).
    """

    total: int = 0
    done: int = 0
    applying: bool = False
    started: Callable[[int], None] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ApplyResult:
    done: tuple[Change, ...] = ()
    #: (change, error text naming the object and the errno)
    failed: tuple[tuple[Change, str], ...] = ()
    #: Not applied: a foreign object holds the place (from the delta).
    conflicts: tuple[Conflict, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed and not self.conflicts

    def lines(self) -> list[str]:
        counts = f"failed: {len(self.failed)}, conflicts: {len(self.conflicts)}"
        out = [f"done: {len(self.done)} change(s), {counts}"]
        out.extend(f"failed: {error}" for _c, error in self.failed)
        out.extend(f"conflict: {c}" for c in self.conflicts)
        out.extend(f"note: {n}" for n in self.notes)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "done": len(self.done),
            "failed": [{"change": _json.change_json(c), "error": e} for c, e in self.failed],
            "conflicts": [str(c) for c in self.conflicts],
            "notes": list(self.notes),
        }
