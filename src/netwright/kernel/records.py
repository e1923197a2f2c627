"""What the kernel package reports: observed objects in the model's own terms.

Why: the engine compares these with `netwright.model.state` values, so each record
carries the model value (names, `ipaddress` types, lower-case MACs) plus only the
kernel facts that ownership needs (protocol, alias, nexthop id, NUD state).
Nothing here talks to the kernel.
"""

from __future__ import annotations

import errno as errno_mod
import ipaddress
import os
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netwright.errors import KernelError
from netwright.model.state import Route

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright._types import IPAddress, IPInterface
    from netwright.model.state import FdbEntry, Link, Neighbour


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """Where the engine acts: a network namespace (None: the current one) and a root path.

    `root` prefixes netwright's own state (`<root>/var/lib/netwright/state.json`);
    the paths of desired files already carry it (`File.path`). `proc_sys` is where
    the sysctls are read and written: `/proc/sys`, or a writable mount of it where
    `/proc/sys` is read-only (an unprivileged container: see docs/troubleshooting.md,
    "read-only /proc/sys in unprivileged containers"). The files under it answer for
    the namespace of whoever opens them, so the target's namespace is still the one
    changed.
    """

    netns: str | None = None
    root: str = "/"
    proc_sys: str = "/proc/sys"

    def __str__(self) -> str:
        where = f"netns {self.netns}" if self.netns else "the current network namespace"
        return where if self.root == "/" else f"{where}, root {self.root}"


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkRecord:
    index: int
    alias: str | None
    link: Link  # name, kind, mtu, mac, up and vxlan settings as the kernel has them
    master: int = 0

    @property
    def name(self) -> str:
        return self.link.name


@dataclass(frozen=True, kw_only=True, slots=True)
class AddressRecord:
    dev: str
    address: IPInterface
    link_local: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class RouteRecord:
    """A route as the model spells it, plus what ownership and conflicts need."""

    route: Route
    protocol: int
    type: int  # RTN_*; 1 is unicast
    nhid: int = 0

    @property
    def unicast(self) -> bool:
        return self.type == 1


@dataclass(frozen=True, kw_only=True, slots=True)
class Nexthop:
    """A nexthop object: a gateway on a device, shared by the routes that use its id."""

    id: int
    gateway: IPAddress
    dev: str
    onlink: bool

    @property
    def key(self) -> tuple[IPAddress, str, bool]:
        return (self.gateway, self.dev, self.onlink)


@dataclass(frozen=True, kw_only=True, slots=True)
class NexthopRecord:
    nexthop: Nexthop | None  # None: a group, blackhole or device-only nexthop
    id: int
    protocol: int


@dataclass(frozen=True, kw_only=True, slots=True)
class NeighbourRecord:
    neighbour: Neighbour
    permanent: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class FdbRecord:
    entry: FdbEntry
    permanent: bool


class NetlinkRequestError(KernelError):
    """One refused netlink request; `errno` is the kernel's code."""

    def __init__(self, what: str, errno: int, detail: str = "") -> None:
        self.errno = errno
        name = errno_mod.errorcode.get(errno, str(errno))
        text = f"{what}: {name} ({os.strerror(errno)})"
        super().__init__(f"{text}: {detail}" if detail else text)


#: A route as the dump keys it: (family, table, dst bytes, prefix length, metric).
WireKey = tuple[int, int, bytes, int, int]


#: A nexthop as the dump gives it: (id, gateway bytes, device name, onlink).
NexthopWire = tuple[int, bytes, str, bool]


