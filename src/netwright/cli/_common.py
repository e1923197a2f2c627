"""What every command shares: the exit codes, and the exit a command asks for.

Commands raise `Fail` with a code and the lines to print when they end otherwise than
by one of netwright's own errors (those become lines and codes in `netwright.cli`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netwright import _console

if TYPE_CHECKING:
    from collections.abc import Sequence

#: See docs/api.md#exit-codes.
EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_PENDING = 0, 1, 2, 3


class Fail(Exception):  # noqa: N818 - an exit, not an error class of the API
    def __init__(self, code: int, lines: Sequence[str]) -> None:
        self.code = code
        self.lines = lines


def err(*lines: str) -> None:
    for line in lines:
        _console.say(line)
