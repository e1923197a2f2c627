"""The CRDs are structural and complete, and `CrdSchemas` checks documents as strictly as
`kubectl apply --validate=strict`: every problem with its path and what is allowed, and a
defaulted copy the way the API server stores it."""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from netwright.validate._schema import CrdSchemaError, CrdSchemas, SchemaIssue

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).parents[2]
CRDS = REPO / "crds"
PACKAGE_CRDS = REPO / "src" / "netwright" / "data" / "crds"
GV = "netwright.io/v1alpha1"

FILES = {
    "Backend": ("backends.yaml", "backends", "nwb"),
    "IPPool": ("ippools.yaml", "ippools", "ipp"),
    "Network": ("networks.yaml", "networks", "nwn"),
    "BGPPeer": ("bgppeers.yaml", "bgppeers", "bgpp"),
    "IPBlock": ("ipblocks.yaml", "ipblocks", "ipb"),
    "NodeNetworkConfig": ("nodenetworkconfigs.yaml", "nodenetworkconfigs", "nnc"),
}


@pytest.fixture(scope="module")
def schemas() -> CrdSchemas:
    return CrdSchemas.from_directory(CRDS)


def doc(kind: str, spec: Any = None, *, name: str = "x", **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"apiVersion": GV, "kind": kind, "metadata": {"name": name}}
    if spec is not None:
        d["spec"] = spec
    d.update(extra)
    return d


def crd_docs() -> dict[str, dict[str, Any]]:
    return {
        kind: yaml.safe_load((CRDS / file).read_text(encoding="utf-8"))
        for kind, (file, _, _) in FILES.items()
    }


# --- the CRD files --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FILES))
def test_crd_file_declares_the_kind(kind: str) -> None:
    _, plural, short = FILES[kind]
    crd = crd_docs()[kind]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == f"{plural}.netwright.io"
    spec = crd["spec"]
    assert spec["group"] == "netwright.io"
    assert spec["scope"] == "Cluster"
    assert spec["names"]["kind"] == kind
    assert spec["names"]["plural"] == plural
    assert short in spec["names"]["shortNames"]
    assert spec["names"]["categories"] == ["netwright"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["served"] is True
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}
    assert version["additionalPrinterColumns"][-1]["name"] == "Age"
    root = version["schema"]["openAPIV3Schema"]
    assert root["required"] == ["spec"]
    status = root["properties"]["status"]["properties"]
    assert status["observedGeneration"]["type"] == "integer"
    condition = status["conditions"]["items"]
    assert set(condition["properties"]) == {
        "type", "status", "reason", "message", "observedGeneration", "lastTransitionTime",
    }
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def test_ippool_printer_columns() -> None:
    columns = crd_docs()["IPPool"]["spec"]["versions"][0]["additionalPrinterColumns"]
    names = [c["name"] for c in columns]
    assert names == ["CIDR", "Block size", "Backend", "NAT", "Disabled", "Age"]


def test_kustomization_lists_the_six_crds() -> None:
    kustomization = yaml.safe_load((CRDS / "kustomization.yaml").read_text(encoding="utf-8"))
    assert sorted(kustomization["resources"]) == sorted(f for f, _, _ in FILES.values())
    assert sorted(p.name for p in CRDS.glob("*.yaml")) == sorted(
        [*(f for f, _, _ in FILES.values()), "kustomization.yaml"]
    )


def test_package_data_copy_is_byte_identical() -> None:
    ours = sorted(p.name for p in CRDS.iterdir() if p.is_file())
    shipped = sorted(p.name for p in PACKAGE_CRDS.iterdir() if p.is_file())
    assert ours == shipped
    for name in ours:
        assert (CRDS / name).read_bytes() == (PACKAGE_CRDS / name).read_bytes(), name


def test_from_package_knows_the_same_kinds(schemas: CrdSchemas) -> None:
    assert CrdSchemas.from_package().kinds() == schemas.kinds() == tuple(sorted(FILES))


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in (node.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[*]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}[*]")


