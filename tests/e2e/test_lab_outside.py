"""The lab's outside, end to end: NAT outgoing, a top-of-rack BGP router, route reflectors.

`examples/bgp-tor` (a BGPPeer at the outside address, with a password, short
timers and a 5 s restart time) and `examples/bgp-rr` (two route reflectors out of
four nodes) are brought up with the real command line, checked by `lab test`, and
measured here independently with iproute2, `ss` and /proc: which TCP sessions on
port 179 exist, what each kernel table holds, which processes run, and where the
password is (and is not). Each lab is removed in a finalizer whatever happened,
and must leave nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
from _lab import Lab, alive, lab_name, lab_namespaces, netwright, root_snapshot

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
#: The Secret's value in examples/bgp-tor/network.yaml.
PASSWORD = "lab-tor-md5-Kq7v"
RESTART_TIME = 5  # examples/bgp-tor: gracefulRestart.restartTime


def _up(name: str, spec: str, *extra: str) -> Lab:
    before = root_snapshot()
    up = netwright("lab", "up", "--spec", spec, "--pods", "1", "--name", name, *extra)
    if up.returncode != 0:
        pytest.fail(f"lab up --spec {spec}: exit {up.returncode}\n{up.stdout}\n{up.stderr}")
    status = json.loads(netwright("lab", "status", "--name", name, "-o", "json", check=True).stdout)
    return Lab(name=name, backend="bgp", up=up, root_before=before, status=status)


@pytest.fixture(scope="module")
def tor() -> Iterator[Lab]:
    name = lab_name("tor")
    try:
        yield _up(name, os.path.join(EXAMPLES, "bgp-tor"))
    finally:
        netwright("lab", "down", "--name", name)


@pytest.fixture(scope="module")
def rr() -> Iterator[Lab]:
    name = lab_name("rr")
    try:
        yield _up(name, os.path.join(EXAMPLES, "bgp-rr"))
    finally:
        netwright("lab", "down", "--name", name)


def _ip(netns: str, *args: str) -> Any:
    out = subprocess.run(
        ["ip", "-n", netns, "-json", *args], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out) if out.strip() else []


def _bgp_tcp_peers(netns: str) -> set[str]:
    """Peers of established TCP connections on port 179 (`ss` without -i/-e: no keys shown)."""
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "ss", "-H", "-t", "-n", "state", "established"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    peers = set()
    for line in out.splitlines():
        local, peer = line.split()[-2:]
        if local.endswith(":179") or peer.endswith(":179"):
            peers.add(peer.rsplit(":", 1)[0])
    return peers


def _md5_failures(netns: str) -> int:
    text = subprocess.run(
        ["ip", "netns", "exec", netns, "cat", "/proc/net/netstat"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for names, values in zip(text[::2], text[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=False))["TCPMD5Failure"])
    raise AssertionError("no TcpExt line in /proc/net/netstat")


def _lab_test(lab: Lab) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    proc = netwright("lab", "test", "--name", lab.name)
    verdicts = {}
    for line in proc.stdout.splitlines():
        verdict, _, rest = line.partition(" ")
        if verdict in {"PASS", "FAIL", "XFAIL"}:
            name, _, measured = rest.strip().partition(": ")
            verdicts[name] = f"{verdict} {measured}"
    return proc, verdicts


def _nodes(lab: Lab) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in lab.status["nodes"]}


def _underlay(lab: Lab) -> str:
    return str(lab.status["underlay"]["netns"])


# ---------------------------------------------------------------- the top-of-rack router


def test_the_outside_is_the_nodes_gateway(tor: Lab) -> None:
    ul = _underlay(tor)
    assert tor.status["outside"]["ip"] == "172.31.255.1"
    addrs = _ip(ul, "addr", "show", "dev", "br0")[0]["addr_info"]
    assert [(a["local"], a["prefixlen"]) for a in addrs] == [("172.31.255.1", 24)]
    for node in tor.status["nodes"]:
        default = _ip(node["netns"], "route", "show", "default")
        assert [(r["gateway"], r["dev"]) for r in default] == [("172.31.255.1", "eth0")]
        assert os.path.isdir(node["root"])
        assert node["birdSocket"] == os.path.join(node["root"], "run", "bird", "bird.ctl")
        assert os.path.exists(node["birdSocket"])
    # the outside forwards nothing
    forward = subprocess.run(
        ["ip", "netns", "exec", ul, "sysctl", "-n", "net.ipv4.ip_forward"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert forward == "0"


def test_the_router_peers_with_every_node_and_learns_every_block(tor: Lab) -> None:
    ul = _underlay(tor)
    nodes = _nodes(tor)
    assert "top-of-rack BIRD started" in tor.up.stderr
    sessions = tor.status["outside"]["sessions"]
    assert sorted(s["node"] for s in sessions) == ["n1", "n2", "n3"]
    for s in sessions:
        assert (s["routerAS"], s["nodeAS"], s["holdTime"], s["keepaliveTime"]) == (
            64513,
            64512,
            9,
            3,
        )
        assert s["password"] == "<secret kube-system/bgp-secrets/tor>"
    assert _bgp_tcp_peers(ul) == {n["ip"] for n in nodes.values()}
    learned = {r["dst"]: r["gateway"] for r in _ip(ul, "route", "show", "proto", "bird")}
    assert learned == {b: n["ip"] for n in nodes.values() for b in n["blocks"]}
    # the router is a peer, not a transit: the nodes install nothing it would send
    for n in nodes.values():
        bird_routes = {r["dst"] for r in _ip(n["netns"], "route", "show", "proto", "bird")}
        assert bird_routes == {b for m in nodes.values() if m is not n for b in m["blocks"]}


NFT_COUNT = """table ip e2e_count {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 15301 ip saddr 10.244.0.0/16 counter
    tcp dport 15301 ip saddr 172.31.255.0/24 counter
  }
}
"""


def _nft_counts(netns: str) -> tuple[int, int]:
    """Packets to the NAT check's port from the pod pool, and from the underlay."""
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "-j", "list", "table", "ip", "e2e_count"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts = [
        x["rule"]["expr"][-1]["counter"]["packets"]
        for x in json.loads(out)["nftables"]
        if "rule" in x
    ]
    return counts[0], counts[1]


