"""How changes read: one line per object in `ip`'s own words, and plain JSON.

Why it exists: the plan, the apply report and every front end show changes the
same way; this module is that one way. It formats, it decides nothing, and it
imports no other engine module: a change is read through `ChangeView`, the fields
`netwright.engine.changes.Change` has, so the formatting sits below the diff.

What it must not do: reveal a secret. A file's content is shown as its `content`
(placeholders, never `materialize()`), and an observed file's old content only
when the observer could show it (`FileRecord.text` is None otherwise).
"""

from __future__ import annotations

import difflib
import ipaddress
import socket
from typing import TYPE_CHECKING, Any, Protocol

from netwright.kernel import host
from netwright.kernel.records import EntrySet, Nexthop, NexthopSet, RouteSet
from netwright.model.state import (
    RT_PROTO_NETWRIGHT,
    RT_TABLE_MAIN,
    Address,
    BirdControl,
    FdbEntry,
    File,
    Link,
    Neighbour,
    NftTable,
    Route,
    Sysctl,
)

if TYPE_CHECKING:
    from collections.abc import Hashable

    from netwright._types import IPAddress
    from netwright.kernel.records import NexthopWire, WireKey


class ChangeView(Protocol):
    """What formatting reads of a change: the fields of `changes.Change`."""

    @property
    def op(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def key(self) -> Hashable: ...
    @property
    def before(self) -> Any: ...
    @property
    def after(self) -> Any: ...
    @property
    def nhid(self) -> int: ...
    @property
    def implied(self) -> bool: ...
    @property
    def fields(self) -> tuple[str, ...]: ...
    @property
    def count(self) -> int: ...
    @property
    def summary(self) -> bool: ...


_SIGN = {"add": "+", "delete": "-", "change": "~"}
_PLURAL = {"neighbour": "neighbours", "fdb": "fdb entries"}
_SINGULAR = {"fdb": "fdb entry"}


def _noun(kind: str, count: int) -> str:
    """`kind` as a count of objects: "1 route", "3 fdb entries"."""
    if count == 1:
        return _SINGULAR.get(kind, kind)
    return _PLURAL.get(kind, f"{kind}s")


#: A summary change lists its objects in text output when it stands for at most
#: this many; beyond, only with `verbose` (the CLI's `-v`). JSON always lists them.
LIST_AT_MOST = 20


def _link(link: Link) -> str:
    parts = [f"link {link.name} type {link.kind}"]
    if link.vxlan is not None:
        vx = link.vxlan
        parts.append(f"id {vx.vni} local {vx.local}")
        if vx.dev:
            parts.append(f"dev {vx.dev}")
        parts.append(f"dstport {vx.port}")
        parts.append("learning" if vx.learning else "nolearning")
    if link.mtu is not None:
        parts.append(f"mtu {link.mtu}")
    if link.mac is not None:
        parts.append(f"address {link.mac}")
    parts.append("up" if link.up else "down")
    return " ".join(parts)


def route_text(route: Route, nhid: int = 0, *, proto: int = RT_PROTO_NETWRIGHT) -> str:
    parts = [f"route {route.dst}"]
    if nhid:
        parts.append(f"nhid {nhid}")
    if route.gateway is not None:
        parts.append(f"via {route.gateway}")
    if route.dev is not None:
        parts.append(f"dev {route.dev}")
    if route.onlink:
        parts.append("onlink")
    if route.table != RT_TABLE_MAIN:
        parts.append(f"table {route.table}")
    if route.metric:
        parts.append(f"metric {route.metric}")
    if route.src is not None:
        parts.append(f"src {route.src}")
    parts.append(f"proto {proto}")
    return " ".join(parts)


def text(kind: str, obj: Any, nhid: int = 0) -> str:
    if isinstance(obj, Link):
        return _link(obj)
    if isinstance(obj, Address):
        return f"address {obj.address} dev {obj.dev}"
    if isinstance(obj, Route):
        return route_text(obj, nhid)
    if isinstance(obj, Nexthop):
        onlink = " onlink" if obj.onlink else ""
        via = f"via {obj.gateway} dev {obj.dev}{onlink}"
        return f"nexthop id {obj.id} {via} proto {RT_PROTO_NETWRIGHT}"
    if isinstance(obj, Neighbour):
        return f"neighbour {obj.ip} lladdr {obj.mac} dev {obj.dev} nud permanent"
    if isinstance(obj, FdbEntry):
        return f"fdb {obj.mac} dev {obj.dev} dst {obj.dst} self permanent"
    if isinstance(obj, Sysctl):
        return f"sysctl {obj.name} = {obj.value}"
    if isinstance(obj, NftTable | host.NftRecord):
        return f"nft table {obj.family} {obj.name}"
    if isinstance(obj, File):
        group = obj.group or obj.owner
        return f"file {obj.path} mode {obj.mode:04o} {obj.owner}:{group}"
    if isinstance(obj, host.FileRecord):
        return f"file {obj.path} mode {obj.mode:04o} {obj.owner}:{obj.group}"
    if isinstance(obj, BirdControl):
        return f"bird configure {obj.config} via {obj.socket}"
    return f"{kind} {obj}"


def key_text(kind: str, key: Hashable) -> str:
    if kind == "route" and isinstance(key, tuple):
        table, dst, metric = key
        return f"{dst} table {table} metric {metric}"
    if kind == "nexthop" and isinstance(key, int):  # else a summary's, not an id
        return f"id {key}"
    if isinstance(key, tuple):
        return " ".join(str(k) for k in key)
    return str(key)


def sort_key(kind: str, key: Hashable) -> tuple[Any, ...]:
    """Deterministic order for deletes; addresses sort numerically, not as text."""
    if isinstance(key, tuple):
        return tuple(
            (
                getattr(k, "version", 0),
                type(k).__name__,
                k if hasattr(k, "version") or isinstance(k, int) else str(k),
            )
            for k in key
        )
    return (kind, str(key))


def _address(raw: bytes, family: int = socket.AF_INET) -> IPAddress:
    """An address from its wire bytes; the empty destination of a default route by `family`."""
    return ipaddress.ip_address(raw or bytes(16 if family == socket.AF_INET6 else 4))


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _route_object(key: WireKey) -> dict[str, Any]:
    # No ToS: the observer leaves routes with one alone, so every folded route has ToS 0.
    family, table, dst, dst_len, metric = key
    net = ipaddress.ip_network((_address(dst, family), dst_len), strict=False)
    return {
        "key": f"route {key_text('route', (table, net, metric))}",
        "dst": str(net),
        "table": table,
        "metric": metric,
    }


def _nexthop_object(nhid: int, via: NexthopWire | None) -> dict[str, Any]:
    if via is None:  # a set built without them: the id is all there is
        return {"key": f"nexthop id {nhid}", "id": nhid}
    _id, gateway, dev, onlink = via
    addr = _address(gateway)
    flag = " onlink" if onlink else ""
    return {
        "key": f"nexthop id {nhid} via {addr} dev {dev}{flag}",
        "id": nhid,
        "gateway": str(addr),
        "dev": dev,
        "onlink": onlink,
    }


def _neighbour_object(dev: str, entry: tuple[int, bytes, bytes]) -> dict[str, Any]:
    family, dst, lladdr = entry
    addr = _address(dst, family)
    mac = _mac(lladdr) if lladdr else None
    lladdr_text = f" lladdr {mac}" if mac else ""
    return {
        "key": f"neighbour {addr} dev {dev}{lladdr_text}",
        "dev": dev,
        "ip": str(addr),
        "mac": mac,
    }


def _fdb_object(dev: str, entry: tuple[int, bytes, bytes]) -> dict[str, Any]:
    _family, dst, lladdr = entry  # AF_BRIDGE: the remote's family is its length
    addr, mac = _address(dst), _mac(lladdr)
    return {"key": f"fdb {mac} dev {dev} dst {addr}", "dev": dev, "mac": mac, "dst": str(addr)}


def summary_objects(c: ChangeView) -> list[dict[str, Any]] | None:
    """Each object a summary change stands for, by its kernel key, in key order.

    Built only when asked (`-v`, JSON, or a summary of at most `LIST_AT_MOST`): a
    removal of 5,000 peers must not pay for 15,000 strings it does not print. None
    when the change carries no keys, only a count (`Unrecorded.vanishing` built
    by hand); the observer keeps the keys.
    """
    objects = c.before
    if isinstance(objects, RouteSet):
        return [_route_object(k) for k in sorted(objects.keys)]
    if isinstance(objects, NexthopSet):
        vias = {v[0]: v for v in objects.vias}
        return [_nexthop_object(i, vias.get(i)) for i in sorted(objects.ids)]
    if isinstance(objects, EntrySet):
        make = _fdb_object if objects.kind == "fdb" else _neighbour_object
        return [make(objects.dev, e) for e in sorted(objects.entries)]
    return None


def _field_value(obj: Any, name: str) -> str:
    if obj is None:
        return "(none)"
    if isinstance(obj, host.FileRecord) and name == "content":
        return "(old content)"
    if isinstance(obj, File) and name == "content":
        return "(new content)"
    if name == "up":
        return "up" if obj.up else "down"
    if name == "mode":
        return f"{obj.mode:04o}"
    if name == "state":
        return "permanent" if isinstance(obj, Neighbour | FdbEntry) else "not permanent"
    value = getattr(obj, name, None)
    return "(none)" if value is None else str(value)


def change_line(c: ChangeView) -> str:
    """The change in one line; a summary's line gives its count, not its objects."""
    sign = _SIGN[str(c.op)]
    if c.implied and c.summary:  # what goes with link `key` (counted, or a set of keys)
        return f"{sign} {c.count:,} {_noun(c.kind, c.count)} on {c.key} (go with their link)"
    if isinstance(c.before, RouteSet):  # the routes deleted before their nexthops
        n = len(c.before.nexthops)
        return (
            f"{sign} {c.count:,} {_noun('route', c.count)} through the {n:,}"
            f" {_noun('nexthop', n)} deleted (deleted first)"
        )
    if isinstance(c.before, NexthopSet):  # the nexthops of a RouteSet, after its routes
        return f"{sign} {c.count:,} {_noun('nexthop', c.count)} (their routes deleted first)"
    if isinstance(c.before, EntrySet):  # the entries of peers that left
        return f"{sign} {c.count:,} {_noun(c.kind, c.count)} on {c.key} (no longer desired)"
    implied = " (goes with its link or nexthop)" if c.implied else ""
    if (
        str(c.op) == "change"
        and c.fields
        and c.kind in {"link", "sysctl", "neighbour", "fdb", "file"}
    ):
        diffs = ", ".join(
            f"{f} {_field_value(c.before, f)} -> {_field_value(c.after, f)}" for f in c.fields
        )
        return f"{sign} {text(c.kind, c.after)}  [{diffs}]"
    obj = c.after if c.after is not None else c.before
    what = f"{c.kind} {key_text(c.kind, c.key)}" if obj is None else text(c.kind, obj, c.nhid)
    line = f"{sign} {what}{implied}"
    if str(c.op) == "change" and c.before is not None and c.kind == "route":
        line += f"  [was: {text(c.kind, c.before)}]"
    return line


def change_lines(c: ChangeView, *, verbose: bool = False) -> list[str]:
    """The change's line, plus content lines for files and nft tables.

    A summary also lists its objects by key, one indented line each, when
    `verbose` or when it stands for at most `LIST_AT_MOST`; otherwise its line
    says that `-v` lists them. Verbosity never shows more of a file.
    """
    if folds(c):
        return _summary_lines(c, verbose=verbose)
    out = [change_line(c)]
    if (
        c.kind == "file"
        and isinstance(c.after, File)
        and (str(c.op) == "add" or "content" in c.fields)
    ):
        old = c.before.text if isinstance(c.before, host.FileRecord) else ""
        if old is None:
            out.append("    (old content not shown: not world-readable, or it may hold a secret)")
            old = ""
        new = c.after.content
        if str(c.op) == "add":
            out.extend(f"    + {line}" for line in new.splitlines())
        else:
            diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1)
            out.extend(f"    {line}" for line in list(diff)[2:])
    if c.kind == "nft" and isinstance(c.after, NftTable):
        out.extend(f"    {line}" for line in c.after.text.splitlines())
    return out


def folds(c: ChangeView) -> bool:
    """Stands for objects it does not name: a set of keys, or a count of what goes
    with a link (not a file that vanished before its delete, whose change is as bare)."""
    return isinstance(c.before, RouteSet | NexthopSet | EntrySet) or (
        c.implied and c.before is None and c.after is None
    )


def _summary_lines(c: ChangeView, *, verbose: bool) -> list[str]:
    line = change_line(c)
    keyed = isinstance(c.before, RouteSet | NexthopSet | EntrySet)
    if not verbose and c.count > LIST_AT_MOST:
        return [f"{line} (-v lists each)" if keyed else line]
    objects = summary_objects(c)
    if objects is None:
        if verbose:
            return [line, "    (not listed: only counted, no keys given)"]
        return [line]
    sign = _SIGN[str(c.op)]
    return [line, *(f"    {sign} {o['key']}" for o in objects)]
