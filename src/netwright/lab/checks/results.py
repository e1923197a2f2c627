"""What one check of `lab test` found: a name, a verdict, and what was measured.

Why it exists: the checks are read by people (one line each) and by code (the
end-to-end tests, `lab test`'s exit code, other tools): a typed result keeps the
verdict apart from the prose, so nobody has to parse a line to learn whether a
check passed.

What it must not do: hold a secret (the measured text is printed as is).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netwright.lab import LabError

if TYPE_CHECKING:
    from collections.abc import Callable


class Verdict(enum.StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    #: A known bug of an installed program, verified to be that bug and nothing else.
    XFAIL = "XFAIL"


PASS, FAIL, XFAIL = Verdict.PASS, Verdict.FAIL, Verdict.XFAIL


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    verdict: Verdict
    #: What was measured, in words and figures: the line's text after the name.
    measured: str

    def line(self) -> str:
        return f"{self.verdict:<5} {self.name}: {self.measured}"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "verdict": str(self.verdict), "measured": self.measured}


class Recorder:
    """Collects the checks of one run and hands each to `emit` as soon as it is known."""

    def __init__(self, emit: Callable[[Check], None]) -> None:
        self.emit = emit
        self.results: list[Check] = []

    def add(self, verdict: Verdict, name: str, measured: str) -> None:
        check = Check(name, verdict, measured)
        self.results.append(check)
        self.emit(check)

    def verdict(self, ok: bool, name: str, measured: str) -> None:
        self.add(PASS if ok else FAIL, name, measured)

    def guard(self, name: str, check: Callable[[], None]) -> None:
        """Run one check; an unexpected error is that check's FAIL, not the end of the run."""
        try:
            check()
        except (LabError, OSError, ValueError, KeyError) as exc:
            self.add(FAIL, name, f"error: {exc}")
