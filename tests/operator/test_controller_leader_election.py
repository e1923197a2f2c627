"""Leader election: of two controllers with a Lease, one acts; when it stops, the other.

Correctness never depends on it (`test_controller.py` runs two replicas without one);
this checks that the Lease keeps the writes to one replica and hands over in time.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import pytest
import test_controller as tc
from _apiserver import ApiError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from _apiserver import Client, ControlPlane

DURATION = 2
LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/netwright-controller"


@pytest.fixture
def cluster(api: Client, installed_crds: dict[str, Any]) -> Iterator[Client]:
    del installed_crds
    tc.wipe(api)
    yield api
    tc.wipe(api)
    with contextlib.suppress(ApiError):
        api.delete(LEASE)


def writers(plane: ControlPlane, since: int) -> set[str]:
    """The replicas (by the identity in their user agent) that wrote netwright objects."""
    return {
        agent.split("(")[-1].rstrip(")")
        for verb, resource, _name, agent in tc.controller_writes(plane, since)
        if resource.split("/")[0] in {"ipblocks", "nodenetworkconfigs", "ippools"} and verb != "get"
    }


def test_one_replica_leads_and_another_takes_over_when_it_stops(
    cluster: Client, control_plane: ControlPlane, tmp_path: Path
) -> None:
    start = tc.audit_mark(control_plane)
    args = ("--lease-namespace", "default", "--lease-duration", str(DURATION))
    a = tc.Controller(control_plane, "a", tmp_path / "a.log", args)
    b = tc.Controller(control_plane, "b", tmp_path / "b.log", args)
    try:
        spec, nodes = tc.example_docs()
        tc.create_spec(cluster, spec)
        for node in nodes:
            tc.add_node(
                cluster, node["metadata"]["name"], node["status"]["addresses"][0]["address"]
            )
        tc.wait_for("3 configs", lambda: len(tc.items(cluster, "nodenetworkconfigs")) == 3, 30)
        time.sleep(1)  # (Lease renewals go on: they are writes, but not of netwright's objects)
        (leader,) = writers(control_plane, start)
        assert cluster.get(LEASE)["spec"]["holderIdentity"] == leader

        stopped = time.monotonic()
        (a if leader == "a" else b).stop()
        mark = tc.audit_mark(control_plane)
        tc.add_node(cluster, "n4", "172.31.255.14")
        tc.wait_for("n4's config", lambda: "n4" in tc.items(cluster, "nodenetworkconfigs"), 20)
        took = time.monotonic() - stopped
        print(f"handed over and n4 configured {took:.1f} s after the leader stopped")
        follower = "b" if leader == "a" else "a"
        assert writers(control_plane, mark) == {follower}
        assert cluster.get(LEASE)["spec"]["holderIdentity"] == follower
        assert took < 4 * DURATION
    finally:
        a.stop()
        b.stop()


def test_a_lease_namespace_that_does_not_exist_is_said_not_taken_for_a_lost_race(
    cluster: Client, control_plane: ControlPlane, tmp_path: Path
) -> None:
    del cluster
    args = ("--lease-namespace", "no-such-namespace", "--lease-duration", str(DURATION))
    controller = tc.Controller(control_plane, "lost", tmp_path / "lost.log", args)
    try:
        said = tc.wait_for(
            "the missing namespace in the log",
            lambda: [
                line
                for line in controller.text().splitlines()
                if "lease no-such-namespace/netwright-controller" in line and "404" in line
            ],
            4 * DURATION,
        )
        assert "WARNING" in said[0]
    finally:
        controller.stop()