@pytest.mark.parametrize("kind", sorted(FILES))
def test_schema_is_structural(kind: str) -> None:
    root = crd_docs()[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert root["properties"]["metadata"] == {"type": "object"}, "metadata may not be constrained"
    for path, node in _walk(root, kind):
        int_or_string = node.get("x-kubernetes-int-or-string") is True
        preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
        assert "type" in node or int_or_string or preserve, f"{path} has no type"
        if int_or_string:
            assert "type" not in node, f"{path}: int-or-string carries no type"
        if node.get("type") == "array":
            assert "items" in node, f"{path}: an array needs items"
        assert not ("properties" in node and "additionalProperties" in node), path
        for branch in node.get("anyOf", ()):
            assert not {"type", "default", "properties", "items", "nullable"} & set(branch), path
    # blockSize has no schema default: it depends on the address family.
    if kind == "IPPool":
        assert "default" not in root["properties"]["spec"]["properties"]["blockSize"]


@pytest.mark.parametrize("kind", sorted(FILES))
def test_every_default_passes_its_own_schema(schemas: CrdSchemas, kind: str) -> None:
    # Build the smallest document for each kind; the defaults it gets must validate.
    minimal = {
        "Backend": {"type": "vxlan", "vxlan": {}},
        "IPPool": {"cidr": "10.0.0.0/8", "backend": "b"},
        "Network": {"type": "bridge", "ipPools": ["p"], "bridge": {}},
        "BGPPeer": {"asNumber": 1, "peerIP": "192.0.2.1"},
        "IPBlock": {"pool": "p", "cidr": "10.0.0.0/24", "node": "n1"},
        "NodeNetworkConfig": {"node": "n1", "routing": [
            {"pool": "p", "cidr": "10.0.1.0/24", "backend": "b", "type": "host-gw"}]},
    }[kind]
    defaulted, issues = schemas.validate(kind, doc(kind, minimal))
    assert issues == []
    again, issues = schemas.validate(kind, defaulted)
    assert issues == []
    assert again == defaulted, "defaulting is idempotent"


def test_a_schema_keyword_we_do_not_know_is_refused() -> None:
    crd = crd_docs()["IPBlock"]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["pool"]["oneOf"] = [{"format": "ipv4"}]
    with pytest.raises(CrdSchemaError, match="oneOf"):
        CrdSchemas([crd])


def test_an_unsupported_format_is_refused() -> None:
    crd = crd_docs()["IPBlock"]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["pool"]["format"] = "email"
    with pytest.raises(CrdSchemaError, match="email"):
        CrdSchemas([crd])


# --- rejected documents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reject:
    id: str
    kind: str
    spec: Any
    expect: list[tuple[str, str]]  # (exact path, message regex), in order
    edit: dict[str, Any] = field(default_factory=dict)  # top-level keys replaced


SELECTOR_BAD_OP = {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]}
CONDITION = {
    "type": "Ready", "status": "True", "reason": "Applied", "message": "",
    "lastTransitionTime": "2024-05-01T12:00:00Z",
}

