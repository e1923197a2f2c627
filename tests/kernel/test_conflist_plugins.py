"""The conflists netwright renders work with the real CNI reference plugins.

Each case renders a node's conflist, then runs every plugin in it the way
libcni does (docs/troubleshooting.md#no-cnitool-on-debian): `name` and `cniVersion` injected into each
plugin's config, `prevResult` chained, DEL in reverse order, `env -i` with the
`CNI_*` variables and `PATH` only, from inside the node namespace so the host
side of the veth lands there (docs/troubleshooting.md#plugins-run-in-the-node-namespace). Results are checked with `ip -json`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from netwright.model.config import NodeFacts
from netwright.model.spec import (
    Backend,
    BackendType,
    ClusterSpec,
    IPBlock,
    IPPool,
    Network,
    NetworkType,
    Node,
)
from netwright.plan import plan_node
from netwright.render import peers_of, render_node

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

CNI_PATH = Path("/usr/lib/cni")

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not (CNI_PATH / "bridge").exists(), reason="no CNI plugins in /usr/lib/cni"),
]

BLOCK = ipaddress.ip_network("10.244.1.0/24")
BLOCK6 = ipaddress.ip_network("fd10:0:0:1::/64")


def _cluster(
    net_type: NetworkType, *, dual: bool, plugins: tuple[Mapping[str, Any], ...]
) -> ClusterSpec:
    pools = [
        IPPool(name="v4", cidr=ipaddress.ip_network("10.244.0.0/16"), block_size=24, backend="vx")
    ]
    if dual:
        pools.append(
            IPPool(name="v6", cidr=ipaddress.ip_network("fd10::/48"), block_size=64, backend="vx")
        )
    return ClusterSpec(
        nodes=(
            Node(name="n1", addresses=(ipaddress.ip_address("172.31.255.11"),)),
            Node(name="n2", addresses=(ipaddress.ip_address("172.31.255.12"),)),
        ),
        backends=(Backend(name="vx", type=BackendType.VXLAN),),
        pools=tuple(pools),
        networks=(
            Network(
                name="podnet",
                type=net_type,
                ip_pools=tuple(p.name for p in pools),
                bridge_name="cni0" if net_type is NetworkType.BRIDGE else None,
                plugins=plugins,
            ),
        ),
    )


def _blocks(dual: bool) -> list[IPBlock]:
    out = [
        IPBlock(pool="v4", cidr=BLOCK, node="n1"),
        IPBlock(pool="v4", cidr=ipaddress.ip_network("10.244.2.0/24"), node="n2"),
    ]
    if dual:
        out.append(IPBlock(pool="v6", cidr=BLOCK6, node="n1"))
    return out


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def _invoke(
    node_ns: str,
    pod_ns: str,
    command: str,
    plugin: Mapping[str, Any],
    conflist: Mapping[str, Any],
    *,
    prev: Mapping[str, Any] | None,
) -> subprocess.CompletedProcess[str]:
    conf = dict(plugin)
    conf["name"] = conflist["name"]
    conf["cniVersion"] = conflist["cniVersion"]
    if prev is not None:
        conf["prevResult"] = prev
    if "portMappings" in conf.get("capabilities", {}):
        conf["runtimeConfig"] = {"portMappings": []}
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": f"{pod_ns}-id",
        "CNI_NETNS": f"/var/run/netns/{pod_ns}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(CNI_PATH),
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            node_ns,
            "env",
            "-i",
            *(f"{k}={v}" for k, v in env.items()),
            str(CNI_PATH / plugin["type"]),
        ],
        input=json.dumps(conf),
        capture_output=True,
        text=True,
        check=False,
    )


def _precreate_bridge(node_ns: str, state_links: Any, state_addresses: Any) -> None:
    """What the engine does before any pod exists: netwright's bridge with its gateway."""
    for link in state_links:
        if link.kind == "bridge":
            _ip("-n", node_ns, "link", "add", link.name, "type", "bridge")
            _ip("-n", node_ns, "link", "set", link.name, "mtu", str(link.mtu), "up")
    bridges = {link.name for link in state_links if link.kind == "bridge"}
    for addr in state_addresses:
        if addr.dev in bridges:
            _ip("-n", node_ns, "addr", "add", str(addr.address), "dev", addr.dev)


