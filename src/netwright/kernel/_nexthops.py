"""A session's reads of nexthop objects: the dump, split by the desired routes' needs.

Why it exists: routes with a gateway go through nexthop objects, and a no-op at
thousands of peers must recognise each of netwright's nexthops as the one a
desired route needs without building a record for it: the dump is matched, a run
of same-layout messages at a time, against the desired nexthops in wire form.
"""

from __future__ import annotations

import errno
import operator
import socket
from typing import TYPE_CHECKING, Any

from netwright.kernel import _netlink as nl
from netwright.kernel._base import SessionBase
from netwright.kernel._wire import NO_NH, route_nh_keys
from netwright.kernel.records import (
    NetlinkRequestError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from netwright.kernel._wire import WireForms
    from netwright.kernel.records import NexthopWire
    from netwright.model.state import Route


#: RawNexthop fields: id, gateway, oif, flags.
_NH_ID_AT, _NH_GATEWAY_AT, _NH_OIF_AT, _NH_FLAGS_AT = nl.field_numbers(
    nl.RawNexthop, "id", "gateway", "oif", "flags"
)
_NH_ID = operator.itemgetter(_NH_ID_AT)
_NH_GATEWAY = operator.itemgetter(_NH_GATEWAY_AT)
_NH_OIF = operator.itemgetter(_NH_OIF_AT)
_NH_FLAGS = operator.itemgetter(_NH_FLAGS_AT)
#: RawNexthop fields a desired route's nexthop fixes.
_NH_SIG = nl.field_numbers(nl.RawNexthop, "family", "protocol", "flags", "gateway", "oif")
#: The same less the device, which is read with the id (`_NH_ID_OIF`) and checked.
_NH_FREE_SIG = nl.field_numbers(nl.RawNexthop, "family", "protocol", "flags", "gateway")
_NH_ID_OIF = (_NH_ID_AT, _NH_OIF_AT)
_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)
_FAMILY_OF_LEN = {4: socket.AF_INET, 16: socket.AF_INET6}


def _nexthop_table(
    wire: WireForms, desired: Sequence[Route], protocol: int, index: dict[str, int]
) -> dict[Any, Any]:
    """The nexthop a desired route needs, in wire form (`_NH_SIG`), to its `_route_nh_keys` key.

    Remembered in `wire` while `desired`, `protocol` and the link indices stay.
    """

    def build() -> list[tuple[int, int, bytes, str, Any]]:
        return [
            (_FAMILY_OF_LEN[len(key[0])], key[2], key[0], key[1], key)
            for key in route_nh_keys(wire, desired)
            if key is not NO_NH and len(key[0]) in _FAMILY_OF_LEN
        ]

    def table() -> dict[Any, Any]:
        get = index.get
        return {
            (family, protocol, flags, gateway, oif): key
            for family, flags, gateway, dev, key in wire.get("nh-pre", desired, build)
            if (oif := get(dev)) is not None
        }

    return wire.get(  # type: ignore[no-any-return]
        "nh-sig", desired, table, extra=(protocol, dict(index))
    )


def _nexthop_free_table(
    wire: WireForms, desired: Sequence[Route], protocol: int
) -> dict[Any, Any] | None:
    """`_nexthop_table` without the device in the key (`_NH_FREE_SIG`): built once per
    desired state, whatever the link indices, and kept in `wire`; the device is
    checked per match.

    None when two desired nexthops differ by their device only (then the key is
    not enough, and `_nexthop_table` is the way).
    """

    def build() -> dict[Any, Any] | None:
        pre = [
            (_FAMILY_OF_LEN[len(key[0])], key[2], key[0], key[1], key)
            for key in route_nh_keys(wire, desired)
            if key is not NO_NH and len(key[0]) in _FAMILY_OF_LEN
        ]
        table = {(family, protocol, flags, gw): key for family, flags, gw, _dev, key in pre}
        if len(table) != len({p[:4] for p in pre}):
            return None
        return table

    return wire.get("nh-free", desired, build, extra=protocol)  # type: ignore[no-any-return]


