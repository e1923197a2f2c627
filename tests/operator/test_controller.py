"""`netwright controller` against the real API server, through kopf's real client code.

The controller runs as a subprocess (`netwright controller --no-leader-election`), stopped
by its pid; the API server's audit log counts its writes (by user agent: kopf's own, and
the controller's `netwright-controller/...`), so "a join writes only its own objects" and
"a restart writes nothing" are measured, not assumed.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import ipaddress
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from _apiserver import ApiError, Client, ControlPlane

from netwright.controller.deciding import covers
from netwright.documents import ipblock_document, node_network_config
from netwright.model.config import NodeFacts
from netwright.pipeline import Pipeline

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "examples" / "vxlan"
NW = "/apis/netwright.io/v1alpha1"
PLURALS = {"Backend": "backends", "IPPool": "ippools", "Network": "networks", "BGPPeer": "bgppeers"}
WRITES = {"create", "update", "patch", "delete", "deletecollection"}


# -- helpers -------------------------------------------------------------------------


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def items(api: Client, plural: str) -> dict[str, dict[str, Any]]:
    path = "/api/v1/nodes" if plural == "nodes" else f"{NW}/{plural}"
    return {o["metadata"]["name"]: o for o in api.get(path)["items"]}


def wipe(api: Client) -> None:
    """No netwright object and no Node: each controller test starts from an empty cluster."""
    for plural in ("ippools", "networks", "backends", "bgppeers", "ipblocks", "nodenetworkconfigs"):
        for name in items(api, plural):
            with contextlib.suppress(ApiError):
                api.delete(f"{NW}/{plural}/{name}")
    for name in items(api, "nodes"):
        with contextlib.suppress(ApiError):
            api.delete(f"/api/v1/nodes/{name}")
    for plural in ("ipblocks", "nodenetworkconfigs", "nodes"):
        wait_for(f"no {plural}", lambda plural=plural: not items(api, plural))


def create_spec(api: Client, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        api.post(f"{NW}/{PLURALS[doc['kind']]}", doc)


def add_node(api: Client, name: str, ip: str, labels: dict[str, str] | None = None) -> None:
    """A core Node, then its addresses through /status (as a kubelet reports them)."""
    node = api.post(
        "/api/v1/nodes",
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}},
    )
    node["status"] = {"addresses": [{"type": "InternalIP", "address": ip}]}
    api.put(f"/api/v1/nodes/{name}/status", node)


def example_docs() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(spec documents, Node documents) of examples/vxlan."""
    spec = list(yaml.safe_load_all((EXAMPLE / "network.yaml").read_text()))
    nodes = list(yaml.safe_load_all((EXAMPLE / "nodes.yaml").read_text()))
    return spec, nodes


def controller_writes(plane: ControlPlane, since: int) -> list[tuple[str, str, str, str]]:
    """(verb, resource[/subresource], name, user agent) of every write the controller
    processes made after audit line `since`."""
    out = []
    for event in plane.audit_events()[since:]:
        agent = event.get("userAgent", "")
        if event.get("stage") != "ResponseComplete" or event.get("verb") not in WRITES:
            continue
        if not (agent.startswith(("netwright-controller", "kopf"))):
            continue
        ref = event.get("objectRef", {})
        resource = ref.get("resource", "") + (
            f"/{ref['subresource']}" if ref.get("subresource") else ""
        )
        out.append((event["verb"], resource, ref.get("name", ""), agent))
    return out


def agent_writes(plane: ControlPlane, since: int) -> list[dict[str, Any]]:
    """The audit events of every write the node agents made after audit line `since`."""
    return [
        e
        for e in plane.audit_events()[since:]
        if e.get("userAgent", "").startswith("netwright-agent")
        and e.get("verb") in WRITES
        and e.get("stage") == "ResponseComplete"
    ]


def audit_mark(plane: ControlPlane) -> int:
    return len(plane.audit_events())


