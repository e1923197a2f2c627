"""Desired kernel and file state of one node: what `plan` produces, what the engine applies.

These are plain values keyed the way the kernel keys them (`key` on every
type), so the engine can diff desired against observed without knowing
anything about the spec. Only objects netwright owns appear here; ownership
markers (route protocol, link alias, nft table name) are constants below and
fixed by docs/api.md#constants.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netwright._types import IPAddress, IPInterface, IPNetwork
    from netwright.model.spec import SecretValue

#: Routing protocol number on every route netwright installs (docs/api.md#constants).
RT_PROTO_NETWRIGHT = 211
#: `ifalias` on every link netwright creates.
LINK_ALIAS = "netwright"
#: netwright's own nftables table.
NFT_FAMILY = "inet"
NFT_TABLE = "netwright"
#: Main routing table.
RT_TABLE_MAIN = 254


def vtep_mac(node_ip: IPAddress) -> str:
    """The VTEP MAC derived from the node's underlay address (docs/api.md#constants).

    `0e:6e:` (locally administered, unicast) followed by the IPv4 address as
    4 bytes; for an IPv6 underlay, the first 4 bytes of the SHA-256 of its 16.
    """
    raw = node_ip.packed if node_ip.version == 4 else hashlib.sha256(node_ip.packed).digest()[:4]
    return "0e:6e:" + ":".join(f"{b:02x}" for b in raw)


def bridge_mac(node_ip: IPAddress, bridge: str) -> str:
    """A fixed MAC for a bridge netwright creates on the node with `node_ip`.

    A Linux bridge without a set address takes the lowest MAC of its ports
    (`br_stp_recalculate_bridge_id`, net/bridge/br_stp_if.c), so the pods'
    gateway MAC would move as pods come and go, and the bridge plugin's CHECK
    fails ("Bridge interface cni0 Mac doesn't match"); seen in the lab on about
    half of the nodes. `0e:6f:` (locally administered, unicast) and 4 bytes of
    the SHA-256 of node address and bridge name: stable across re-creation and
    distinct between the bridges of one node.
    """
    digest = hashlib.sha256(node_ip.packed + bridge.encode()).digest()[:4]
    return "0e:6f:" + ":".join(f"{b:02x}" for b in digest)


@dataclass(frozen=True, kw_only=True, slots=True)
class VxlanLink:
    vni: int
    port: int
    local: IPAddress
    dev: str | None = None  # the underlay device; None lets the kernel route
    learning: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Link:
    """A link netwright creates (bridge, vxlan VTEP, ...)."""

    name: str
    kind: str  # bridge | vxlan | ipip | wireguard
    mtu: int | None = None
    mac: str | None = None
    up: bool = True
    vxlan: VxlanLink | None = None

    @property
    def key(self) -> str:
        return self.name


@dataclass(frozen=True, kw_only=True, slots=True)
class Address:
    dev: str
    address: IPInterface

    @property
    def key(self) -> tuple[str, IPInterface]:
        return (self.dev, self.address)


@dataclass(frozen=True, kw_only=True, slots=True)
class Route:
    """A unicast route; protocol is always `RT_PROTO_NETWRIGHT`."""

    dst: IPNetwork
    gateway: IPAddress | None = None
    dev: str | None = None
    onlink: bool = False
    table: int = RT_TABLE_MAIN
    metric: int = 0
    src: IPAddress | None = None

    @property
    def key(self) -> tuple[int, IPNetwork, int]:
        # The kernel stores an IPv6 route's metric 0 as 1024 (see pyroute2
        # requests/route.py, set_priority): normalise so desired and observed agree.
        metric = 1024 if self.dst.version == 6 and self.metric == 0 else self.metric
        return (self.table, self.dst, metric)


@dataclass(frozen=True, kw_only=True, slots=True)
class Neighbour:
    """A permanent neighbour entry."""

    dev: str
    ip: IPAddress
    mac: str

    @property
    def key(self) -> tuple[str, IPAddress]:
        return (self.dev, self.ip)


@dataclass(frozen=True, kw_only=True, slots=True)
class FdbEntry:
    """A permanent `self` fdb entry on a VTEP: frames for `mac` go to `dst`."""

    dev: str
    mac: str
    dst: IPAddress

    @property
    def key(self) -> tuple[str, str, IPAddress]:
        return (self.dev, self.mac, self.dst)


@dataclass(frozen=True, kw_only=True, slots=True)
class Sysctl:
    """A per-namespace sysctl, named with dots (`net.ipv4.ip_forward`)."""

    name: str
    value: str
    #: Skip instead of failing where the kernel lacks it (bridge-nf-call-iptables).
    optional: bool = False

    @property
    def key(self) -> str:
        return self.name

    @property
    def path(self) -> str:
        return "/proc/sys/" + self.name.replace(".", "/")


@dataclass(frozen=True, kw_only=True, slots=True)
class NftTable:
    """netwright's own nftables table, loaded whole in one `nft -f` transaction."""

    body: str  # the statements inside `table <family> <name> { ... }`
    family: str = NFT_FAMILY
    name: str = NFT_TABLE

    @property
    def key(self) -> tuple[str, str]:
        return (self.family, self.name)

    @property
    def text(self) -> str:
        return f"table {self.family} {self.name} {{\n{self.body}}}\n"


@dataclass(frozen=True, kw_only=True, slots=True)
class File:
    """A file netwright writes atomically; `path` already carries the node's root.

    `content` is what people see: secrets appear as placeholders. Only the file
    writer calls `materialize()` to get the bytes that go to disk.
    """

    path: str
    content: str
    mode: int = 0o644
    owner: str = "root"
    group: str | None = None  # None: the owner's group
    secrets: tuple[SecretValue, ...] = field(default=(), compare=True)

    @property
    def key(self) -> str:
        return self.path

    def materialize(self) -> str:
        text = self.content
        for s in self.secrets:
            text = text.replace(s.placeholder, s.reveal())
        return text


@dataclass(frozen=True, kw_only=True, slots=True)
class BirdControl:
    """BIRD must (re)load `config` through `socket` after the config changes."""

    config: str
    socket: str


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeState:
    """Everything netwright wants on one node, as plain data (the output of `plan`)."""

    node: str
    links: tuple[Link, ...] = ()
    addresses: tuple[Address, ...] = ()
    routes: tuple[Route, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()
    fdb: tuple[FdbEntry, ...] = ()
    sysctls: tuple[Sysctl, ...] = ()
    nft: NftTable | None = None
    files: tuple[File, ...] = ()
    bird: BirdControl | None = None


def interface(address: IPAddress, prefixlen: int) -> IPInterface:
    return ipaddress.ip_interface(f"{address}/{prefixlen}")
