"""The declarative model: what a spec directory (or the Kubernetes API) says.

Frozen, keyword-only values built by `netwright.validate` from documents that
already passed the CRD schema. Nothing here reads files or talks to anything;
nothing here checks cross-object rules (that is `validate`'s job). Addresses
are `ipaddress` values; strings only exist at the edges.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright._types import IPAddress, IPNetwork

API_GROUP = "netwright.io"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Source:
    """Where a document came from, for error messages (`file:line`)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NO_SOURCE = Source(file="<api>", line=0)


@dataclass(frozen=True, kw_only=True, slots=True)
class Requirement:
    """One `matchExpressions` entry of a Kubernetes LabelSelector."""

    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist


@dataclass(frozen=True, kw_only=True, slots=True)
class Selector:
    """A Kubernetes LabelSelector; the empty selector selects everything."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.match_expressions
        )

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


EVERYTHING = Selector()


@dataclass(frozen=True, kw_only=True, slots=True)
class Node:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    addresses: tuple[IPAddress, ...] = ()  # InternalIPs, in document order
    source: Source = NO_SOURCE

    def address(self, version: int) -> IPAddress | None:
        """The node's first InternalIP of that family (docs/api.md#node-v1)."""
        for a in self.addresses:
            if a.version == version:
                return a
        return None

    @property
    def ip(self) -> IPAddress:
        """The underlay address: the first InternalIP (vxlan carries both families over it)."""
        return self.addresses[0]


class BackendType(enum.StrEnum):
    VXLAN = "vxlan"
    HOST_GW = "host-gw"
    BGP = "bgp"
    IPIP = "ipip"
    WIREGUARD = "wireguard"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, kw_only=True, slots=True)
class VxlanSettings:
    vni: int = 1
    port: int = 8472
    direct_routing: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class BgpSettings:
    as_number: int
    node_to_node_mesh: bool = True
    route_reflectors: Selector | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Backend:
    name: str
    type: BackendType
    vxlan: VxlanSettings | None = None
    bgp: BgpSettings | None = None
    source: Source = NO_SOURCE


@dataclass(frozen=True, kw_only=True, slots=True)
class IPPool:
    name: str
    cidr: IPNetwork
    block_size: int
    backend: str
    nat_outgoing: bool = False
    reserved: tuple[IPNetwork, ...] = ()
    node_selector: Selector = EVERYTHING
    disabled: bool = False
    source: Source = NO_SOURCE

    @property
    def version(self) -> int:
        return self.cidr.version

    @property
    def capacity(self) -> int:
        """How many blocks of `block_size` the CIDR holds (reserved ones included)."""
        return 1 << (self.block_size - self.cidr.prefixlen)


class NetworkType(enum.StrEnum):
    BRIDGE = "bridge"
    PTP = "ptp"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, kw_only=True, slots=True)
class Network:
    name: str
    type: NetworkType
    ip_pools: tuple[str, ...]
    cni_version: str = "1.0.0"
    priority: int = 10
    bridge_name: str | None = None  # set (default cni0) when type is bridge
    mtu: int | None = None  # None: auto (underlay MTU minus the backend's overhead)
    plugins: tuple[Mapping[str, Any], ...] = ()
    node_selector: Selector = EVERYTHING
    source: Source = NO_SOURCE

    @property
    def conflist_name(self) -> str:
        return f"{self.priority}-{self.name}.conflist"


@dataclass(frozen=True, kw_only=True, slots=True)
class SecretRef:
    namespace: str
    name: str
    key: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}/{self.key}"


class SecretValue:
    """A secret that cannot leak by accident.

    It prints as a placeholder, compares by a hash of its value, and gives out
    the cleartext only through `reveal()`, which only file writers call.
    """

    __slots__ = ("_digest", "_value", "ref")

    def __init__(self, ref: SecretRef, value: str) -> None:
        self.ref = ref
        self._value = value
        self._digest = hashlib.sha256(value.encode()).hexdigest()

    @property
    def placeholder(self) -> str:
        return f"<secret {self.ref}>"

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"SecretValue({self.placeholder})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._digest == self._digest

    def __hash__(self) -> int:
        return hash(self._digest)


@dataclass(frozen=True, kw_only=True, slots=True)
class GracefulRestart:
    enabled: bool = True
    restart_time: int = 120


@dataclass(frozen=True, kw_only=True, slots=True)
class BGPPeer:
    name: str
    as_number: int
    peer_ip: IPAddress | None = None
    peer_selector: Selector | None = None  # in-cluster peers: the nodes it selects
    node_selector: Selector = EVERYTHING
    password_ref: SecretRef | None = None
    hold_time: int = 90
    keepalive_time: int = 30
    graceful_restart: GracefulRestart = GracefulRestart()
    source: Source = NO_SOURCE


def block_name(pool: str, cidr: IPNetwork) -> str:
    """docs/api.md#ipblock: IPBlock names replace `.`, `:` and `/` of the CIDR with `-`."""
    text = str(cidr)
    return f"{pool}." + text.replace(".", "-").replace(":", "-").replace("/", "-")


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class IPBlock:
    pool: str
    cidr: IPNetwork
    node: str
    source: Source = field(default=NO_SOURCE, compare=False)

    @property
    def name(self) -> str:
        return block_name(self.pool, self.cidr)


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterSpec:
    """Everything a spec directory says, after schema validation and defaulting."""

    nodes: tuple[Node, ...] = ()
    backends: tuple[Backend, ...] = ()
    pools: tuple[IPPool, ...] = ()
    networks: tuple[Network, ...] = ()
    peers: tuple[BGPPeer, ...] = ()
    blocks: tuple[IPBlock, ...] = ()
    secrets: Mapping[SecretRef, SecretValue] = field(default_factory=dict)
