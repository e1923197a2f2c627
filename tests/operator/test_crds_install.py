"""Every CRD in crds/ is accepted by a real API server and becomes Established.

No offline check finds a CEL rule over the server's cost budget, a fieldPath it
cannot resolve or a schema it calls non-structural: this one applies them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conftest import CRD_PATH, crd_documents

if TYPE_CHECKING:
    from _apiserver import Client, ControlPlane


def test_every_crd_is_established(api: Client, installed_crds: dict[str, Any]) -> None:
    assert sorted(installed_crds) == [
        "BGPPeer", "Backend", "IPBlock", "IPPool", "Network", "NodeNetworkConfig",
    ]  # fmt: skip
    for kind, crd in installed_crds.items():
        live = api.get(f"{CRD_PATH}/{crd['metadata']['name']}")
        conditions = {c["type"]: c for c in live["status"]["conditions"]}
        assert conditions["Established"]["status"] == "True", (kind, conditions)
        assert conditions["NamesAccepted"]["status"] == "True", (kind, conditions)
        assert "NonStructuralSchema" not in conditions, (kind, conditions)
        # The rules are stored as written: none was dropped or rewritten on the way in.
        ours = crd["spec"]["versions"][0]["schema"]
        theirs = live["spec"]["versions"][0]["schema"]
        assert _rules(theirs) == _rules(ours), kind


def test_a_resource_of_every_kind_is_served(api: Client, installed_crds: dict[str, Any]) -> None:
    for crd in installed_crds.values():
        plural = crd["spec"]["names"]["plural"]
        listed = api.get(f"/apis/netwright.io/v1alpha1/{plural}")
        assert listed["kind"] == f"{crd['spec']['names']['kind']}List"


def test_the_audit_log_records_each_write_with_its_user(
    control_plane: ControlPlane, installed_crds: dict[str, Any]
) -> None:
    """Later tests count a client's writes from the audit log: it must name them all."""
    events = control_plane.audit_events()
    creates = {
        e["objectRef"]["name"]
        for e in events
        if e.get("verb") == "create"
        and e.get("objectRef", {}).get("resource") == "customresourcedefinitions"
        and e.get("stage") == "ResponseComplete"
        and e["user"]["username"] == "netwright-test-admin"
    }
    assert creates >= {crd["metadata"]["name"] for crd in crd_documents()}


def _rules(node: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(node, dict):
        found += node.get("x-kubernetes-validations", [])
        for key in sorted(node):
            found += _rules(node[key])
    elif isinstance(node, list):
        for item in node:
            found += _rules(item)
    return found
