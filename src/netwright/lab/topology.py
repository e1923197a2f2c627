"""The lab's underlay and namespaces: a switch namespace, node namespaces, pod namespaces.

Why it exists: the lab needs nodes that look like hosts on one L2 segment, with
nothing shared with the machine it runs on. Layout:

- `<lab>-ul` holds bridge `br0`, the switch, with bridge-nf switched off in that
  namespace (br_netfilter is on in every new namespace:
  docs/troubleshooting.md#bridge-nf-in-new-namespaces) and IPv6 off. `br0` holds the
  *outside* address (`outside.py`): the nodes' default gateway, the top-of-rack
  router and "the internet" in one. It forwards nothing (ip_forward stays 0) and
  has no route to any pool unless its BIRD learns one;
- `<lab>-<node>` holds `eth0` with the node's underlay address and a default route
  via the outside; its veth peer `n<i>` is a port of `br0`. Both ends are created
  inside lab namespaces (`ip -n <lab>-ul link add n1 type veth peer name eth0 netns
  <lab>-n1`), so the root namespace never holds a lab link, route or sysctl, even
  for a moment.

Two labs never share anything but the kernel: each has its own switch, so the same
underlay addresses can repeat in both.

What it must not do: adopt a namespace it did not make (an existing name is an
error, never reused), or delete one that is not in the state file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import TYPE_CHECKING

from netwright.lab import LabError
from netwright.lab._proc import NETNS_DIR, batch, ns_run, run

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from netwright.lab.state import LabState

BRIDGE = "br0"


def netns_exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


def add_netns(state: LabState, names: Sequence[str]) -> None:
    """Create the namespaces, each recorded in the state file before it exists."""
    for name in names:
        if netns_exists(name):
            raise LabError(
                f"network namespace {name} already exists and is not this lab's; "
                "remove it or pick another --name"
            )
    state.namespaces.extend(names)
    state.save()
    for name in names:
        run(["ip", "netns", "add", name])


def build_underlay(
    state: LabState, nodes: Sequence[tuple[str, str]], prefixlen: int, outside: str
) -> None:
    """The switch namespace and one namespace per node, wired: (netns, address) per node.

    `outside` is the switch namespace's own address on `br0`, every node's gateway.
    """
    ul = state.underlay_netns
    add_netns(state, [ul, *(ns for ns, _ in nodes)])
    ns_run(
        ul,
        "sysctl",
        "-q",
        "-e",
        "-w",
        "net.bridge.bridge-nf-call-iptables=0",
        "net.bridge.bridge-nf-call-ip6tables=0",
        "net.bridge.bridge-nf-call-arptables=0",
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
    )
    commands = [
        "link set lo up",
        f"link add {BRIDGE} type bridge",
        f"address add {outside}/{prefixlen} dev {BRIDGE}",
        f"link set {BRIDGE} up",
    ]
    for i, (netns, _) in enumerate(nodes, start=1):
        commands.append(f"link add n{i} type veth peer name eth0 netns {netns}")
        commands.append(f"link set n{i} master {BRIDGE} up")
    batch(ul, commands)
    for netns, address in nodes:
        batch(
            netns,
            [
                "link set lo up",
                f"address add {address}/{prefixlen} dev eth0",
                "link set eth0 up",
                f"route add default via {outside} dev eth0",
            ],
        )


def _pids(netns: str) -> list[int]:
    out = run(["ip", "netns", "pids", netns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def delete_netns(names: Sequence[str], say: Callable[[str], None]) -> list[str]:
    """Delete the namespaces (last made first); returns what could not be removed.

    A namespace outlives `ip netns del` while a process is inside
    (docs/troubleshooting.md#processes-keep-a-namespace-alive): the
    lab's own processes are stopped before this; anything else found inside is
    reported and stopped too, since it would keep the lab's links alive.
    """
    problems: list[str] = []
    for name in reversed(names):
        if not netns_exists(name):
            continue
        stray = _pids(name)
        if stray:
            say(
                f"namespace {name}: stopping processes the lab did not start: "
                f"{' '.join(map(str, stray))}"
            )
            _kill_all(stray)
        proc = run(["ip", "netns", "del", name], check=False)
        if proc.returncode != 0 and netns_exists(name):
            problems.append(f"namespace {name}: {proc.stderr.strip()}")
    return problems


def _kill_all(pids: Sequence[int], timeout: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(os.path.exists(f"/proc/{pid}") for pid in pids):
                return
            time.sleep(0.02)