@dataclass(frozen=True, kw_only=True, slots=True)
class RouteSet:
    """Routes of netwright's by wire key only, never recorded one by one (5,000
    departed peers would otherwise be 5,000 `Route` objects and changes): either
    those through the nexthop objects netwright deletes, deleted in one batch
    before them, or those on a link netwright deletes, which go with it.

    `nexthops` are those nexthops (on a deleted link: netwright's nexthops on it,
    which go too); they have no record either. `vias` gives each as the dump did,
    in id order, so that `plan` can name its gateway and device (a hand-built set
    may leave it empty: the ids alone are named then).
    """

    nexthops: frozenset[int]
    keys: tuple[WireKey, ...]
    vias: tuple[NexthopWire, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class NexthopSet:
    """Nexthop objects of netwright's deleted in one batch: those of a `RouteSet`,
    after its routes; or those on a link netwright deletes, which go with it.

    `ids` is what apply needs; `vias` (as in `RouteSet`) what `plan` names.
    """

    ids: frozenset[int]
    vias: tuple[NexthopWire, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class EntrySet:
    """Permanent neighbour or fdb entries on one of netwright's VTEPs at no desired
    key, in wire form only: (family, destination bytes, link-layer bytes). Deleted
    in one batch, never recorded one by one (every peer leaving would otherwise be
    10,000 records and changes at 5,000 peers)."""

    kind: str  # "neighbour" | "fdb"
    dev: str
    entries: tuple[tuple[int, bytes, bytes], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class LeftoverRoutes:
    """netwright's routes at no desired key through its nexthop objects, by wire key.

    What the dump found, not what becomes of it: `keys[i]` goes through nexthop
    `nexthops[i]`, and `vias` names each of those nexthops as the dump gave it, in
    id order. Whether a nexthop stays (a desired route uses it, a route netwright
    does not own does), and so whether its routes are deleted one by one or in one
    batch before it, is the diff's to decide. At 5,000 departed peers these are
    5,000 keys and 5,000 vias: no record, no address object.
    """

    keys: tuple[WireKey, ...]
    nexthops: tuple[int, ...]
    vias: tuple[NexthopWire, ...]

    def nexthop(self, via: NexthopWire) -> Nexthop:
        """One of `vias` as a model nexthop (for a diff that keeps or names it)."""
        nhid, gateway, dev, onlink = via
        return Nexthop(id=nhid, gateway=ipaddress.ip_address(gateway), dev=dev, onlink=onlink)

    def route(self, key: WireKey, via: NexthopWire) -> Route:
        """The route at `key` through `via`, as a model route (for a diff that
        deletes it on its own, its nexthop staying)."""
        family, table, dst, dst_len, metric = key
        _nhid, gateway, dev, onlink = via
        if not dst:  # a default route dumps no destination
            dst = bytes(4 if family == socket.AF_INET else 16)
        return Route(
            dst=ipaddress.ip_network((dst, dst_len)),
            gateway=ipaddress.ip_address(gateway),
            dev=dev,
            onlink=onlink,
            table=table,
            metric=metric,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class RouteView:
    """What one route and nexthop dump says about netwright's routes.

    `synced` maps the index of each desired route found in place (netwright's,
    unicast, equal) to the nexthop id it uses (0: a plain route); those routes have
    no record. `nexthops` holds netwright's nexthop objects that no synced route
    uses (None: the kernel has no nexthop objects); `nexthop_ids` every id taken.
    `vanishing` holds, per (device, "route" | "nexthop"), the routes and nexthops
    of `protocol` on the devices the caller named as vanishing, at no desired key,
    by key only (a `RouteSet`, a `NexthopSet`): they have no record.
    `leftover` holds the routes of `protocol` at no desired key through
    netwright's nexthops (but not on a vanishing device), by key only: no record,
    and their nexthops have none unless a recorded route uses them.
    """

    records: tuple[RouteRecord, ...]
    synced: Mapping[int, int]
    nexthops: tuple[NexthopRecord, ...] | None
    nexthop_ids: frozenset[int]
    foreign_nexthop_users: frozenset[int]
    vanishing: Mapping[tuple[str, str], RouteSet | NexthopSet] = field(default_factory=dict)
    leftover: LeftoverRoutes | None = None
