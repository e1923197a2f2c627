"""`netwright doctor` on real labs: silent on a healthy node, and finding each fault injected by hand.

Two labs for the module: bgp (BIRD, its sessions and learned routes, the NAT table)
and vxlan (netwright's own routes through nexthops, the VTEP's fdb, the tunnel in the
MTU chain). Each fault is made with iproute2, sysctl, the real CNI plugins or a
signal, checked to be there with iproute2, found by `doctor`, and undone before the
next test. Every lab, namespace and process made here is removed in a finalizer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest
from _lab import alive, lab_name, missing_requirements, netwright

if TYPE_CHECKING:
    from collections.abc import Iterator

CNI_BIN = "/usr/lib/cni"
#: BIRDs this module started again; stopped by pid before their lab goes down.
_RESTARTED: list[int] = []
CHECKS = [
    "conflist",
    "plugins",
    "ipam",
    "routes",
    "fdb",
    "devices",
    "files",
    "mtu",
    "forwarding",
    "rp_filter",
    "bridge-nf",
]


def _ip(*args: str) -> Any:
    out = subprocess.run(["ip", "-json", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else []


def _sh(*argv: str) -> None:
    subprocess.run(list(argv), capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def labs() -> Iterator[dict[str, dict[str, Any]]]:
    why = missing_requirements()
    if why:
        pytest.skip(why)
    made: dict[str, dict[str, Any]] = {}
    try:
        for backend in ("bgp", "vxlan"):
            name = lab_name(f"dr{backend[0]}")
            made[backend] = {"name": name}
            up = netwright("lab", "up", "--backend", backend, "--name", name)
            assert up.returncode == 0, up.stdout + up.stderr
            status = netwright("lab", "status", "--name", name, "-o", "json", check=True)
            made[backend] = json.loads(status.stdout)
        yield made
    finally:
        for pid in _RESTARTED:
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in _RESTARTED) and time.monotonic() < deadline:
            time.sleep(0.02)
        for lab in made.values():
            netwright("lab", "down", "--name", lab["name"])


def doctor(lab: dict[str, Any], *extra: str, node: str = "n1") -> tuple[int, dict[str, Any]]:
    proc = netwright("doctor", "--lab", lab["name"], "--node", node, "-o", "json", *extra)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["checks"]}


def node(lab: dict[str, Any], name: str = "n1") -> dict[str, Any]:
    return next(n for n in lab["nodes"] if n["name"] == name)


@pytest.mark.parametrize("backend", ["bgp", "vxlan"])
def test_a_healthy_node_has_no_fail(labs: dict[str, dict[str, Any]], backend: str) -> None:
    lab = labs[backend]
    code, doc = doctor(lab)
    assert code == 0, doc
    assert doc["ok"] is True
    assert set(doc) == {"node", "target", "ok", "summary", "checks"}
    n1 = node(lab)
    assert doc["target"] == {"netns": n1["netns"], "root": n1["root"], "spec": lab["spec"]}
    assert doc["summary"]["FAIL"] == 0
    extra = ["bird", "nat"] if backend == "bgp" else ["nat"]
    assert [c["name"] for c in doc["checks"]] == CHECKS + extra
    for c in doc["checks"]:
        assert set(c) == {"name", "status", "measured", "todo", "details"}
        assert c["status"] in ("PASS", "WARN"), c
    checks = by_name(doc)
    # What doctor measured is what iproute2 and the files say.
    bridge = _ip("-n", n1["netns"], "link", "show", "cni0")[0]
    assert f"bridge cni0 {bridge['mtu']}" in checks["mtu"]["measured"]
    pods = [p for p in lab["pods"] if p["node"] == "n1"]
    assert f"{len(pods)} of 253 used" in checks["ipam"]["measured"]
    if backend == "bgp":
        assert "2 of 2 BGP sessions Established" in checks["bird"]["measured"]
        assert "2 of 2 remote blocks" in checks["bird"]["measured"]


def test_text_output_and_help(labs: dict[str, dict[str, Any]]) -> None:
    proc = netwright("doctor", "--lab", labs["bgp"]["name"], "--node", "n2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].startswith("PASS conflist")
    assert "0 FAIL" in proc.stdout.splitlines()[-1]
    helped = netwright("doctor", "--help", check=True).stdout
    for name in [*CHECKS, "bird", "nat", "--cni-bin-dir", "list-id"]:
        assert name in helped


def test_a_deleted_route_is_missing(labs: dict[str, dict[str, Any]]) -> None:
    lab, ns = labs["vxlan"], node(labs["vxlan"])["netns"]
    route = next(r for r in _ip("-n", ns, "route", "show", "proto", "211"))
    _sh("ip", "-n", ns, "route", "del", route["dst"], "proto", "211")
    try:
        assert route["dst"] not in [
            r["dst"] for r in _ip("-n", ns, "route", "show", "proto", "211")
        ]
        code, doc = doctor(lab)
        assert code == 1
        routes = by_name(doc)["routes"]
        assert routes["status"] == "FAIL"
        assert routes["measured"] == "against the plan: 1 missing"
        assert any(route["dst"] in d and d.startswith("+ route") for d in routes["details"])
        assert "netwright apply" in routes["todo"]
    finally:
        _sh(
            "ip",
            "-n",
            ns,
            "route",
            "replace",
            route["dst"],
            "nhid",
            str(route["nhid"]),
            "proto",
            "211",
        )
    assert doctor(lab)[0] == 0


def test_a_foreign_route_in_the_way_and_an_extra_one(labs: dict[str, dict[str, Any]]) -> None:
    lab, ns = labs["vxlan"], node(labs["vxlan"])["netns"]
    route = next(r for r in _ip("-n", ns, "route", "show", "proto", "211"))
    extra = "10.244.250.0/24"
    _sh("ip", "-n", ns, "route", "del", route["dst"], "proto", "211")
    try:
        _sh("ip", "-n", ns, "route", "add", route["dst"], "dev", "eth0", "proto", "static")
        _sh("ip", "-n", ns, "route", "add", extra, "dev", "nwvx.1", "proto", "211")
        code, doc = doctor(lab)
        assert code == 1
        routes = by_name(doc)["routes"]
        assert routes["status"] == "FAIL"
        assert "1 foreign in the way" in routes["measured"]
        assert f"- route {extra} dev nwvx.1 proto 211" in routes["details"]
        foreign = [d for d in routes["details"] if d.startswith("! ")]
        assert len(foreign) == 1
        assert f"existing route {route['dst']} dev eth0" in foreign[0]
        assert routes["todo"].startswith("remove or move the foreign objects")
    finally:
        subprocess.run(["ip", "-n", ns, "route", "del", extra, "proto", "211"], check=False)
        subprocess.run(
            ["ip", "-n", ns, "route", "del", route["dst"], "proto", "static"], check=False
        )
        _sh(
            "ip",
            "-n",
            ns,
            "route",
            "replace",
            route["dst"],
            "nhid",
            str(route["nhid"]),
            "proto",
            "211",
        )
    assert doctor(lab)[0] == 0


def test_a_deleted_fdb_entry_is_missing(labs: dict[str, dict[str, Any]]) -> None:
    lab, ns = labs["vxlan"], node(labs["vxlan"])["netns"]
    out = subprocess.run(
        ["bridge", "-n", ns, "-json", "fdb", "show", "dev", "nwvx.1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    entry = next(e for e in json.loads(out) if e.get("dst"))
    spec = [entry["mac"], "dev", "nwvx.1", "dst", entry["dst"], "self"]
    _sh("bridge", "-n", ns, "fdb", "del", *spec)
    try:
        code, doc = doctor(lab)
        assert code == 1
        fdb = by_name(doc)["fdb"]
        assert fdb["status"] == "FAIL"
        assert any(entry["mac"] in d for d in fdb["details"])
    finally:
        _sh("bridge", "-n", ns, "fdb", "append", *spec, "permanent")
    assert doctor(lab)[0] == 0


def test_a_missing_plugin_binary(labs: dict[str, dict[str, Any]], tmp_path: Any) -> None:
    for plugin in os.listdir(CNI_BIN):
        if plugin != "portmap":
            os.symlink(os.path.join(CNI_BIN, plugin), tmp_path / plugin)
    code, doc = doctor(labs["bgp"], "--cni-bin-dir", str(tmp_path))
    assert code == 1
    plugins = by_name(doc)["plugins"]
    assert plugins["status"] == "FAIL"
    assert plugins["measured"] == f"portmap: not installed in {tmp_path}"
    assert any(d.startswith(f"bridge ({tmp_path}/bridge): supports") for d in plugins["details"])


def test_an_mtu_mismatch_on_a_pod_veth(labs: dict[str, dict[str, Any]]) -> None:
    lab, ns = labs["vxlan"], node(labs["vxlan"])["netns"]
    veth = _ip("-n", ns, "link", "show", "master", "cni0")[0]
    _sh("ip", "-n", ns, "link", "set", veth["ifname"], "mtu", str(veth["mtu"] - 50))
    try:
        assert _ip("-n", ns, "link", "show", veth["ifname"])[0]["mtu"] == veth["mtu"] - 50
        code, doc = doctor(lab)
        assert code == 1
        mtu = by_name(doc)["mtu"]
        assert mtu["status"] == "FAIL"
        lowered = (
            f"veth {veth['ifname']} has MTU {veth['mtu'] - 50}, bridge cni0 is for {veth['mtu']}"
        )
        assert lowered in mtu["details"]
    finally:
        _sh("ip", "-n", ns, "link", "set", veth["ifname"], "mtu", str(veth["mtu"]))
    assert _ip("-n", ns, "link", "show", "cni0")[0]["mtu"] == veth["mtu"]
    assert doctor(lab)[0] == 0


def test_ip_forward_off_with_spec_dir_netns_and_root(labs: dict[str, dict[str, Any]]) -> None:
    lab = labs["bgp"]
    n1 = node(lab)
    sysctl = ["ip", "netns", "exec", n1["netns"], "sysctl", "-qw"]
    _sh(*sysctl, "net.ipv4.ip_forward=0")
    try:
        proc = netwright(
            "doctor",
            lab["spec"],
            "--node",
            "n1",
            "--netns",
            n1["netns"],
            "--root",
            n1["root"],
            "-o",
            "json",
        )
        assert proc.returncode == 1, proc.stdout + proc.stderr
        forwarding = by_name(json.loads(proc.stdout))["forwarding"]
        assert forwarding["status"] == "FAIL"
        assert forwarding["measured"] == "net.ipv4.ip_forward=0"
        assert "sysctl -w net.ipv4.ip_forward=1" in forwarding["todo"]
    finally:
        _sh(*sysctl, "net.ipv4.ip_forward=1")
    assert doctor(lab)[0] == 0


def test_a_leaked_host_local_address(labs: dict[str, dict[str, Any]], tmp_path: Any) -> None:
    """A pod attached by the real plugins whose namespace went away without a CNI DEL."""
    from netwright.lab.cni import Attachment, Runtime

    lab = labs["bgp"]
    n1 = node(lab)
    pod_ns, cid = f"{lab['name']}-n1-lk", f"{lab['name']}-leak"
    runtime = Runtime(
        node_netns=n1["netns"],
        conf_dir=os.path.join(n1["root"], "etc", "cni", "net.d"),
        cache_dir=str(tmp_path),
    )
    data = os.path.join(n1["root"], "var", "lib", "cni", "networks", "podnet")
    ports = len(_ip("-n", n1["netns"], "link", "show", "master", "cni0"))
    _sh("ip", "netns", "add", pod_ns)
    leaked = ""
    try:
        result = runtime.add(Attachment(container_id=cid, pod="leak", pod_netns=pod_ns))
        leaked = result["ips"][0]["address"].split("/")[0]
    finally:
        _sh("ip", "netns", "del", pod_ns)  # the runtime "crashed": no DEL
    try:
        assert os.path.exists(os.path.join(data, leaked))
        deadline = time.monotonic() + 5  # the veth goes with its namespace, asynchronously
        while len(_ip("-n", n1["netns"], "link", "show", "master", "cni0")) > ports:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        code, doc = doctor(lab)
        ipam = by_name(doc)["ipam"]
        assert ipam["status"] == "WARN"
        assert code == 0  # a leak wastes an address; it breaks nothing yet
        assert "1 leaked address" in ipam["measured"]
        assert ipam["details"] == [
            f"{leaked} reserved for container {cid} (eth0): no pod namespace on this node holds it"
        ]
    finally:
        if leaked:
            os.unlink(os.path.join(data, leaked))
    assert by_name(doctor(lab)[1])["ipam"]["status"] == "PASS"


def test_bird_stopped(labs: dict[str, dict[str, Any]]) -> None:
    lab = labs["bgp"]
    n1 = node(lab)
    run_dir = os.path.join(n1["root"], "run", "bird")
    pidfile, socket = os.path.join(run_dir, "bird.pid"), os.path.join(run_dir, "bird.ctl")
    with open(pidfile, encoding="ascii") as f:
        pid = int(f.read())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    restarted = None
    try:
        code, doc = doctor(lab)
        assert code == 1
        bird = by_name(doc)["bird"]
        assert bird["status"] == "FAIL"
        assert bird["measured"].startswith(f"no BIRD answers on {socket}")
        # Its peers see the session drop and lose n1's block.
        code, doc = doctor(lab, node="n2")
        assert code == 1
        assert "node_n1_v4: " in " ".join(by_name(doc)["bird"]["details"])
    finally:
        config = os.path.join(n1["root"], "etc", "bird", "bird.conf")
        _sh("ip", "netns", "exec", n1["netns"], "bird", "-c", config, "-s", socket, "-P", pidfile)
        with open(pidfile, encoding="ascii") as f:
            restarted = int(f.read())
        _RESTARTED.append(restarted)
    deadline = time.monotonic() + 20
    while any(
        len(_ip("-n", n["netns"], "route", "show", "proto", "bird")) < 2 for n in lab["nodes"]
    ):
        assert time.monotonic() < deadline, "bgp did not converge again after BIRD's restart"
        time.sleep(0.1)
    assert doctor(lab)[0] == 0


def test_a_forward_policy_drop(labs: dict[str, dict[str, Any]]) -> None:
    lab = labs["vxlan"]
    ns = node(lab, "n2")["netns"]
    nft = ["ip", "netns", "exec", ns, "nft"]
    table = "doctortest"
    _sh(*nft, "add", "table", "ip", table)
    try:
        chain = "{ type filter hook forward priority 0; policy drop; }"
        _sh(*nft, "add", "chain", "ip", table, "FORWARD", chain)
        code, doc = doctor(lab, node="n2")
        assert code == 0
        forwarding = by_name(doc)["forwarding"]
        assert forwarding["status"] == "WARN"
        assert f"policy drop in table ip {table} chain FORWARD" in forwarding["measured"]
    finally:
        _sh(*nft, "delete", "table", "ip", table)
    assert by_name(doctor(lab, node="n2")[1])["forwarding"]["status"] == "PASS"


def _timeless(value: Any) -> Any:
    """iproute2's JSON without the bridge timers, which count down on their own."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if "timer" not in k}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def _snapshot(n: dict[str, Any]) -> dict[str, Any]:
    ns = n["netns"]
    files = {}
    for top, _dirs, names in os.walk(n["root"]):
        for name in names:
            path = os.path.join(top, name)
            st = os.lstat(path)
            files[path] = (st.st_mode, st.st_size, st.st_mtime_ns)
    nft = subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "list", "ruleset"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sysctls = subprocess.run(
        ["ip", "netns", "exec", ns, "sysctl", "net.ipv4", "net.bridge"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {
        "link": _timeless(_ip("-n", ns, "-d", "link", "show")),
        "addr": _ip("-n", ns, "addr", "show"),
        "route": _ip("-n", ns, "route", "show", "table", "all"),
        "nexthop": _ip("-n", ns, "nexthop", "show"),
        "nft": nft,
        "sysctl": [line for line in sysctls.splitlines() if "base_reachable" not in line],
        "files": files,
    }


@pytest.mark.parametrize("backend", ["bgp", "vxlan"])
def test_doctor_changes_nothing(labs: dict[str, dict[str, Any]], backend: str) -> None:
    lab = labs[backend]
    n1 = node(lab)
    before = _snapshot(n1)
    assert doctor(lab)[0] == 0
    after = _snapshot(n1)
    for what in before:
        assert after[what] == before[what], what
