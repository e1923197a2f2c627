"""One provisioning run per target at a time: a lock per node root and per network namespace.

Why it exists: two runs against one node (an Ansible play and the node agent, or two
operators) would each see the other's half-made objects, fail thousands of creates with
EEXIST and report nonsense. Every front end provisions through `netwright.provisioning`,
which holds this lock while it observes, plans and applies.

How: `flock` on two files, always taken in the same order (the root's, then the
namespace's), so two runs can never each hold one and wait for the other. The kernel
drops a flock when its holder dies, so a crashed run never leaves a stale lock. The
namespace's lock is named by the namespace's inode, not its name: one namespace
reached under two names (or the host's, reached by none) is one lock. Whoever holds a
lock writes its pid, start time and command into the file, so a waiter can say who
is in its way.

What it must not do: wait forever (the caller gives a deadline), or lock anything in
check mode's place: reading the node takes no lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import time
from typing import TYPE_CHECKING

from netwright.errors import NetwrightError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from netwright.kernel import Target

#: Default of `--wait-lock`: long enough to ride out another run's no-op or small change.
DEFAULT_WAIT = 5.0
#: Where the namespace locks live (tmpfs on a real host: they die with a reboot, as flocks do).
NETNS_LOCK_DIR = "/run/netwright/locks"
#: The root's lock, beside netwright's state file under the root.
ROOT_LOCK = "var/lib/netwright/apply.lock"
_POLL = 0.05


class LockBusyError(NetwrightError):
    """Another run holds the target's lock and did not let go in time."""


def _netns_identity(netns: str | None) -> tuple[str, str]:
    """(lock file name, how to name the namespace to a person)."""
    path = f"/run/netns/{netns}" if netns else "/proc/self/ns/net"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NetwrightError(f"network namespace {netns}: does not exist ({path})") from None
    except OSError as exc:
        what = f"network namespace {netns}" if netns else "this host's network namespace"
        raise NetwrightError(f"{what}: {exc.strerror or exc}") from exc
    what = f"namespace {netns}" if netns else "this host's network namespace"
    return f"netns-{st.st_dev}-{st.st_ino}.lock", what


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 512, 0).decode(errors="replace").strip()
        if text:
            return text
    return "another process"


def _describe_self() -> str:
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"pid {os.getpid()} ({command[:200]}), since {started}"


def _wait(fd: int, what: str, wait: float, say: Callable[[str], None] | None) -> bool:
    """Take the flock on `fd` within `wait` seconds; False if it stayed taken."""
    deadline = time.monotonic() + max(wait, 0.0)
    said = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
        else:
            return True
        if time.monotonic() >= deadline:
            return False
        if not said and say is not None:
            say(f"waiting for {what}, held by {_holder(fd)}")
            said = True
        time.sleep(_POLL)


def _open(path: str, what: str) -> int:
    try:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        where = exc.filename or path
        raise NetwrightError(
            f"{what}: cannot take the lock {path}: {where}: {exc.strerror or exc}"
        ) from exc


def _acquire(path: str, what: str, wait: float, say: Callable[[str], None] | None) -> int:
    fd = _open(path, what)
    try:
        taken = _wait(fd, what, wait, say)
        if taken:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (_describe_self() + "\n").encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    if not taken:
        error = LockBusyError(
            f"{what} is being provisioned by {_holder(fd)};"
            f" gave up after {wait:g} s (--wait-lock); nothing was changed"
        )
        os.close(fd)
        raise error
    return fd


@contextlib.contextmanager
def target_lock(
    target: Target, *, wait: float = DEFAULT_WAIT, say: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the target's root and namespace locks; `LockBusyError` after `wait` seconds."""
    root_path = os.path.join(target.root, ROOT_LOCK)
    name, what = _netns_identity(target.netns)  # before anything is made under the root
    held: list[int] = []
    try:
        held.append(_acquire(root_path, f"root {target.root}", wait, say))
        held.append(_acquire(os.path.join(NETNS_LOCK_DIR, name), what, wait, say))
        yield
    finally:
        for fd in reversed(held):
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)
