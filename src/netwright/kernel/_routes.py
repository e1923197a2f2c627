"""A session's reads of routes: the dump, as far as netwright's routes are concerned.

Why it exists: at thousands of peers a no-op must not build a Python object per
kernel object: each dumped route is looked up by its wire key among the desired
routes and compared field by field in wire form (bytes, ifindex). Equal ones are
reported by their index in the desired sequence (`RouteView.synced`); only the
rest become records for the diff. Routes through nexthop objects dump with
RTA_NH_ID (plus compat gateway and oif while `nexthop_compat_mode` is 1); the
nexthop table is the truth for them, so gateway, device and onlink are taken from
the object, not from the compat copy. The route-by-route pass is `_sorting`'s, the
C pass over leftover runs `_leftover`'s; this module dumps, runs the passes and
assembles what they found (`RouteView`).
"""

from __future__ import annotations

import ipaddress
import itertools
from typing import TYPE_CHECKING, Any

from netwright.kernel import _netlink as nl
from netwright.kernel._leftover import leftover_runs
from netwright.kernel._nexthops import (
    _NH_FLAGS,
    _NH_GATEWAY,
    _NH_ID,
    _NH_OIF,
    NexthopReads,
    _owned_nexthop,
)
from netwright.kernel._sorting import Found, sort_routes
from netwright.kernel._wire import ip as _ip
from netwright.kernel._wire import known_ip as _known_ip
from netwright.kernel._wire import route_nh_keys, route_wire_forms
from netwright.kernel.records import (
    LeftoverRoutes,
    NetlinkRequestError,
    Nexthop,
    NexthopRecord,
    NexthopSet,
    RouteRecord,
    RouteSet,
    RouteView,
)
from netwright.model.state import Route

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from netwright._types import IPAddress
    from netwright.kernel.records import WireKey


#: RawRoute fields a desired route fixes (`RouteReads._unsynced_routes`).
_ROUTE_SIG = nl.field_numbers(
    nl.RawRoute, "family", "dst", "dst_len", "table", "metric", "tos", "protocol", "type", "src"
)
_RAW_FLAGS, _RAW_NHID = nl.field_numbers(nl.RawRoute, "flags", "nhid")