REJECTS = [
    Reject("unknown-field-with-suggestion", "IPPool",
           {"cidr": "10.0.0.0/8", "backend": "b", "blocksize": 24},
           [("spec.blocksize", r"^unknown field `blocksize`; did you mean `blockSize`\?$")]),
    Reject("unknown-field-listing-allowed", "Backend", {"type": "vxlan", "zzz": 1},
           [("spec.zzz", r"^unknown field `zzz`; allowed: `bgp`, `type`, `vxlan`$")]),
    Reject("unknown-nested-field", "Backend", {"type": "vxlan", "vxlan": {"vnid": 3}},
           [("spec.vxlan.vnid", r"did you mean `vni`\?")]),
    Reject("unknown-top-level-field", "IPBlock", None,
           [("spce", r"did you mean `spec`\?"), ("spec", r"required field `spec` is missing")],
           edit={"spce": {}}),
    Reject("unknown-metadata-field", "IPBlock",
           {"pool": "p", "cidr": "10.0.0.0/24", "node": "n"},
           [("metadata.lables", r"did you mean `labels`\?")],
           edit={"metadata": {"name": "x", "lables": {}}}),
    Reject("integer-given-a-string", "Backend", {"type": "vxlan", "vxlan": {"vni": "5"}},
           [("spec.vxlan.vni", r"^expected an integer, got the string `5`$")]),
    Reject("string-given-an-integer", "IPBlock", {"pool": "p", "cidr": "10.0.0.0/24", "node": 123},
           [("spec.node", r"^expected a string, got the integer 123; quote it in YAML")]),
    Reject("string-given-a-float", "Network", {"type": "ptp", "ipPools": ["p"], "cniVersion": 1.0},
           [("spec.cniVersion", r"expected a string, got the number 1\.0; quote it")]),
    Reject("boolean-given-a-string", "IPPool",
           {"cidr": "10.0.0.0/8", "backend": "b", "natOutgoing": "yes"},
           [("spec.natOutgoing", r"^expected a boolean \(true or false\), got the string `yes`$")]),
    Reject("list-given-a-string", "Network", {"type": "ptp", "ipPools": "pods"},
           [("spec.ipPools", r"^expected a list, got the string `pods`$")]),
    Reject("map-given-a-list", "Backend", {"type": "vxlan", "vxlan": [1]},
           [("spec.vxlan", r"^expected a map, got a list$")]),
    Reject("integer-or-string-given-a-float", "Network",
           {"type": "ptp", "ipPools": ["p"], "mtu": 1450.5},
           [("spec.mtu", r"^expected an integer or a string, got the number 1450\.5$")]),
    Reject("enum", "Backend", {"type": "vxlan2"},
           [("spec.type", (r"^`vxlan2` is not one of vxlan, host-gw, bgp, ipip, wireguard; "
                           r"did you mean `vxlan`\?$"))]),
    Reject("enum-wrong-case", "Network", {"type": "Bridge", "ipPools": ["p"]},
           [("spec.type", r"^`Bridge` is not one of bridge, ptp; did you mean `bridge`\?$")]),
    Reject("enum-cni-version", "Network", {"type": "ptp", "ipPools": ["p"], "cniVersion": "2.0.0"},
           [("spec.cniVersion", r"is not one of 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0")]),
    Reject("vni-too-large", "Backend", {"type": "vxlan", "vxlan": {"vni": 16777216}},
           [("spec.vxlan.vni", r"^16777216 is larger than 16777215, the maximum$")]),
    Reject("vni-too-small", "Backend", {"type": "vxlan", "vxlan": {"vni": 0}},
           [("spec.vxlan.vni", r"^0 is smaller than 1, the minimum$")]),
    Reject("port-too-large", "Backend", {"type": "vxlan", "vxlan": {"port": 65536}},
           [("spec.vxlan.port", r"^65536 is larger than 65535, the maximum$")]),
    Reject("as-number-too-large", "Backend", {"type": "bgp", "bgp": {"asNumber": 4294967296}},
           [("spec.bgp.asNumber", r"^4294967296 is larger than 4294967295, the maximum$")]),
    Reject("block-size-too-large", "IPPool",
           {"cidr": "fd00::/48", "backend": "b", "blockSize": 129},
           [("spec.blockSize", r"^129 is larger than 128, the maximum$")]),
    Reject("priority-too-large", "Network", {"type": "ptp", "ipPools": ["p"], "priority": 100},
           [("spec.priority", r"^100 is larger than 99, the maximum$")]),
    Reject("hold-time-too-large", "BGPPeer",
           {"asNumber": 1, "peerIP": "192.0.2.1", "holdTime": 65536},
           [("spec.holdTime", r"^65536 is larger than 65535, the maximum$")]),
    Reject("restart-time-too-large", "BGPPeer",
           {"asNumber": 1, "peerIP": "192.0.2.1", "gracefulRestart": {"restartTime": 4096}},
           [("spec.gracefulRestart.restartTime", r"^4096 is larger than 4095, the maximum$")]),
    Reject("missing-required-field", "IPPool", {"cidr": "10.0.0.0/8"},
           [("spec.backend", r"^required field `backend` is missing; expected a string$")]),
    Reject("missing-required-nested", "Backend", {"type": "bgp", "bgp": {}},
           [("spec.bgp.asNumber", r"^required field `asNumber` is missing; expected an integer$")]),
    Reject("missing-spec", "IPPool", None,
           [("spec", r"^required field `spec` is missing; expected a map$")]),
    Reject("null-spec-is-missing", "IPPool", None,
           [("spec", r"required field `spec` is missing")], edit={"spec": None}),
    Reject("missing-name", "IPBlock", {"pool": "p", "cidr": "10.0.0.0/24", "node": "n"},
           [("metadata.name", r"required field `name` is missing")], edit={"metadata": {}}),
    Reject("bad-name", "IPBlock", {"pool": "p", "cidr": "10.0.0.0/24", "node": "n"},
           [("metadata.name", r"^`Pods_V4` is not a valid name: a lowercase DNS subdomain")],
           edit={"metadata": {"name": "Pods_V4"}}),
    Reject("label-value-not-a-string", "IPBlock", {"pool": "p", "cidr": "10.0.0.0/24", "node": "n"},
           [("metadata.labels[rack]", r"^expected a string, got the integer 1; quote it")],
           edit={"metadata": {"name": "x", "labels": {"rack": 1}}}),
    Reject("bad-label-key", "IPBlock", {"pool": "p", "cidr": "10.0.0.0/24", "node": "n"},
           [("metadata.labels[-bad]", r"is not a valid key")],
           edit={"metadata": {"name": "x", "labels": {"-bad": "v"}}}),
    Reject("wrong-api-version", "IPBlock", {"pool": "p", "cidr": "10.0.0.0/24", "node": "n"},
           [("apiVersion", (r"^`netwright.io/v1` is not the served apiVersion; "
                            r"expected `netwright.io/v1alpha1`$"))],
           edit={"apiVersion": "netwright.io/v1"}),
    Reject("wrong-kind", "IPBlock", {"pool": "p", "cidr": "10.0.0.0/24", "node": "n"},
           [("kind", r"^`IPblock` is not the kind of this schema; expected `IPBlock`$")],
           edit={"kind": "IPblock"}),
    Reject("cidr-prefix-too-long", "IPPool", {"cidr": "10.0.0.0/33", "backend": "b"},
           [("spec.cidr", r"^`10.0.0.0/33` is not a valid CIDR \(an address/prefix length")]),
    Reject("cidr-without-prefix", "IPBlock", {"pool": "p", "cidr": "10.0.0.0", "node": "n"},
           [("spec.cidr", r"is not a valid CIDR")]),
    Reject("cidr-with-netmask", "IPBlock", {"pool": "p", "cidr": "10.0.0.0/255.0.0.0", "node": "n"},
           [("spec.cidr", r"is not a valid CIDR")]),
    Reject("reserved-item-not-a-cidr", "IPPool",
           {"cidr": "10.0.0.0/8", "backend": "b", "reserved": ["10.1.0.0/16", "nope"]},
           [("spec.reserved[1]", r"^`nope` is not a valid CIDR")]),
    Reject("reserved-duplicate", "IPPool",
           {"cidr": "10.0.0.0/8", "backend": "b", "reserved": ["10.1.0.0/16", "10.1.0.0/16"]},
           [("spec.reserved[1]", r"^duplicate entry `10.1.0.0/16`; entries must be unique$")]),
    Reject("ip-pools-too-many", "Network", {"type": "ptp", "ipPools": ["a", "b", "c"]},
           [("spec.ipPools", r"^has 3 items, more than 2, the maximum$")]),
    Reject("ip-pools-empty", "Network", {"type": "ptp", "ipPools": []},
           [("spec.ipPools", r"^has 0 items, fewer than 1, the minimum$")]),
    Reject("ip-pools-duplicate", "Network", {"type": "ptp", "ipPools": ["a", "a"]},
           [("spec.ipPools[1]", r"^duplicate entry `a`")]),
    Reject("backend-name-not-dns", "IPPool", {"cidr": "10.0.0.0/8", "backend": "Over_lay"},
           [("spec.backend", r"^`Over_lay` must be a lowercase DNS subdomain")]),
    Reject("peer-ip-invalid", "BGPPeer", {"asNumber": 1, "peerIP": "172.31.255"},
           [("spec.peerIP", r"^`172.31.255` is not a valid IPv4 address or IPv6 address$")]),
    # Kubernetes' formats refuse zones (net.ParseIP), which Python's ipaddress accepts.
    Reject("peer-ip-with-zone", "BGPPeer", {"asNumber": 1, "peerIP": "fe80::1%eth0"},
           [("spec.peerIP", r"^`fe80::1%eth0` is not a valid IPv4 address or IPv6 address$")]),
    Reject("cidr-with-zone", "IPBlock", {"pool": "p", "cidr": "fe80::%eth0/64", "node": "n"},
           [("spec.cidr", r"^`fe80::%eth0/64` is not a valid CIDR")]),
    Reject("bridge-name-too-long", "Network",
           {"type": "bridge", "ipPools": ["p"], "bridge": {"name": "a-very-long-bridge"}},
           [("spec.bridge.name", r"is 18 characters long, longer than 15, the maximum length$")]),
    Reject("selector-operator-enum", "IPPool",
           {"cidr": "10.0.0.0/8", "backend": "b", "nodeSelector": SELECTOR_BAD_OP},
           [("spec.nodeSelector.matchExpressions[0].operator",
             r"^`Equals` is not one of In, NotIn, Exists, DoesNotExist$")]),
    Reject("selector-label-value-not-a-string", "Network",
           {"type": "ptp", "ipPools": ["p"], "nodeSelector": {"matchLabels": {"rack": 1}}},
           [("spec.nodeSelector.matchLabels[rack]", r"^expected a string, got the integer 1")]),
    Reject("plugin-without-type", "Network",
           {"type": "ptp", "ipPools": ["p"], "plugins": [{"capabilities": {"portMappings": True}}]},
           [("spec.plugins[0].type", r"^required field `type` is missing; expected a string$")]),
    Reject("secret-ref-incomplete", "BGPPeer",
           {"asNumber": 1, "peerIP": "192.0.2.1",
            "passwordSecretRef": {"namespace": "kube-system", "name": "s"}},
           [("spec.passwordSecretRef.key", r"^required field `key` is missing")]),
    Reject("condition-status-enum", "IPPool", {"cidr": "10.0.0.0/8", "backend": "b"},
           [("status.conditions[0].status", r"^`Yes` is not one of True, False, Unknown$")],
           edit={"status": {"conditions": [{**CONDITION, "status": "Yes"}]}}),
    Reject("condition-duplicate-type", "Network", {"type": "ptp", "ipPools": ["p"]},
           [("status.conditions[1]", r"^duplicate entry with type=`Ready`; type must be unique$")],
           edit={"status": {"conditions": [CONDITION, CONDITION]}}),
    Reject("condition-bad-time", "Backend", {"type": "host-gw"},
           [("status.conditions[0].lastTransitionTime", r"is not an RFC 3339 date-time")],
           edit={"status": {"conditions": [{**CONDITION, "lastTransitionTime": "yesterday"}]}}),
    Reject("nnc-bad-mac", "NodeNetworkConfig", {"node": "n1"},
           [("status.vtepMAC", r"^`0e:6e:zz:00:00:01` must be a MAC address")],
           edit={"status": {"vtepMAC": "0e:6e:zz:00:00:01"}}),
    Reject("nnc-conflist-config-not-a-map", "NodeNetworkConfig",
           {"node": "n1", "conflists": [{"network": "n", "file": "10-n.conflist", "config": "{}"}]},
           [("spec.conflists[0].config", r"^expected a map, got the string `\{\}`$")]),
    Reject("nnc-tunnel-type", "NodeNetworkConfig",
           {"node": "n1", "tunnels": [{"name": "nw.vxlan", "type": "host-gw"}]},
           [("spec.tunnels[0].type", r"is not one of vxlan, ipip, wireguard")]),
    Reject("every-problem-at-once", "Backend",
           {"type": "vxlan", "vxlan": {"vni": 0, "port": 0, "directRouting": "no"}, "extra": 1},
           [("spec.vxlan.vni", r"smaller than 1"), ("spec.vxlan.port", r"smaller than 1"),
            ("spec.vxlan.directRouting", r"expected a boolean"),
            ("spec.extra", r"unknown field `extra`")]),
]


