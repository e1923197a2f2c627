"""Live facts: the underlay interface, its MTU and subnet, observed before planning.

`observe_facts` is checked against what `ip -json` says about the namespace, and the
CLI's `plan` is checked to plan with those facts when the target holds the node's
address, and to say which values it assumed when it does not.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _netns import KERNEL, ip, ipj, net, quiet, sh, snapshot

from netwright.cli import main
from netwright.engine import Target, observe_facts
from netwright.model.config import NodeFacts

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = KERNEL

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def node(netns: Callable[[str], str]) -> str:
    """A node whose underlay is `ul0` (not eth0), MTU 1400, peer in a namespace of its own."""
    ns = netns("n1")
    peer = netns("sw")
    quiet(ns)
    sh(ns, "ip", "link", "add", "ul0", "mtu", "1400", "type", "veth", "peer", "name", "p0")
    sh(ns, "ip", "link", "set", "p0", "netns", peer)
    sh(peer, "ip", "link", "set", "p0", "up")
    sh(ns, "ip", "link", "set", "ul0", "up")
    sh(ns, "ip", "addr", "add", "192.0.2.7/28", "dev", "ul0")
    sh(ns, "ip", "addr", "add", "172.31.255.11/24", "dev", "ul0")
    sh(ns, "ip", "addr", "add", "fd00:31::11/64", "dev", "ul0", "nodad")
    sh(ns, "ip", "link", "add", "other0", "type", "bridge")
    sh(ns, "ip", "addr", "add", "10.9.0.1/16", "dev", "other0")
    return ns


def holder(ns: str, address: str) -> tuple[str, int, str]:
    """(dev, mtu, subnet) of the link holding `address`, as iproute2 reports them."""
    for link in ipj(ns, "ip", "addr", "show"):
        for a in link["addr_info"]:
            if a["local"] == address:
                subnet = ipaddress.ip_interface(f"{address}/{a['prefixlen']}").network
                return link["ifname"], link["mtu"], str(subnet)
    raise AssertionError(f"{address} is on no link")


def test_observe_facts_names_the_underlay(node: str) -> None:
    for address in ("172.31.255.11", "fd00:31::11"):
        dev, mtu, subnet = holder(node, address)
        facts = observe_facts(Target(netns=node), ip(address), root="/srv/n1")
        assert facts == NodeFacts(
            underlay_dev=dev, underlay_mtu=mtu, underlay_prefix=net(subnet), root="/srv/n1"
        )
        assert (dev, mtu) == ("ul0", 1400)


def test_observe_facts_none_when_no_link_holds_the_address(node: str) -> None:
    before = snapshot(node)
    assert observe_facts(Target(netns=node), ip("172.31.255.12"), root="/") is None
    assert snapshot(node) == before


def _plan(ns: str, spec: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    code = main(
        ["plan", str(spec), "--node", "n1", "--netns", ns, "--root", str(root), "-o", "json"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out), err


def _added(report: Any, kind: str) -> list[Any]:
    return [
        c["after"] for c in report["delta"]["changes"] if c["kind"] == kind and c["op"] == "add"
    ]


def test_plan_uses_the_observed_underlay(
    node: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec"
    shutil.copytree(EXAMPLES / "vxlan", spec)
    network = spec / "network.yaml"
    network.write_text(
        network.read_text().replace(
            "{vni: 1, port: 8472}", "{vni: 1, port: 8472, directRouting: true}"
        )
    )
    report, err = _plan(node, spec, tmp_path / "root", capsys)
    assert err == ""
    vtep = next(lk for lk in _added(report, "link") if lk["kind"] == "vxlan")
    assert (vtep["mtu"], vtep["vxlan"]["dev"]) == (1400 - 50, "ul0")
    # directRouting: the peers share ul0's subnet, so their blocks go straight over it.
    direct = {(r["gateway"], r["dev"]) for r in _added(report, "route")}
    assert ("172.31.255.12", "ul0") in direct
    assert ("172.31.255.13", "ul0") in direct


def test_plan_says_which_facts_it_assumed(
    netns: Callable[[str], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = netns("bare")
    report, err = _plan(ns, EXAMPLES / "vxlan", tmp_path, capsys)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "172.31.255.11" in lines[0]
    assert "assumed underlay eth0, MTU 1500" in lines[0]
    vtep = next(lk for lk in _added(report, "link") if lk["kind"] == "vxlan")
    assert (vtep["mtu"], vtep["vxlan"]["dev"]) == (1450, "eth0")
