"""A node's rendered configuration: the `spec` of its NodeNetworkConfig.

`render` produces a `NodeConfig` from the cluster spec; `plan` turns it (plus
what the node knows of its peers) into desired kernel state. In the operator it
travels through the Kubernetes API, so `to_dict()` gives plain camelCase JSON
and `from_dict()` reads it back into the same value.

It holds only what is local to one node (its blocks, devices, conflists, BIRD
configuration, NAT): never another node's routes, so that a node joining or
leaving rewrites no other node's object. It must never carry a secret in the
clear: the BIRD text holds placeholders, and the `SecretValue`s that replace
them at write time are kept beside it and never serialised.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netwright.model.spec import BackendType, IPBlock, SecretRef, SecretValue

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright._types import IPAddress, IPInterface, IPNetwork


def _net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text)


def _iface(text: str) -> IPInterface:
    return ipaddress.ip_interface(text)


def _addr(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeFacts:
    """What only a live node knows; the defaults stand in when there is none."""

    underlay_dev: str = "eth0"
    underlay_mtu: int = 1500
    #: The underlay interface's subnet, for vxlan `directRouting`; None: unknown.
    underlay_prefix: IPNetwork | None = None
    #: Prefix of every file path the node owns (`--root`).
    root: str = "/"


@dataclass(frozen=True, kw_only=True, slots=True)
class Tunnel:
    """A tunnel device netwright creates: a VTEP (vxlan) or an ipip/wireguard link."""

    name: str
    backend: str
    type: BackendType
    mtu: int
    local: IPAddress
    dev: str | None = None
    vni: int | None = None  # vxlan only
    port: int | None = None  # vxlan only
    mac: str | None = None  # vxlan only: derived from `local` (`state.vtep_mac`)
    addresses: tuple[IPInterface, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "backend": self.backend, "type": str(self.type)}
        if self.vni is not None:
            out["vni"] = self.vni
        if self.port is not None:
            out["port"] = self.port
        out["mtu"] = self.mtu
        if self.mac is not None:
            out["mac"] = self.mac
        out["local"] = str(self.local)
        if self.dev is not None:
            out["dev"] = self.dev
        out["addresses"] = [str(a) for a in self.addresses]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tunnel:
        return cls(
            name=d["name"],
            backend=d["backend"],
            type=BackendType(d["type"]),
            vni=d.get("vni"),
            port=d.get("port"),
            mtu=d["mtu"],
            mac=d.get("mac"),
            local=_addr(d["local"]),
            dev=d.get("dev"),
            addresses=tuple(_iface(a) for a in d.get("addresses", ())),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Bridge:
    """A Network's bridge, created by netwright with its MTU and gateway addresses."""

    name: str
    mtu: int
    addresses: tuple[IPInterface, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mtu": self.mtu, "addresses": [str(a) for a in self.addresses]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Bridge:
        return cls(
            name=d["name"],
            mtu=d["mtu"],
            addresses=tuple(_iface(a) for a in d.get("addresses", ())),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolRouting:
    """How this node reaches other nodes' blocks of one pool."""

    pool: str
    cidr: IPNetwork
    backend: str
    type: BackendType
    #: The tunnel (vxlan, ipip, wireguard) or the underlay device (host-gw, bgp).
    device: str
    direct_routing: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "cidr": str(self.cidr),
            "backend": self.backend,
            "type": str(self.type),
            "device": self.device,
            "directRouting": self.direct_routing,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PoolRouting:
        return cls(
            pool=d["pool"],
            cidr=_net(d["cidr"]),
            backend=d["backend"],
            type=BackendType(d["type"]),
            device=d["device"],
            direct_routing=bool(d.get("directRouting", False)),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Conflist:
    """One CNI conflist: `file` is the bare file name; plan joins the node's root."""

    network: str
    file: str
    config: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network, "file": self.file, "config": self.config}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Conflist:
        return cls(network=d["network"], file=d["file"], config=d["config"])


@dataclass(frozen=True, kw_only=True, slots=True)
class BirdConfig:
    """The node's BGP settings and BIRD configuration text (passwords as placeholders only).

    `config` is None in a node-local rendering (`render_node(..., local=True)`, what
    the controller writes into a NodeNetworkConfig): the text lists every BGP
    neighbour, other nodes included, so it is rendered on the node by its agent from
    the peers' Nodes and IPBlocks, and the object stays the same size at any cluster
    size. `secret_refs` names every secret the node's sessions may need; `secrets`
    holds the values where they are known (the CLI's spec directory, the agent after
    it read them). Only `secret_refs` is serialised.
    """

    as_number: int
    router_id: str
    config: str | None = None
    secret_refs: tuple[SecretRef, ...] = ()
    secrets: tuple[SecretValue, ...] = field(default=(), compare=True)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"asNumber": self.as_number, "routerID": self.router_id}
        if self.config is not None:
            out["config"] = self.config
        out["secretRefs"] = [
            {"namespace": r.namespace, "name": r.name, "key": r.key} for r in self.secret_refs
        ]
        return out

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], secrets: Mapping[SecretRef, SecretValue] | None = None
    ) -> BirdConfig:
        refs = tuple(
            SecretRef(namespace=r["namespace"], name=r["name"], key=r["key"])
            for r in d.get("secretRefs", ())
        )
        known = secrets or {}
        return cls(
            as_number=int(d["asNumber"]),
            router_id=str(d["routerID"]),
            config=d.get("config"),
            secret_refs=refs,
            secrets=tuple(known[r] for r in refs if r in known),
        )

    @property
    def missing(self) -> tuple[SecretRef, ...]:
        """The referenced secrets whose values are not at hand."""
        have = {s.ref for s in self.secrets}
        return tuple(r for r in self.secret_refs if r not in have)


