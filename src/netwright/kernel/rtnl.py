"""The engine's one door to a node's kernel: a session bound to a `Target`.

Why it exists: the engine must not know how netlink is spoken. A `Session` reads
and writes kernel objects in the model's own terms (`netwright.model.state`) and
reports refusals as `NetlinkRequestError` naming the object and the errno. It is the
only module, with `_nlcodec.py`, that touches netlink, and the only importer of
pyroute2 in netwright; pyroute2 is imported when a session opens, never at import.

What it must not do: decide anything. Which objects are netwright's, what to
change and in what order is the engine's business; this module reads exactly what
it is asked to read, writes exactly what it is told to write, and never creates a
network namespace (a mistyped `--netns` is an error, not a new namespace).

The hard cases:

- pyroute2 ignores nothing but the kernel does: IFLA_IFALIAS in an RTM_NEWLINK that
  *creates* a link is silently dropped (`rtnl_create_link` never reads it; checked
  on 6.18). So a link is created, then given its alias and state in a second
  request, and deleted again if that second request fails: never half-made.
- A kind the kernel lacks (`ipip`, `wireguard` here) answers EOPNOTSUPP ("Unknown
  device type"). `probe_kind` asks with a throwaway down link of that kind, so
  the answer covers modules, built-ins and autoloading exactly as the real request
  would see them; EEXIST (a VNI already taken) still proves the kind exists.
- Routes through nexthop objects dump with RTA_NH_ID (plus compat gateway and oif
  while `nexthop_compat_mode` is 1); the nexthop table is the truth for them, so
  gateway, device and onlink are taken from the object, not from the compat copy.
- Dumps of the bulk objects go through the `struct` codec and skip anything that is
  neither netwright's (protocol 211, a VTEP's entries) nor at a key netwright wants,
  before building Python objects for it.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import secrets
import socket
import subprocess
from typing import TYPE_CHECKING, Any

from netwright.errors import KernelError
from netwright.kernel import _nlcodec as nl
from netwright.kernel._netns import entered
from netwright.kernel.records import (
    AddressRecord,
    FdbRecord,
    LinkRecord,
    NeighbourRecord,
    NetlinkRequestError,
    Nexthop,
    NexthopRecord,
    RouteRecord,
    RouteView,
    Target,
)
from netwright.model.state import FdbEntry, Link, Neighbour, Route, VxlanLink

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Sequence

    from netwright._types import IPAddress, IPNetwork
    from netwright.model.state import Address

IFF_UP = 0x1
RT_SCOPE_LINK = 253
RTM_F_CLONED = 0x200


def _mac(raw: bytes | None) -> str | None:
    if not raw or len(raw) != 6:
        return None
    return ":".join(f"{b:02x}" for b in raw)


def mac_bytes(text: str) -> bytes:
    """`0e:6e:ac:1f:ff:0b` (or with one-digit groups) as its 6 bytes."""
    if len(text) == 17:
        return bytes.fromhex(text.replace(":", ""))
    return bytes(int(p, 16) for p in text.split(":"))


def _ip(raw: bytes) -> IPAddress:
    return ipaddress.ip_address(raw)


def _known_ip(known: dict[bytes, IPAddress], raw: bytes) -> IPAddress:
    """An address from its bytes, reusing a desired one (building them is the cost)."""
    found = known.get(raw)
    return found if found is not None else ipaddress.ip_address(raw)


def route_wire_key(key: tuple[int, IPNetwork, int]) -> tuple[int, int, bytes, int, int]:
    """A route key as the dump spells it: (family, table, dst bytes, prefix, metric)."""
    table, dst, metric = key
    family = socket.AF_INET if dst.version == 4 else socket.AF_INET6
    return (family, table, dst.network_address.packed, dst.prefixlen, metric)


def route_wire_key_of(route: Route) -> tuple[int, int, bytes, int, int]:
    """`route_wire_key(route.key)` in one step (a no-op computes thousands).

    Normalises the IPv6 metric 0 to 1024 as `Route.key` does; a unit test keeps
    the two equal.
    """
    dst = route.dst
    if dst.version == 4:
        return (
            socket.AF_INET,
            route.table,
            dst.network_address.packed,
            dst.prefixlen,
            route.metric,
        )
    metric = route.metric or 1024
    return (socket.AF_INET6, route.table, dst.network_address.packed, dst.prefixlen, metric)


def _same_route(
    want: Route, raw: nl.RawRoute, nexthops: dict[int, nl.RawNexthop], index: dict[str, int]
) -> bool:
    """Is `raw` (at want's key, unicast) the desired route? Compared in wire form.

    A route through a nexthop object takes gateway, device and onlink from that
    object (the compat copies in the route are ignored), which must be netwright's.
    """
    if raw.nhid:
        nh = nexthops.get(raw.nhid)
        if nh is None:
            return False
        gateway, oif, flags = nh.gateway, nh.oif, nh.flags
    else:
        gateway, oif, flags = raw.gateway, raw.oif, raw.flags
    want_gw = want.gateway
    if gateway != (None if want_gw is None else want_gw.packed):
        return False
    if bool(flags & nl.RTNH_F_ONLINK) != want.onlink:
        return False
    if want.dev is not None and oif != index.get(want.dev):
        return False
    src = want.src
    return raw.src == (None if src is None else src.packed)


class Session:
    """An open connection to one target's kernel: netlink sockets, sysctls, nft.

    Use `open_session(target)`. Link and address work goes through pyroute2; bulk
    objects through `_nlcodec`. Name-to-index lookups are cached and refreshed by
    `refresh_links()` (the engine calls it after creating or deleting links).
    """

    def __init__(self, target: Target) -> None:
        from pyroute2 import IPRoute  # noqa: PLC0415 - 0.2 s: only when a session opens

        self.target = target
        with entered(target.netns):
            # Both sockets are created inside the namespace and stay bound to it.
            self._ipr: Any = IPRoute()
            try:
                self._nl = nl.Socket()
            except BaseException:
                self._ipr.close()
                raise
        self._links: dict[str, LinkRecord] | None = None
        self._names: dict[int, str] = {}
        self._probed: dict[str, bool] = {}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ipr.close()
        self._nl.close()

    # ------------------------------------------------------------------ links

    def _pyroute2(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        from pyroute2.netlink.exceptions import NetlinkError  # noqa: PLC0415

        try:
            return call(*args, **kwargs)
        except NetlinkError as exc:
            raise NetlinkRequestError(what, int(exc.code)) from exc

    def links(self) -> dict[str, LinkRecord]:
        if self._links is None:
            self.refresh_links()
        assert self._links is not None
        return self._links

    def refresh_links(self) -> None:
        raw = self._pyroute2("dump links", self._ipr.get_links)
        names = {int(m["index"]): str(m.get_attr("IFLA_IFNAME")) for m in raw}
        links: dict[str, LinkRecord] = {}
        for msg in raw:
            rec = self._link_record(msg, names)
            links[rec.name] = rec
        self._links = links
        self._names = names

    @staticmethod
    def _link_record(msg: Any, names: dict[int, str]) -> LinkRecord:
        name = str(msg.get_attr("IFLA_IFNAME"))
        info = msg.get_attr("IFLA_LINKINFO")
        kind = "" if info is None else str(info.get_attr("IFLA_INFO_KIND") or "")
        vxlan = None
        if kind == "vxlan" and info is not None:
            data = info.get_attr("IFLA_INFO_DATA")
            if data is not None:
                local = data.get_attr("IFLA_VXLAN_LOCAL") or data.get_attr("IFLA_VXLAN_LOCAL6")
                dev_index = data.get_attr("IFLA_VXLAN_LINK") or 0
                vxlan = VxlanLink(
                    vni=int(data.get_attr("IFLA_VXLAN_ID") or 0),
                    port=int(data.get_attr("IFLA_VXLAN_PORT") or 0),
                    local=ipaddress.ip_address(local) if local else ipaddress.IPv4Address(0),
                    dev=names.get(int(dev_index)) if dev_index else None,
                    learning=bool(data.get_attr("IFLA_VXLAN_LEARNING")),
                )
        address = msg.get_attr("IFLA_ADDRESS")
        link = Link(
            name=name,
            kind=kind,
            mtu=int(msg.get_attr("IFLA_MTU") or 0),
            mac=str(address).lower() if address else None,
            up=bool(int(msg["flags"]) & IFF_UP),
            vxlan=vxlan,
        )
        alias = msg.get_attr("IFLA_IFALIAS")
        return LinkRecord(
            index=int(msg["index"]),
            alias=str(alias) if alias is not None else None,
            link=link,
            master=int(msg.get_attr("IFLA_MASTER") or 0),
        )

    def index(self, dev: str) -> int:
        rec = self.links().get(dev)
        if rec is None:
            raise NetlinkRequestError(f"link {dev}", errno.ENODEV)
        return rec.index

    def _link_kwargs(self, link: Link, name: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"ifname": name, "kind": link.kind}
        if link.vxlan is not None:
            vx = link.vxlan
            kwargs["vxlan_id"] = vx.vni
            kwargs["vxlan_port"] = vx.port
            kwargs["vxlan_learning"] = 1 if vx.learning else 0
            if vx.local.version == 4:
                kwargs["vxlan_local"] = str(vx.local)
            else:
                kwargs["vxlan_local6"] = str(vx.local)
            if vx.dev is not None:
                kwargs["vxlan_link"] = self.index(vx.dev)
        return kwargs

    def probe_kind(self, link: Link) -> bool:
        """Can this kernel, in this namespace, create a link of `link.kind`?"""
        if link.kind in self._probed:
            return self._probed[link.kind]
        name = "nwprobe" + secrets.token_hex(4)
        try:
            kwargs = self._link_kwargs(link, name)
        except NetlinkRequestError:  # its underlay device is missing: the real request will say so
            kwargs = {"ifname": name, "kind": link.kind}
        supported = True
        try:
            self._pyroute2(f"probe {link.kind}", self._ipr.link, "add", **kwargs)
        except NetlinkRequestError as exc:
            supported = exc.errno != errno.EOPNOTSUPP
        else:
            with contextlib.suppress(Exception):
                self._ipr.link("del", ifname=name)
        self._probed[link.kind] = supported
        return supported

    def create_link(self, link: Link, *, alias: str) -> None:
        """Create `link` with all its settings, or leave nothing behind."""
        what = f"link {link.name}"
        kwargs = self._link_kwargs(link, link.name)
        if link.mtu is not None:
            kwargs["mtu"] = link.mtu
        if link.mac is not None:
            kwargs["address"] = link.mac
        self._pyroute2(what, self._ipr.link, "add", **kwargs)
        try:
            found = self._pyroute2(what, self._ipr.link_lookup, ifname=link.name)
            if not found:
                raise NetlinkRequestError(what, errno.ENODEV, "created but not found")  # noqa: TRY301 - undone below like any failure
            self._pyroute2(
                what,
                self._ipr.link,
                "set",
                index=found[0],
                ifalias=alias,
                state="up" if link.up else "down",
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self._ipr.link("del", ifname=link.name)
            raise
        finally:
            self._links = None

    def set_link(
        self,
        name: str,
        *,
        mtu: int | None = None,
        mac: str | None = None,
        up: bool | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"index": self.index(name)}
        if mtu is not None:
            kwargs["mtu"] = mtu
        if mac is not None:
            kwargs["address"] = mac
        if up is not None:
            kwargs["state"] = "up" if up else "down"
        try:
            self._pyroute2(f"link {name}", self._ipr.link, "set", **kwargs)
        finally:
            self._links = None

    def delete_link(self, name: str) -> None:
        try:
            self._pyroute2(f"link {name}", self._ipr.link, "del", index=self.index(name))
        except NetlinkRequestError as exc:
            if exc.errno != errno.ENODEV:  # already gone is done
                raise
        finally:
            self._links = None

    # ------------------------------------------------------------------ addresses

    def addresses(self, devs: Collection[str]) -> list[AddressRecord]:
        links = self.links()
        wanted = {links[d].index: d for d in devs if d in links}
        if not wanted:
            return []
        out = []
        for msg in self._pyroute2("dump addresses", self._ipr.get_addr):
            dev = wanted.get(int(msg["index"]))
            if dev is None:
                continue
            local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            iface = ipaddress.ip_interface(f"{local}/{int(msg['prefixlen'])}")
            out.append(
                AddressRecord(
                    dev=dev,
                    address=iface,
                    link_local=int(msg["scope"]) == RT_SCOPE_LINK and iface.version == 6,
                )
            )
        return out

    def add_address(self, addr: Address) -> None:
        self._pyroute2(
            f"address {addr.address} dev {addr.dev}",
            self._ipr.addr,
            "add",
            index=self.index(addr.dev),
            address=str(addr.address.ip),
            prefixlen=addr.address.network.prefixlen,
        )

    def delete_address(self, addr: Address) -> None:
        try:
            self._pyroute2(
                f"address {addr.address} dev {addr.dev}",
                self._ipr.addr,
                "del",
                index=self.index(addr.dev),
                address=str(addr.address.ip),
                prefixlen=addr.address.network.prefixlen,
            )
        except NetlinkRequestError as exc:
            if exc.errno not in {errno.EADDRNOTAVAIL, errno.ENODEV}:
                raise

    # ------------------------------------------------------------------ bulk dumps
    #
    # At thousands of peers a no-op must not build a Python object per kernel
    # object: each dumped message is parsed into a named tuple of raw fields, looked
    # up by its wire key among the desired objects, and compared field by field in
    # wire form (bytes, ifindex). Equal ones are reported by their index in the
    # desired sequence (`synced`); only the rest become records for the diff.

    def _raw_nexthops(self) -> list[nl.RawNexthop] | None:
        """Every nexthop object in the namespace; None if the kernel has none."""
        try:
            msgs = self._nl.dump(
                nl.RTM_GETNEXTHOP, nl.NHMSG.pack(0, 0, 0, 0, 0), what="dump nexthops"
            )
        except OSError as exc:
            if exc.errno in {errno.EOPNOTSUPP, errno.EINVAL, errno.EAFNOSUPPORT}:
                return None
            raise NetlinkRequestError("dump nexthops", exc.errno or 0) from exc
        parse = nl.parse_nexthop
        return [parse(data, off, end) for data, off, end in msgs]

    def routes(self, *, protocol: int, desired: Sequence[Route]) -> RouteView:
        """Routes and nexthop objects, as far as netwright's are concerned.

        Routes of `protocol` equal to the desired route at their key are only
        counted (`RouteView.synced`); the other routes of `protocol`, and routes of
        any protocol at a desired key (for conflicts), become records. Nexthop
        objects of `protocol` that no synced route uses become records; the ids of
        all of them, and those that routes of other protocols use, are listed.
        """
        raw_nh = self._raw_nexthops()
        try:
            msgs = self._nl.dump(
                nl.RTM_GETROUTE, nl.RTMSG.pack(0, 0, 0, 0, 0, 0, 0, 0, 0), what="dump routes"
            )
        except OSError as exc:
            raise NetlinkRequestError("dump routes", exc.errno or 0) from exc
        links = self.links()
        index = {name: rec.index for name, rec in links.items()}
        owned_nh = {
            r.id: r
            for r in raw_nh or ()
            if r.protocol == protocol and r.gateway and r.oif and not r.group and not r.blackhole
        }
        wire = {route_wire_key_of(r): i for i, r in enumerate(desired)}
        parse = nl.parse_route
        records: list[nl.RawRoute] = []
        synced: dict[int, int] = {}
        foreign_nh: set[int] = set()
        inet = (socket.AF_INET, socket.AF_INET6)
        for data, off, end in msgs:
            raw = parse(data, off, end)
            if raw.family not in inet or raw.flags & RTM_F_CLONED or raw.tos:
                continue
            i = wire.get((raw.family, raw.table, raw.dst, raw.dst_len, raw.metric))
            if raw.protocol != protocol:
                if raw.nhid:
                    foreign_nh.add(raw.nhid)
                if i is None:
                    continue
            elif (
                i is not None
                and raw.type == nl.RTN_UNICAST
                and _same_route(desired[i], raw, owned_nh, index)
            ):
                synced[i] = raw.nhid
                continue
            records.append(raw)
        used = set(synced.values())
        needed = {raw.nhid for raw in records if raw.nhid}
        gateways = {r.gateway.packed: r.gateway for r in desired if r.gateway is not None}
        nexthops = {
            nhid: Nexthop(
                id=nhid,
                gateway=_known_ip(gateways, r.gateway),
                dev=self._names.get(r.oif, str(r.oif)),
                onlink=bool(r.flags & nl.RTNH_F_ONLINK),
            )
            for nhid, r in owned_nh.items()
            if (nhid not in used or nhid in needed) and r.gateway is not None
        }
        return RouteView(
            records=tuple(self._route_record(raw, nexthops) for raw in records),
            synced=synced,
            nexthops=None
            if raw_nh is None
            else tuple(
                NexthopRecord(nexthop=nh, id=nh.id, protocol=protocol)
                for nh in nexthops.values()
                if nh.id not in used
            ),
            nexthop_ids=frozenset(r.id for r in raw_nh or ()),
            foreign_nexthop_users=frozenset(foreign_nh),
        )

    def _route_record(self, raw: nl.RawRoute, nexthops: dict[int, Nexthop]) -> RouteRecord:
        nh = nexthops.get(raw.nhid) if raw.nhid else None
        if nh is not None:
            gateway: IPAddress | None = nh.gateway
            dev: str | None = nh.dev
            onlink = nh.onlink
        else:
            gateway = _ip(raw.gateway) if raw.gateway else None
            dev = self._names.get(raw.oif) if raw.oif else None
            onlink = bool(raw.flags & nl.RTNH_F_ONLINK)
        route = Route(
            dst=ipaddress.ip_network((raw.dst, raw.dst_len)),
            gateway=gateway,
            dev=dev,
            onlink=onlink,
            table=raw.table,
            metric=raw.metric,
            src=_ip(raw.src) if raw.src else None,
        )
        return RouteRecord(route=route, protocol=raw.protocol, type=raw.type, nhid=raw.nhid)

    def _neigh_dump(self, family: int, what: str) -> list[tuple[bytes, int, int]]:
        try:
            return self._nl.dump(
                nl.RTM_GETNEIGH, nl.NDMSG.pack(family, 0, 0, 0, 0, 0, 0), what=what
            )
        except OSError as exc:
            raise NetlinkRequestError(what, exc.errno or 0) from exc

    def neighbours(
        self, devs: Collection[str], *, desired: Sequence[Neighbour] = ()
    ) -> tuple[list[NeighbourRecord], frozenset[int]]:
        """Neighbours on `devs`, and the indices of desired ones already there, permanent."""
        links = self.links()
        wanted = {links[d].index: d for d in devs if d in links}
        if not wanted:
            return [], frozenset()
        index = {d: i for i, d in wanted.items()}
        same = {(index[n.dev], n.ip.packed): i for i, n in enumerate(desired) if n.dev in index}
        out = []
        synced: set[int] = set()
        parse = nl.parse_neighbour
        inet = (socket.AF_INET, socket.AF_INET6)
        for data, off, end in self._neigh_dump(socket.AF_UNSPEC, "dump neighbours"):
            raw = parse(data, off, end)
            dev = wanted.get(raw.ifindex)
            if dev is None or raw.dst is None or raw.family not in inet:
                continue
            i = same.get((raw.ifindex, raw.dst))
            if (
                i is not None
                and raw.state & nl.NUD_PERMANENT
                and raw.lladdr == mac_bytes(desired[i].mac)
            ):
                synced.add(i)
                continue
            out.append(
                NeighbourRecord(
                    neighbour=Neighbour(dev=dev, ip=_ip(raw.dst), mac=_mac(raw.lladdr) or ""),
                    permanent=bool(raw.state & nl.NUD_PERMANENT),
                )
            )
        return out, frozenset(synced)

    def fdb(
        self, devs: Collection[str], *, desired: Sequence[FdbEntry] = ()
    ) -> tuple[list[FdbRecord], frozenset[int]]:
        """Fdb entries on `devs`, and the indices of desired ones already there, permanent."""
        links = self.links()
        wanted = {links[d].index: d for d in devs if d in links}
        if not wanted:
            return [], frozenset()
        index = {d: i for i, d in wanted.items()}
        same = {
            (index[f.dev], mac_bytes(f.mac), f.dst.packed): i
            for i, f in enumerate(desired)
            if f.dev in index
        }
        out = []
        synced: set[int] = set()
        parse = nl.parse_neighbour
        for data, off, end in self._neigh_dump(nl.AF_BRIDGE, "dump fdb"):
            raw = parse(data, off, end)
            dev = wanted.get(raw.ifindex)
            if dev is None or raw.dst is None or raw.lladdr is None:
                continue
            i = same.get((raw.ifindex, raw.lladdr, raw.dst))
            if i is not None and raw.state & nl.NUD_PERMANENT:
                synced.add(i)
                continue
            out.append(
                FdbRecord(
                    entry=FdbEntry(dev=dev, mac=_mac(raw.lladdr) or "", dst=_ip(raw.dst)),
                    permanent=bool(raw.state & nl.NUD_PERMANENT),
                )
            )
        return out, frozenset(synced)

    # ------------------------------------------------------------------ bulk writes

    def route_message(self, route: Route, *, op: str, nhid: int = 0, protocol: int) -> nl.Message:
        """op: add (fails if the key is taken), replace (create or overwrite), delete."""
        family = nl.FAMILY[route.dst.version]
        delete = op == "delete"
        oif = 0
        if not delete and not nhid and route.dev is not None:
            oif = self.index(route.dev)
        return nl.route_message(
            delete=delete,
            replace=op == "replace",
            family=family,
            dst=route.dst.network_address.packed,
            dst_len=route.dst.prefixlen,
            table=route.table,
            metric=route.key[2],
            protocol=protocol,
            gateway=route.gateway.packed if route.gateway is not None else None,
            oif=oif,
            onlink=route.onlink,
            nhid=nhid,
            src=route.src.packed if route.src is not None else None,
        )

    def nexthop_message(self, nh: Nexthop, *, delete: bool, protocol: int) -> nl.Message:
        if delete:
            return nl.nexthop_message(delete=True, nhid=nh.id)
        return nl.nexthop_message(
            delete=False,
            nhid=nh.id,
            family=nl.FAMILY[nh.gateway.version],
            protocol=protocol,
            gateway=nh.gateway.packed,
            oif=self.index(nh.dev),
            onlink=nh.onlink,
        )

    def neighbour_message(self, n: Neighbour, *, delete: bool) -> nl.Message:
        return nl.neighbour_message(
            delete=delete,
            family=nl.FAMILY[n.ip.version],
            ifindex=self.index(n.dev),
            dst=n.ip.packed,
            lladdr=None if delete else mac_bytes(n.mac),
        )

    def fdb_message(self, f: FdbEntry, *, delete: bool, replace: bool = False) -> nl.Message:
        return nl.fdb_message(
            delete=delete,
            ifindex=self.index(f.dev),
            lladdr=mac_bytes(f.mac),
            dst=f.dst.packed,
            replace=replace,
        )

    def transact(self, messages: Sequence[nl.Message]) -> list[nl.Failure]:
        try:
            return self._nl.transact(messages)
        except OSError as exc:
            raise NetlinkRequestError("netlink batch", exc.errno or 0) from exc

    # ------------------------------------------------------------------ namespace-local files

    def read_sysctl(self, path: str) -> str | None:
        with entered(self.target.netns):
            try:
                with open(path, encoding="ascii") as f:
                    return f.read().strip()
            except FileNotFoundError:
                return None

    def write_sysctl(self, path: str, value: str) -> None:
        with entered(self.target.netns):
            try:
                with open(path, "w", encoding="ascii") as f:
                    f.write(value)
            except OSError as exc:
                name = path.removeprefix("/proc/sys/").replace("/", ".")
                raise NetlinkRequestError(f"sysctl {name}", exc.errno or 0) from exc

    def run(
        self, argv: Sequence[str], *, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a program inside the target's network namespace (fork inherits it)."""
        with entered(self.target.netns):
            return subprocess.run(
                list(argv),
                input=stdin,
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )


@contextlib.contextmanager
def open_session(target: Target) -> Iterator[Session]:
    try:
        session = Session(target)
    except OSError as exc:
        raise KernelError(f"{target}: cannot open netlink: {exc}") from exc
    try:
        yield session
    finally:
        session.close()
