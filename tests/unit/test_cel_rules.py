"""The CRDs' CEL rules are well-formed for Kubernetes 1.31, compile with cel-python, and each
one refuses a bad document and accepts a good one offline, naming the rule's fieldPath."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from netwright.validate import _cel
from netwright.validate._schema import CrdSchemas

REPO = Path(__file__).parents[2]
CRDS = REPO / "crds"
GV = "netwright.io/v1alpha1"


@dataclass(frozen=True)
class Found:
    kind: str
    path: str  # the schema node, e.g. IPPool.spec
    node: dict[str, Any]
    raw: dict[str, Any]

    @property
    def rule(self) -> _cel.CelRule:
        return _cel.CelRule.from_schema(self.raw)


def _walk(kind: str, node: dict[str, Any], path: str) -> list[Found]:
    found = [Found(kind, path, node, raw) for raw in node.get("x-kubernetes-validations", ())]
    for name, sub in (node.get("properties") or {}).items():
        found += _walk(kind, sub, f"{path}.{name}")
    if "items" in node:
        found += _walk(kind, node["items"], f"{path}[*]")
    return found


def all_rules() -> list[Found]:
    found: list[Found] = []
    for file in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(file.read_text(encoding="utf-8"))
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        kind = crd["spec"]["names"]["kind"]
        root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        found += _walk(kind, root, kind)
    return found


RULES = all_rules()
#: Functions and macros of standard CEL that the rules may call.
STANDARD_FUNCTIONS = frozenset(
    {"has", "size", "contains", "startsWith", "endsWith", "matches", "string", "int", "uint",
     "double", "bool", "type", "dyn", "all", "exists", "exists_one", "map", "filter"}
)
RULE_IDS = [f"{f.path}{f.raw.get('fieldPath', '')}:{f.raw.get('reason')}" for f in RULES]


@pytest.fixture(scope="module")
def schemas() -> CrdSchemas:
    return CrdSchemas.from_directory(CRDS)


def test_there_are_rules() -> None:
    assert len(RULES) >= 10


@pytest.mark.parametrize("found", RULES, ids=RULE_IDS)
def test_rule_is_well_formed(found: Found) -> None:
    raw = found.raw
    assert set(raw) <= {"rule", "message", "messageExpression", "fieldPath", "reason"}
    assert raw.get("fieldPath"), "every rule names its field"
    assert raw.get("reason") in _cel.REASONS
    assert raw.get("message"), "every rule has a message to fall back on"
    assert "\n" not in raw["message"]
    # fieldPath is relative to the node and names a field its schema declares.
    node = found.node
    for step in _cel.parse_field_path(raw["fieldPath"]):
        assert step in (node.get("properties") or {}), f"{found.path}: no field {step!r}"
        node = node["properties"][step]
    # Standard CEL, plus only the Kubernetes 1.30 library functions `_cel` implements
    # offline (IP/CIDR, strings' format); no other extension.
    for text in (raw["rule"], raw.get("messageExpression", "")):
        called = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", re.sub(r"'(\\.|[^'\\])*'", "''", text)))
        assert called <= STANDARD_FUNCTIONS | _cel.LIBRARY_FUNCTIONS, (called, text)
        assert not re.search(r"\.(split|replace|lowerAscii|upperAscii|indexOf|join)\(", text), text


@pytest.mark.parametrize("found", RULES, ids=RULE_IDS)
def test_rule_compiles_with_cel_python(found: Found) -> None:
    assert _cel.compile_rule(found.raw["rule"]) is not None
    if "messageExpression" in found.raw:
        assert _cel.compile_rule(found.raw["messageExpression"]) is not None


def test_compiling_is_cached_by_text() -> None:
    text = "self.a == 1"
    assert _cel.compile_rule(text) is _cel.compile_rule(text)


def test_a_rule_that_does_not_compile_says_so() -> None:
    with pytest.raises(_cel.CelCompileError, match="does not compile"):
        _cel.compile_rule("self.a ==")


def test_transition_rules_are_recognised_and_skipped() -> None:
    transitions = {(f.path, f.raw["fieldPath"]) for f in RULES if f.rule.is_transition}
    assert transitions == {
        ("IPPool.spec", ".cidr"),
        ("IPPool.spec", ".blockSize"),
        ("IPBlock", ".spec"),
    }
    rule = _cel.CelRule(rule="self == oldSelf", message="immutable", field_path=".a")
    assert _cel.evaluate([rule], {"a": 1}, "spec") == []


def test_has_is_false_for_absent_fields_and_bools_stay_bools() -> None:
    rules = [
        _cel.CelRule(rule="!has(self.x)", message="x must be absent", field_path=".x"),
        _cel.CelRule(rule="self.flag == true", message="flag", field_path=".flag"),
        _cel.CelRule(rule="self.n + 1 == 2 && type(self.n) == int", message="n", field_path=".n"),
    ]
    assert _cel.evaluate(rules, {"flag": True, "n": 1}, "spec") == []
    assert _cel.evaluate(rules[:1], {"x": None}, "spec")[0].path == "spec.x"


def test_an_evaluation_error_is_reported_not_raised() -> None:
    rule = _cel.CelRule(rule="self.missing == 1", message="m", field_path=".missing")
    (violation,) = _cel.evaluate([rule], {}, "spec")
    assert violation.path == "spec.missing"
    assert "could not be evaluated" in violation.message


def test_without_message_expression_the_value_is_named() -> None:
    rule = _cel.CelRule(rule="self.n < 3", message="n must be below 3", field_path=".n")
    (violation,) = _cel.evaluate([rule], {"n": 5}, "spec")
    assert violation.message == "n must be below 3 (got 5)"


@pytest.mark.parametrize(
    ("field_path", "steps", "joined"),
    [
        (".vxlan", ("vxlan",), "spec.vxlan"),
        (".a.b", ("a", "b"), "spec.a.b"),
        (".labels['kubernetes.io/os']", ("labels", "kubernetes.io/os"),
         "spec.labels[kubernetes.io/os]"),
    ],
)
def test_field_paths(field_path: str, steps: tuple[str, ...], joined: str) -> None:
    assert _cel.parse_field_path(field_path) == steps
    assert _cel.join_path("spec", steps) == joined


def test_a_field_path_with_an_index_is_refused() -> None:
    with pytest.raises(ValueError, match="expected"):
        _cel.parse_field_path(".list[0]")


# --- each rule, through the whole validator -------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    rule: str  # a fragment of the rule's text this case exercises
    spec: dict[str, Any]
    path: str | None  # None: accepted
    message: str = ""
    also: tuple[str, ...] = ()  # paths of further issues the same document gets


def sel(op: str, values: list[str] | None = None) -> dict[str, Any]:
    req: dict[str, Any] = {"key": "rack", "operator": op}
    if values is not None:
        req["values"] = values
    return {"matchExpressions": [req]}


SEL_RULE = "self.operator in ['In', 'NotIn']"
SEL_MSG = r"^values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist"
POOL = {"cidr": "10.0.0.0/8", "backend": "b"}
NET = {"type": "ptp", "ipPools": ["p"]}
PEER = {"asNumber": 64513, "peerIP": "192.0.2.1"}

CASES = [
    # Backend
    Case("vxlan-forbidden-for-host-gw", "Backend", "self.type == 'vxlan' || !has(self.vxlan)",
         {"type": "host-gw", "vxlan": {}}, "spec.vxlan",
         r"^vxlan settings are allowed only when type is vxlan$"),
    Case("vxlan-allowed-for-vxlan", "Backend", "self.type == 'vxlan' || !has(self.vxlan)",
         {"type": "vxlan", "vxlan": {"vni": 7}}, None),
    Case("bgp-forbidden-for-vxlan", "Backend", "self.type == 'bgp' || !has(self.bgp)",
         {"type": "vxlan", "bgp": {"asNumber": 1}}, "spec.bgp",
         r"^bgp settings are allowed only when type is bgp$"),
    Case("bgp-allowed-for-bgp", "Backend", "self.type == 'bgp' || !has(self.bgp)",
         {"type": "bgp", "bgp": {"asNumber": 64512}}, None),
    Case("bgp-required-for-bgp", "Backend", "self.type != 'bgp' || has(self.bgp)",
         {"type": "bgp"}, "spec.bgp", r"^bgp settings \(at least asNumber\) are required"),
    Case("bgp-given-for-bgp", "Backend", "self.type != 'bgp' || has(self.bgp)",
         {"type": "bgp", "bgp": {"asNumber": 64512}}, None),
    Case("route-reflector-selector-in-without-values", "Backend", SEL_RULE,
         {"type": "bgp", "bgp": {"asNumber": 1, "routeReflectors": sel("In", [])}},
         "spec.bgp.routeReflectors.matchExpressions[0].values", SEL_MSG),
    Case("route-reflector-selector-exists", "Backend", SEL_RULE,
         {"type": "bgp", "bgp": {"asNumber": 1, "routeReflectors": sel("Exists")}}, None),
    # IPPool
    Case("ipv4-block-size-33", "IPPool", "self.blockSize <= 32", {**POOL, "blockSize": 33},
         "spec.blockSize", r"^33 is larger than 32, the longest IPv4 prefix$"),
    Case("ipv4-block-size-30", "IPPool", "self.blockSize <= 32", {**POOL, "blockSize": 30}, None),
    Case("ipv6-block-size-122", "IPPool", "self.blockSize <= 32",
         {"cidr": "fd00::/48", "backend": "b", "blockSize": 122}, None),
    Case("pool-selector-exists-with-values", "IPPool", SEL_RULE,
         {**POOL, "nodeSelector": sel("Exists", ["a"])},
         "spec.nodeSelector.matchExpressions[0].values", SEL_MSG),
    Case("pool-selector-in-with-values", "IPPool", SEL_RULE,
         {**POOL, "nodeSelector": sel("In", ["a"])}, None),
    # Network
    Case("bridge-forbidden-for-ptp", "Network", "self.type == 'bridge' || !has(self.bridge)",
         {**NET, "bridge": {"name": "br0"}}, "spec.bridge",
         r"^bridge settings are allowed only when type is bridge$"),
    Case("bridge-allowed-for-bridge", "Network", "self.type == 'bridge' || !has(self.bridge)",
         {**NET, "type": "bridge", "bridge": {"name": "br0"}}, None),
    Case("mtu-auto", "Network", "self.mtu == 'auto'", {**NET, "mtu": "auto"}, None),
    Case("mtu-default-auto", "Network", "self.mtu == 'auto'", NET, None),
    Case("mtu-big", "Network", "self.mtu == 'auto'", {**NET, "mtu": "big"}, "spec.mtu",
         r"^`big` is neither auto nor an integer from 68 to 65535$"),
    Case("mtu-67", "Network", "self.mtu == 'auto'", {**NET, "mtu": 67}, "spec.mtu",
         r"^67 is neither auto nor an integer from 68 to 65535$"),
    Case("mtu-68", "Network", "self.mtu == 'auto'", {**NET, "mtu": 68}, None),
    Case("mtu-1450", "Network", "self.mtu == 'auto'", {**NET, "mtu": 1450}, None),
    Case("mtu-65536", "Network", "self.mtu == 'auto'", {**NET, "mtu": 65536}, "spec.mtu",
         r"^65536 is neither"),
    Case("network-selector-not-in-without-values", "Network", SEL_RULE,
         {**NET, "nodeSelector": sel("NotIn")}, "spec.nodeSelector.matchExpressions[0].values",
         SEL_MSG),
    Case("network-selector-does-not-exist", "Network", SEL_RULE,
         {**NET, "nodeSelector": sel("DoesNotExist", [])}, None),
    # BGPPeer
    Case("peer-needs-ip-or-selector", "BGPPeer", "has(self.peerIP) || has(self.peerSelector)",
         {"asNumber": 1}, "spec.peerIP",
         r"^one of peerIP \(an external peer\) or peerSelector \(in-cluster peers\) is required$"),
    Case("peer-ip-alone", "BGPPeer", "has(self.peerIP) || has(self.peerSelector)", PEER, None),
    Case("peer-ip-and-selector", "BGPPeer", "!has(self.peerIP) || !has(self.peerSelector)",
         {**PEER, "peerSelector": {"matchLabels": {"rack": "a"}}}, "spec.peerSelector",
         r"^peerSelector is not allowed together with peerIP; set exactly one of them$"),
    Case("peer-selector-alone", "BGPPeer", "!has(self.peerIP) || !has(self.peerSelector)",
         {"asNumber": 1, "peerSelector": {"matchLabels": {"rack": "a"}}}, None),
    # keepaliveTime is at least 1, so a holdTime of 1 or 2 always breaks both rules.
    Case("hold-time-1", "BGPPeer", "self.holdTime >= 3",
         {**PEER, "holdTime": 1, "keepaliveTime": 1},
         "spec.holdTime",
         r"^1 is not allowed: holdTime must be 0 \(no keepalives\) or from 3 to 65535 seconds$",
         also=("spec.keepaliveTime",)),
    Case("hold-time-0", "BGPPeer", "self.holdTime >= 3", {**PEER, "holdTime": 0}, None),
    Case("hold-time-3", "BGPPeer", "self.holdTime >= 3",
         {**PEER, "holdTime": 3, "keepaliveTime": 1},
         None),
    Case("keepalive-not-below-hold", "BGPPeer", "self.keepaliveTime < self.holdTime",
         {**PEER, "holdTime": 60, "keepaliveTime": 90}, "spec.keepaliveTime",
         r"^90 must be less than holdTime \(60\)$"),
    Case("keepalive-against-default-hold", "BGPPeer", "self.keepaliveTime < self.holdTime",
         {**PEER, "keepaliveTime": 100}, "spec.keepaliveTime",
         r"^100 must be less than holdTime \(90\)$"),
    Case("keepalive-below-hold", "BGPPeer", "self.keepaliveTime < self.holdTime",
         {**PEER, "holdTime": 60, "keepaliveTime": 20}, None),
    Case("peer-selector-in-without-values", "BGPPeer", SEL_RULE,
         {"asNumber": 1, "peerSelector": sel("In")},
         "spec.peerSelector.matchExpressions[0].values", SEL_MSG),
    Case("peer-selector-in-with-values", "BGPPeer", SEL_RULE,
         {"asNumber": 1, "peerSelector": sel("In", ["a", "b"])}, None),
    Case("node-selector-exists-with-values", "BGPPeer", SEL_RULE,
         {**PEER, "nodeSelector": sel("Exists", ["x"])},
         "spec.nodeSelector.matchExpressions[0].values", SEL_MSG),
    # What would break a node, decided by one document (the IP/CIDR library rules).
    Case("pool-whole-v4-space", "IPPool", "prefixLength() != 0",
         {"cidr": "0.0.0.0/0", "backend": "b"}, "spec.cidr",
         r"^0\.0\.0\.0/0 is the whole IPv4 address space, which would route every destination "
         r"into pods; use a private range such as 10\.244\.0\.0/16$"),
    Case("pool-whole-v6-space", "IPPool", "prefixLength() != 0",
         {"cidr": "::/0", "backend": "b", "blockSize": 64}, "spec.cidr",
         r"^::/0 is the whole IPv6 address space, .* such as fd00:10:244::/56$"),
    Case("pool-v4-private", "IPPool", "prefixLength() != 0", POOL, None),
    Case("pool-host-bits", "IPPool", "cidr(self.cidr) == cidr(self.cidr).masked()",
         {"cidr": "10.244.1.0/16", "backend": "b"}, "spec.cidr",
         r"^10\.244\.1\.0/16 has host bits set; the network is 10\.244\.0\.0/16$"),
    Case("pool-network-address", "IPPool", "cidr(self.cidr) == cidr(self.cidr).masked()",
         {"cidr": "fd00:10:244::/56", "backend": "b", "blockSize": 64}, None),
    Case("block-shorter-than-pool", "IPPool", ">= cidr(self.cidr).prefixLength()",
         {**POOL, "blockSize": 7}, "spec.blockSize",
         r"^7 is shorter than the pool's own prefix /8: a block must fit inside 10\.0\.0\.0/8 "
         r"\(use 8 or more\)$"),
    Case("default-block-shorter-than-pool", "IPPool", ">= cidr(self.cidr).prefixLength()",
         {"cidr": "10.0.0.0/28", "backend": "b"}, "spec.blockSize",
         r"^26 is shorter than the pool's own prefix /28"),
    Case("block-as-long-as-pool", "IPPool", ">= cidr(self.cidr).prefixLength()",
         {**POOL, "blockSize": 8}, None),
    Case("block-too-long-to-use-v4", "IPPool", "self.blockSize <= (", {**POOL, "blockSize": 31},
         "spec.blockSize",
         r"^/31 blocks leave no room for a gateway and pods; the longest usable IPv4 block is /30$"),
    Case("block-too-long-to-use-v6", "IPPool", "self.blockSize <= (",
         {"cidr": "fd00::/48", "backend": "b", "blockSize": 127}, "spec.blockSize",
         r"^/127 blocks leave no room .* the longest usable IPv6 block is /126$"),
    Case("block-longest-usable", "IPPool", "self.blockSize <= (", {**POOL, "blockSize": 30},
         None),
    Case("reserved-outside-pool", "IPPool", "cidr(self.cidr).containsCIDR(r)",
         {**POOL, "reserved": ["10.1.0.0/16", "11.0.0.0/16"]}, "spec.reserved",
         r"^11\.0\.0\.0/16 is not inside the pool's cidr 10\.0\.0\.0/8$"),
    Case("reserved-inside-pool", "IPPool", "cidr(self.cidr).containsCIDR(r)",
         {**POOL, "reserved": ["10.1.0.0/16", "10.255.255.0/24"]}, None),
    Case("reserved-host-bits", "IPPool", "cidr(r) == cidr(r).masked()",
         {**POOL, "reserved": ["10.1.0.1/16"]}, "spec.reserved",
         r"^a reserved network has host bits set; write each as its network address$"),
    Case("reserved-network-addresses", "IPPool", "cidr(r) == cidr(r).masked()",
         {**POOL, "reserved": ["10.1.0.0/16"]}, None),
    Case("pool-over-loopback", "IPPool", "cidr('127.0.0.0/8')",
         {"cidr": "126.0.0.0/7", "backend": "b"}, "spec.cidr",
         r"^126\.0\.0\.0/7 overlaps 127\.0\.0\.0/8 \(loopback\); pod addresses must be unicast "
         r"addresses clear of 0\.0\.0\.0, 127\.0\.0\.0/8, 169\.254\.0\.0/16, 224\.0\.0\.0/4 and "
         r"255\.255\.255\.255$"),
    Case("pool-inside-multicast-v6", "IPPool", "cidr('127.0.0.0/8')",
         {"cidr": "ff00::/16", "backend": "b", "blockSize": 64}, "spec.cidr",
         r"^ff00::/16 overlaps ff00::/8 \(multicast\); pod addresses must be unicast addresses "
         r"clear of ::, ::1, ::ffff:0:0/96, fe80::/10 and ff00::/8$"),
    Case("pool-beside-loopback", "IPPool", "cidr('127.0.0.0/8')",
         {"cidr": "128.0.0.0/8", "backend": "b"}, None),
    Case("pool-v6-ula", "IPPool", "cidr('127.0.0.0/8')",
         {"cidr": "fd00::/48", "backend": "b", "blockSize": 64}, None),
    Case("pool-ipv4-mapped", "IPPool", "|| isCIDR(self.cidr)",
         {"cidr": "::ffff:0:0/112", "backend": "b", "blockSize": 120}, "spec.cidr",
         r"^::ffff:0:0/112 overlaps ::ffff:0:0/96 \(IPv4-mapped\)"),
    Case("pool-ipv4-mapped-upper-case", "IPPool", "|| isCIDR(self.cidr)",
         {"cidr": "::FFFF:0:0/104", "backend": "b", "blockSize": 120}, "spec.cidr",
         r"^::FFFF:0:0/104 overlaps ::ffff:0:0/96 \(IPv4-mapped\)"),
    Case("pool-link-local-upper-case", "IPPool", "cidr('127.0.0.0/8')",
         {"cidr": "FE80::/64", "backend": "b", "blockSize": 80}, "spec.cidr",
         r"^FE80::/64 overlaps fe80::/10 \(link-local\)"),
    Case("pool-ipv6-unicast", "IPPool", "|| isCIDR(self.cidr)",
         {"cidr": "2001:db8::/48", "backend": "b", "blockSize": 64}, None),
    Case("peer-unspecified-v4", "BGPPeer", "isUnspecified()", {**PEER, "peerIP": "0.0.0.0"},
         "spec.peerIP",
         r"^0\.0\.0\.0 is in 0\.0\.0\.0/32 \(the unspecified address\), where BIRD cannot open a "
         r"session; a peer needs a unicast address$"),
    Case("peer-unspecified-v6", "BGPPeer", "isUnspecified()", {**PEER, "peerIP": "::"},
         "spec.peerIP", r"^:: is in ::/128 \(the unspecified address\)"),
    Case("peer-unicast", "BGPPeer", "isUnspecified()", PEER, None),
    Case("peer-link-local-v6", "BGPPeer", "cidr('fe80::/10')", {**PEER, "peerIP": "fe80::1"},
         "spec.peerIP", r"^fe80::1 is in fe80::/10 \(link-local\), where BIRD cannot"),
    Case("peer-link-local-v4", "BGPPeer", "cidr('fe80::/10')", {**PEER, "peerIP": "169.254.1.1"},
         "spec.peerIP", r"^169\.254\.1\.1 is in 169\.254\.0\.0/16 \(link-local\)"),
    Case("peer-global-v6", "BGPPeer", "cidr('fe80::/10')", {**PEER, "peerIP": "2001:db8::1"},
         None),
    Case("peer-multicast", "BGPPeer", "cidr('224.0.0.0/4')", {**PEER, "peerIP": "224.0.0.5"},
         "spec.peerIP", r"^224\.0\.0\.5 is in 224\.0\.0\.0/4 \(multicast\)"),
    Case("peer-multicast-v6", "BGPPeer", "cidr('224.0.0.0/4')", {**PEER, "peerIP": "ff02::5"},
         "spec.peerIP", r"^ff02::5 is in ff00::/8 \(multicast\)"),
    Case("peer-link-local-upper-case", "BGPPeer", "cidr('fe80::/10')",
         {**PEER, "peerIP": "FE80::1"}, "spec.peerIP", r"^FE80::1 is in fe80::/10 \(link-local\)"),
    Case("peer-ipv4-mapped-multicast", "BGPPeer", "cidr('224.0.0.0/4')",
         {**PEER, "peerIP": "::ffff:224.0.0.5"}, None),
    Case("peer-unspecified-long-form", "BGPPeer", "isUnspecified()",
         {**PEER, "peerIP": "0:0:0:0:0:0:0:0"}, "spec.peerIP",
         r"^0:0:0:0:0:0:0:0 is in ::/128 \(the unspecified address\)"),
    Case("peer-leading-zero", "BGPPeer", "self.peerIP.matches(", {**PEER, "peerIP": "010.1.1.1"},
         "spec.peerIP",
         r"^010\.1\.1\.1 has a leading zero in an IPv4 part, which some tools read as octal; "
         r"write it without$"),
    Case("peer-v6-leading-zero-group", "BGPPeer", "self.peerIP.matches(",
         {**PEER, "peerIP": "2001:0db8::0001"}, None),
    Case("peer-zero-octet", "BGPPeer", "self.peerIP.matches(", {**PEER, "peerIP": "10.0.0.1"}, None),
    Case("pool-leading-zero", "IPPool", "self.cidr.matches(", {"cidr": "10.244.00.0/16", "backend": "b"},
         "spec.cidr", r"^10\.244\.00\.0/16 has a leading zero in an IPv4 part"),
    Case("pool-zero-octets", "IPPool", "self.cidr.matches(", {"cidr": "10.0.0.0/16", "backend": "b"},
         None),
    Case("reserved-leading-zero", "IPPool", "!r.matches(", {**POOL, "reserved": ["10.01.0.0/16"]},
         "spec.reserved", r"^a reserved network has a leading zero in an IPv4 part"),
    Case("reserved-no-leading-zero", "IPPool", "!r.matches(", {**POOL, "reserved": ["10.1.0.0/16"]},
         None),
    Case("peer-loopback-is-a-local-speaker", "BGPPeer", "cidr('224.0.0.0/4')",
         {**PEER, "peerIP": "127.0.0.1"}, None),
    Case("peer-broadcast", "BGPPeer", "cidr('255.255.255.255/32')",
         {**PEER, "peerIP": "255.255.255.255"}, "spec.peerIP",
         r"^255\.255\.255\.255 is in 255\.255\.255\.255/32 \(the limited broadcast address\)"),
    Case("peer-below-broadcast", "BGPPeer", "cidr('255.255.255.255/32')",
         {**PEER, "peerIP": "255.255.255.254"}, None),
    Case("vxlan-port-dns", "Backend", "self.port in [53", {"type": "vxlan", "vxlan": {"port": 53}},
         "spec.vxlan.port",
         r"^UDP port 53 is the node's own DNS port: the VTEP's socket would take it from the "
         r"node's service, or fail to come up; use 8472 \(the default\) or 4789$"),
    Case("vxlan-port-dhcpv6", "Backend", "self.port in [53",
         {"type": "vxlan", "vxlan": {"port": 547}}, "spec.vxlan.port",
         r"^UDP port 547 is the node's own DHCPv6 port"),
    Case("vxlan-port-4789", "Backend", "self.port in [53",
         {"type": "vxlan", "vxlan": {"port": 4789}}, None),
    Case("bridge-dot-dot", "Network", "['.', '..']",
         {**NET, "type": "bridge", "bridge": {"name": ".."}}, "spec.bridge.name",
         r"^'\.\.' is a path component, which the kernel refuses; a device name is 1 to 15 "
         r"bytes without '/', ':', '%' or whitespace, and not '\.', '\.\.', 'all' or 'default'$"),
    Case("bridge-dots-inside", "Network", "['.', '..']",
         {**NET, "type": "bridge", "bridge": {"name": "br.0"}}, None),
    Case("bridge-all", "Network", "['all', 'default']",
         {**NET, "type": "bridge", "bridge": {"name": "all"}}, "spec.bridge.name",
         r"^'all' is the name of sysctl's net\.ipv4\.conf\.all directory, which the kernel "
         r"refuses; a device name is"),
    Case("bridge-allx", "Network", "['all', 'default']",
         {**NET, "type": "bridge", "bridge": {"name": "allx"}}, None),
    Case("bridge-sit0", "Network", "'tunl0'",
         {**NET, "type": "bridge", "bridge": {"name": "sit0"}}, "spec.bridge.name",
         r"^sit0 is the kernel's sit fallback device; name the bridge something else, such as "
         r"cni0$"),
    Case("bridge-sit1", "Network", "'tunl0'",
         {**NET, "type": "bridge", "bridge": {"name": "sit1"}}, None),
    Case("bridge-nwip", "Network", "startsWith('nwvx.')",
         {**NET, "type": "bridge", "bridge": {"name": "nwip.7"}}, "spec.bridge.name",
         r"^nwip\.7 is in netwright's tunnel device names \(nwvx\.\*, nwip\.\*, nwwg\.\*\); name "
         r"the bridge something else, such as cni0$"),
    Case("bridge-nw", "Network", "startsWith('nwvx.')",
         {**NET, "type": "bridge", "bridge": {"name": "nwvx"}}, None),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(schemas: CrdSchemas, case: Case) -> None:
    document = {"apiVersion": GV, "kind": case.kind, "metadata": {"name": "x"}, "spec": case.spec}
    _, issues = schemas.validate(case.kind, document)
    if case.path is None:
        assert issues == []
    else:
        assert [i.path for i in issues] == [case.path, *case.also], issues
        assert re.search(case.message, issues[0].message), issues[0].message


def test_every_offline_rule_has_cases_that_refuse_and_accept() -> None:
    for found in RULES:
        if found.rule.is_transition:
            continue
        mine = [c for c in CASES if c.kind == found.kind and c.rule in found.raw["rule"]]
        assert any(c.path is not None for c in mine), f"no refusing case for {found.raw['rule']}"
        assert any(c.path is None for c in mine), f"no accepting case for {found.raw['rule']}"


def test_rules_do_not_run_on_a_subtree_of_the_wrong_shape(schemas: CrdSchemas) -> None:
    # `type: 5` is reported once, not again by every rule that reads it.
    document = {"apiVersion": GV, "kind": "Backend", "metadata": {"name": "x"},
                "spec": {"type": 5, "vxlan": {}}}
    _, issues = schemas.validate("Backend", document)
    assert [i.path for i in issues] == ["spec.type"]


def test_range_problems_do_not_hide_rule_problems(schemas: CrdSchemas) -> None:
    document = {"apiVersion": GV, "kind": "Network", "metadata": {"name": "x"},
                "spec": {"type": "ptp", "ipPools": ["a", "a"], "priority": 100, "mtu": 67}}
    _, issues = schemas.validate("Network", document)
    assert [i.path for i in issues] == ["spec.ipPools[1]", "spec.priority", "spec.mtu"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("isIP('192.0.2.1') && isIP('2001:db8::1')", True),
        ("isIP('::ffff:192.0.2.1') || isIP('fe80::1%eth0') || isIP('01.2.3.4')", False),
        ("isCIDR('10.0.0.1/8') && !isCIDR('10.0.0.0/33') && !isCIDR('::ffff:0:0/96')", True),
        ("cidr('10.0.0.0/8').containsIP('10.1.2.3') && !cidr('10.0.0.0/8').containsIP('::1')", True),
        ("cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16') && !cidr('10.1.0.0/16').containsCIDR('10.0.0.0/8')", True),
        ("cidr('10.0.0.1/8') != cidr('10.0.0.1/8').masked() && cidr('10.0.0.1/8').ip() == ip('10.0.0.1')", True),
        ("string(cidr('10.0.0.1/8').masked()) == '10.0.0.0/8' && cidr('::/0').prefixLength() == 0", True),
        ("ip('0.0.0.0').isUnspecified() && ip('::1').isLoopback() && ip('fe80::1').isLinkLocalUnicast()", True),
        ("ip('ff02::1').isLinkLocalMulticast() && ip('2001:db8::1').family() == 6", True),
        ("'%d of %s, 100%%'.format([3, 'x']) == '3 of x, 100%'", True),
    ],
)  # fmt: skip
def test_kubernetes_library_functions(expression: str, expected: bool) -> None:
    """The IP/CIDR library and format() behave as Kubernetes defines them."""
    assert _cel.compile_rule(expression).evaluate({}) == expected


def test_a_library_function_on_a_bad_value_is_an_evaluation_error() -> None:
    rule = _cel.CelRule(rule="cidr(self.c).prefixLength() > 0", message="m", field_path=".c")
    (violation,) = _cel.evaluate([rule], {"c": "::ffff:0:0/96"}, "spec")
    assert "could not be evaluated" in violation.message
