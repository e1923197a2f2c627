"""Two `netwright agent`s on bgp nodes: each renders its BIRD mesh from the peers it sees.

The controller's NodeNetworkConfig holds only a node's own BGP settings; the agent
renders the sessions (one per peer Node) and BIRD installs the other node's block.
Two network namespaces joined by a veth pair are the nodes, each with a real BIRD 2
started on a bootstrap configuration (as the bird2 package runs it on a host) and
stopped by pid; the third node of the example has no namespace, so its session stays
down, and the status must say so. Kernel state is read with `ip -json`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import test_controller as tc
import yaml
from test_metrics import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

    from _apiserver import Client, ControlPlane

BGP = Path(__file__).parents[2] / "examples" / "bgp"
RESYNC = 1.0
ADDRESSES = {"n1": "172.31.255.11", "n2": "172.31.255.12"}


@pytest.fixture
def two_nodes() -> Iterator[dict[str, str]]:
    """n1 and n2 as namespaces whose `eth0`s are the two ends of one veth pair."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    tag = secrets.token_hex(3)
    names = {node: f"nwtest-bgp-{node}-{tag}" for node in ADDRESSES}
    made: list[str] = []
    try:
        for name in names.values():
            subprocess.run(["ip", "netns", "add", name], check=True)
            made.append(name)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(
            [
                "ip",
                "-n",
                names["n1"],
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                names["n2"],
            ],
            check=True,
        )
        for node, name in names.items():
            subprocess.run(
                ["ip", "-n", name, "addr", "add", f"{ADDRESSES[node]}/24", "dev", "eth0"],
                check=True,
            )
            subprocess.run(["ip", "-n", name, "link", "set", "eth0", "up"], check=True)
        yield names
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def stopped_by_pid() -> Iterator[list[Any]]:
    """Pids (BIRD daemonises) and Popen objects (reaped), stopped whatever happens."""
    started: list[Any] = []
    try:
        yield started
    finally:
        pids = [p if isinstance(p, int) else p.pid for p in started]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in pids:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.02)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for proc in started:
            if not isinstance(proc, int):
                proc.wait(10)


def start_bird(netns: str, root: Path, router_id: str) -> int:
    """BIRD on the socket the rendered config names, with a bootstrap config; its pid."""
    (root / "run" / "bird").mkdir(parents=True, exist_ok=True)
    (root / "var" / "log" / "bird").mkdir(parents=True, exist_ok=True)  # a rooted config logs there
    bootstrap = root / "bootstrap.conf"
    bootstrap.write_text(f"router id {router_id};\nprotocol device {{ scan time 10; }}\n")
    pidfile = root / "run" / "bird" / "bird.pid"
    socket = root / "run" / "bird" / "bird.ctl"
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            netns,
            "bird",
            "-c",
            str(bootstrap),
            "-s",
            str(socket),
            "-P",
            str(pidfile),
        ],
        check=True,
    )

    def pid() -> int | None:
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        return int(text) if text.isdigit() and socket.exists() else None

    found: int = tc.wait_for("BIRD's pid file and socket", pid, 10)
    return found