def test_lab_test_passes_with_the_router(tor: Lab) -> None:
    nodes = _nodes(tor)
    ul = _underlay(tor)
    pids_before = {p["what"]: p["pid"] for p in tor.status["processes"]}
    md5_before = sum(_md5_failures(ns) for ns in [ul, *lab_namespaces(tor.name)])
    # The outside's own kernel counts who connects to the NAT check's listener. The
    # router knows routes to the pools here, so un-NATed pods would get through too.
    subprocess.run(
        ["ip", "netns", "exec", ul, "nft", "-f", "-"], input=NFT_COUNT, text=True, check=True
    )
    try:
        proc, verdicts = _lab_test(tor)
        from_pods, from_nodes = _nft_counts(ul)
    finally:
        subprocess.run(
            ["ip", "netns", "exec", ul, "nft", "delete", "table", "ip", "e2e_count"], check=True
        )
    assert from_pods == 0
    assert from_nodes >= 3 * 3  # three pods' handshakes, data and close, at least
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not [k for k, v in verdicts.items() if v.startswith("FAIL")], proc.stdout
    for node in nodes:
        assert verdicts[f"router session {node}"].startswith("PASS")
        assert "negotiated hold 9 s, keepalive 3 s" in verdicts[f"router session {node}"]
        assert verdicts[f"router routes {node}"].startswith("PASS")
        assert verdicts[f"nat outgoing {node}-p1 -> outside"].startswith("PASS")
        assert (
            f"the outside saw {nodes[node]['ip']} "
            in verdicts[f"nat outgoing {node}-p1 -> outside"]
        )
        assert verdicts[f"bgp {node}"].startswith("PASS")
    wrong = verdicts["router wrong password n1"]
    assert wrong.startswith("PASS"), wrong
    assert "Established" not in wrong.split("the session was ")[1].split(";")[0]
    # the kernels themselves counted the rejected segments
    md5_after = sum(_md5_failures(ns) for ns in [_underlay(tor), *lab_namespaces(tor.name)])
    assert md5_after > md5_before
    gr = verdicts["router graceful restart n3"]
    assert gr.startswith("PASS"), gr
    held = float(re.search(r"kept \S+ for ([\d.]+) s", gr).group(1))  # type: ignore[union-attr]
    assert RESTART_TIME - 0.5 <= held <= RESTART_TIME + 3
    # n3's BIRD is a new process now (the old one left), recorded in the state file
    status = json.loads(netwright("lab", "status", "--name", tor.name, "-o", "json").stdout)
    pids_after = {p["what"]: p["pid"] for p in status["processes"]}
    assert pids_after["bird n3"] != pids_before["bird n3"]
    assert not alive(pids_before["bird n3"])
    assert all(alive(pid) for pid in pids_after.values())
    del pids_after["bird n3"], pids_before["bird n3"]
    assert pids_after == pids_before  # the router and the other nodes' BIRDs kept running
    tor.status = status
    # and everything is back: the router holds every block again
    learned = {r["dst"] for r in _ip(_underlay(tor), "route", "show", "proto", "bird")}
    assert learned == {b for n in nodes.values() for b in n["blocks"]}


