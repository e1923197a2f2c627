"""The diff of a partial desired state (`Scope`): only the scoped kinds, only as listed.

Hand-built observed states; no kernel. Each case names what a fine-grained module
relies on: no implied deletion of other kinds, no delete of unlisted objects without
purge, purge limited to netwright's own, absent limited to the listed, foreign objects
at listed keys conflicting.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

import pytest

from netwright.engine import ObservedState, Ownership, Scope, diff
from netwright.engine.diffing import scoped_basis
from netwright.kernel import host
from netwright.kernel.records import (
    FdbRecord,
    LinkRecord,
    NeighbourRecord,
    Nexthop,
    NexthopRecord,
    RouteRecord,
)
from netwright.model.state import (
    FdbEntry,
    File,
    Link,
    Neighbour,
    NftTable,
    NodeState,
    Route,
    VxlanLink,
)

ip = ipaddress.ip_address
net = ipaddress.ip_network

ETH0 = LinkRecord(index=2, alias=None, link=Link(name="eth0", kind="veth", mtu=1500))
VX = Link(name="nwvx.1", kind="vxlan", vxlan=VxlanLink(vni=1, port=4789, local=ip("172.31.9.1")))
BR = Link(name="nwbr0", kind="bridge", mtu=1400)
THEIRS = LinkRecord(index=5, alias=None, link=Link(name="other0", kind="bridge"))
LINKS = {
    "eth0": ETH0,
    "nwvx.1": LinkRecord(index=3, alias="netwright", link=VX),
    "nwbr0": LinkRecord(index=4, alias="netwright", link=BR),
    "other0": THEIRS,
}
NH = Nexthop(id=0x6E770001, gateway=ip("172.31.9.2"), dev="eth0", onlink=False)


def route(dst: str, gw: str | None = "172.31.9.2", **kw: Any) -> Route:
    return Route(dst=net(dst), gateway=ip(gw) if gw else None, dev="eth0", **kw)


def rec(r: Route, *, proto: int = 211, nhid: int = 0) -> RouteRecord:
    return RouteRecord(route=r, protocol=proto, type=1, nhid=nhid)


A, B, C = route("10.9.0.0/24"), route("10.9.1.0/24"), route("10.9.2.0/24", None)
NEIGH = Neighbour(dev="nwvx.1", ip=ip("10.244.2.0"), mac="0e:6e:00:00:00:02")
FDB = FdbEntry(dev="nwvx.1", mac="0e:6e:00:00:00:02", dst=ip("172.31.9.2"))
OBSERVED = ObservedState(
    links=LINKS,
    routes=(rec(A, nhid=NH.id), rec(B, nhid=NH.id), rec(C)),
    nexthops=(NexthopRecord(nexthop=NH, id=NH.id, protocol=211),),
    neighbours=(NeighbourRecord(neighbour=NEIGH, permanent=True),),
    fdb=(FdbRecord(entry=FDB, permanent=True),),
    nft=host.NftRecord(family="inet", name="netwright", digest="x", text=""),
    owned_files=frozenset({"/r/etc/cni/net.d/a.conflist", "/r/etc/bird/bird.conf"}),
    files={
        "/r/etc/cni/net.d/a.conflist": None,
        "/r/etc/bird/bird.conf": None,
    },
)


def scoped(
    partial: NodeState, scope: Scope, observed: ObservedState = OBSERVED
) -> list[tuple[str, str, str]]:
    """(op, kind, key text) of the scoped diff, after completing the links as `run` does."""
    basis, conflicts = scoped_basis(partial, observed.links, scope)
    delta = diff(
        basis,
        dataclasses.replace(
            observed, unrecorded=dataclasses.replace(observed.unrecorded, basis=basis)
        ),
        scope=scope,
    )
    out = [(str(c.op), c.kind, str(c.key)) for c in delta.changes]
    out += [("conflict", c.kind, str(c.key)) for c in (*conflicts, *delta.conflicts)]
    return out


def state(**kw: Any) -> NodeState:
    return NodeState(node="n", **kw)


ROUTE = frozenset({"route"})
CASES = [
    # id, partial state, scope, expected (op, kind, key)
    ("route present: nothing else is deleted", state(routes=(A,)), Scope(kinds=ROUTE), []),
    (
        "route present: a new one only",
        state(routes=(route("10.9.5.0/24", None),)),
        Scope(kinds=ROUTE),
        [("add", "route", "(254, IPv4Network('10.9.5.0/24'), 0)")],
    ),
    (
        "route purge: unlisted routes of netwright's go, the nexthop stays in use",
        state(routes=(A,)),
        Scope(kinds=ROUTE, purge=True),
        [
            ("delete", "route", "(254, IPv4Network('10.9.1.0/24'), 0)"),
            ("delete", "route", "(254, IPv4Network('10.9.2.0/24'), 0)"),
        ],
    ),
    (
        "route absent: the listed one; the nexthop B still uses stays",
        state(routes=(A, route("10.9.8.0/24"))),
        Scope(kinds=ROUTE, absent=True),
        [("delete", "route", "(254, IPv4Network('10.9.0.0/24'), 0)")],
    ),
    (
        "route absent: the last route through a nexthop takes it along",
        state(routes=(A, B)),
        Scope(kinds=ROUTE, absent=True),
        [
            ("delete", "route", "(254, IPv4Network('10.9.0.0/24'), 0)"),
            ("delete", "route", "(254, IPv4Network('10.9.1.0/24'), 0)"),
            ("delete", "nexthop", str(NH.id)),
        ],
    ),
    (
        "route present: a gateway change moves it off a nexthop B still uses",
        state(routes=(route("10.9.0.0/24", "172.31.9.3"),)),
        Scope(kinds=ROUTE),
        [
            ("change", "route", "(254, IPv4Network('10.9.0.0/24'), 0)"),
            ("add", "nexthop", str(NH.id + 1)),
        ],
    ),
    ("link present: other links stay", state(links=(BR,)), Scope(kinds=frozenset({"link"})), []),
    (
        "link purge: netwright's unlisted link goes with its entries, foreign ones stay",
        state(links=(BR,)),
        Scope(kinds=frozenset({"link"}), purge=True),
        [
            ("delete", "link", "nwvx.1"),
            ("delete", "neighbour", "('nwvx.1', IPv4Address('10.244.2.0'))"),
            ("delete", "fdb", "('nwvx.1', '0e:6e:00:00:00:02', IPv4Address('172.31.9.2'))"),
        ],
    ),
    (
        "link absent: the listed one; a foreign one listed conflicts",
        state(links=(BR, Link(name="other0", kind="bridge"))),
        Scope(kinds=frozenset({"link"}), absent=True),
        [("delete", "link", "nwbr0"), ("conflict", "link", "other0")],
    ),
    (
        "link present: a foreign link of the name conflicts",
        state(links=(Link(name="other0", kind="bridge", mtu=1300),)),
        Scope(kinds=frozenset({"link"})),
        [("conflict", "link", "other0")],
    ),
    (
        "neighbour present: the unlisted one stays",
        state(neighbours=(dataclasses.replace(NEIGH, ip=ip("10.244.3.0")),)),
        Scope(kinds=frozenset({"neighbour"})),
        [("add", "neighbour", "('nwvx.1', IPv4Address('10.244.3.0'))")],
    ),
    (
        "neighbour on a bridge of netwright's: not a VTEP, conflicts",
        state(neighbours=(dataclasses.replace(NEIGH, dev="nwbr0"),)),
        Scope(kinds=frozenset({"neighbour"})),
        [("conflict", "neighbour", "('nwbr0', IPv4Address('10.244.2.0'))")],
    ),
    (
        "fdb absent: the listed entry",
        state(fdb=(FDB,)),
        Scope(kinds=frozenset({"fdb"}), absent=True),
        [("delete", "fdb", "('nwvx.1', '0e:6e:00:00:00:02', IPv4Address('172.31.9.2'))")],
    ),
    ("nft out of scope: the table stays", state(), Scope(kinds=frozenset({"sysctl"})), []),
    (
        "nft absent: netwright's table goes",
        state(),
        Scope(kinds=frozenset({"nft"}), absent=True),
        [("delete", "nft", "('inet', 'netwright')")],
    ),
    (
        "file purge: only under the scope's directories",
        state(files=(File(path="/r/etc/cni/net.d/b.conflist", content="{}\n"),)),
        Scope(kinds=frozenset({"file"}), purge=True, file_dirs=("/r/etc/cni/net.d",)),
        [
            ("delete", "file", "/r/etc/cni/net.d/a.conflist"),
            ("add", "file", "/r/etc/cni/net.d/b.conflist"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("partial", "scope", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_scoped_diff(
    partial: NodeState, scope: Scope, expected: list[tuple[str, str, str]]
) -> None:
    got = [c for c in scoped(partial, scope) if c[1] != "file" or c[0] != "change"]
    assert sorted(got) == sorted(expected)


def test_route_present_with_a_foreign_route_at_the_key_conflicts() -> None:
    foreign = rec(route("10.9.7.0/24", None), proto=4)
    observed = dataclasses.replace(OBSERVED, routes=(*OBSERVED.routes, foreign))
    got = scoped(state(routes=(route("10.9.7.0/24"),)), Scope(kinds=ROUTE), observed)
    assert got == [("conflict", "route", "(254, IPv4Network('10.9.7.0/24'), 0)")]


def test_unscoped_diff_of_the_same_partial_state_would_delete_everything() -> None:
    """Why the scope exists: a whole-node diff of a routes-only state removes the rest."""
    basis = state(routes=(A,))
    kinds = {
        c.kind
        for c in diff(basis, OBSERVED, ownership=Ownership(files=OBSERVED.owned_files)).changes
    }
    assert {"link", "route", "neighbour", "fdb", "nft", "file"} <= kinds
    assert scoped(basis, Scope(kinds=ROUTE)) == []


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"kinds": frozenset({"address"})}, "unknown kinds ['address']"),
        ({"kinds": frozenset()}, "no kinds"),
        ({"kinds": ROUTE, "purge": True, "absent": True}, "`purge` goes with present"),
    ],
    ids=["unknown kind", "no kind", "purge with absent"],
)
def test_scope_refuses_what_it_cannot_mean(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="Scope") as info:
        Scope(**kw)
    assert message in str(info.value)


def test_nft_present_replaces_only_netwright_table() -> None:
    table = NftTable(body="\tchain postrouting {\n\t}\n")
    got = scoped(state(nft=table), Scope(kinds=frozenset({"nft"})))
    assert got == [("change", "nft", "('inet', 'netwright')")]


def test_scope_takes_any_set_of_kinds() -> None:
    scope = Scope(kinds={"route"})  # type: ignore[arg-type]
    assert scope.kinds == frozenset({"route"})
    assert hash(scope) == hash(Scope(kinds=frozenset({"route"})))
