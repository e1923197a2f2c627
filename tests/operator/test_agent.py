"""`netwright agent` on a node in a real network namespace, fed by the real API server.

The controller and the agent run as subprocesses (stopped by pid); the node is a
network namespace holding the node's underlay address on a veth `eth0`, removed
whatever happens. Kernel state is read with `ip -json`, never with netwright's code.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
import test_controller as tc
import yaml
from test_metrics import free_port, scrape

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from _apiserver import Client, ControlPlane

RESYNC = 1.0
NW = tc.NW


@pytest.fixture
def node_netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    name = f"nwtest-agent-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for args in (
            ["link", "set", "lo", "up"],
            # A veth pair inside the namespace (this kernel has no dummy links).
            ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"],
            ["addr", "add", "172.31.255.11/24", "dev", "eth0"],
            ["link", "set", "eth0-peer", "up"],
            ["link", "set", "eth0", "up"],
        ):
            subprocess.run(["ip", "-n", name, *args], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def cluster(api: Client, installed_crds: dict[str, Any]) -> Iterator[Client]:
    del installed_crds
    tc.wipe(api)
    yield api
    tc.wipe(api)


@pytest.fixture
def processes(control_plane: ControlPlane, tmp_path: Path) -> Iterator[list[Any]]:
    started: list[Any] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()


def routes(netns: str) -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        ["ip", "-n", netns, "-json", "route", "show", "proto", "211"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {r["dst"]: r for r in json.loads(out or "[]")}


def test_the_agent_applies_its_config_repairs_drift_and_routes_to_a_later_node(
    cluster: Client,
    control_plane: ControlPlane,
    node_netns: str,
    processes: list[Any],
    tmp_path: Path,
) -> None:
    spec, nodes = tc.example_docs()
    tc.create_spec(cluster, spec)
    for node in nodes:
        tc.add_node(cluster, node["metadata"]["name"], node["status"]["addresses"][0]["address"])
    controller = tc.Controller(control_plane, "c1", tmp_path / "controller.log")
    processes.append(controller.proc)
    tc.wait_for("n1's config", lambda: "n1" in tc.items(cluster, "nodenetworkconfigs"))

    root = tmp_path / "n1"
    root.mkdir()
    metrics_port = free_port()
    log = tmp_path / "agent.log"
    with open(log, "ab") as out:
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "netwright.cli",
                "agent",
                "--node",
                "n1",
                "--netns",
                node_netns,
                "--root",
                str(root),
                "--resync-interval",
                str(RESYNC),
                "--kubeconfig",  # (the controller finds it in KUBECONFIG)
                str(control_plane.kubeconfig),
                "--metrics-port",
                str(metrics_port),
            ],
            env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    processes.append(agent)

    def ready() -> dict[str, Any] | None:
        config = tc.items(cluster, "nodenetworkconfigs")["n1"]
        status = config.get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions") or ()}
        if conditions.get("Ready", {}).get("status") == "True":
            return config
        return None

    try:
        config = tc.wait_for("n1 Ready", ready, timeout=30)
    except AssertionError:
        raise AssertionError(log.read_text()) from None
    status = config["status"]
    assert status["observedGeneration"] == config["metadata"]["generation"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Degraded"]["status"] == "False"
    assert conditions["Progressing"]["status"] == "False"
    assert status["vtepMAC"] == "0e:6e:ac:1f:ff:0b"
    assert status["appliedChanges"] > 0
    have = routes(node_netns)
    assert {"10.244.2.0/24", "10.244.3.0/24"} <= set(have), have
    assert "10.244.1.0/24" not in have  # its own block is on its bridge, not routed away

    # The kernel and files match the plan: `netwright plan` of the same spec (the example
    # directory, whose ipblocks.yaml the controller's allocation equals) has nothing to do.
    assert {n: b["spec"] for n, b in tc.items(cluster, "ipblocks").items()} == {
        b["metadata"]["name"]: b["spec"]
        for b in yaml.safe_load_all((tc.EXAMPLE / "ipblocks.yaml").read_text())
        if b
    }
    plan = subprocess.run(
        [
            sys.executable,
            "-m",
            "netwright.cli",
            "plan",
            str(tc.EXAMPLE),
            "--node",
            "n1",
            "--netns",
            node_netns,
            "--root",
            str(root),
            "--exit-code",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr

    # Resyncs that find nothing to repair write nothing (and they do run).
    runs = scrape(metrics_port)['netwright_agent_applies_total{result="ok"}']
    mark = tc.audit_mark(control_plane)
    time.sleep(2.5 * RESYNC)
    assert scrape(metrics_port)['netwright_agent_applies_total{result="ok"}'] >= runs + 2
    idle = tc.agent_writes(control_plane, mark)
    assert idle == [], idle

    # Drift: a route deleted by hand is back within the resync interval, and reported.
    subprocess.run(["ip", "-n", node_netns, "route", "del", "10.244.2.0/24"], check=True)
    deleted = time.monotonic()
    tc.wait_for("the route restored", lambda: "10.244.2.0/24" in routes(node_netns), RESYNC + 5)
    print(f"route restored after {time.monotonic() - deleted:.2f} s (resync {RESYNC} s)")

    def drift() -> list[str]:
        found = tc.items(cluster, "nodenetworkconfigs")["n1"]["status"].get("drift") or []
        return [d for d in found if "10.244.2.0/24" in d]

    assert tc.wait_for("drift reported", drift, 5)
    events = cluster.get("/api/v1/namespaces/default/events")["items"]
    assert [
        e for e in events if e["reason"] == "DriftRepaired" and e["involvedObject"]["name"] == "n1"
    ]

    # A node that joins later is routed to.
    tc.add_node(cluster, "n4", "172.31.255.14")
    tc.wait_for("a route to n4's block", lambda: "10.244.4.0/24" in routes(node_netns), 10)
