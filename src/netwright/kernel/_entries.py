"""A session's reads of neighbour and fdb entries on netwright's VTEPs.

Why it exists: a VXLAN peer is a neighbour and an fdb entry; at thousands of
peers a no-op must recognise each desired entry in the dump without a record: the
dump is matched, a run of same-layout messages at a time, against the desired
entries in wire form, and only the rest are parsed into records.
"""

from __future__ import annotations

import operator
import socket
from typing import TYPE_CHECKING, Any

from netwright.kernel import _netlink as nl
from netwright.kernel._base import SessionBase
from netwright.kernel._wire import ip as _ip
from netwright.kernel._wire import mac as _mac
from netwright.kernel._wire import mac_bytes
from netwright.kernel.records import (
    FdbRecord,
    NeighbourRecord,
    NetlinkRequestError,
)
from netwright.model.state import FdbEntry, Neighbour

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

    from netwright.kernel._wire import WireForms


_NEIGH_SIG = nl.field_numbers(nl.RawNeighbour, "family", "ifindex", "state", "dst", "lladdr")
_FDB_SIG = nl.field_numbers(nl.RawNeighbour, "ifindex", "state", "dst", "lladdr")
#: The same less the ifindex (`_free_entries`).
_NEIGH_FREE_SIG = nl.field_numbers(nl.RawNeighbour, "family", "state", "dst", "lladdr")
_FDB_FREE_SIG = nl.field_numbers(nl.RawNeighbour, "state", "dst", "lladdr")
_IFINDEX = nl.field_numbers(nl.RawNeighbour, "ifindex")
_FAMILY_OF = {4: socket.AF_INET, 6: socket.AF_INET6}
#: A `fast_build` table key's (family, ifindex, state, dst, lladdr) ifindex and dst.
_INDEX_AND_DST = operator.itemgetter(1, 3)


def _entry_table(
    wire: WireForms,
    kind: str,
    desired: Sequence[Any],
    wanted: dict[int, str],
    build: Callable[[dict[str, int]], dict[Any, int]],
) -> dict[Any, int]:
    """`build(link indices by name)`, remembered in `wire` while `desired` and
    `wanted` stay."""
    by_name = {dev: ifindex for ifindex, dev in wanted.items()}
    return wire.get(kind, desired, lambda: build(by_name), extra=dict(wanted))  # type: ignore[no-any-return]


def _free_entries(
    runs: Sequence[nl.Run],
    key: Sequence[int],
    free: tuple[dict[Any, int], list[str]],
    wanted: dict[int, str],
    synced: set[int],
    *,
    parse: nl.FastParser,
) -> list[nl.RawNeighbour]:
    """`_unsynced_entries` with a table that leaves the link out of the key.

    `free`: the desired entries by their wire key less the ifindex (unique: the
    callers check), and each one's device; a run's matches count only if each is
    on its desired device, else the run takes the full parse. The table depends on
    the desired state alone, so a new set of link indices builds no table.
    """
    table, devs = free
    by_name = {dev: ifindex for ifindex, dev in wanted.items()}
    want_index = list(map(by_name.get, devs))
    out: list[nl.RawNeighbour] = []
    for run in runs:
        split = parse.match_run(run, key, table, _IFINDEX)
        if split is not None:
            hits, ifindexes, rest = split
            if list(map(want_index.__getitem__, hits)) == ifindexes:
                synced.update(hits)
                out.extend(rest)
                continue
        out.extend(parse.parse_runs([run]))
    return out


def _unsynced_entries(
    parse: nl.FastParser,
    runs: Sequence[nl.Run],
    key: Sequence[int],
    table: dict[Any, int],
    synced: set[int],
) -> list[nl.RawNeighbour]:
    """The dumped neighbour or fdb entries, less those found desired and permanent here.

    The no-op fast path: an entry whose `key` fields are exactly a desired one's
    in wire form, permanent (state NUD_PERMANENT) on a wanted link, is entered in
    `synced` by its index without a record; the callers' loops, which would find
    it equal too, see only the rest.
    """
    out: list[nl.RawNeighbour] = []
    for run in runs:
        split = parse.match_run(run, key, table, ())
        if split is None:
            out.extend(parse.parse_runs([run]))
            continue
        hits, _alsos, rest = split
        synced.update(hits)
        out.extend(rest)
    return out


