"""netwright's exception family. Each edge turns these into its own output in one place.

The CLI maps them to exit codes, Ansible modules to `fail_json`, kopf handlers to
permanent or temporary errors. Messages never contain secret values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


class NetwrightError(Exception):
    """Base class of every error netwright raises on purpose."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Issue:
    """One problem in the input, located as precisely as we can.

    Printed as `file:line: Kind/name: field.path: message` (docs/api.md#error-format).
    """

    file: str = ""
    line: int = 0
    kind: str = ""
    name: str = ""
    path: str = ""
    message: str

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.kind:
            parts.append(f"{self.kind}/{self.name}" if self.name else self.kind)
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


class _IssuesError(NetwrightError):
    """An error that carries `issues`, one line each in its message."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class ValidationError(_IssuesError):
    """The input is invalid; `issues` lists every problem found."""


class AllocationError(_IssuesError):
    """A pool has too few free blocks for the nodes it selects."""


class KernelError(NetwrightError):
    """The kernel refused a change; the message names the object and the errno."""


class UnsupportedKernelError(KernelError):
    """The kernel lacks a link type (`kernel lacks <type> support`)."""
