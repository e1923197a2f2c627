"""`lab bench`'s probe: the frame parser on hostile input, and its iperf3 servers' failures.

The iperf3 tests run the real iperf3 in a network namespace made here (removed in a
`finally`); the processes they start are stopped by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
from typing import TYPE_CHECKING, Any

import pytest

from netwright.lab import LabError
from netwright.lab._bench_probe import FRAME_PAYLOAD, PORT, Endpoint, Servers, _ping_headers
from netwright.lab._proc import socket_in

if TYPE_CHECKING:
    from collections.abc import Callable

DST = "10.244.2.5"
ETH = bytes(12) + b"\x08\x00"


def _finishes(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)`, in a thread given 5 s: a parser that loops forever fails, not hangs."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn(*args)), daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), f"{fn.__name__} did not return within 5 s"
    return out[0]


def _ipv4(proto: int, payload: bytes, dst: str = DST) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        0,
        0,
        64,
        proto,
        0,
        socket.inet_aton("172.31.255.11"),
        socket.inet_aton(dst),
    )
    return header + payload


ECHO = b"\x08\x00" + bytes(6) + bytes(FRAME_PAYLOAD)
PLAIN = ETH + _ipv4(1, ECHO)
IPIP = ETH + _ipv4(4, _ipv4(1, ECHO), dst="172.31.255.12")
VXLAN = ETH + _ipv4(
    17,
    struct.pack("!HHHH", 40000, 4789, 0, 0)
    + b"\x08\x00\x00\x00"
    + (7).to_bytes(3, "big")
    + b"\0"
    + PLAIN,
    dst="172.31.255.12",
)


@pytest.mark.parametrize(
    ("frame", "headers"),
    [
        (PLAIN, "eth/ipv4/icmp"),
        (IPIP, "eth/ipv4/ipv4/icmp"),
        (VXLAN, "eth/ipv4/udp:4789/vxlan(vni 7)/eth/ipv4/icmp"),
    ],
    ids=["plain", "ipip", "vxlan"],
)
def test_ping_headers_names_the_layers(frame: bytes, headers: str) -> None:
    assert _finishes(_ping_headers, frame, DST) == headers


MALFORMED = {
    # IHL 0 and protocol 4 (IPIP): an "IPv4 header" of no length, in itself forever
    "ihl-0-ipip": ETH + bytes([0x40, 0, 0, 40, 0, 0, 0, 0, 64, 4]) + bytes(30),
    "ihl-0-icmp": ETH + bytes([0x40, 0, 0, 40, 0, 0, 0, 0, 64, 1]) + bytes(30),
    "ihl-4-ipip": ETH + bytes([0x44, 0, 0, 40, 0, 0, 0, 0, 64, 4]) + bytes(30),
    "ihl-longer-than-frame": ETH + bytes([0x4F]) + _ipv4(1, b"")[1:],
    "ethernet-only": ETH,
    "ipv4-cut-short": ETH + _ipv4(1, ECHO)[:12],
    "ipip-inner-cut-short": ETH + _ipv4(4, _ipv4(1, ECHO)[:19]),
    "udp-cut-short": ETH + _ipv4(17, b"\x9c\x40\x12\xb5"),
    "vxlan-inner-cut-short": VXLAN[: -len(PLAIN) + 10],
    "echo-to-another-address": ETH + _ipv4(1, ECHO, dst="10.244.9.9"),
    "echo-of-another-size": ETH + _ipv4(1, ECHO[:-1]),
    "empty": b"",
}


@pytest.mark.parametrize("frame", MALFORMED.values(), ids=MALFORMED.keys())
def test_ping_headers_returns_none_on_malformed_frames(frame: bytes) -> None:
    assert _finishes(_ping_headers, frame, DST) is None


def test_ping_headers_stops_at_nested_ipip() -> None:
    deep = _ipv4(1, ECHO)
    for _ in range(100):  # far deeper than any lab encapsulates
        deep = _ipv4(4, deep)
    assert _finishes(_ping_headers, ETH + deep, DST) is None


# -- iperf3 servers


@pytest.mark.kernel
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a network namespace)")
@pytest.mark.skipif(shutil.which("iperf3") is None, reason="no iperf3")
def test_a_server_that_cannot_start_is_a_lab_error_with_iperf3s_words(
    netns: Callable[[str], str],
) -> None:
    """The port is taken (by a wildcard listener, so the wait for 127.0.0.1 does not see it)."""
    ns = netns("bp")
    taken = socket_in(ns, socket.AF_INET, socket.SOCK_STREAM)
    with taken:
        taken.bind(("0.0.0.0", PORT))  # in the throwaway namespace only
        taken.listen(1)
        servers = Servers()
        with pytest.raises(LabError) as failed:
            servers.start(Endpoint("dst", ns, "127.0.0.1"))
    assert str(failed.value).startswith(f"iperf3 server in {ns} exited: ")
    assert "Address already in use" in str(failed.value)
    assert len(servers.started) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(servers.started[0], 0)  # reaped, not a zombie
    servers.stop_all()  # nothing left to stop


def test_a_server_that_does_not_end_is_stopped_by_pid() -> None:
    """`finish`: the `-1` server normally ends after its test; one that does not is killed."""
    proc = subprocess.Popen(["sleep", "60"], stderr=subprocess.PIPE)
    try:
        Servers().finish(proc, timeout=0.2)
        assert proc.returncode == -signal.SIGTERM
        assert proc.stderr is not None
        assert proc.stderr.closed
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_server_that_ends_by_itself_keeps_its_exit_status() -> None:
    proc = subprocess.Popen(["sh", "-c", "exit 3"], stderr=subprocess.PIPE)
    Servers().finish(proc, timeout=5)
    assert proc.returncode == 3
