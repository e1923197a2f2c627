"""Printing for the command line that survives a closed pipe and says why it stopped.

Why it exists: `netwright lab up | head -1` closes the pipe after one line; a print
that raises then would abort a lab half-built, and the clean-up's own prints would
abort the clean-up. Here a write to a closed pipe silences that stream (it is pointed
at /dev/null) and the work goes on: the exit status, not the output, says how it ended.
SIGINT and SIGTERM become `Interrupted` (a KeyboardInterrupt, so every clean-up path
that handles Ctrl-C handles both), carrying the exit status the shell expects.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from types import FrameType


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; `exit_code` is 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM raise `Interrupted` in the main thread."""
    signal.signal(signal.SIGINT, _raise)
    signal.signal(signal.SIGTERM, _raise)


def exit_code(exc: KeyboardInterrupt) -> int:
    return exc.exit_code if isinstance(exc, Interrupted) else 128 + signal.SIGINT


def silence(stream: TextIO) -> None:
    """Point `stream`'s file descriptor at /dev/null: later writes (and the exit flush) vanish."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def write(line: str, stream: TextIO | None = None) -> None:
    """Print `line` (stdout by default); a closed pipe silences the stream instead of raising."""
    out = sys.stdout if stream is None else stream
    try:
        print(line, file=out, flush=True)
    except BrokenPipeError:
        silence(out)


def say(line: str) -> None:
    """A line for the person at the terminal (stderr)."""
    write(line, sys.stderr)