def start_agent(
    plane: ControlPlane, node: str, netns: str, root: Path, *, log: Path, health_port: int
) -> Any:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "netwright.cli",
                "agent",
                "--node",
                node,
                "--netns",
                netns,
                "--root",
                str(root),
                "--resync-interval",
                str(RESYNC),
                "--kubeconfig",
                str(plane.kubeconfig),
                "--health-port",
                str(health_port),
            ],
            env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def bird_routes(netns: str) -> set[str]:
    out = subprocess.run(
        ["ip", "-n", netns, "-json", "route", "show", "proto", "bird"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {r["dst"] for r in json.loads(out or "[]")}


@pytest.fixture
def cluster(api: Client, installed_crds: dict[str, Any]) -> Iterator[Client]:
    del installed_crds
    tc.wipe(api)
    yield api
    tc.wipe(api)


def test_bgp_agents_render_their_mesh_from_the_peers_and_report_the_sessions(
    cluster: Client,
    control_plane: ControlPlane,
    two_nodes: dict[str, str],
    stopped_by_pid: list[Any],
    tmp_path: Path,
) -> None:
    tc.create_spec(cluster, list(yaml.safe_load_all((BGP / "network.yaml").read_text())))
    for doc in yaml.safe_load_all((BGP / "nodes.yaml").read_text()):
        tc.add_node(cluster, doc["metadata"]["name"], doc["status"]["addresses"][0]["address"])
    controller = tc.Controller(control_plane, "c1", tmp_path / "controller.log")
    stopped_by_pid.append(controller.proc)
    tc.wait_for("the configs", lambda: {"n1", "n2"} <= set(tc.items(cluster, "nodenetworkconfigs")))
    n1_config = tc.items(cluster, "nodenetworkconfigs")["n1"]
    assert "config" not in n1_config["spec"]["bird"]  # the mesh is the agent's to render

    # The agents start before BIRD does (a node's bird2 service may come up late): they
    # say BIRD is unavailable, and the reload waits.
    logs, health = {}, {}
    for node, netns in two_nodes.items():
        root = tmp_path / node
        root.mkdir()
        logs[node] = tmp_path / f"agent-{node}.log"
        health[node] = free_port()
        stopped_by_pid.append(
            start_agent(control_plane, node, netns, root, log=logs[node], health_port=health[node])
        )

    def bgp(node: str) -> dict[str, Any]:
        status = tc.items(cluster, "nodenetworkconfigs")[node].get("status") or {}
        return status.get("bgp") or {}

    tc.wait_for("n1 saying BIRD is unavailable", lambda: bgp("n1").get("unavailable"), 20)
    for node, netns in two_nodes.items():
        stopped_by_pid.append(start_bird(netns, tmp_path / node, ADDRESSES[node]))

    def up_with_the_other_down_with_n3(node: str) -> dict[str, Any] | None:
        found = bgp(node)
        down = [s["name"] for s in found.get("notEstablished") or ()]
        return found if found.get("established") == 1 and down == ["node_n3_v4"] else None

    try:
        found = tc.wait_for(
            "n1's session with n2 Established", lambda: up_with_the_other_down_with_n3("n1"), 40
        )
        tc.wait_for("n2's with n1", lambda: up_with_the_other_down_with_n3("n2"), 20)
        tc.wait_for(
            "n2's block in n1's kernel", lambda: "10.244.2.0/24" in bird_routes(two_nodes["n1"]), 20
        )
    except AssertionError:
        raise AssertionError("\n".join(p.read_text() for p in logs.values())) from None
    assert found["sessions"] == 2
    assert "unavailable" not in found  # the whole status is replaced, not merged
    ready = {
        c["type"]: c for c in tc.items(cluster, "nodenetworkconfigs")["n1"]["status"]["conditions"]
    }["Ready"]
    assert ready["status"] == "True"
    # Idle resyncs (n3's session passing between Active and Connect) write nothing.
    mark = tc.audit_mark(control_plane)
    time.sleep(3 * RESYNC)
    idle = tc.agent_writes(control_plane, mark)
    assert idle == [], idle
    for port in health.values():  # the agents' liveness probes answer
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200
    assert "10.244.1.0/24" in bird_routes(two_nodes["n2"])

    # A node that joins gets a session in n1's BIRD, without a write to n1's object.
    tc.add_node(cluster, "n4", "172.31.255.14")
    tc.wait_for("n1 peering with n4", lambda: bgp("n1").get("sessions") == 3, 20)
    after = tc.items(cluster, "nodenetworkconfigs")["n1"]
    assert after["metadata"]["generation"] == n1_config["metadata"]["generation"]
    conf = (tmp_path / "n1" / "etc" / "bird" / "bird.conf").read_text()
    assert "neighbor 172.31.255.14 as 64512;" in conf