def _owned_nexthop(nhid: int, key: Any, protocol: int, index: dict[str, int]) -> nl.RawNexthop:
    """The record the full parse gives a nexthop `_raw_nexthops` matched to `key`."""
    gateway, dev, flags = key
    family = _FAMILY_OF_LEN[len(gateway)]
    return nl.RawNexthop(
        nhid, family, protocol, flags, gateway, index[dev], group=False, blackhole=False
    )


class NexthopReads(SessionBase):
    """The nexthop dump, for `RouteReads.routes`."""

    def _raw_nexthops(
        self, protocol: int, desired: Sequence[Route], index: dict[str, int]
    ) -> tuple[list[nl.RawNexthop] | None, dict[int, Any]]:
        """The nexthop objects in the namespace (None if the kernel has none), split.

        The no-op fast path, per run of same-layout messages: a nexthop whose
        family, protocol, flags, gateway and device are exactly a key of `table`
        (`_nexthop_table`: what a desired route's nexthop must be) is returned by
        its id with that table value, without a record; every other nexthop is
        parsed into a record. `_owned_nexthop` rebuilds the record of a matched
        one, field for field, when it is needed after all. Where it can, the key
        leaves the device out (`_nexthop_free_table`, no table to build per set of
        link indices) and each match's device is compared after.
        """
        try:
            runs = self._nl.dump_runs(
                nl.RTM_GETNEXTHOP, nl.NHMSG.pack(0, 0, 0, 0, 0), what="dump nexthops"
            )
        except OSError as exc:
            if exc.errno in {errno.EOPNOTSUPP, errno.EINVAL, errno.EAFNOSUPPORT}:
                return None, {}
            raise NetlinkRequestError("dump nexthops", exc.errno or 0) from exc
        parse = self._parser("nexthop")
        out: list[nl.RawNexthop] = []
        matched: dict[int, Any] = {}
        free = _nexthop_free_table(self._wire, desired, protocol)
        if free is None:
            table = _nexthop_table(self._wire, desired, protocol, index)
            for run in runs:
                split = parse.match_run(run, _NH_SIG, table, (_NH_ID_AT,)) if table else None
                if split is None:
                    out.extend(parse.parse_runs([run]))
                    continue
                hits, ids, rest = split
                matched.update(zip(ids, hits, strict=True))
                out.extend(rest)
            return out, matched
        for run in runs:
            split = parse.match_run(run, _NH_FREE_SIG, free, _NH_ID_OIF) if free else None
            if split is not None:
                hits, alsos, rest = split
                if list(map(index.get, map(_SECOND, hits))) == list(map(_SECOND, alsos)):
                    matched.update(zip(map(_FIRST, alsos), hits, strict=True))
                    out.extend(rest)
                    continue
            out.extend(parse.parse_runs([run]))
        return out, matched

    def _nexthop_vias(
        self, owned_nh: Mapping[int, nl.RawNexthop], ids: Sequence[int]
    ) -> tuple[NexthopWire, ...]:
        """`ids` (of `owned_nh`, each with a gateway) as `NexthopSet.vias` has them.

        Only what the dump gave, unparsed: 5,000 departing nexthops cost 5,000
        tuples here, and no address or record until `plan` names them.
        """
        nhs = list(map(owned_nh.__getitem__, ids))
        oifs = list(map(_NH_OIF, nhs))
        names = {oif: self._names.get(oif, str(oif)) for oif in set(oifs)}
        onlink = map(bool, map(nl.RTNH_F_ONLINK.__and__, map(_NH_FLAGS, nhs)))
        return tuple(
            zip(ids, map(_NH_GATEWAY, nhs), map(names.__getitem__, oifs), onlink, strict=True)
        )
