"""Crash points: a process that kills itself (SIGKILL) at a named step, for tests only.

Why it exists: the crash-safety test (`tests/kernel/test_crash_safety.py`) kills
`netwright apply` at timed points, but some windows (between a link's create and its
alias, between recording a file and writing it) last a millisecond and no timer hits
them reliably. With `NETWRIGHT_CRASH_AT=<point>:<n>` in its environment, the process
sends itself SIGKILL the n-th time it reaches `<point>` (n defaults to 1): a real kill
of a real process, at a step chosen by the test, with nothing cleaned up.

What it must not do: anything at all when the variable is unset (one dictionary
lookup per call, and callers are per link or per file, never per route), or run
any cleanup before dying.
"""

from __future__ import annotations

import os
import signal

#: Every point netwright reaches, in the order an apply reaches them.
POINTS = (
    "file-removed",  # a file removed, still recorded
    "link-recorded",  # every link and file of the run recorded, this link not created yet
    "link-created",  # created, not given its alias yet
    "file-recorded",  # a file recorded (with all others), not written yet
    "file-written",  # a file written, before the next one
    "bird-loaded",  # BIRD reloaded its config, still recorded as pending
)

_seen: dict[str, int] = {}


def point(name: str) -> None:
    """Die here (SIGKILL) if `NETWRIGHT_CRASH_AT` names this point and its count."""
    wanted = os.environ.get("NETWRIGHT_CRASH_AT")
    if not wanted:
        return
    where, _sep, count = wanted.partition(":")
    if where != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
