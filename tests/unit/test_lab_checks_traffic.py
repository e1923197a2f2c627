"""`lab test`'s TCP probe: what it leaves open when one end cannot be made.

It runs in a network namespace made here (removed in a `finally`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import TYPE_CHECKING

import pytest

from netwright.lab import LabError
from netwright.lab.checks.traffic import tcp_probe

if TYPE_CHECKING:
    from collections.abc import Callable


def _sockets() -> set[str]:
    """The sockets this process holds open (their inodes)."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:"):
                out.add(target)
    return out


@pytest.mark.kernel
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a network namespace)")
def test_no_socket_is_left_open_when_the_client_cannot_be_made(
    netns: Callable[[str], str],
) -> None:
    ns = netns("tp")
    before = _sockets()
    gone = f"nwt-{os.getpid()}-{secrets.token_hex(3)}-no"  # never made
    with pytest.raises(LabError) as failed:  # keeps the frame (and its sockets) alive
        tcp_probe(ns, "127.0.0.1", 15399, client_netns=gone, dst="127.0.0.1", dst_port=15399)
    assert gone in str(failed.value)
    assert _sockets() <= before


@pytest.mark.kernel
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a network namespace)")
def test_the_probe_answers_and_closes_both_ends(netns: Callable[[str], str]) -> None:
    ns = netns("tp")  # `lo` up
    before = _sockets()
    seen, reply, took = tcp_probe(
        ns, "127.0.0.1", 15399, client_netns=ns, dst="127.0.0.1", dst_port=15399
    )
    assert (seen, reply) == ("127.0.0.1", b"netwright lab")
    assert took > 0
    assert _sockets() <= before