CASES = [
    pytest.param(NetworkType.BRIDGE, False, False, (), id="bridge-v4"),
    pytest.param(NetworkType.BRIDGE, False, True, (), id="bridge-v4-netwright-made-bridge"),
    pytest.param(NetworkType.BRIDGE, True, True, (), id="bridge-dual-stack-netwright-made-bridge"),
    pytest.param(NetworkType.PTP, False, False, (), id="ptp-v4"),
    pytest.param(NetworkType.PTP, True, False, (), id="ptp-dual-stack"),
]
if shutil.which("iptables"):
    CASES.append(
        pytest.param(NetworkType.BRIDGE, False, True, ({"type": "portmap"},), id="bridge-portmap")
    )


@pytest.mark.parametrize(("net_type", "dual", "precreate", "plugins"), CASES)
def test_add_and_del(
    netns: Callable[[str], str],
    tmp_path: Path,
    *,
    net_type: NetworkType,
    dual: bool,
    precreate: bool,
    plugins: tuple[Mapping[str, Any], ...],
) -> None:
    cluster = _cluster(net_type, dual=dual, plugins=plugins)
    blocks = _blocks(dual)
    facts = NodeFacts(root=str(tmp_path))
    config = render_node(cluster, "n1", blocks, facts)
    (conflist_entry,) = config.conflists
    conflist = json.loads(json.dumps(conflist_entry.config))  # what lands on disk
    assert conflist["plugins"][0]["ipam"]["dataDir"] == f"{tmp_path}/var/lib/cni/networks"

    node_ns = netns("node")
    pod_ns = netns("pod")
    if precreate:
        state = plan_node(config, peers_of(cluster, blocks, "n1"), facts)
        _precreate_bridge(node_ns, state.links, state.addresses)
    if dual:
        # the pod's IPv6 address must not sit in DAD (tentative) while we look at it
        _ip("netns", "exec", pod_ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0")
        _ip("netns", "exec", pod_ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")

    results: list[Mapping[str, Any]] = []
    prev: Mapping[str, Any] | None = None
    for plugin in conflist["plugins"]:
        done = _invoke(node_ns, pod_ns, "ADD", plugin, conflist, prev=prev)
        assert done.returncode == 0, f"{plugin['type']} ADD: {done.stdout} {done.stderr}"
        prev = json.loads(done.stdout)
        results.append(prev)
    assert prev is not None
    assert prev["cniVersion"] == conflist["cniVersion"]
    result_ips = {ipaddress.ip_interface(i["address"]).ip for i in prev["ips"]}

    (eth0,) = json.loads(_ip("-n", pod_ns, "-json", "addr", "show", "dev", "eth0"))
    got = {ipaddress.ip_address(a["local"]) for a in eth0["addr_info"] if a["scope"] == "global"}
    assert any(a in BLOCK for a in got), got
    if dual:
        assert any(a in BLOCK6 for a in got), got
    assert got == result_ips
    assert eth0["mtu"] == config.conflists[0].config["plugins"][0]["mtu"] == 1450
    # host-local kept its state under the node's root, not in the shared /var/lib/cni
    assert (tmp_path / "var/lib/cni/networks/podnet").is_dir()

    if net_type is NetworkType.BRIDGE:
        (cni0,) = json.loads(_ip("-n", node_ns, "-json", "addr", "show", "dev", "cni0"))
        bridge_addrs = {f"{a['local']}/{a['prefixlen']}" for a in cni0["addr_info"]}
        assert "10.244.1.1/24" in bridge_addrs
        assert cni0["mtu"] == 1450

    for plugin in reversed(conflist["plugins"]):
        done = _invoke(node_ns, pod_ns, "DEL", plugin, conflist, prev=prev)
        assert done.returncode == 0, f"{plugin['type']} DEL: {done.stdout} {done.stderr}"
    links = json.loads(_ip("-n", pod_ns, "-json", "link", "show"))
    assert [link["ifname"] for link in links] == ["lo"]
