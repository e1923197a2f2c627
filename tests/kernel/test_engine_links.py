"""Links and addresses, whose requests pyroute2 encodes, on the real kernel.

Every link kind netwright makes (bridge, vxlan over IPv4 and IPv6) and both address
families are created, changed and deleted through the engine and read back with
`ip -json`. And pyroute2 is imported only by a run that writes a link or an address:
a no-op `plan` or `apply` must not pay for it.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest
from _netns import KERNEL, iface, ip, ipj, quiet, sh, underlay

from netwright.engine import Target, run
from netwright.model.state import Address, Link, NodeState, VxlanLink, vtep_mac

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = KERNEL

NODE_IP = ip("172.31.255.11")
NODE_IP6 = ip("fd00:31::11")


def desired() -> NodeState:
    return NodeState(
        node="n1",
        links=(
            Link(name="cni0", kind="bridge", mtu=1400, mac="0e:6e:ac:00:00:01"),
            Link(
                name="nwvx.1",
                kind="vxlan",
                mtu=1450,
                mac=vtep_mac(NODE_IP),
                vxlan=VxlanLink(vni=1, port=8472, local=NODE_IP, dev="eth0"),
            ),
            Link(
                name="nwvx.6",
                kind="vxlan",
                vxlan=VxlanLink(vni=6, port=4789, local=NODE_IP6, learning=True),
                up=False,
            ),
        ),
        addresses=(
            Address(dev="cni0", address=iface("10.244.1.1/24")),
            Address(dev="cni0", address=iface("fd00:244:1::1/64")),
            Address(dev="nwvx.1", address=iface("10.244.1.0/32")),
        ),
    )


def links(ns: str) -> dict[str, dict[str, Any]]:
    return {lk["ifname"]: lk for lk in ipj(ns, "ip", "-d", "link", "show")}


def addresses(ns: str) -> set[tuple[str, str]]:
    return {
        (a["ifname"], f"{i['local']}/{i['prefixlen']}")
        for a in ipj(ns, "ip", "addr", "show")
        for i in a["addr_info"]
        if i.get("scope") != "link"
    }


@pytest.fixture
def node(netns: Callable[[str], str]) -> str:
    ns = netns("links")
    quiet(ns)
    underlay(ns, "172.31.255.11/24")
    sh(ns, "ip", "addr", "add", f"{NODE_IP6}/64", "dev", "eth0", "nodad")
    return ns


def test_links_and_addresses_created_changed_and_deleted(node: str, tmp_path: Path) -> None:
    target = Target(netns=node, root=str(tmp_path))
    state = desired()
    report = run(state, target, check=False)
    assert report.ok, report.lines()

    shown = links(node)
    br, vx, vx6 = shown["cni0"], shown["nwvx.1"], shown["nwvx.6"]
    assert (br["linkinfo"]["info_kind"], br["mtu"], br["address"]) == (
        "bridge",
        1400,
        "0e:6e:ac:00:00:01",
    )
    assert (vx["mtu"], vx["address"]) == (1450, vtep_mac(NODE_IP))
    data = vx["linkinfo"]["info_data"]
    assert (data["id"], data["local"], data["port"], data["link"], data["learning"]) == (
        1,
        "172.31.255.11",
        8472,
        "eth0",
        False,
    )
    data6 = vx6["linkinfo"]["info_data"]
    assert (data6["id"], data6["local6"], data6["port"], data6["learning"]) == (
        6,
        "fd00:31::11",
        4789,
        True,
    )
    assert "link" not in data6
    assert {lk["ifalias"] for lk in (br, vx, vx6)} == {"netwright"}
    assert "UP" in br["flags"]
    assert "UP" in vx["flags"]
    assert "UP" not in vx6["flags"]
    assert {
        ("cni0", "10.244.1.1/24"),
        ("cni0", "fd00:244:1::1/64"),
        ("nwvx.1", "10.244.1.0/32"),
    } <= addresses(node)
    (cni0,) = json.loads(
        subprocess.run(
            ["ip", "-n", node, "-j", "-6", "addr", "show", "dev", "cni0", "scope", "global"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    (gateway6,) = cni0["addr_info"]
    assert gateway6.get("nodad") is True, "no duplicate address detection for netwright's own"
    assert "tentative" not in gateway6, "usable at once: pods reach their gateway right away"
    assert run(state, target, check=False).delta.empty

    # Change MTU, MAC and state in place; move an address. (Not cni0 down: the kernel
    # drops a link's IPv6 addresses when it goes down, unless keep_addr_on_down.)
    changed = dataclasses.replace(
        state,
        links=(
            dataclasses.replace(state.links[0], mtu=1300, mac="0e:6e:ac:00:00:02"),
            dataclasses.replace(state.links[1], up=False),
            dataclasses.replace(state.links[2], up=True),
        ),
        addresses=(
            Address(dev="cni0", address=iface("10.244.1.2/24")),
            *state.addresses[1:],
        ),
    )
    report = run(changed, target, check=False)
    assert report.ok, report.lines()
    assert {(c.kind, str(c.op)) for c in report.delta.changes} == {
        ("link", "change"),
        ("address", "add"),
        ("address", "delete"),
    }
    shown = links(node)
    assert (shown["cni0"]["mtu"], shown["cni0"]["address"]) == (1300, "0e:6e:ac:00:00:02")
    assert "UP" not in shown["nwvx.1"]["flags"]
    assert "UP" in shown["nwvx.6"]["flags"]
    assert shown["cni0"]["ifindex"] == br["ifindex"]  # changed, not re-created
    now = addresses(node)
    assert ("cni0", "10.244.1.2/24") in now
    assert ("cni0", "10.244.1.1/24") not in now
    assert run(changed, target, check=False).delta.empty

    # Delete them all.
    report = run(NodeState(node="n1"), target, check=False)
    assert report.ok, report.lines()
    assert set(links(node)) == {"lo", "eth0", "ul"}
    assert {a for a in addresses(node) if a[0] not in {"lo", "eth0"}} == set()
    assert run(NodeState(node="n1"), target, check=False).delta.empty


RUN = """
import json, sys
from netwright.engine import Target, run
from netwright.model.state import Address, Link, NodeState
from ipaddress import ip_interface
state = NodeState(
    node="n1",
    links=(Link(name="cni0", kind="bridge", mtu=1400),),
    addresses=(Address(dev="cni0", address=ip_interface("10.244.1.1/24")),),
)
report = run(state, Target(netns=sys.argv[1], root=sys.argv[2]), check=sys.argv[3] == "check")
print(json.dumps({"ok": report.ok, "empty": report.delta.empty,
                  "pyroute2": "pyroute2" in sys.modules}))
"""


def test_only_a_run_that_writes_links_imports_pyroute2(node: str, tmp_path: Path) -> None:
    def once(mode: str) -> dict[str, bool]:
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(RUN), node, str(tmp_path), mode],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

    assert once("check") == {"ok": True, "empty": False, "pyroute2": False}
    assert once("apply") == {"ok": True, "empty": False, "pyroute2": True}
    assert once("apply") == {"ok": True, "empty": True, "pyroute2": False}
    assert once("check") == {"ok": True, "empty": True, "pyroute2": False}