def quiet(plane: ControlPlane, since: int, settle: float = 1.0, timeout: float = 20) -> list[Any]:
    """The controller's writes since `since`, once none has come for `settle` seconds."""
    deadline = time.monotonic() + timeout
    seen, still = -1, time.monotonic()
    while time.monotonic() < deadline:
        writes = controller_writes(plane, since)
        if len(writes) != seen:
            seen, still = len(writes), time.monotonic()
        elif time.monotonic() - still >= settle:
            return writes
        time.sleep(0.1)
    raise AssertionError("the controller never stopped writing")


class Controller:
    """`netwright controller --no-leader-election` as a subprocess, stopped by its pid."""

    def __init__(
        self,
        plane: ControlPlane,
        identity: str,
        log: Path,
        args: tuple[str, ...] = ("--no-leader-election",),
    ) -> None:
        self.log = log
        env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "netwright.cli",
                    "controller",
                    *args,
                    "--identity",
                    identity,
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def ready(self, timeout: float = 30) -> None:
        """Until it has listed everything (its first decision comes next)."""
        wait_for(f"controller ready ({self.log})", lambda: "listed" in self.text(), timeout)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def cluster(api: Client, installed_crds: dict[str, Any]) -> Iterator[Client]:
    """An empty cluster, emptied again afterwards (other tests create the same names)."""
    del installed_crds
    wipe(api)
    yield api
    wipe(api)


@pytest.fixture
def start_controller(
    control_plane: ControlPlane, tmp_path: Path
) -> Iterator[Callable[[str], Controller]]:
    started: list[Controller] = []

    def start(identity: str = "c1") -> Controller:
        controller = Controller(control_plane, identity, tmp_path / f"{identity}.log")
        started.append(controller)
        return controller

    try:
        yield start
    finally:
        for controller in started:
            controller.stop()


def expected_pipeline(nodes: list[dict[str, Any]]) -> Pipeline:
    spec, _ = example_docs()
    return Pipeline.from_documents([*spec, *nodes], origin="expected")


# -- the tests -----------------------------------------------------------------------


def test_example_resources_become_blocks_and_node_configs(
    cluster: Client, control_plane: ControlPlane, start_controller: Callable[[str], Controller]
) -> None:
    spec, nodes = example_docs()
    create_spec(cluster, spec)
    for node in nodes:
        ip = node["status"]["addresses"][0]["address"]
        add_node(cluster, node["metadata"]["name"], ip, node["metadata"]["labels"])
    controller = start_controller("c1")
    controller.ready()
    wait_for("3 NodeNetworkConfigs", lambda: len(items(cluster, "nodenetworkconfigs")) == 3)
    quiet(control_plane, 0)

    expected = expected_pipeline(nodes)  # what `netwright allocate` / `render` give
    blocks = items(cluster, "ipblocks")
    assert {n: b["spec"] for n, b in blocks.items()} == {
        b.name: ipblock_document(b)["spec"] for b in expected.allocation.blocks
    }
    for name, config in items(cluster, "nodenetworkconfigs").items():
        want = node_network_config(name, expected.render(name, NodeFacts()))
        assert covers(config["spec"], want["spec"]), name
    for plural in ("backends", "ippools", "networks"):
        for name, obj in items(cluster, plural).items():
            status = obj["status"]
            assert status["observedGeneration"] == obj["metadata"]["generation"], name
            (ready,) = status["conditions"]
            assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "True", "Valid")
            assert ready["lastTransitionTime"]


