"""The outcome of each change of one apply so far, and what a failure blocks.

Why it exists: the single and the bulk senders both record successes and failures
here, and both ask it whether a change is blocked (its link failed); the runner
turns it into the `ApplyResult`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netwright.engine import _text

if TYPE_CHECKING:
    from netwright.engine.changes import Change


def change_dev(change: Change) -> str | None:
    """The link a change's object sits on (a summary of what goes with a link: that link)."""
    if change.implied and change.summary:  # what goes with link `key` (a set or a count)
        return str(change.key)
    obj = change.after if change.after is not None else change.before
    dev = getattr(obj, "dev", None)
    return dev if isinstance(dev, str) else None


class Ledger:
    """Changes done, failed (with the error) and implied (not sent), in that order."""

    def __init__(self, notes: tuple[str, ...]) -> None:
        self.done: list[Change] = []
        self.failed: list[tuple[Change, str]] = []
        self.failed_links: set[str] = set()
        self.failed_nexthops: set[int] = set()
        self.failed_files: set[str] = set()
        self.implied: list[Change] = []
        self.notes: list[str] = list(notes)

    def fail(self, change: Change, error: str) -> None:
        self.failed.append((change, error))
        if change.kind == "link":
            self.failed_links.add(str(change.key))
        elif change.kind == "nexthop":
            self.failed_nexthops.add(int(change.key))  # type: ignore[call-overload]
        elif change.kind == "file":
            self.failed_files.add(str(change.key))

    def blocked(self, change: Change) -> bool:
        """True, and recorded as not attempted, if the change's link failed."""
        dev = change_dev(change)
        if dev is not None and dev in self.failed_links and str(change.op) != "delete":
            self.failed.append(
                (
                    change,
                    f"{_text.text(change.kind, change.after)}: not attempted, link {dev} failed",
                )
            )
            return True
        return False

    def settle_implied(self) -> None:
        """After the run: an implied change is done if its link or nexthop went."""
        for c in self.implied:
            dev = change_dev(c)
            if (dev is not None and dev in self.failed_links) or (
                c.nhid and c.nhid in self.failed_nexthops
            ):
                what = str(c) if c.summary else _text.text(c.kind, c.before, c.nhid)
                self.failed.append((c, f"{what}: still there, its link or nexthop was not removed"))
            else:
                self.done.append(c)