def test_the_password_is_only_in_the_bird_configs(tor: Lab) -> None:
    shown = [tor.up.stdout, tor.up.stderr]
    for args in (("status",), ("status", "-o", "json")):
        proc = netwright("lab", *args, "--name", tor.name)
        shown += [proc.stdout, proc.stderr]
    proc, _ = _lab_test(tor)
    shown += [proc.stdout, proc.stderr]
    assert proc.returncode == 0
    assert not [text for text in shown if PASSWORD in text]
    holding = {}
    for top, _dirs, files in os.walk(tor.state_dir):
        for f in files:
            path = os.path.join(top, f)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as stream:
                if PASSWORD.encode() in stream.read():
                    holding[os.path.relpath(path, tor.state_dir)] = os.stat(path).st_mode & 0o777
    nodes = [f"nodes/{n}/etc/bird/bird.conf" for n in ("n1", "n2", "n3")]
    assert set(holding) == {"outside/bird.conf", "spec/network.yaml", *nodes}, holding
    assert holding["outside/bird.conf"] == 0o600
    assert holding["spec/network.yaml"] == 0o600  # the lab's copy of the spec it was given
    for path in nodes:
        assert holding[path] & 0o007 == 0  # the engine's: 0640 root:bird (docs/api.md)
    assert os.stat(os.path.join(tor.state_dir, "spec")).st_mode & 0o777 == 0o700


def test_down_removes_the_router_too(tor: Lab) -> None:
    status = json.loads(netwright("lab", "status", "--name", tor.name, "-o", "json").stdout)
    pids = [p["pid"] for p in status["processes"]]
    assert len(pids) == 4  # three nodes' BIRDs and the router's
    proc = netwright("lab", "down", "--name", tor.name)
    assert proc.returncode == 0, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    assert not [pid for pid in pids if alive(pid)]
    assert lab_namespaces(tor.name) == []
    assert not os.path.exists(tor.state_dir)
    assert root_snapshot() == tor.root_before


# ---------------------------------------------------------------- route reflectors