def test_a_join_writes_only_its_own_objects_and_a_leave_frees_them(
    cluster: Client, control_plane: ControlPlane, start_controller: Callable[[str], Controller]
) -> None:
    spec, nodes = example_docs()
    create_spec(cluster, spec)
    for node in nodes:
        add_node(cluster, node["metadata"]["name"], node["status"]["addresses"][0]["address"])
    start_controller("c1").ready()
    wait_for("3 NodeNetworkConfigs", lambda: len(items(cluster, "nodenetworkconfigs")) == 3)
    quiet(control_plane, 0)

    mark = audit_mark(control_plane)
    add_node(cluster, "n4", "172.31.255.14")
    wait_for("n4's config", lambda: "n4" in items(cluster, "nodenetworkconfigs"))
    writes = quiet(control_plane, mark)
    print(f"writes for one join: {[(v, r, n) for v, r, n, _ in writes]}")
    assert sorted((v, r, n) for v, r, n, _ in writes if r != "events") == [
        ("create", "ipblocks", "pods-v4.10-244-4-0-24"),
        ("create", "nodenetworkconfigs", "n4"),
    ]
    assert len([w for w in writes if w[1] == "events"]) <= 1
    assert not [w for w in writes if w[1].startswith("nodes")], "a Node was written"
    block = items(cluster, "ipblocks")["pods-v4.10-244-4-0-24"]
    assert block["spec"] == {"pool": "pods-v4", "cidr": "10.244.4.0/24", "node": "n4"}

    mark = audit_mark(control_plane)
    cluster.delete("/api/v1/nodes/n4")
    wait_for("n4's block freed", lambda: "pods-v4.10-244-4-0-24" not in items(cluster, "ipblocks"))
    wait_for("n4's config deleted", lambda: "n4" not in items(cluster, "nodenetworkconfigs"))
    writes = quiet(control_plane, mark)
    print(f"writes for one leave: {[(v, r, n) for v, r, n, _ in writes]}")
    assert sorted((v, r, n) for v, r, n, _ in writes if r != "events") == [
        ("delete", "ipblocks", "pods-v4.10-244-4-0-24"),
        ("delete", "nodenetworkconfigs", "n4"),
    ]
    assert len(items(cluster, "ipblocks")) == 3


def test_a_restart_writes_nothing(
    cluster: Client, control_plane: ControlPlane, start_controller: Callable[[str], Controller]
) -> None:
    spec, nodes = example_docs()
    create_spec(cluster, spec)
    for node in nodes:
        add_node(cluster, node["metadata"]["name"], node["status"]["addresses"][0]["address"])
    first = start_controller("c1")
    first.ready()
    wait_for("3 NodeNetworkConfigs", lambda: len(items(cluster, "nodenetworkconfigs")) == 3)
    quiet(control_plane, 0)
    first.stop()

    mark = audit_mark(control_plane)
    start_controller("c2").ready()
    assert quiet(control_plane, mark, settle=1.5) == [], "a restart wrote"

    # The restarted replica acts as the first did: a node leaves, its objects are freed.
    cluster.delete("/api/v1/nodes/n3")
    wait_for("n3's block freed", lambda: "pods-v4.10-244-3-0-24" not in items(cluster, "ipblocks"))
    wait_for("n3's config deleted", lambda: "n3" not in items(cluster, "nodenetworkconfigs"))


def test_a_start_up_sweep_frees_blocks_whose_node_is_gone(
    cluster: Client, control_plane: ControlPlane, start_controller: Callable[[str], Controller]
) -> None:
    spec, nodes = example_docs()
    create_spec(cluster, spec)
    for node in nodes[:2]:
        add_node(cluster, node["metadata"]["name"], node["status"]["addresses"][0]["address"])
    # n3's block, from a time when n3 existed: no Node now, and no controller ran since.
    cluster.post(
        f"{NW}/ipblocks",
        {
            "apiVersion": "netwright.io/v1alpha1",
            "kind": "IPBlock",
            "metadata": {"name": "pods-v4.10-244-3-0-24"},
            "spec": {"pool": "pods-v4", "cidr": "10.244.3.0/24", "node": "n3"},
        },
    )
    start_controller("c1").ready()
    wait_for("n3's block freed", lambda: "pods-v4.10-244-3-0-24" not in items(cluster, "ipblocks"))
    wait_for("2 configs", lambda: len(items(cluster, "nodenetworkconfigs")) == 2)
    assert sorted(items(cluster, "ipblocks")) == ["pods-v4.10-244-1-0-24", "pods-v4.10-244-2-0-24"]


