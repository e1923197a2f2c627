"""The controller's decisions (`netwright.controller.deciding`), without an API server.

A tiny in-memory "API" applies a `Decision` the way the reconciler would (claims before
blocks, create-only names), so a test can check what a join, a leave, a restart, an
invalid pool and the races between replicas decide.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from netwright.controller.deciding import (
    STAND_IN,
    Snapshot,
    covers,
    decide,
    ready_status,
    what_matters,
)
from netwright.controller.electing import decide_lease

EXAMPLE = Path(__file__).parents[2] / "examples" / "vxlan"
NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T01:00:00Z"
PLURAL = {"Backend": "backends", "IPPool": "ippools", "Network": "networks", "Node": "nodes"}
_rv = itertools.count(100)


def stamp(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {})
    meta["resourceVersion"] = str(next(_rv))
    meta.setdefault("generation", 1)
    meta.setdefault("uid", f"uid-{meta['name']}")
    return obj


def example() -> dict[str, dict[str, dict[str, Any]]]:
    objects: dict[str, dict[str, dict[str, Any]]] = {}
    for file in ("network.yaml", "nodes.yaml"):
        for doc in yaml.safe_load_all((EXAMPLE / file).read_text()):
            objects.setdefault(PLURAL[doc["kind"]], {})[doc["metadata"]["name"]] = stamp(doc)
    return objects


def node(name: str, ip: str | None) -> dict[str, Any]:
    status = {"addresses": [{"type": "InternalIP", "address": ip}]} if ip else {}
    return stamp({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": status})


def apply(objects: dict[str, dict[str, dict[str, Any]]], now: str = NOW) -> Any:
    """Decide once and carry the writes out on `objects`, as the reconciler does."""
    decision = decide(Snapshot(objects=copy.deepcopy(objects)), now)
    for write in decision.statuses:
        objects[write.plural][write.name]["status"] = write.status
    configs = objects.setdefault("nodenetworkconfigs", {})
    blocks = objects.setdefault("ipblocks", {})

    def create_block(doc: dict[str, Any]) -> None:
        name = doc["metadata"]["name"]
        if name not in blocks:  # create-only: a 409 leaves the other writer's block
            blocks[name] = stamp(copy.deepcopy(doc))

    for config in decision.configs:
        current = configs.get(config.node)
        version = None if current is None else current["metadata"]["resourceVersion"]
        if version != config.resource_version:
            continue  # 409
        configs[config.node] = stamp(copy.deepcopy(config.document))
        for doc in config.blocks:
            create_block(doc)
    for doc in decision.blocks:
        create_block(doc)
    for name in decision.delete_blocks:
        blocks.pop(name)
    for name in decision.delete_configs:
        configs.pop(name)
    return decision


def settled() -> dict[str, dict[str, dict[str, Any]]]:
    objects = example()
    apply(objects)
    return objects


def owners(objects: dict[str, dict[str, dict[str, Any]]]) -> dict[str, str]:
    return {b["spec"]["node"]: b["spec"]["cidr"] for b in objects["ipblocks"].values()}


# -- the cases -----------------------------------------------------------------------


def test_the_example_gets_a_block_and_a_config_per_node_and_everything_is_ready() -> None:
    objects = example()
    decision = apply(objects)
    assert [c.node for c in decision.configs] == ["n1", "n2", "n3"]
    assert all(c.resource_version is None for c in decision.configs)  # create-only: claims
    assert owners(objects) == {"n1": "10.244.1.0/24", "n2": "10.244.2.0/24", "n3": "10.244.3.0/24"}
    for plural in ("backends", "ippools", "networks"):
        for obj in objects[plural].values():
            (ready,) = obj["status"]["conditions"]
            assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "True", "Valid")
            assert obj["status"]["observedGeneration"] == 1
    # A node's config is its own: it names no other node.
    n1 = objects["nodenetworkconfigs"]["n1"]["spec"]
    assert "n2" not in repr(n1)
    assert "172.31.255.12" not in repr(n1)


def test_a_restart_decides_no_writes() -> None:
    objects = settled()
    decision = decide(Snapshot(objects=objects), LATER)
    assert decision.writes == 0
    assert decision.notes == ()


def test_a_join_writes_only_the_new_nodes_config_and_block() -> None:
    objects = settled()
    objects["nodes"]["n4"] = node("n4", "172.31.255.14")
    decision = apply(objects, LATER)
    assert decision.statuses == ()
    assert [(c.node, c.resource_version) for c in decision.configs] == [("n4", None)]
    assert [b["metadata"]["name"] for b in decision.configs[0].blocks] == ["pods-v4.10-244-4-0-24"]
    assert decision.blocks == decision.delete_blocks == decision.delete_configs == ()
    assert decision.writes == 2
    assert decide(Snapshot(objects=objects), LATER).writes == 0


def test_a_leave_frees_the_nodes_block_and_config() -> None:
    objects = settled()
    del objects["nodes"]["n2"]
    decision = apply(objects, LATER)
    assert decision.delete_blocks == ("pods-v4.10-244-2-0-24",)
    assert decision.delete_configs == ("n2",)
    assert decision.configs == ()
    assert [n.reason for n in decision.notes] == ["Freed"]


def test_a_pending_node_gets_nothing_and_keeps_its_block() -> None:
    objects = settled()
    objects["nodes"]["n4"] = node("n4", None)
    assert decide(Snapshot(objects=objects), LATER).writes == 0
    objects["nodes"]["n3"] = node("n3", None)  # lost its addresses for a moment
    decision = decide(Snapshot(objects=objects), LATER)
    assert decision.delete_blocks == decision.delete_configs == ()


def test_an_invalid_pool_is_not_ready_with_validates_words_and_nothing_downstream() -> None:
    objects = example()
    objects["ippools"]["pods-v4"]["spec"]["backend"] = "overleaf"
    decision = apply(objects)
    assert decision.configs == decision.blocks == decision.delete_blocks == ()
    ready = objects["ippools"]["pods-v4"]["status"]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "Invalid")
    assert ready["message"].startswith("IPPool/pods-v4: spec.backend: ")
    assert "overleaf" in ready["message"]
    network = objects["networks"]["podnet"]["status"]["conditions"][0]
    assert (network["status"], network["reason"]) == ("False", "Blocked")
    assert [(n.kind, n.warning) for n in decision.notes if n.kind == "IPPool"] == [("IPPool", True)]
    assert decide(Snapshot(objects=objects), LATER).writes == 0  # said once


def test_many_invalid_pools_keep_every_message_within_what_the_api_takes() -> None:
    objects = example()
    for i in range(150):
        name = f"pool-with-a-long-name-to-fill-the-message-{i:03}-" + "x" * 60
        objects["ippools"][name] = stamp(
            {
                "apiVersion": "netwright.io/v1alpha1",
                "kind": "IPPool",
                "metadata": {"name": name},
                "spec": {"cidr": f"10.{100 + i // 256}.{i % 256}.0/24", "backend": "nowhere"},
            }
        )
    decision = apply(objects)
    messages = [c["message"] for w in decision.statuses for c in w.status["conditions"]]
    assert len(messages) == 153  # every pool (151: 150 invalid), the Network, the Backend
    assert max(len(m) for m in messages) <= 4000  # the CRDs allow 32,768
    backend = objects["backends"]["overlay"]["status"]["conditions"][0]
    assert backend["reason"] == "Blocked"
    assert "and 130 more are invalid" in backend["message"]  # 20 named of 150


def test_an_invalid_pool_frees_nothing_that_exists() -> None:
    objects = settled()
    objects["ippools"]["pods-v4"]["spec"]["reserved"] = ["10.99.0.0/24"]  # outside the cidr
    objects["ippools"]["pods-v4"]["metadata"]["generation"] = 2
    del objects["nodes"]["n1"]
    decision = apply(objects, LATER)
    assert decision.delete_blocks == decision.delete_configs == decision.configs == ()
    assert objects["ippools"]["pods-v4"]["status"]["observedGeneration"] == 2


def test_a_claim_without_its_block_is_finished_not_moved() -> None:
    """A controller stopped between a node's config (its claim) and the block's create."""
    objects = settled()
    objects["nodes"]["n4"] = node("n4", "172.31.255.14")
    apply(objects)
    del objects["ipblocks"]["pods-v4.10-244-4-0-24"]
    decision = apply(objects, LATER)
    assert decision.configs == ()
    assert [b["metadata"]["name"] for b in decision.blocks] == ["pods-v4.10-244-4-0-24"]


def test_a_claim_whose_cidr_another_node_holds_is_allocated_again() -> None:
    """Another replica created the block first, for another node: take the next block."""
    objects = settled()
    objects["nodes"]["n4"] = node("n4", "172.31.255.14")
    objects["nodes"]["n5"] = node("n5", "172.31.255.15")
    apply(objects)
    # Replica B had not seen n4: it gave n4's claimed block to n5 (its claim and block).
    objects["ipblocks"].pop("pods-v4.10-244-4-0-24")
    objects["ipblocks"].pop("pods-v4.10-244-5-0-24")
    objects["nodenetworkconfigs"]["n5"]["spec"]["blocks"] = [
        {"pool": "pods-v4", "cidr": "10.244.4.0/24"}
    ]
    objects["ipblocks"]["pods-v4.10-244-4-0-24"] = stamp(
        {
            "kind": "IPBlock",
            "metadata": {"name": "pods-v4.10-244-4-0-24"},
            "spec": {"pool": "pods-v4", "cidr": "10.244.4.0/24", "node": "n5"},
        }
    )
    decision = apply(objects, LATER)
    configs = {c.node: c for c in decision.configs}
    assert configs["n5"].blocks == ()  # (only re-rendered: its spec was edited by hand above)
    config = configs["n4"]
    assert config.resource_version is not None  # replaced only if nobody changed it since
    assert [b["spec"]["cidr"] for b in config.blocks] == ["10.244.5.0/24"]
    assert owners(objects)["n4"] == "10.244.5.0/24"
    assert owners(objects)["n5"] == "10.244.4.0/24"
    assert decide(Snapshot(objects=objects), LATER).writes == 0


def test_two_unbacked_claims_of_one_cidr_write_nothing_for_the_second_node() -> None:
    objects = settled()
    for name, ip in (("n4", "172.31.255.14"), ("n5", "172.31.255.15")):
        objects["nodes"][name] = node(name, ip)
        objects["nodenetworkconfigs"][name] = stamp(
            {
                "kind": "NodeNetworkConfig",
                "metadata": {"name": name},
                "spec": {"node": name, "blocks": [{"pool": "pods-v4", "cidr": "10.244.4.0/24"}]},
            }
        )
    decision = decide(Snapshot(objects=objects), LATER)
    assert decision.contested == {"n5"}
    assert [c.node for c in decision.configs] == ["n4"]  # its claim, rendered in full
    assert [b["spec"]["node"] for c in decision.configs for b in c.blocks] == ["n4"]


def test_a_second_block_of_a_node_is_freed_keeping_the_claimed_one() -> None:
    objects = settled()
    objects["ipblocks"]["pods-v4.10-244-9-0-24"] = stamp(
        {
            "kind": "IPBlock",
            "metadata": {"name": "pods-v4.10-244-9-0-24"},
            "spec": {"pool": "pods-v4", "cidr": "10.244.9.0/24", "node": "n1"},
        }
    )
    decision = apply(objects, LATER)
    assert decision.delete_blocks == ("pods-v4.10-244-9-0-24",)
    assert owners(objects)["n1"] == "10.244.1.0/24"


def test_blocks_of_a_deleted_pool_are_freed() -> None:
    objects = settled()
    del objects["networks"]["podnet"]
    del objects["ippools"]["pods-v4"]
    decision = apply(objects, LATER)
    assert len(decision.delete_blocks) == 3
    assert objects["ipblocks"] == {}


@pytest.mark.parametrize(
    ("current", "desired", "same"),
    [
        pytest.param({"a": 1, "d": False}, {"a": 1}, True, id="server-default"),
        pytest.param({"a": [{"x": 1, "d": 0}]}, {"a": [{"x": 1}]}, True, id="default-in-list"),
        pytest.param({"a": [1, 2]}, {"a": [1]}, False, id="longer-list"),
        pytest.param({"a": 1}, {"a": 1, "b": 2}, False, id="missing-key"),
        pytest.param({"a": 1}, {"a": True}, False, id="bool-is-not-int"),
    ],
)
def test_covers(current: Any, desired: Any, same: bool) -> None:
    assert covers(current, desired) is same


def test_ready_status_keeps_the_transition_time_and_says_nothing_twice() -> None:
    obj: dict[str, Any] = {"metadata": {"generation": 3}}
    first = ready_status(obj, ready=False, reason="Invalid", message="m", now=NOW)
    assert first is not None
    obj["status"] = first
    assert ready_status(obj, ready=False, reason="Invalid", message="m", now=LATER) is None
    changed = ready_status(obj, ready=False, reason="Invalid", message="m2", now=LATER)
    assert changed is not None
    assert changed["conditions"][0]["lastTransitionTime"] == NOW  # still False since NOW
    flipped = ready_status(obj, ready=True, reason="Valid", message="valid", now=LATER)
    assert flipped is not None
    assert flipped["conditions"][0]["lastTransitionTime"] == LATER


def test_a_bgp_peers_password_is_never_read_and_stays_a_placeholder() -> None:
    objects: dict[str, dict[str, dict[str, Any]]] = {}
    plural = {**PLURAL, "BGPPeer": "bgppeers"}
    bgp = Path(__file__).parents[2] / "examples" / "bgp"
    for file in ("network.yaml", "nodes.yaml"):
        for doc in yaml.safe_load_all((bgp / file).read_text()):
            if doc["kind"] in plural:
                objects.setdefault(plural[doc["kind"]], {})[doc["metadata"]["name"]] = stamp(doc)
    objects["bgppeers"] = {
        "tor": stamp(
            {
                "apiVersion": "netwright.io/v1alpha1",
                "kind": "BGPPeer",
                "metadata": {"name": "tor"},
                "spec": {
                    "peerIP": "172.31.255.1",
                    "asNumber": 64513,
                    "passwordSecretRef": {"namespace": "kube-system", "name": "bgp", "key": "tor"},
                },
            }
        )
    }
    decision = decide(Snapshot(objects=objects), NOW)
    assert decision.issues == ()
    bird = decision.configs[0].document["spec"]["bird"]
    assert "config" not in bird  # the agent renders the text, password placeholders and all
    assert bird["secretRefs"] == [{"namespace": "kube-system", "name": "bgp", "key": "tor"}]
    assert STAND_IN not in repr(decision)


def bgp_cluster(nodes: int) -> dict[str, dict[str, dict[str, Any]]]:
    objects: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in yaml.safe_load_all((EXAMPLE.parent / "bgp" / "network.yaml").read_text()):
        objects.setdefault(PLURAL[doc["kind"]], {})[doc["metadata"]["name"]] = stamp(doc)
    objects["nodes"] = {
        f"n{i}": node(f"n{i}", f"172.31.{i // 250}.{i % 250 + 2}") for i in range(1, nodes + 1)
    }
    return objects


def test_a_bgp_nodes_config_is_the_same_at_any_cluster_size_and_a_join_writes_only_its_own() -> (
    None
):
    small, large = bgp_cluster(3), bgp_cluster(250)
    apply(small)
    apply(large)
    n1_small = small["nodenetworkconfigs"]["n1"]["spec"]
    n1_large = large["nodenetworkconfigs"]["n1"]["spec"]
    # The BIRD text names every mesh neighbour: the agent renders it from the peers'
    # Nodes, so the object holds only the node's own settings.
    assert n1_small == n1_large
    assert n1_large["bird"] == {"asNumber": 64512, "routerID": "172.31.0.3", "secretRefs": []}
    assert len(repr(n1_large)) < 64 * 1024
    large["nodes"]["n251"] = node("n251", "172.31.1.3")
    decision = apply(large, LATER)
    assert [c.node for c in decision.configs] == ["n251"]
    assert decision.writes == 2


@pytest.mark.parametrize(
    ("holder", "unchanged_for", "action"),
    [
        pytest.param(None, 0.0, "create", id="no-lease"),
        pytest.param("me", 0.0, "update", id="renew-own"),
        pytest.param("other", 14.9, "wait", id="held-by-other"),
        pytest.param("other", 15.0, "update", id="take-over-expired"),
        pytest.param("", 0.0, "update", id="released"),
    ],
)
def test_the_lease_is_created_renewed_waited_for_or_taken_over(
    holder: str | None, unchanged_for: float, action: str
) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    lease = (
        None
        if holder is None
        else {
            "metadata": {"name": "netwright-controller", "resourceVersion": "5"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "leaseTransitions": 2},
        }
    )
    step = decide_lease(
        lease, me="me", namespace="ns", duration=15, now=now, unchanged_for=unchanged_for
    )
    assert step.action == action
    if step.body is not None:
        assert step.body["spec"]["holderIdentity"] == "me"
        assert step.body["spec"]["renewTime"] == "2026-01-01T00:00:00.000000Z"
        if lease is not None:  # a write with the version read: of two takers, one wins
            assert step.body["metadata"]["resourceVersion"] == "5"
            taken = holder != "me"
            assert step.body["spec"]["leaseTransitions"] == (3 if taken else 2)


def test_only_what_decisions_read_wakes_the_controller() -> None:
    objects = settled()
    n1 = copy.deepcopy(objects["nodes"]["n1"])
    beat = copy.deepcopy(n1)
    beat["status"]["conditions"] = [{"type": "Ready", "status": "True"}]  # a kubelet heartbeat
    beat["metadata"]["resourceVersion"] = "999"
    assert what_matters("nodes", n1) == what_matters("nodes", beat)
    beat["metadata"]["labels"] = {"rack": "c"}
    assert what_matters("nodes", n1) != what_matters("nodes", beat)
    config = copy.deepcopy(objects["nodenetworkconfigs"]["n1"])
    applied = {**config, "status": {"observedGeneration": 1}}  # the agent's status
    assert what_matters("nodenetworkconfigs", config) == what_matters("nodenetworkconfigs", applied)
    pool = objects["ippools"]["pods-v4"]
    edited = {**pool, "metadata": {**pool["metadata"], "generation": 2}}
    assert what_matters("ippools", pool) != what_matters("ippools", edited)