@dataclass(frozen=True, kw_only=True, slots=True)
class NatOutgoing:
    """Masquerade traffic from `sources` to anything outside `exclude`."""

    sources: tuple[IPNetwork, ...]
    exclude: tuple[IPNetwork, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": [str(n) for n in self.sources],
            "exclude": [str(n) for n in self.exclude],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NatOutgoing:
        return cls(
            sources=tuple(_net(n) for n in d.get("sources", ())),
            exclude=tuple(_net(n) for n in d.get("exclude", ())),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeConfig:
    """Everything node-local that `render` decides for one node."""

    node: str
    node_ip: IPAddress
    blocks: tuple[IPBlock, ...] = ()
    tunnels: tuple[Tunnel, ...] = ()
    bridges: tuple[Bridge, ...] = ()
    routing: tuple[PoolRouting, ...] = ()
    conflists: tuple[Conflist, ...] = ()
    bird: BirdConfig | None = None
    nat: NatOutgoing | None = None

    def to_dict(self) -> dict[str, Any]:
        """The NodeNetworkConfig `spec`: plain, JSON-able, camelCase, no secret values."""
        out: dict[str, Any] = {
            "node": self.node,
            "nodeIP": str(self.node_ip),
            "blocks": [{"pool": b.pool, "cidr": str(b.cidr)} for b in self.blocks],
            "tunnels": [t.to_dict() for t in self.tunnels],
            "bridges": [b.to_dict() for b in self.bridges],
            "routing": [r.to_dict() for r in self.routing],
            "conflists": [c.to_dict() for c in self.conflists],
        }
        if self.bird is not None:
            out["bird"] = self.bird.to_dict()
        if self.nat is not None:
            out["natOutgoing"] = self.nat.to_dict()
        return out

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], secrets: Mapping[SecretRef, SecretValue] | None = None
    ) -> NodeConfig:
        """Read a NodeNetworkConfig `spec` back; `secrets` resolves the BIRD secret refs."""
        node = d["node"]
        bird = d.get("bird")
        nat = d.get("natOutgoing")
        return cls(
            node=node,
            node_ip=_addr(d["nodeIP"]),
            blocks=tuple(
                IPBlock(pool=b["pool"], cidr=_net(b["cidr"]), node=node)
                for b in d.get("blocks", ())
            ),
            tunnels=tuple(Tunnel.from_dict(t) for t in d.get("tunnels", ())),
            bridges=tuple(Bridge.from_dict(b) for b in d.get("bridges", ())),
            routing=tuple(PoolRouting.from_dict(r) for r in d.get("routing", ())),
            conflists=tuple(Conflist.from_dict(c) for c in d.get("conflists", ())),
            bird=BirdConfig.from_dict(bird, secrets) if bird is not None else None,
            nat=NatOutgoing.from_dict(nat) if nat is not None else None,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Peer:
    """What a node knows of another node: enough to route to its blocks.

    Built from the spec (CLI, Ansible) or from the peers' published data (the
    node agent); VTEP MACs are derived from `ip`, never published.
    """

    name: str
    #: The underlay address (the first InternalIP).
    ip: IPAddress
    #: Every InternalIP, in order; host-gw picks the first of a block's family.
    addresses: tuple[IPAddress, ...] = ()
    blocks: tuple[IPBlock, ...] = ()

    def address(self, version: int) -> IPAddress | None:
        if self.ip.version == version:
            return self.ip
        for a in self.addresses:
            if a.version == version:
                return a
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ip": str(self.ip),
            "addresses": [str(a) for a in self.addresses],
            "blocks": [{"pool": b.pool, "cidr": str(b.cidr)} for b in self.blocks],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Peer:
        name = d["name"]
        return cls(
            name=name,
            ip=_addr(d["ip"]),
            addresses=tuple(_addr(a) for a in d.get("addresses", ())),
            blocks=tuple(
                IPBlock(pool=b["pool"], cidr=_net(b["cidr"]), node=name)
                for b in d.get("blocks", ())
            ),
        )
