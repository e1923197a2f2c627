"""The desired objects in wire form: the keys and bytes a dump is compared against.

Why it exists: a no-op at thousands of peers must not build a Python object per
kernel object, so each dumped message is looked up, as bytes, among the desired
objects in the same form. Building that form costs more than the dump (at 5,000
vxlan peers, a no-op that builds it takes half again as long), and it depends on
the desired objects alone, which are immutable: a `WireForms` keeps what was
built for the last desired state of each kind, so the next run for an equal
state (the node agent's resync, a second apply) reuses it.

Who owns it: a `Memo` (`netwright.kernel.memo`), one `WireForms` each, which the
session reads it through (`SessionBase._wire`); the functions here take it
explicitly. A caller that runs repeatedly (the agent, the benchmarks) holds one
memo for its life and passes it to every session; any other session has its own,
gone with it. Per memo and not per process: a table is worth keeping only for the
caller that will ask for the same desired state again, and a process-wide one
would be shared, unasked, by every caller in the process (a test, the lab's many
nodes) and live as long as the process.

`WireForms` is bounded and cannot go stale: one entry per kind, from a fixed set
(`WIRE_KINDS`), each holding the last source asked about and what was built from
it; a source matches by equality (identity first, which costs nothing), never by
an `id()`, so a later state that merely reuses an address is never taken for it.
What it holds is one desired state's worth of tables, replaced by the next.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING, Any

from netwright.kernel import _netlink as nl

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from netwright._types import IPAddress, IPNetwork
    from netwright.kernel.records import WireKey
    from netwright.model.state import Route

#: The kinds of table `WireForms` holds, one entry each.
WIRE_KINDS = frozenset(
    {
        "route",
        "route-nh",
        "route-sig",
        "nh-pre",
        "nh-sig",
        "nh-free",
        "neighbour",
        "neighbour-pre",
        "neighbour-free",
        "neighbour-sig",
        "fdb",
        "fdb-pre",
        "fdb-free",
        "fdb-sig",
    }
)


class WireForms:
    """What was built from the last source of each kind (see the module docstring)."""

    def __init__(self) -> None:
        #: kind -> (the desired sequence, what else the table depends on, the table)
        self._entries: dict[str, tuple[Any, Any, Any]] = {}

    def get(self, kind: str, source: Any, build: Callable[[], Any], *, extra: Any = None) -> Any:
        """`build()`, or what it gave last time for a source equal to `source` and
        the same `extra` (what else the table depends on: a protocol, link indices)."""
        if kind not in WIRE_KINDS:
            raise ValueError(f"WireForms: unknown kind {kind!r}")
        hit = self._entries.get(kind)
        if hit is not None and hit[1] == extra:
            if hit[0] is source:
                return hit[2]
            if hit[0] == source:
                self._adopt(hit[0], source)
                return hit[2]
        value = build()
        self._entries[kind] = (source, extra, value)
        return value

    def _adopt(self, old: Any, new: Any) -> None:
        """`new` equals `old`: every table built from `old` is now `new`'s, so that
        the run's later look-ups, of any kind, are by identity (comparing thousands
        of desired objects once per kind cost more than building the tables)."""
        for kind, (source, extra, value) in list(self._entries.items()):
            if source is old:
                self._entries[kind] = (new, extra, value)

    def table(self, kind: str) -> Any:
        """What is kept for `kind` (the last one built), None if nothing is."""
        hit = self._entries.get(kind)
        return None if hit is None else hit[2]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def mac(raw: bytes | None) -> str | None:
    """A link-layer address as `ip` prints it (any length: tunnels have 4 or 16 bytes)."""
    if not raw:
        return None
    return raw.hex(":")


def mac_bytes(text: str) -> bytes:
    """`0e:6e:ac:1f:ff:0b` (or with one-digit groups) as its 6 bytes."""
    if len(text) == 17:
        return bytes.fromhex(text.replace(":", ""))
    return bytes(int(p, 16) for p in text.split(":"))


def ip(raw: bytes) -> IPAddress:
    return ipaddress.ip_address(raw)


def known_ip(known: dict[bytes, IPAddress], raw: bytes) -> IPAddress:
    """An address from its bytes, reusing a desired one (building them is the cost)."""
    found = known.get(raw)
    return found if found is not None else ipaddress.ip_address(raw)


def route_wire_key(key: tuple[int, IPNetwork, int]) -> WireKey:
    """A route key as the dump spells it: (family, table, dst bytes, prefix, metric)."""
    table, dst, metric = key
    family = socket.AF_INET if dst.version == 4 else socket.AF_INET6
    return (family, table, dst.network_address.packed, dst.prefixlen, metric)


def route_wire_key_of(route: Route) -> WireKey:
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


#: A desired route in wire form: (its index, gateway bytes, dev, onlink, src bytes).
WireRoute = tuple[int, bytes | None, str | None, bool, bytes | None]


def route_wire_forms(wire: WireForms, desired: Sequence[Route]) -> dict[WireKey, WireRoute]:
    """Each desired route by `route_wire_key_of`, with what `same_route` compares
    (kept in `wire`)."""

    def build() -> dict[WireKey, WireRoute]:
        return {
            route_wire_key_of(r): (
                i,
                None if r.gateway is None else r.gateway.packed,
                r.dev,
                r.onlink,
                None if r.src is None else r.src.packed,
            )
            for i, r in enumerate(desired)
        }

    return wire.get("route", desired, build)  # type: ignore[no-any-return]


#: Stands for "no nexthop can be this desired route's" (never equal to a key).
NO_NH = object()


def route_nh_keys(wire: WireForms, desired: Sequence[Route]) -> list[Any]:
    """Per desired route, the (gateway, device, flags) its nexthop must have exactly
    (kept in `wire`).

    `NO_NH` for a route without gateway or device (the full comparison decides).
    """

    def build() -> list[Any]:
        out: list[Any] = [NO_NH] * len(desired)
        for i, gateway, dev, onlink, _src in route_wire_forms(wire, desired).values():
            if gateway is not None and dev is not None:
                out[i] = (gateway, dev, nl.RTNH_F_ONLINK if onlink else 0)
        return out

    return wire.get("route-nh", desired, build)  # type: ignore[no-any-return]
