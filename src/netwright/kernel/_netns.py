"""Entering a named network namespace from the calling thread, and leaving it again.

Why: every socket, `/proc/sys/net` file and child process the kernel package makes
for a `Target` must live in that target's namespace. `setns(2)` on the *calling
thread* does that for the price of two system calls, where `ip netns exec` costs
about 2.7 ms per call (docs/troubleshooting.md, "ip netns exec is slow") and
pyroute2's own `netns=` forks a helper per socket. Sockets keep the namespace they
were created in; `/proc/sys/net` lookups and `fork()` use the calling thread's
namespace (checked on this kernel: a sysctl written while entered is visible with
`ip netns exec`, not in the root).

What it must not do: create a namespace (a typo in `--netns` must be an error, never
a new empty namespace), or leave the thread inside the target when anything fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from typing import TYPE_CHECKING

from netwright.errors import KernelError

if TYPE_CHECKING:
    from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(name: str) -> str:
    if "/" in name or name in {"", ".", ".."}:
        raise KernelError(f"network namespace {name!r}: not a valid name")
    return os.path.join(NETNS_RUN_DIR, name)


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise KernelError(f"{what}: setns: {errno.errorcode.get(code, code)} ({os.strerror(code)})")


@contextlib.contextmanager
def entered(netns: str | None) -> Iterator[None]:
    """Run the body with this thread inside `netns` (None: stay where we are)."""
    if netns is None:
        yield
        return
    path = netns_path(netns)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KernelError(f"network namespace {netns}: does not exist ({path})") from None
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target, f"network namespace {netns}")
            try:
                yield
            finally:
                _setns(home, f"returning from network namespace {netns}")
        finally:
            os.close(home)
    finally:
        os.close(target)