class EntryReads(SessionBase):
    """Neighbour and fdb entries (`neighbours`, `fdb`)."""

    def _neigh_dump(self, family: int, what: str) -> list[nl.Run]:
        try:
            return self._nl.dump_runs(
                nl.RTM_GETNEIGH, nl.NDMSG.pack(family, 0, 0, 0, 0, 0, 0), what=what
            )
        except OSError as exc:
            raise NetlinkRequestError(what, exc.errno or 0) from exc

    def neighbours(
        self,
        devs: Collection[str],
        *,
        desired: Sequence[Neighbour] = (),
        vanishing: dict[str, list[tuple[int, bytes, bytes]]] | None = None,
        departing: dict[str, list[tuple[int, bytes, bytes]]] | None = None,
    ) -> tuple[list[NeighbourRecord], frozenset[int]]:
        """Neighbours on `devs`, and the indices of desired ones already there, permanent.

        With `vanishing` (device -> a list), the permanent entries on those devices
        at no desired key are listed there in wire form (family, destination,
        link-layer address) instead of recorded; with `departing`, so are those on
        the other devices, per device.
        """
        links = self.links()
        wanted = {links[d].index: d for d in devs if d in links}
        doomed = vanishing or {}
        # The desired side in wire form, less the link indices: built even when no
        # link is there yet (a first apply), so that the next run (a no-op) has it.
        pre = self._wire.get(
            "neighbour-pre",
            desired,
            lambda: [
                (_FAMILY_OF[n.ip.version], n.dev, n.ip.packed, mac_bytes(n.mac)) for n in desired
            ],
        )

        def free_build() -> tuple[dict[Any, int], list[str]] | None:
            # Keyed as `fast_build` below less the device: only where that loses
            # nothing (each (device, address) and (family, address, MAC) once).
            perm = nl.NUD_PERMANENT
            table = {(family, perm, dst, mac): i for i, (family, _dev, dst, mac) in enumerate(pre)}
            if len(table) != len(pre) or len({(d, a) for _f, d, a, _m in pre}) != len(pre):
                return None
            return table, [dev for _family, dev, _dst, _mac in pre]

        free = self._wire.get("neighbour-free", desired, free_build)
        if not wanted:
            return [], frozenset()

        def same_build() -> dict[tuple[str, bytes], tuple[int, bytes]]:
            return {(n.dev, n.ip.packed): (i, mac_bytes(n.mac)) for i, n in enumerate(desired)}

        def fast_build(by_name: dict[str, int]) -> dict[Any, int]:
            # Straight from `desired` (a no-op needs no `same`); when two desired
            # neighbours share a key with other MACs, from `same`, whose last wins.
            perm = nl.NUD_PERMANENT
            get = by_name.get
            table = {
                (family, get(dev), perm, dst, mac): i
                for i, (family, dev, dst, mac) in enumerate(pre)
            }
            if len(set(map(_INDEX_AND_DST, table))) == len(table):
                return table
            return {
                (_FAMILY_OF[4 if len(dst) == 4 else 6], by_name[dev], nl.NUD_PERMANENT, dst, mac): i
                for (dev, dst), (i, mac) in self._wire.get("neighbour", desired, same_build).items()
                if dev in by_name
            }  # fmt: skip

        out = []
        synced: set[int] = set()
        inet = (socket.AF_INET, socket.AF_INET6)
        dump = self._neigh_dump(socket.AF_UNSPEC, "dump neighbours")
        if free is not None:
            unsynced = _free_entries(
                dump, _NEIGH_FREE_SIG, free, wanted, synced, parse=self._parser("neighbour")
            )
        else:
            fast = _entry_table(self._wire, "neighbour-sig", desired, wanted, fast_build)
            unsynced = _unsynced_entries(self._parser("neighbour"), dump, _NEIGH_SIG, fast, synced)
        raw: nl.RawNeighbour
        same = None
        for raw in unsynced:
            dev = wanted.get(raw.ifindex)
            if dev is None or raw.dst is None or raw.family not in inet:
                continue
            if raw.state & nl.NUD_PERMANENT:  # else a record, wherever it is
                if same is None:  # looked up once, and only if an entry needs it
                    same = self._wire.get("neighbour", desired, same_build)
                found = same.get((dev, raw.dst))
                i = None if found is None else found[0]
                if found is not None and raw.lladdr == found[1]:
                    synced.add(found[0])
                    continue
                if i is None and dev in doomed:
                    doomed[dev].append((raw.family, raw.dst, raw.lladdr or b""))
                    continue
                if departing is not None and i is None:
                    departing.setdefault(dev, []).append((raw.family, raw.dst, raw.lladdr or b""))
                    continue
            out.append(
                NeighbourRecord(
                    neighbour=Neighbour(dev=dev, ip=_ip(raw.dst), mac=_mac(raw.lladdr) or ""),
                    permanent=bool(raw.state & nl.NUD_PERMANENT),
                )
            )
        return out, frozenset(synced)

    def fdb(
        self,
        devs: Collection[str],
        *,
        desired: Sequence[FdbEntry] = (),
        vanishing: dict[str, list[tuple[int, bytes, bytes]]] | None = None,
        departing: dict[str, list[tuple[int, bytes, bytes]]] | None = None,
    ) -> tuple[list[FdbRecord], frozenset[int]]:
        """Fdb entries on `devs`, and the indices of desired ones already there, permanent.

        With `vanishing` (device -> a list), the permanent entries on those devices
        at no desired key are listed there in wire form (AF_BRIDGE, remote address,
        MAC) instead of recorded; with `departing`, so are those on the other
        devices, per device.
        """
        links = self.links()
        wanted = {links[d].index: d for d in devs if d in links}
        doomed = vanishing or {}
        pre = self._wire.get(  # as in `neighbours`: ready for the next run
            "fdb-pre",
            desired,
            lambda: [(f.dev, f.dst.packed, mac_bytes(f.mac)) for f in desired],
        )

        def free_build() -> tuple[dict[Any, int], list[str]] | None:
            # Keyed as `fast` below less the device: only if that loses nothing.
            table = {(nl.NUD_PERMANENT, dst, mac): i for i, (_dev, dst, mac) in enumerate(pre)}
            if len(table) != len(set(pre)):
                return None
            return table, [dev for dev, _dst, _mac in pre]

        free = self._wire.get("fdb-free", desired, free_build)
        if not wanted:
            return [], frozenset()

        def same_build() -> dict[tuple[str, bytes, bytes], int]:
            return {(f.dev, mac_bytes(f.mac), f.dst.packed): i for i, f in enumerate(desired)}

        out = []
        synced: set[int] = set()
        dump = self._neigh_dump(nl.AF_BRIDGE, "dump fdb")
        # Straight from `desired` (a no-op needs no `same`): keyed as `same` is, up
        # to the device's index, so the same entries collapse and the last wins.
        if free is not None:
            unsynced = _free_entries(
                dump, _FDB_FREE_SIG, free, wanted, synced, parse=self._parser("neighbour")
            )
        else:
            fast = _entry_table(
                self._wire,
                "fdb-sig",
                desired,
                wanted,
                lambda by_name: {
                    (by_name.get(dev), nl.NUD_PERMANENT, dst, mac): i
                    for i, (dev, dst, mac) in enumerate(pre)
                },
            )
            unsynced = _unsynced_entries(self._parser("neighbour"), dump, _FDB_SIG, fast, synced)
        raw: nl.RawNeighbour
        same = None
        for raw in unsynced:
            dev = wanted.get(raw.ifindex)
            if dev is None or raw.dst is None or raw.lladdr is None:
                continue
            if raw.state & nl.NUD_PERMANENT:  # else a record, wherever it is
                if same is None:  # looked up once, and only if an entry needs it
                    same = self._wire.get("fdb", desired, same_build)
                i = same.get((dev, raw.lladdr, raw.dst))
                if i is not None:
                    synced.add(i)
                    continue
                if dev in doomed:
                    doomed[dev].append((raw.family, raw.dst, raw.lladdr))
                    continue
                if departing is not None:
                    departing.setdefault(dev, []).append((raw.family, raw.dst, raw.lladdr))
                    continue
            out.append(
                FdbRecord(
                    entry=FdbEntry(dev=dev, mac=_mac(raw.lladdr) or "", dst=_ip(raw.dst)),
                    permanent=bool(raw.state & nl.NUD_PERMANENT),
                )
            )
        return out, frozenset(synced)