@pytest.mark.parametrize("case", REJECTS, ids=[c.id for c in REJECTS])
def test_rejects(schemas: CrdSchemas, case: Reject) -> None:
    document = doc(case.kind, case.spec)
    document.update(case.edit)
    _, issues = schemas.validate(case.kind, document)
    assert [i.path for i in issues] == [p for p, _ in case.expect], issues
    for issue, (_, pattern) in zip(issues, case.expect, strict=True):
        assert re.search(pattern, issue.message), f"{issue.message!r} !~ {pattern!r}"


def test_a_document_that_is_not_a_map(schemas: CrdSchemas) -> None:
    defaulted, issues = schemas.validate("IPPool", ["not", "a", "map"])
    assert defaulted == {}
    assert issues == [SchemaIssue("", "expected a map, got a list")]


def test_unknown_kind_is_a_programming_error(schemas: CrdSchemas) -> None:
    with pytest.raises(KeyError, match="no CRD for kind 'Pod'"):
        schemas.validate("Pod", doc("Pod", {}))


def test_issue_prints_path_and_message() -> None:
    assert str(SchemaIssue("spec.blockSize", "33 is larger")) == "spec.blockSize: 33 is larger"


# --- accepted documents and defaults --------------------------------------------------------------


@dataclass(frozen=True)
class Accept:
    id: str
    kind: str
    spec: Any
    expect_spec: dict[str, Any]  # the defaulted spec, exactly
    edit: dict[str, Any] = field(default_factory=dict)


