"""Turn schema-checked documents into model values, checking what lives in one field.

The CRD schema has already run (with defaults applied) when these builders see a
netwright document, so they only check what a schema cannot: that a CIDR has no
host bits, that a prefix fits its family, that an address parses. v1 Node and
Secret documents are not ours, so their few fields are checked here by hand.
Every problem becomes an `Issue` at the field's line; builders never raise.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import TYPE_CHECKING, Any

from netwright.model.spec import (
    EVERYTHING,
    Backend,
    BackendType,
    BGPPeer,
    BgpSettings,
    GracefulRestart,
    IPBlock,
    IPPool,
    Network,
    NetworkType,
    Node,
    Requirement,
    SecretRef,
    SecretValue,
    Selector,
    Source,
    VxlanSettings,
)

if TYPE_CHECKING:
    from netwright._types import IPAddress, IPNetwork
    from netwright.errors import Issue
    from netwright.validate.document import Document

#: When `blockSize` is absent (docs/api.md#ippool): 26 for IPv4, 122 for IPv6.
DEFAULT_BLOCK_SIZE = {4: 26, 6: 122}
#: The longest block that still holds a gateway and a pod: a /30 or a /126.
LONGEST_USABLE_BLOCK = {4: 30, 6: 126}
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IFNAME_MAX = 15
#: Kubernetes' rule for Secret and ConfigMap keys.
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def _family(version: int) -> str:
    return "IPv4" if version == 4 else "IPv6"


def _source(doc: Document) -> Source:
    return Source(file=doc.file, line=doc.line)


def parse_network(
    doc: Document, path: str, text: Any, issues: list[Issue], *, what: str = "network"
) -> IPNetwork | None:
    """An IPv4/IPv6 network with host bits zero, or an issue saying which network was meant."""
    if not isinstance(text, str) or "/" not in text:
        issues.append(doc.issue(path, f"{text!r} is not an IPv4 or IPv6 {what} in CIDR notation"))
        return None
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        issues.append(doc.issue(path, f"{text!r} is not an IPv4 or IPv6 {what} in CIDR notation"))
        return None
    issues.append(doc.issue(path, f"{text} has host bits set; the {what} is {loose}"))
    return None


def parse_address(doc: Document, path: str, text: Any, issues: list[Issue]) -> IPAddress | None:
    if not isinstance(text, str):  # ip_address() would take 5 as 0.0.0.5 and bytes as packed
        issues.append(doc.issue(path, f"{text!r} is not an IPv4 or IPv6 address"))
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        issues.append(doc.issue(path, f"{text!r} is not an IPv4 or IPv6 address"))
        return None


def build_selector(raw: Any) -> Selector:
    """A LabelSelector from a document that passed the schema (absent: everything)."""
    if not raw:
        return EVERYTHING
    labels = tuple(sorted((raw.get("matchLabels") or {}).items()))
    expressions = tuple(
        Requirement(key=e["key"], operator=e["operator"], values=tuple(e.get("values") or ()))
        for e in raw.get("matchExpressions") or ()
    )
    return Selector(match_labels=labels, match_expressions=expressions)


def build_node(doc: Document, issues: list[Issue]) -> Node | None:
    """A v1 Node: only `metadata.name`, `metadata.labels` and InternalIPs are read.

    See docs/api.md#node-v1.

    The document has passed the core/v1 schema (`_schema.CrdSchemas.validate_core`), so
    its fields have their types; what is checked here is checked again all the same.
    """
    data = doc.data
    name = doc.name
    before = len(issues)
    if not name or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        issues.append(
            doc.issue(
                "metadata.name",
                f"{name!r} is not a valid node name "
                "(lower-case letters, digits, '-' and '.', starting and ending alphanumeric)",
            )
        )
    meta = data.get("metadata")
    labels = (meta.get("labels") if isinstance(meta, dict) else None) or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        issues.append(doc.issue("metadata.labels", "must map label names to strings"))
        labels = {}
    status = data.get("status") or {}
    raw_addresses = status.get("addresses") if isinstance(status, dict) else None
    addresses: list[IPAddress] = []
    if isinstance(raw_addresses, list):
        for i, entry in enumerate(raw_addresses):
            if not isinstance(entry, dict):
                issues.append(doc.issue(f"status.addresses[{i}]", "must be {type, address}"))
                continue
            if entry.get("type") == "InternalIP":
                ip = parse_address(
                    doc, f"status.addresses[{i}].address", entry.get("address"), issues
                )
                if ip is not None:
                    addresses.append(ip)
    elif raw_addresses is not None:
        issues.append(doc.issue("status.addresses", "must be a list of {type, address}"))
    if not addresses and len(issues) == before:
        issues.append(
            doc.issue(
                "status.addresses",
                "the node has no InternalIP address; every node needs one "
                "({type: InternalIP, address: <node IP>})",
            )
        )
    if len(issues) != before:
        return None
    return Node(name=name, labels=labels, addresses=tuple(addresses), source=_source(doc))


def _map(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _secret_key_problem(key: Any) -> str | None:
    if isinstance(key, str) and len(key) <= 253 and _SECRET_KEY.fullmatch(key):
        return None
    return (
        f"{key!r} is not a valid key: at most 253 letters, digits, `-`, `_` or `.` "
        "(the Kubernetes API refuses others)"
    )


def build_secret(doc: Document, issues: list[Issue]) -> tuple[tuple[SecretRef, SecretValue], ...]:
    """The keys of a v1 Secret; values never appear in an issue.

    The document has passed the core/v1 schema (`_schema.CrdSchemas.validate_core`);
    on a spec-cache hit it is the same text that passed it before.
    """
    meta = _map(doc.data.get("metadata"))
    namespace = str(meta.get("namespace") or "default")
    values: list[tuple[SecretRef, SecretValue]] = []
    for key, value in _map(doc.data.get("stringData")).items():
        ref = SecretRef(namespace=namespace, name=doc.name, key=str(key))
        problem = _secret_key_problem(key)
        if problem is not None:
            issues.append(doc.issue(f"stringData.{key}", problem, kind="Secret"))
            continue
        if not isinstance(value, str):
            issues.append(doc.issue(f"stringData.{key}", "must be a string", kind="Secret"))
            continue
        values.append((ref, SecretValue(ref, value)))
    for key, value in _map(doc.data.get("data")).items():
        ref = SecretRef(namespace=namespace, name=doc.name, key=str(key))
        problem = _secret_key_problem(key)
        if problem is not None:
            issues.append(doc.issue(f"data.{key}", problem, kind="Secret"))
            continue
        try:
            # Go's base64 decoder, which the API server uses, skips line breaks.
            encoded = str(value).replace("\n", "").replace("\r", "")
            text = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            issues.append(
                doc.issue(f"data.{key}", "is not valid base64 of UTF-8 text", kind="Secret")
            )
            continue
        values.append((ref, SecretValue(ref, text)))
    return tuple(values)


def build_backend(doc: Document, issues: list[Issue]) -> Backend | None:
    spec = doc.data["spec"]
    kind = BackendType(spec["type"])
    vxlan = bgp = None
    if kind is BackendType.VXLAN:
        raw = spec.get("vxlan") or {}
        vxlan = VxlanSettings(
            vni=raw.get("vni", 1),
            port=raw.get("port", 8472),
            direct_routing=raw.get("directRouting", False),
        )
    if kind is BackendType.BGP:
        raw = spec["bgp"]
        bgp = BgpSettings(
            as_number=raw["asNumber"],
            node_to_node_mesh=raw.get("nodeToNodeMesh", True),
            route_reflectors=build_selector(raw["routeReflectors"])
            if raw.get("routeReflectors") is not None
            else None,
        )
    del issues  # everything about a Backend fits in its schema
    return Backend(name=doc.name, type=kind, vxlan=vxlan, bgp=bgp, source=_source(doc))


def build_pool(doc: Document, issues: list[Issue]) -> IPPool | None:
    spec = doc.data["spec"]
    before = len(issues)
    cidr = parse_network(doc, "spec.cidr", spec.get("cidr"), issues)
    if cidr is None:
        return None
    family = _family(cidr.version)
    block_size = spec.get("blockSize", DEFAULT_BLOCK_SIZE[cidr.version])
    # Longer than the family's longest prefix is the CRD's to refuse (a CEL rule for
    # IPv4, `maximum: 128`): such a document never reaches this builder.
    if block_size > LONGEST_USABLE_BLOCK[cidr.version]:
        issues.append(
            doc.issue(
                "spec.blockSize",
                f"/{block_size} blocks leave no room for a gateway and pods; "
                f"the longest usable {family} block is /{LONGEST_USABLE_BLOCK[cidr.version]}",
            )
        )
    elif block_size < cidr.prefixlen:
        issues.append(
            doc.issue(
                "spec.blockSize",
                f"{block_size} is shorter than the pool's own prefix /{cidr.prefixlen}: "
                f"a block must fit inside {cidr} (use {cidr.prefixlen} or more)",
            )
        )
    reserved: list[IPNetwork] = []
    for i, text in enumerate(spec.get("reserved") or ()):
        path = f"spec.reserved[{i}]"
        net = parse_network(doc, path, text, issues)
        if net is None:
            continue
        if net.version != cidr.version or not net.subnet_of(cidr):  # type: ignore[arg-type]
            issues.append(doc.issue(path, f"{net} is not inside the pool's cidr {cidr}"))
            continue
        reserved.append(net)
    if len(issues) != before:
        return None
    return IPPool(
        name=doc.name,
        cidr=cidr,
        block_size=block_size,
        backend=spec["backend"],
        nat_outgoing=spec.get("natOutgoing", False),
        reserved=tuple(reserved),
        node_selector=build_selector(spec.get("nodeSelector")),
        disabled=spec.get("disabled", False),
        source=_source(doc),
    )


def build_network(doc: Document, issues: list[Issue]) -> Network | None:
    spec = doc.data["spec"]
    kind = NetworkType(spec["type"])
    bridge_name = None
    if kind is NetworkType.BRIDGE:
        bridge_name = (spec.get("bridge") or {}).get("name") or "cni0"
        if len(bridge_name) > _IFNAME_MAX or "/" in bridge_name or " " in bridge_name:
            issues.append(
                doc.issue(
                    "spec.bridge.name",
                    f"{bridge_name!r} is not a valid interface name "
                    f"(at most {_IFNAME_MAX} characters, no '/' or spaces)",
                )
            )
            return None
    mtu = spec.get("mtu", "auto")
    return Network(
        name=doc.name,
        type=kind,
        ip_pools=tuple(spec["ipPools"]),
        cni_version=spec.get("cniVersion", "1.0.0"),
        priority=spec.get("priority", 10),
        bridge_name=bridge_name,
        mtu=None if mtu == "auto" else int(mtu),
        plugins=tuple(spec.get("plugins") or ()),
        node_selector=build_selector(spec.get("nodeSelector")),
        source=_source(doc),
    )


def build_peer(doc: Document, issues: list[Issue]) -> BGPPeer | None:
    spec = doc.data["spec"]
    before = len(issues)
    peer_ip = None
    if spec.get("peerIP") is not None:
        peer_ip = parse_address(doc, "spec.peerIP", spec["peerIP"], issues)
    # keepaliveTime < holdTime is a CEL rule of the CRD, checked before this builder.
    hold, keepalive = spec.get("holdTime", 90), spec.get("keepaliveTime", 30)
    ref = spec.get("passwordSecretRef")
    restart = spec.get("gracefulRestart") or {}
    if len(issues) != before:
        return None
    return BGPPeer(
        name=doc.name,
        as_number=spec["asNumber"],
        peer_ip=peer_ip,
        peer_selector=build_selector(spec["peerSelector"])
        if spec.get("peerSelector") is not None
        else None,
        node_selector=build_selector(spec.get("nodeSelector")),
        password_ref=SecretRef(namespace=ref["namespace"], name=ref["name"], key=ref["key"])
        if ref
        else None,
        hold_time=hold,
        keepalive_time=keepalive,
        graceful_restart=GracefulRestart(
            enabled=restart.get("enabled", True), restart_time=restart.get("restartTime", 120)
        ),
        source=_source(doc),
    )


def build_block(doc: Document, issues: list[Issue]) -> IPBlock | None:
    spec = doc.data["spec"]
    cidr = parse_network(doc, "spec.cidr", spec.get("cidr"), issues, what="block")
    if cidr is None:
        return None
    block = IPBlock(pool=spec["pool"], cidr=cidr, node=spec["node"], source=_source(doc))
    if doc.name != block.name:
        issues.append(
            doc.issue(
                "metadata.name",
                f"{doc.name!r} must be {block.name!r}: an IPBlock is named from its pool and "
                "CIDR, so that two blocks of the same range cannot both exist",
            )
        )
        return None
    return block
