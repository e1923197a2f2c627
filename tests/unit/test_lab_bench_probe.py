"""`lab bench`'s probe: the frame parser on hostile input, and its iperf3 servers' failures."""

from __future__ import annotations

import socket
import struct
import threading
from typing import TYPE_CHECKING, Any

import pytest

from netwright.lab._bench_probe import FRAME_PAYLOAD, _ping_headers

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
