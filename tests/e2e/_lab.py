"""Helpers for the lab's end-to-end tests: the command line, and the root namespace as iproute2 sees it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

BACKENDS = ("vxlan", "host-gw", "bgp")


def missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "e2e tests need root (network namespaces)"
    if not os.path.exists("/usr/lib/cni/bridge"):
        return "e2e tests need the CNI plugins in /usr/lib/cni (containernetworking-plugins)"
    if shutil.which("bird") is None or shutil.which("birdc") is None:
        return "e2e tests need BIRD 2 (bird2)"
    return None


def netwright(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "netwright.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"netwright {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def _json(*argv: str) -> Any:
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else []


ROOT_SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.ipv4.conf.all.forwarding",
    "net.ipv6.conf.all.forwarding",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)


def root_snapshot() -> dict[str, Any]:
    """The root namespace's links, addresses, routes and sysctls, as iproute2 prints them."""
    sysctls = subprocess.run(
        ["sysctl", "-e", *ROOT_SYSCTLS], capture_output=True, text=True, check=False
    ).stdout
    return {
        "link": _json("ip", "-json", "link", "show"),
        "addr": _json("ip", "-json", "addr", "show"),
        "route": _json("ip", "-json", "route", "show", "table", "all"),
        "route6": _json("ip", "-6", "-json", "route", "show", "table", "all"),
        "sysctl": sysctls,
    }


def lab_namespaces(name: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return sorted(
        line.split()[0]
        for line in out.splitlines()
        if line.split() and line.split()[0].startswith(f"{name}-")
    )


def alive(pid: int) -> bool:
    """A pid that exists and is not a zombie (a stopped daemon reparented to init may linger as one)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stream:
            text = stream.read()
    except FileNotFoundError:
        return False
    return text[text.rfind(")") + 2 :].split()[0] != "Z"


def lab_name(tag: str) -> str:
    return f"t{os.getpid() % 1000}{tag}"


@dataclass
class Lab:
    name: str
    backend: str
    up: subprocess.CompletedProcess[str]
    root_before: dict[str, Any]
    status: dict[str, Any]

    @property
    def state_dir(self) -> str:
        return str(self.status["stateDir"])
