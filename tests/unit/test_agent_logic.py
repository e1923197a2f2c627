"""The node agent's decisions (`netwright.agent.deciding`), without a kernel or a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from netwright.agent.deciding import (
    BGP_NAMED,
    DRIFT_KEPT,
    STAND_IN,
    Outcome,
    agent_status,
    bgp_summary,
    inputs_key,
    needed_secrets,
    spec_documents,
    vtep_mac,
)
from netwright.kernel.birdctl import Session, parse_protocols
from netwright.validate import IPBLOCKS_FILE, validate_documents

EXAMPLE = Path(__file__).parents[2] / "examples" / "vxlan"
NOW, LATER = "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"
PLURAL = {
    "Backend": "backends",
    "IPPool": "ippools",
    "Network": "networks",
    "Node": "nodes",
    "IPBlock": "ipblocks",
}


def objects() -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for file in ("network.yaml", "nodes.yaml", "ipblocks.yaml"):
        for doc in yaml.safe_load_all((EXAMPLE / file).read_text()):
            doc["metadata"].update(resourceVersion="7", uid="u")  # server-set: not compared
            out.setdefault(PLURAL[doc["kind"]], {})[doc["metadata"]["name"]] = doc
    return out


def test_the_apis_objects_validate_as_the_spec_directory_does() -> None:
    docs = spec_documents(objects())
    spec, issues = validate_documents(docs)
    assert issues == []
    assert spec is not None
    assert [n.name for n in spec.cluster.nodes] == ["n1", "n2", "n3"]
    assert len(spec.cluster.blocks) == 3
    assert {d.relpath for d in docs if d.data["kind"] == "IPBlock"} == {IPBLOCKS_FILE}


def test_a_pending_node_a_stray_block_and_a_second_block_are_left_out() -> None:
    objs = objects()
    objs["nodes"]["n4"] = {"metadata": {"name": "n4"}, "status": {}}
    objs["ipblocks"]["gone.10-9-0-0-24"] = {
        "metadata": {"name": "gone.10-9-0-0-24"},
        "spec": {"pool": "gone", "cidr": "10.9.0.0/24", "node": "n1"},
    }
    objs["ipblocks"]["pods-v4.10-244-9-0-24"] = {
        "metadata": {"name": "pods-v4.10-244-9-0-24"},
        "spec": {"pool": "pods-v4", "cidr": "10.244.9.0/24", "node": "n1"},
    }
    spec, issues = validate_documents(spec_documents(objs))
    assert issues == []
    assert spec is not None
    assert [n.name for n in spec.cluster.nodes] == ["n1", "n2", "n3"]
    assert sorted(str(b.cidr) for b in spec.cluster.blocks) == [
        "10.244.1.0/24",
        "10.244.2.0/24",
        "10.244.3.0/24",
    ]


def test_the_inputs_key_ignores_server_metadata_and_sees_spec_and_generation() -> None:
    a, b = objects(), objects()
    b["nodes"]["n1"]["metadata"]["resourceVersion"] = "99"  # a kubelet heartbeat
    assert inputs_key(spec_documents(a), 1) == inputs_key(spec_documents(b), 1)
    assert inputs_key(spec_documents(a), 1) != inputs_key(spec_documents(a), 2)
    b["ippools"]["pods-v4"]["spec"]["natOutgoing"] = False
    assert inputs_key(spec_documents(a), 1) != inputs_key(spec_documents(b), 1)


def test_status_after_a_good_run_then_silence_then_drift_then_a_failure() -> None:
    first = agent_status(
        None, Outcome(generation=3, ok=True, changes=16, vtep_mac="0e:6e:ac:1f:ff:0b"), NOW
    )
    assert first is not None
    conditions = {c["type"]: c for c in first["conditions"]}
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("True", "Applied")
    assert conditions["Degraded"]["status"] == conditions["Progressing"]["status"] == "False"
    assert all(c["observedGeneration"] == 3 for c in first["conditions"])
    assert (first["observedGeneration"], first["appliedChanges"], first["vtepMAC"]) == (
        3,
        16,
        "0e:6e:ac:1f:ff:0b",
    )
    # A resync that changes nothing writes nothing.
    quiet = Outcome(generation=3, ok=True, vtep_mac="0e:6e:ac:1f:ff:0b")
    assert agent_status(first, quiet, LATER) is None

    line = "+ route 10.244.2.0/24 via 10.244.2.0 dev nwvx.1 onlink proto 211"
    drift = agent_status(
        first,
        Outcome(
            generation=3,
            ok=True,
            changes=1,
            lines=(line,),
            drift=True,
            vtep_mac="0e:6e:ac:1f:ff:0b",
        ),
        LATER,
    )
    assert drift is not None
    assert drift["drift"] == [f"{LATER} repaired: {line}"]
    assert drift["appliedChanges"] == 1
    assert drift["conditions"][0]["lastTransitionTime"] == NOW  # still Ready since NOW

    failed = agent_status(
        drift, Outcome(generation=4, ok=False, error="route 10.244.2.0/24: EPERM"), LATER
    )
    assert failed is not None
    conditions = {c["type"]: c for c in failed["conditions"]}
    assert (conditions["Ready"]["status"], conditions["Degraded"]["status"]) == ("False", "True")
    assert conditions["Degraded"]["reason"] == "ApplyFailed"
    assert "EPERM" in conditions["Degraded"]["message"]
    assert failed["drift"] == drift["drift"]  # history kept


def test_drift_history_stays_small() -> None:
    status: dict[str, Any] | None = None
    for i in range(3 * DRIFT_KEPT):
        out = Outcome(generation=1, ok=True, changes=1, lines=(f"+ route {i}",), drift=True)
        status = agent_status(status, out, f"t{i}") or status
    assert status is not None
    assert len(status["drift"]) == DRIFT_KEPT
    assert status["drift"][0].startswith(f"t{3 * DRIFT_KEPT - 1} ")


def test_an_invalid_spec_is_reported_as_such() -> None:
    status = agent_status(
        None, Outcome(generation=1, ok=False, invalid=True, error="IPPool/x: spec.backend: …"), NOW
    )
    assert status is not None
    assert status["conditions"][0]["reason"] == "InvalidSpec"


def test_the_vtep_mac_comes_from_the_config() -> None:
    assert vtep_mac({"spec": {"tunnels": [{"name": "nwvx.1", "mac": "0e:6e:ac:1f:ff:0b"}]}}) == (
        "0e:6e:ac:1f:ff:0b"
    )
    assert vtep_mac({"spec": {}}) is None


def test_only_the_nodes_own_secrets_are_real_the_others_stand_in() -> None:
    objs = objects()
    for name, secret in (("tor-a", "bgp-a"), ("tor-b", "bgp-b")):
        objs.setdefault("bgppeers", {})[name] = {
            "metadata": {"name": name},
            "spec": {
                "peerIP": "172.31.255.1",
                "asNumber": 64513,
                "passwordSecretRef": {"namespace": "kube-system", "name": secret, "key": "k"},
            },
        }
    config = {
        "spec": {
            "bird": {"secretRefs": [{"namespace": "kube-system", "name": "bgp-a", "key": "k"}]}
        }
    }
    assert needed_secrets(config) == [("kube-system", "bgp-a")]
    real = {("kube-system", "bgp-a"): {"data": {"k": "c2VjcmV0"}}}
    docs = {
        d.data["metadata"]["name"]: d.data
        for d in spec_documents(objs, real)
        if d.data["kind"] == "Secret"
    }
    assert docs["bgp-a"]["data"] == {"k": "c2VjcmV0"}
    assert docs["bgp-b"]["stringData"] == {"k": STAND_IN}


# `show protocols` as BIRD 2.0.12 answers it, codes and continuation marks removed.
PROTOCOLS = [
    "Name       Proto      Table      State  Since         Info",
    "device1    Device     ---        up     17:53:01.000  ",
    "nw_kernel_v4 Kernel   master4    up     17:53:01.000  ",
    "node_n2_v4 BGP        ---        up     17:53:03.100  Established   ",
    "node_n3_v4 BGP        ---        start  17:53:01.000  Active        Socket: Connection refused",
    "peer_tor_v4 BGP       ---        start  17:53:01.000  Connect       ",
]


def test_bird_protocols_are_read_as_bgp_sessions_with_their_state() -> None:
    found = parse_protocols(PROTOCOLS)
    assert [(s.name, s.state, s.established) for s in found] == [
        ("node_n2_v4", "up", True),
        ("node_n3_v4", "start", False),
        ("peer_tor_v4", "start", False),
    ]
    assert found[1].info == "Active        Socket: Connection refused"


def test_the_bgp_status_counts_sessions_and_names_the_first_that_are_down() -> None:
    many = [Session(f"node_n{i:04}_v4", "start", "Active") for i in range(500)]
    summary = bgp_summary([Session("node_up_v4", "up", "Established"), *many])
    assert (summary["sessions"], summary["established"]) == (501, 1)
    assert len(summary["notEstablished"]) == BGP_NAMED
    assert summary["notEstablished"][0] == {
        "name": "node_n0000_v4",
        "state": "start",
        "info": "Active",
    }
    assert bgp_summary(None, "BIRD is not answering") == {
        "sessions": 0,
        "established": 0,
        "unavailable": "BIRD is not answering",
    }


def test_a_down_session_flapping_between_bgp_states_writes_no_status() -> None:
    active = Outcome(
        generation=1,
        ok=True,
        bgp=bgp_summary([Session("node_n3_v4", "start", "Active   Socket: Connection refused")]),
    )
    first = agent_status(None, active, NOW)
    assert first is not None
    assert first["bgp"]["notEstablished"][0]["name"] == "node_n3_v4"
    connect = Outcome(
        generation=1, ok=True, bgp=bgp_summary([Session("node_n3_v4", "start", "Connect")])
    )
    assert agent_status(first, connect, LATER) is None
    up = Outcome(
        generation=1, ok=True, bgp=bgp_summary([Session("node_n3_v4", "up", "Established")])
    )
    after = agent_status(first, up, LATER)
    assert after is not None
    assert after["bgp"] == {"sessions": 1, "established": 1, "notEstablished": []}
