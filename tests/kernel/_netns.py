"""Helpers for the engine's kernel tests: commands in a namespace, `ip -json` snapshots.

The kernel state is always read back with iproute2 (`ip -json`, `bridge -json`,
`nft`), never with netwright's own observer.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from typing import Any

import pytest

KERNEL = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="kernel tests need root"),
]


def sh(ns: str, *args: str, check: bool = True) -> str:
    """Run `ip`-style argv inside netns `ns` (`ip -n`, `bridge -n`, or `ip netns exec`)."""
    if args[0] in {"ip", "bridge"}:
        argv = [args[0], "-n", ns, *args[1:]]
    else:
        argv = ["ip", "netns", "exec", ns, *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def ipj(ns: str, *args: str) -> Any:
    out = sh(ns, args[0], "-json", *args[1:])
    return json.loads(out) if out.strip() else []


def quiet(ns: str) -> None:
    """No IPv6 DAD or router solicitations: the kernel state stays still between snapshots."""
    for conf in ("all", "default"):
        sh(ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{conf}.accept_dad=0")
        sh(ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{conf}.router_solicitations=0")


def snapshot(ns: str) -> dict[str, Any]:
    """The namespace's networking as iproute2 prints it (no counters, no timers)."""
    return {
        "link": ipj(ns, "ip", "link", "show"),
        "addr": ipj(ns, "ip", "addr", "show"),
        "route": ipj(ns, "ip", "route", "show", "table", "all"),
        "route6": ipj(ns, "ip", "-6", "route", "show", "table", "all"),
        "neigh": [n for n in ipj(ns, "ip", "neigh", "show") if "PERMANENT" in n.get("state", [])],
        "fdb": ipj(ns, "bridge", "fdb", "show"),
        "nexthop": ipj(ns, "ip", "nexthop", "show"),
        "nft": sh(ns, "nft", "list", "ruleset"),
        "sysctl": sh(ns, "sysctl", "net.ipv4.ip_forward", "net.ipv4.conf.all.rp_filter"),
    }


def underlay(
    ns: str, address: str, *, peer_ns: str | None = None, peer_address: str | None = None
) -> None:
    """`eth0` in `ns` with `address`; its peer `eth0` in `peer_ns` (or `ul` in `ns`)."""
    if peer_ns is None:
        sh(ns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "ul")
        sh(ns, "ip", "link", "set", "ul", "up")
    else:
        sh(
            ns,
            "ip",
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            peer_ns,
        )
        sh(peer_ns, "ip", "link", "set", "eth0", "up")
        if peer_address:
            sh(peer_ns, "ip", "addr", "add", peer_address, "dev", "eth0")
    sh(ns, "ip", "link", "set", "eth0", "up")
    sh(ns, "ip", "addr", "add", address, "dev", "eth0")


def ip(text: str) -> Any:
    return ipaddress.ip_address(text)


def net(text: str) -> Any:
    return ipaddress.ip_network(text)


def iface(text: str) -> Any:
    return ipaddress.ip_interface(text)