class RouteReads(NexthopReads):
    """Routes and the nexthop objects they use (`routes`)."""

    def routes(
        self, *, protocol: int, desired: Sequence[Route], vanishing: Collection[str] = ()
    ) -> RouteView:
        """Routes and nexthop objects, as far as netwright's are concerned.

        Routes of `protocol` equal to the desired route at their key are only
        counted (`RouteView.synced`); routes of `protocol` at no desired key
        through one of its nexthop objects are listed by key
        (`RouteView.leftover`); the other routes of `protocol`, and routes of any
        protocol at a desired key (for conflicts), become records. Nexthop objects
        of `protocol` that neither a synced route nor a leftover one uses become
        records (and those a recorded route uses); the ids of all of them, and
        those that routes of other protocols use, are listed. Routes and nexthops
        of `protocol` on a `vanishing` device (one the engine deletes, taking them
        along) at no desired key are kept by key only, per device
        (`RouteView.vanishing`): plan names them, apply sends nothing. What
        becomes of any of them is the diff's to decide.
        """
        links = self.links()
        index = {name: rec.index for name, rec in links.items()}
        raw_nh, matched = self._raw_nexthops(protocol, desired, index)
        try:
            runs = self._nl.dump_runs(
                nl.RTM_GETROUTE, nl.RTMSG.pack(0, 0, 0, 0, 0, 0, 0, 0, 0), what="dump routes"
            )
        except OSError as exc:
            raise NetlinkRequestError("dump routes", exc.errno or 0) from exc
        owned_nh = {
            r.id: r
            for r in raw_nh or ()
            if r.protocol == protocol and r.gateway and r.oif and not r.group and not r.blackhole
        }
        wire = route_wire_forms(self._wire, desired)
        doomed = {index[d]: d for d in vanishing if d in index}
        found = Found()
        if not desired and not doomed:
            runs, found.left_nh, found.left_keys = leftover_runs(
                self._parser("route"), runs, protocol=protocol, owned_nh=owned_nh
            )
        rest = self._unsynced_routes(
            runs,
            protocol=protocol,
            desired=desired,
            owned_nh=owned_nh,
            matched=matched,
            index=index,
            synced=found.synced,
        )
        # The matched nexthops' records, where anything below may look at them: a
        # no-op (every matched nexthop used by a synced route, no route of
        # `protocol` left, no link going) needs none.
        if matched and (
            doomed
            or not matched.keys() <= set(found.synced.values())
            or any(r.protocol == protocol for r in rest)
        ):
            for nhid, key in matched.items():
                owned_nh[nhid] = _owned_nexthop(nhid, key, protocol, index)
            owned_nh = dict(sorted(owned_nh.items()))  # in id order, as the kernel dumps
        doomed_nh = (
            {nhid: doomed[r.oif] for nhid, r in owned_nh.items() if r.oif in doomed}
            if doomed
            else {}
        )
        found = sort_routes(
            rest,
            found,
            protocol=protocol,
            wire=wire,
            owned_nh=owned_nh,
            index=index,
            doomed=doomed,
            doomed_nh=doomed_nh,
        )
        leftover = None
        left = set(found.left_nh)
        if found.left_keys:
            leftover = LeftoverRoutes(
                keys=tuple(found.left_keys),
                nexthops=tuple(found.left_nh),
                vias=self._nexthop_vias(owned_nh, sorted(left)),
            )
        gone_with = self._gone_with(doomed_nh, found.on_gone, owned_nh)
        used = set(found.synced.values())
        nexthops = self._nexthops_recorded(
            owned_nh,
            records=found.records,
            used=used,
            listed=left,
            doomed=set(doomed_nh),
            desired=desired,
        )
        return RouteView(
            records=tuple(self._route_record(raw, nexthops) for raw in found.records),
            synced=found.synced,
            nexthops=None
            if raw_nh is None
            else tuple(
                NexthopRecord(nexthop=nh, id=nh.id, protocol=protocol)
                for nh in nexthops.values()
                if nh.id not in used and nh.id not in doomed_nh
            ),
            nexthop_ids=frozenset(map(_NH_ID, raw_nh or ())).union(matched),
            foreign_nexthop_users=frozenset(found.foreign_nh),
            vanishing=gone_with,
            leftover=leftover,
        )

    def _gone_with(
        self,
        doomed_nh: dict[int, str],
        on_gone: dict[str, list[WireKey]],
        owned_nh: dict[int, nl.RawNexthop],
    ) -> dict[tuple[str, str], RouteSet | NexthopSet]:
        """What goes with each vanishing device, by key: its nexthops, its routes."""
        gone_with: dict[tuple[str, str], RouteSet | NexthopSet] = {}
        if doomed_nh or on_gone:
            nh_on: dict[str, list[int]] = {}
            for nhid, dev in doomed_nh.items():  # in id order, as `owned_nh` is
                nh_on.setdefault(dev, []).append(nhid)
            sets = {
                dev: NexthopSet(ids=frozenset(ids), vias=self._nexthop_vias(owned_nh, ids))
                for dev, ids in nh_on.items()
            }
            for dev, nh_set in sets.items():
                gone_with[dev, "nexthop"] = nh_set
            none = NexthopSet(ids=frozenset())
            for dev, keys in on_gone.items():
                nh_set = sets.get(dev, none)
                gone_with[dev, "route"] = RouteSet(
                    nexthops=nh_set.ids, keys=tuple(keys), vias=nh_set.vias
                )
        return gone_with

    def _nexthops_recorded(
        self,
        owned_nh: dict[int, nl.RawNexthop],
        *,
        records: list[nl.RawRoute],
        used: set[int],
        listed: set[int],
        doomed: set[int],
        desired: Sequence[Route],
    ) -> dict[int, Nexthop]:
        """The owned nexthops that need a record, as `Nexthop`s by id.

        None for those synced routes use, nor for those the leftover routes name
        (`listed`: their vias name them), nor for those going with their link
        (`doomed`), unless a recorded route uses them: 5,000 of them on a deleted
        VTEP, or behind 5,000 departed peers, would cost 5,000 records and addresses.
        """
        needed = {raw.nhid for raw in records if raw.nhid}
        skip = (used | listed | doomed) - needed
        wanted_nh = list(itertools.filterfalse(skip.__contains__, owned_nh))
        gateways = (
            {r.gateway.packed: r.gateway for r in desired if r.gateway is not None}
            if wanted_nh
            else {}
        )
        return {
            nhid: Nexthop(
                id=nhid,
                gateway=_known_ip(gateways, r.gateway),
                dev=self._names.get(r.oif, str(r.oif)),
                onlink=bool(r.flags & nl.RTNH_F_ONLINK),
            )
            for nhid, r in ((nhid, owned_nh[nhid]) for nhid in wanted_nh)
            if r.gateway is not None
        }

    def _unsynced_routes(
        self,
        runs: Sequence[nl.Run],
        *,
        protocol: int,
        desired: Sequence[Route],
        owned_nh: dict[int, nl.RawNexthop],
        matched: dict[int, Any],
        index: dict[str, int],
        synced: dict[int, int],
    ) -> list[nl.RawRoute]:
        """The dumped routes, less those found equal to their desired route here.

        The no-op fast path, per run of same-layout messages: a route whose wire
        key, ToS, protocol, type and source are a desired route's, through an
        owned nexthop whose gateway, device (by name, so the comparison holds
        for any link indices) and flags are exactly that route's
        (`_ROUTE_SIG`, `_route_nh_keys`), is entered in `synced` without a record.
        Each such match is one the full comparison (`_sorting.sort_routes`)
        also finds equal; a run with anything else at a desired key, or a cloned
        route, is parsed whole and left to that loop.
        """
        parse = self._parser("route")
        if not desired:  # nothing can be synced: no table to build, no key to look up
            return parse.parse_runs(runs)
        sig = self._wire.get(
            "route-sig",
            desired,
            lambda: {
                (fam, dst, dst_len, table, metric, 0, protocol, nl.RTN_UNICAST, w[4]): w[0]
                for (fam, table, dst, dst_len, metric), w in route_wire_forms(
                    self._wire, desired
                ).items()
            },
            extra=protocol,
        )
        want_nh = route_nh_keys(self._wire, desired)
        names = {ifindex: name for name, ifindex in index.items()}
        nhs = owned_nh.values()
        nh_key = dict(matched)  # `_raw_nexthops` matched these by the same key
        nh_key.update(
            zip(
                owned_nh,
                zip(
                    map(_NH_GATEWAY, nhs),
                    map(names.get, map(_NH_OIF, nhs)),
                    map(_NH_FLAGS, nhs),
                    strict=True,
                ),
                strict=True,
            )
        )
        out: list[nl.RawRoute] = []
        for run in runs:
            split = parse.match_run(run, _ROUTE_SIG, sig, (_RAW_FLAGS, _RAW_NHID))
            if split is not None:
                hits, alsos, rest = split
                if not hits:
                    out.extend(rest)
                    continue
                flags, nhids = zip(*alsos, strict=True)
                if not any(map(nl.RTM_F_CLONED.__and__, flags)) and list(
                    map(nh_key.get, nhids)
                ) == list(map(want_nh.__getitem__, hits)):
                    synced.update(zip(hits, nhids, strict=True))
                    out.extend(rest)
                    continue
            out.extend(parse.parse_runs([run]))
        return out

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