def test_an_invalid_pool_gets_a_clear_condition_and_nothing_is_allocated(
    cluster: Client, control_plane: ControlPlane, start_controller: Callable[[str], Controller]
) -> None:
    spec, nodes = example_docs()
    for doc in spec:
        if doc["kind"] == "IPPool":
            doc["spec"]["backend"] = "overleaf"  # the API server accepts it; validate does not
    create_spec(cluster, spec)
    for node in nodes:
        add_node(cluster, node["metadata"]["name"], node["status"]["addresses"][0]["address"])
    start_controller("c1").ready()

    def pool_ready() -> dict[str, Any] | None:
        pool = items(cluster, "ippools")["pods-v4"]
        conditions = pool.get("status", {}).get("conditions") or []
        return conditions[0] if conditions else None

    ready = wait_for("the pool's Ready condition", pool_ready)
    assert ready["status"] == "False"
    assert ready["reason"] == "Invalid"
    assert ready["message"].startswith("IPPool/pods-v4: spec.backend: ")
    assert "overleaf" in ready["message"]
    quiet(control_plane, 0)
    assert items(cluster, "ipblocks") == {}
    assert items(cluster, "nodenetworkconfigs") == {}
    network = items(cluster, "networks")["podnet"]["status"]["conditions"][0]
    assert (network["status"], network["reason"]) == ("False", "Blocked")

    # Fixed: Ready, and the blocks come.
    pool = items(cluster, "ippools")["pods-v4"]
    pool["spec"]["backend"] = "overlay"
    cluster.put(f"{NW}/ippools/pods-v4", pool)
    wait_for("3 blocks", lambda: len(items(cluster, "ipblocks")) == 3)
    wait_for("Ready", lambda: (pool_ready() or {}).get("status") == "True")


def test_two_controllers_racing_over_joining_nodes_never_share_or_double_a_block(
    cluster: Client, control_plane: ControlPlane, start_controller: Callable[[str], Controller]
) -> None:
    spec, _ = example_docs()
    create_spec(cluster, spec)
    replicas = [start_controller(name) for name in ("a", "b", "c")]
    for replica in replicas:
        replica.ready()
    mark = audit_mark(control_plane)
    count = 40
    # Nodes join from four clients at once, so that the replicas see them in different orders.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: add_node(cluster, f"r{i:02d}", f"172.31.0.{i + 10}"), range(count)))
    wait_for(f"{count} configs", lambda: len(items(cluster, "nodenetworkconfigs")) == count, 40)
    writes = quiet(control_plane, mark, settle=1.5, timeout=40)

    blocks = [o["spec"] for o in items(cluster, "ipblocks").values()]
    owners = sorted(b["node"] for b in blocks)
    assert owners == sorted(f"r{i:02d}" for i in range(count)), "a node without or with 2 blocks"
    nets = sorted(ipaddress.ip_network(b["cidr"]) for b in blocks)
    assert all(not x.overlaps(y) for x, y in itertools.pairwise(nets))
    # Never two blocks for one node, not even for a moment: no block was ever freed again.
    assert not [w for w in writes if w[0] == "delete"], writes
    for name, config in items(cluster, "nodenetworkconfigs").items():
        (claim,) = config["spec"]["blocks"]
        assert {"pool": "pods-v4", "cidr": claim["cidr"], "node": name} in blocks
    # The race happened: more than one replica wrote blocks or claims, and some lost.
    outcomes: dict[str, collections.Counter[int]] = {}
    for event in control_plane.audit_events()[mark:]:
        agent = event.get("userAgent", "")
        if (
            agent.startswith("netwright-controller")
            and event.get("verb") in {"create", "update"}
            and event.get("objectRef", {}).get("resource") in {"ipblocks", "nodenetworkconfigs"}
            and event.get("stage") == "ResponseComplete"
        ):
            replica = agent.split("(")[-1].rstrip(")")
            code = event["responseStatus"]["code"]
            outcomes.setdefault(replica, collections.Counter())[code] += 1
    print(f"{len(writes)} writes for {count} joins; by replica, HTTP code: {outcomes}")
    # They raced when two or more replicas wrote and some write lost to another's (409);
    # one replica may well win every join, its rivals' 409s are the collisions.
    collisions = sum(codes[409] for codes in outcomes.values())
    if len(outcomes) < 2 or collisions == 0:
        # Every invariant above held, but the replicas never collided this time.
        pytest.skip(f"no race this time: no write lost to another replica ({outcomes})")