def test_reflectors_peer_with_everyone_and_clients_only_with_reflectors(rr: Lab) -> None:
    nodes = _nodes(rr)
    ips = {n["ip"]: name for name, n in nodes.items()}
    reflectors = {"n1", "n3"}
    for name, n in nodes.items():
        peers = {ips[a] for a in _bgp_tcp_peers(n["netns"])}
        want = set(nodes) - {name} if name in reflectors else reflectors
        assert peers == want, (name, peers)
        # every remote block is installed via the node that owns it, reflected or not
        routes = {r["dst"]: r["gateway"] for r in _ip(n["netns"], "route", "show", "proto", "bird")}
        assert routes == {b: m["ip"] for m in nodes.values() if m is not n for b in m["blocks"]}
    # the clients n2 and n4 never talk BGP to each other, yet each has the other's block
    assert "172.31.255.14" not in _bgp_tcp_peers(nodes["n2"]["netns"])
    n2_routes = {r["dst"] for r in _ip(nodes["n2"]["netns"], "route", "show", "proto", "bird")}
    assert set(nodes["n4"]["blocks"]) <= n2_routes


def test_lab_test_passes_with_reflectors(rr: Lab) -> None:
    proc, verdicts = _lab_test(rr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not [k for k, v in verdicts.items() if v.startswith("FAIL")], proc.stdout
    for node in ("n1", "n2", "n3", "n4"):
        assert verdicts[f"bgp topology {node}"].startswith("PASS")
        assert verdicts[f"ping pod {node}-p1 -> other nodes"].startswith("PASS")
        assert verdicts[f"nat outgoing {node}-p1 -> outside"].startswith("PASS")
    assert "reflector: BGP over TCP with n2, n3, n4" in verdicts["bgp topology n1"]
    assert "client: BGP over TCP with n1, n3 " in verdicts["bgp topology n2"]
    assert "router session n1" not in verdicts  # no BGPPeer: no router runs


def test_down_after_reflectors_leaves_nothing(rr: Lab) -> None:
    pids = [p["pid"] for p in rr.status["processes"]]
    assert len(pids) == 4
    assert netwright("lab", "down", "--name", rr.name).returncode == 0
    assert not [pid for pid in pids if alive(pid)]
    assert lab_namespaces(rr.name) == []
    assert root_snapshot() == rr.root_before


# ---------------------------------------------------------------- a node at the first address


def test_the_outside_moves_when_a_node_holds_the_first_address(tmp_path: Path) -> None:
    spec = tmp_path / "spec"
    shutil.copytree(os.path.join(EXAMPLES, "vxlan"), spec)
    (spec / "ipblocks.yaml").unlink()
    (spec / "nodes.yaml").write_text(
        "".join(
            "---\napiVersion: v1\nkind: Node\n"
            f"metadata: {{name: n{i}, labels: {{kubernetes.io/os: linux}}}}\n"
            f"status: {{addresses: [{{type: InternalIP, address: 172.31.255.{i}}}]}}\n"
            for i in (1, 2)
        )
    )
    netwright("allocate", str(spec), "--write", check=True)
    name = lab_name("mv")
    try:
        lab = _up(name, str(spec))
        outside = lab.status["outside"]
        assert outside["ip"] == "172.31.255.254"
        assert "172.31.255.1 is a node's address" in outside["note"]
        assert "outside 172.31.255.254" in lab.up.stderr
        addrs = _ip(_underlay(lab), "addr", "show", "dev", "br0")[0]["addr_info"]
        assert [a["local"] for a in addrs] == ["172.31.255.254"]
        proc, verdicts = _lab_test(lab)
        assert proc.returncode == 0, proc.stdout
        for node, ip in (("n1", "172.31.255.1"), ("n2", "172.31.255.2")):
            nat = verdicts[f"nat outgoing {node}-p1 -> outside"]
            assert nat.startswith("PASS"), nat
            assert f"the outside saw {ip} " in nat, nat
    finally:
        down = netwright("lab", "down", "--name", name)
    assert down.returncode == 0, down.stderr
    assert lab_namespaces(name) == []