ACCEPTS = [
    Accept("vxlan-defaults", "Backend", {"type": "vxlan", "vxlan": {}},
           {"type": "vxlan", "vxlan": {"vni": 1, "port": 8472, "directRouting": False}}),
    Accept("null-is-pruned-then-defaulted", "Backend", {"type": "vxlan", "vxlan": {"vni": None}},
           {"type": "vxlan", "vxlan": {"vni": 1, "port": 8472, "directRouting": False}}),
    Accept("vxlan-absent-stays-absent", "Backend", {"type": "vxlan"}, {"type": "vxlan"}),
    Accept("bgp-defaults", "Backend",
           {"type": "bgp", "bgp": {"asNumber": 64512, "routeReflectors": {
               "matchLabels": {"netwright.io/route-reflector": "true"}}}},
           {"type": "bgp", "bgp": {"asNumber": 64512, "nodeToNodeMesh": True, "routeReflectors": {
               "matchLabels": {"netwright.io/route-reflector": "true"}}}}),
    Accept("four-byte-asn", "Backend", {"type": "bgp", "bgp": {"asNumber": 4294967295}},
           {"type": "bgp", "bgp": {"asNumber": 4294967295, "nodeToNodeMesh": True}}),
    Accept("ippool-defaults-without-block-size", "IPPool",
           {"cidr": "10.244.0.0/16", "backend": "o"},
           {"cidr": "10.244.0.0/16", "backend": "o", "natOutgoing": False, "disabled": False}),
    Accept("ippool-v6", "IPPool",
           {"cidr": "fd00::/48", "blockSize": 122, "backend": "o", "natOutgoing": True,
            "reserved": ["fd00::/64"], "disabled": True},
           {"cidr": "fd00::/48", "blockSize": 122, "backend": "o", "natOutgoing": True,
            "reserved": ["fd00::/64"], "disabled": True}),
    Accept("network-defaults", "Network", {"type": "bridge", "ipPools": ["p"], "bridge": {}},
           {"type": "bridge", "ipPools": ["p"], "bridge": {"name": "cni0"}, "cniVersion": "1.0.0",
            "priority": 10, "mtu": "auto"}),
    Accept("plugins-keep-unknown-fields", "Network",
           {"type": "ptp", "ipPools": ["a", "b"], "mtu": 1450, "plugins": [
               {"type": "portmap", "capabilities": {"portMappings": True}},
               {"type": "bandwidth", "ingressRate": 1000, "nested": {"any": ["thing", 1]}}]},
           {"type": "ptp", "ipPools": ["a", "b"], "mtu": 1450, "plugins": [
               {"type": "portmap", "capabilities": {"portMappings": True}},
               {"type": "bandwidth", "ingressRate": 1000, "nested": {"any": ["thing", 1]}}],
            "cniVersion": "1.0.0", "priority": 10}),
    Accept("bgppeer-defaults", "BGPPeer", {"peerIP": "172.31.255.1", "asNumber": 64513},
           {"peerIP": "172.31.255.1", "asNumber": 64513, "holdTime": 90, "keepaliveTime": 30,
            "gracefulRestart": {"enabled": True, "restartTime": 120}}),
    Accept("bgppeer-v6-and-selector", "BGPPeer",
           {"peerIP": "fd00::1", "asNumber": 1, "nodeSelector": {"matchExpressions": [
               {"key": "rack", "operator": "Exists"}]}, "gracefulRestart": {"enabled": False}},
           {"peerIP": "fd00::1", "asNumber": 1, "nodeSelector": {"matchExpressions": [
               {"key": "rack", "operator": "Exists"}]}, "gracefulRestart": {
               "enabled": False, "restartTime": 120}, "holdTime": 90, "keepaliveTime": 30}),
    Accept("ipblock", "IPBlock", {"pool": "v6-all", "cidr": "fd00:96::/64", "node": "n1"},
           {"pool": "v6-all", "cidr": "fd00:96::/64", "node": "n1"},
           edit={"metadata": {"name": "v6-all.fd00-96---64", "labels": {"netwright.io/pool": "v6"},
                              "annotations": {"a/b": "anything at all"}}}),
    Accept("yaml-timestamps-become-text", "IPPool", {"cidr": "10.0.0.0/8", "backend": "b"},
           {"cidr": "10.0.0.0/8", "backend": "b", "natOutgoing": False, "disabled": False},
           edit={"status": {"observedGeneration": 2, "conditions": [
               {**CONDITION, "lastTransitionTime": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)}]}}),
    Accept("nnc", "NodeNetworkConfig", {
        "node": "n1", "nodeIP": "172.31.255.11",
        "blocks": [{"pool": "pods-v4", "cidr": "10.244.1.0/24"}],
        "tunnels": [{"name": "nw.vxlan", "backend": "overlay", "type": "vxlan", "vni": 1,
                     "port": 8472, "mtu": 1450, "mac": "0e:6e:ac:1f:ff:0b",
                     "local": "172.31.255.11",
                     "dev": "eth0", "addresses": ["10.244.1.0/32"]}],
        "bridges": [{"name": "cni0", "mtu": 1450, "addresses": ["10.244.1.1/24"]}],
        "routing": [{"pool": "pods-v4", "cidr": "10.244.0.0/16", "backend": "overlay",
                     "type": "vxlan", "device": "nw.vxlan"}],
        "conflists": [{"network": "podnet", "file": "10-podnet.conflist", "config": {
            "cniVersion": "1.0.0", "name": "podnet", "plugins": [{"type": "bridge"}]}}],
        "bird": {"asNumber": 64512, "routerID": "172.31.255.11",
                 "secretRefs": [{"namespace": "kube-system", "name": "s", "key": "k"}]},
        "natOutgoing": {"sources": ["10.244.0.0/16"], "exclude": ["10.244.0.0/16"]},
    }, {
        "node": "n1", "nodeIP": "172.31.255.11",
        "blocks": [{"pool": "pods-v4", "cidr": "10.244.1.0/24"}],
        "tunnels": [{"name": "nw.vxlan", "backend": "overlay", "type": "vxlan", "vni": 1,
                     "port": 8472, "mtu": 1450, "mac": "0e:6e:ac:1f:ff:0b",
                     "local": "172.31.255.11",
                     "dev": "eth0", "addresses": ["10.244.1.0/32"]}],
        "bridges": [{"name": "cni0", "mtu": 1450, "addresses": ["10.244.1.1/24"]}],
        "routing": [{"pool": "pods-v4", "cidr": "10.244.0.0/16", "backend": "overlay",
                     "type": "vxlan", "device": "nw.vxlan", "directRouting": False}],
        "conflists": [{"network": "podnet", "file": "10-podnet.conflist", "config": {
            "cniVersion": "1.0.0", "name": "podnet", "plugins": [{"type": "bridge"}]}}],
        "bird": {"asNumber": 64512, "routerID": "172.31.255.11",
                 "secretRefs": [{"namespace": "kube-system", "name": "s", "key": "k"}]},
        "natOutgoing": {"sources": ["10.244.0.0/16"], "exclude": ["10.244.0.0/16"]},
    }, edit={"status": {"observedGeneration": 1, "conditions": [CONDITION],
                        "vtepMAC": "0e:6e:ac:1f:ff:0b",
                        "bgp": {"sessions": 2, "established": 1, "notEstablished": [
                        {"name": "peer_tor_a_v4", "state": "start", "info": "Active"}]},
                        "drift": ["route 10.244.2.0/24 missing"], "appliedChanges": 3}}),
]


