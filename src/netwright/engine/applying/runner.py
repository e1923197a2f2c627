"""The apply loop: each change of a `Delta`, in its order, to the sender for its kind.

Why it exists: it is the one place that knows the order of an apply: a check of
the link kinds the delta creates before anything (a kind the kernel lacks raises
`UnsupportedKernelError`, nothing applied), then each row of bulk changes as one
batch and each other change as one request, implied changes kept for the end
(done only if what took them along went), netwright's state file last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netwright.engine import _text
from netwright.engine.applying._bulk import BULK, send_bulk
from netwright.engine.applying._ledger import Ledger
from netwright.engine.applying._record import StateRecord
from netwright.engine.applying._single import apply_one
from netwright.engine.applying.result import ApplyResult
from netwright.errors import KernelError, UnsupportedKernelError

if TYPE_CHECKING:
    from netwright.engine.changes import Delta
    from netwright.kernel.session import KernelWriter


def check_kinds(session: KernelWriter, delta: Delta) -> None:
    """Raise `UnsupportedKernelError` if the delta creates a link of a kind the kernel lacks."""
    seen: set[str] = set()
    for c in delta.changes:
        if c.kind == "link" and str(c.op) == "add" and c.after.kind not in seen:
            seen.add(c.after.kind)
            if not session.supports_kind(c.after.kind):
                raise UnsupportedKernelError(
                    f"link {c.after.name}: kernel lacks {c.after.kind} support; nothing was applied"
                )


class Applier:
    """One apply of one delta through one session (`run` once)."""

    def __init__(self, session: KernelWriter, delta: Delta) -> None:
        self.session = session
        self.delta = delta
        self.ledger = Ledger(delta.notes)
        self.record = StateRecord(session.target.root, delta)

    def run(self) -> ApplyResult:
        ledger = self.ledger
        changes = self.delta.changes
        i = 0
        while i < len(changes):
            c = changes[i]
            if c.kind in BULK:
                j = i
                while j < len(changes) and changes[j].kind in BULK:
                    j += 1
                send_bulk(self.session, ledger, changes[i:j])
                i = j
                continue
            if c.implied:
                ledger.implied.append(c)
            elif not ledger.blocked(c):
                try:
                    apply_one(self.session, self.record, c, ledger.failed_files)
                except KernelError as exc:
                    ledger.fail(c, str(exc))
                except OSError as exc:
                    ledger.fail(c, f"{_text.text(c.kind, c.after or c.before)}: {exc}")
                else:
                    ledger.done.append(c)
            i += 1
        self.record.finish(ledger.failed_files)
        ledger.settle_implied()
        return ApplyResult(
            done=tuple(ledger.done),
            failed=tuple(ledger.failed),
            conflicts=self.delta.conflicts,
            notes=tuple(ledger.notes),
        )
