"""Pod-to-pod traffic across two node namespaces wired only by the engine.

Two nodes share a veth underlay (172.31.255.0/24); each has a bridge with its
block's gateway and one "pod" namespace attached by veth, as the CNI bridge plugin
would. The engine programs vxlan or host-gw; the pods must reach each other.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest
from _netns import KERNEL, iface, ip, ipj, net, quiet, sh

from netwright.engine import Target, run
from netwright.model.state import (
    Address,
    FdbEntry,
    Link,
    Neighbour,
    NodeState,
    Route,
    Sysctl,
    VxlanLink,
    vtep_mac,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = KERNEL

NODES = {1: ip("172.31.255.11"), 2: ip("172.31.255.12")}


def node_state(me: int, backend: str) -> NodeState:
    peer = 2 if me == 1 else 1
    mtu = 1450 if backend == "vxlan" else 1500
    links = [Link(name="cni0", kind="bridge", mtu=mtu)]
    addresses = [Address(dev="cni0", address=iface(f"10.244.{me}.1/24"))]
    sysctls = (
        Sysctl(name="net.ipv4.ip_forward", value="1"),
        Sysctl(name="net.ipv4.conf.all.rp_filter", value="1"),
    )
    if backend == "vxlan":
        links.append(
            Link(
                name="nwvx.1",
                kind="vxlan",
                mtu=1450,
                mac=vtep_mac(NODES[me]),
                vxlan=VxlanLink(vni=1, port=8472, local=NODES[me], dev="eth0"),
            )
        )
        addresses.append(Address(dev="nwvx.1", address=iface(f"10.244.{me}.0/32")))
        return NodeState(
            node=f"n{me}",
            links=tuple(links),
            addresses=tuple(addresses),
            sysctls=sysctls,
            routes=(
                Route(
                    dst=net(f"10.244.{peer}.0/24"),
                    gateway=ip(f"10.244.{peer}.0"),
                    dev="nwvx.1",
                    onlink=True,
                ),
            ),
            neighbours=(
                Neighbour(dev="nwvx.1", ip=ip(f"10.244.{peer}.0"), mac=vtep_mac(NODES[peer])),
            ),
            fdb=(FdbEntry(dev="nwvx.1", mac=vtep_mac(NODES[peer]), dst=NODES[peer]),),
        )
    return NodeState(
        node=f"n{me}",
        links=tuple(links),
        addresses=tuple(addresses),
        sysctls=sysctls,
        routes=(Route(dst=net(f"10.244.{peer}.0/24"), gateway=NODES[peer], dev="eth0"),),
    )


@pytest.mark.parametrize("backend", ["vxlan", "host-gw"])
def test_pods_on_two_nodes_reach_each_other(
    backend: str,
    netns: Callable[[str], str],
    tmp_path: Path,
) -> None:
    n1, n2, p1, p2 = netns("n1"), netns("n2"), netns("p1"), netns("p2")
    for ns in (n1, n2, p1, p2):
        quiet(ns)
    sh(n1, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", n2)
    for me, ns in ((1, n1), (2, n2)):
        sh(ns, "ip", "addr", "add", f"{NODES[me]}/24", "dev", "eth0")
        sh(ns, "ip", "link", "set", "eth0", "up")
        root = tmp_path / f"n{me}"
        report = run(node_state(me, backend), Target(netns=ns, root=str(root)), check=False)
        assert report.ok, report.lines()
    mtu = "1450" if backend == "vxlan" else "1500"
    for me, (node, pod) in enumerate(((n1, p1), (n2, p2)), start=1):
        sh(
            node,
            "ip",
            "link",
            "add",
            "vethp",
            "mtu",
            mtu,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "mtu",
            mtu,
            "netns",
            pod,
        )
        sh(node, "ip", "link", "set", "vethp", "master", "cni0", "up")
        sh(pod, "ip", "addr", "add", f"10.244.{me}.2/24", "dev", "eth0")
        sh(pod, "ip", "link", "set", "eth0", "up")
        sh(pod, "ip", "route", "add", "default", "via", f"10.244.{me}.1")
    ping = subprocess.run(
        ["ip", "netns", "exec", p1, "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.244.2.2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    if backend == "vxlan":
        stats = next(lk for lk in ipj(n1, "ip", "-s", "link", "show") if lk["ifname"] == "nwvx.1")[
            "stats64"
        ]
        assert stats["tx"]["packets"] > 0  # really encapsulated
    # Attaching pods did not make the engine want to change anything.
    for me, ns in ((1, n1), (2, n2)):
        again = run(
            node_state(me, backend), Target(netns=ns, root=str(tmp_path / f"n{me}")), check=True
        )
        assert again.delta.empty, again.lines()