@pytest.mark.parametrize("case", ACCEPTS, ids=[c.id for c in ACCEPTS])
def test_accepts_and_defaults(schemas: CrdSchemas, case: Accept) -> None:
    document = doc(case.kind, case.spec)
    document.update(case.edit)
    before = copy.deepcopy(document)
    defaulted, issues = schemas.validate(case.kind, document)
    assert issues == []
    assert defaulted["spec"] == case.expect_spec
    assert document == before, "the input is never changed"


def test_defaulted_copy_shares_nothing_with_the_input(schemas: CrdSchemas) -> None:
    plugin = {"type": "bandwidth", "limits": {"ingress": [1]}}
    document = doc("Network", {"type": "ptp", "ipPools": ["p"], "plugins": [plugin]})
    defaulted, _ = schemas.validate("Network", document)
    defaulted["spec"]["plugins"][0]["limits"]["ingress"].append(2)
    assert plugin == {"type": "bandwidth", "limits": {"ingress": [1]}}


def test_timestamps_are_kept_as_rfc3339_text(schemas: CrdSchemas) -> None:
    when = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    document = doc("Backend", {"type": "host-gw"},
                   status={"conditions": [{**CONDITION, "lastTransitionTime": when}]})
    defaulted, issues = schemas.validate("Backend", document)
    assert issues == []
    assert defaulted["status"]["conditions"][0]["lastTransitionTime"] == "2024-05-01T12:00:00Z"


API_MD_EXAMPLES = """
apiVersion: netwright.io/v1alpha1
kind: Backend
metadata: {name: overlay}
spec:
  type: vxlan
  vxlan: {vni: 1, port: 8472, directRouting: false}
---
apiVersion: netwright.io/v1alpha1
kind: Backend
metadata: {name: fabric}
spec:
  type: bgp
  bgp:
    asNumber: 64512
    nodeToNodeMesh: true
    routeReflectors:
      matchLabels: {netwright.io/route-reflector: "true"}
---
apiVersion: netwright.io/v1alpha1
kind: IPPool
metadata: {name: pods-v4}
spec:
  cidr: 10.244.0.0/16
  blockSize: 24
  backend: overlay
  natOutgoing: true
  reserved: [10.244.255.0/24]
  nodeSelector:
    matchLabels: {kubernetes.io/os: linux}
  disabled: false
---
apiVersion: netwright.io/v1alpha1
kind: Network
metadata: {name: podnet}
spec:
  cniVersion: "1.0.0"
  priority: 10
  type: bridge
  bridge: {name: cni0}
  mtu: auto
  ipPools: [pods-v4]
  plugins:
    - {type: portmap}
    - {type: bandwidth}
  nodeSelector: {}
---
apiVersion: netwright.io/v1alpha1
kind: BGPPeer
metadata: {name: tor-a}
spec:
  peerIP: 172.31.255.1
  asNumber: 64513
  nodeSelector: {matchLabels: {rack: a}}
  passwordSecretRef: {namespace: kube-system, name: bgp-secrets, key: tor-a}
  holdTime: 90
  keepaliveTime: 30
  gracefulRestart: {enabled: true, restartTime: 120}
---
apiVersion: netwright.io/v1alpha1
kind: IPBlock
metadata: {name: pods-v4.10-244-1-0-24}
spec: {pool: pods-v4, cidr: 10.244.1.0/24, node: n1}
"""


@pytest.mark.parametrize(
    "document",
    list(yaml.safe_load_all(API_MD_EXAMPLES)),
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_the_api_md_examples_are_valid(schemas: CrdSchemas, document: dict[str, Any]) -> None:
    _, issues = schemas.validate(document["kind"], document)
    assert issues == []


def _synthetic(spec_schema: dict[str, Any]) -> CrdSchemas:
    return CrdSchemas([{
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.netwright.io"},
        "spec": {
            "group": "netwright.io", "scope": "Cluster",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1alpha1", "served": True, "storage": True, "schema": {
                "openAPIV3Schema": {"type": "object", "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": {"type": "object"}, "spec": spec_schema}}}}],
        },
    }])


@pytest.mark.parametrize(
    ("spec", "expect"),
    [
        ({"ratio": 0.0}, [("spec.ratio", r"^0\.0 is not larger than 0, the exclusive minimum$")]),
        ({"ratio": 1}, [("spec.ratio", r"^1 is not smaller than 1, the exclusive maximum$")]),
        ({"ratio": 0.5}, []),
        ({"ratio": True}, [("spec.ratio", r"^expected a number, got the boolean true$")]),
        ({"maybe": None}, []),
        ({"maybe": 3}, [("spec.maybe", r"^expected a string, got the integer 3")]),
        ({"tags": {"a": "b", "c": 1}}, [("spec.tags[c]", r"^expected a string")]),
        ({"free": {"anything": [1, {"x": None}]}}, []),
        ({"free": "no"}, [("spec.free", r"^expected a map")]),
    ],
    ids=["exclusive-min", "exclusive-max", "in-range", "bool-is-no-number", "nullable-null",
         "nullable-wrong-type", "map-of-strings", "preserve-unknown", "preserve-unknown-not-a-map"],
)
def test_the_rest_of_the_supported_subset(
    spec: dict[str, Any], expect: list[tuple[str, str]]
) -> None:
    schemas = _synthetic({"type": "object", "properties": {
        "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True,
                  "maximum": 1, "exclusiveMaximum": True},
        "maybe": {"type": "string", "nullable": True},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    }})
    defaulted, issues = schemas.validate("Widget", doc("Widget", spec))
    assert [i.path for i in issues] == [p for p, _ in expect], issues
    for issue, (_, pattern) in zip(issues, expect, strict=True):
        assert re.search(pattern, issue.message), issue.message
    if not expect:
        assert defaulted["spec"] == spec, "a nullable null is kept; others are kept as given"
