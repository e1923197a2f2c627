"""The pure diff: ownership, conflicts, ordering, nexthop sharing, implied deletes, secrets."""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any

import pytest

from netwright.engine import ObservedState, Ownership, Unrecorded, diff
from netwright.kernel import host
from netwright.kernel.records import (
    AddressRecord,
    LeftoverRoutes,
    LinkRecord,
    NeighbourRecord,
    Nexthop,
    NexthopRecord,
    NexthopSet,
    RouteRecord,
    RouteSet,
)
from netwright.model.spec import SecretRef, SecretValue
from netwright.model.state import (
    Address,
    FdbEntry,
    File,
    Link,
    Neighbour,
    NftTable,
    NodeState,
    Route,
    Sysctl,
    VxlanLink,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

ip = ipaddress.ip_address
net = ipaddress.ip_network
VX = Link(
    name="nwvx.1",
    kind="vxlan",
    mtu=1450,
    vxlan=VxlanLink(vni=1, port=8472, local=ip("172.31.255.11"), dev="eth0"),
)
ETH0 = LinkRecord(
    index=2, alias=None, link=Link(name="eth0", kind="veth", mtu=1500, mac="02:00:00:00:00:01")
)


def owned(link: Link, index: int = 10) -> LinkRecord:
    return LinkRecord(index=index, alias="netwright", link=link)


def route(dst: str, gw: str | None = None, dev: str = "eth0", **kw: object) -> Route:
    return Route(dst=net(dst), gateway=ip(gw) if gw else None, dev=dev, **kw)  # type: ignore[arg-type]


def owned_nexthop(nh: Nexthop) -> NexthopRecord:
    return NexthopRecord(nexthop=nh, id=nh.id, protocol=211)


# ---------------------------------------------------------------- Ownership


@pytest.mark.parametrize(
    ("alias", "kind", "link", "vtep"),
    [
        pytest.param("netwright", "vxlan", True, True, id="alias+vxlan"),
        pytest.param("netwright", "bridge", True, False, id="alias+bridge"),
        pytest.param(None, "vxlan", False, False, id="no-alias"),
        pytest.param("flannel", "vxlan", False, False, id="other-alias"),
    ],
)
def test_ownership_of_links(alias: str | None, kind: str, link: bool, vtep: bool) -> None:
    rec = LinkRecord(index=1, alias=alias, link=Link(name="x", kind=kind))
    assert Ownership().link(rec) is link
    assert Ownership().vtep(rec) is vtep


@pytest.mark.parametrize(
    ("proto", "mine"),
    [(211, True), (4, False), (2, False), (12, False)],
    ids=["211", "static", "kernel", "bird"],
)
def test_ownership_of_routes_and_nexthops(proto: int, mine: bool) -> None:
    assert (
        Ownership().route(RouteRecord(route=route("10.0.0.0/24"), protocol=proto, type=1)) is mine
    )
    assert Ownership().nexthop(NexthopRecord(nexthop=None, id=1, protocol=proto)) is mine


def test_ownership_of_nft_and_files() -> None:
    own = Ownership(files=frozenset({"/etc/a"}))
    assert own.nft("inet", "netwright")
    assert not own.nft("inet", "filter")
    assert not own.nft("ip", "netwright")
    assert own.file("/etc/a")
    assert not own.file("/etc/b")


# ---------------------------------------------------------------- diff


def test_empty_desired_and_nothing_owned_is_empty() -> None:
    observed = ObservedState(
        links={"eth0": ETH0},
        routes=(RouteRecord(route=route("10.9.0.0/24", "172.31.255.1"), protocol=4, type=1),),
    )
    assert diff(NodeState(node="n"), observed).empty


def test_order_deletes_reverse_then_changes_then_adds_nexthop_deletes_last() -> None:
    old_vx = owned(Link(name="old.1", kind="vxlan", vxlan=VX.vxlan), 11)
    observed = ObservedState(
        links={
            "eth0": ETH0,
            "old.1": old_vx,
            "cni0": owned(Link(name="cni0", kind="bridge", mtu=1500, up=True), 12),
        },
        nexthops=(
            owned_nexthop(Nexthop(id=5, gateway=ip("172.31.255.9"), dev="eth0", onlink=False)),
        ),
        routes=(
            RouteRecord(route=route("10.8.0.0/24", "172.31.255.9"), protocol=211, type=1, nhid=5),
        ),
        sysctls={"net.ipv4.ip_forward": "0"},
    )
    desired = NodeState(
        node="n",
        links=(VX, Link(name="cni0", kind="bridge", mtu=1450)),
        addresses=(Address(dev="cni0", address=ipaddress.ip_interface("10.244.1.1/24")),),
        routes=(route("10.244.2.0/24", "172.31.255.12"),),
        sysctls=(Sysctl(name="net.ipv4.ip_forward", value="1"),),
    )
    delta = diff(desired, observed)
    steps = [(c.kind, str(c.op)) for c in delta.changes]
    assert steps == [
        ("route", "delete"),
        ("link", "delete"),
        ("link", "change"),
        ("link", "add"),
        ("address", "add"),
        ("nexthop", "add"),
        ("route", "add"),
        ("sysctl", "change"),
        ("nexthop", "delete"),
    ]
    route_delete = delta.changes[0]
    assert route_delete.implied  # it goes with nexthop 5
    add = next(c for c in delta.changes if c.kind == "route" and str(c.op) == "add")
    nh_add = next(c for c in delta.changes if c.kind == "nexthop" and str(c.op) == "add")
    assert add.nhid == nh_add.after.id
    assert str(add) == f"+ route 10.244.2.0/24 nhid {add.nhid} via 172.31.255.12 dev eth0 proto 211"


def test_nexthops_are_shared_and_ids_never_collide() -> None:
    foreign = NexthopRecord(nexthop=None, id=0x6E770001, protocol=4)
    desired = NodeState(
        node="n",
        routes=(
            route("10.1.0.0/24", "172.31.255.12"),
            route("10.2.0.0/24", "172.31.255.12"),
            route("10.3.0.0/24", "172.31.255.13"),
        ),
    )
    delta = diff(desired, ObservedState(links={"eth0": ETH0}, nexthops=(foreign,)))
    nexthops = [c.after for c in delta.changes if c.kind == "nexthop"]
    assert len(nexthops) == 2
    assert 0x6E770001 not in {nh.id for nh in nexthops}
    routes = [c for c in delta.changes if c.kind == "route"]
    assert routes[0].nhid == routes[1].nhid != routes[2].nhid


def test_without_nexthop_support_routes_are_plain() -> None:
    delta = diff(
        NodeState(node="n", routes=(route("10.1.0.0/24", "172.31.255.12"),)),
        ObservedState(links={"eth0": ETH0}, nexthops=None),
    )
    assert [(c.kind, c.nhid) for c in delta.changes] == [("route", 0)]


def test_equal_plain_route_is_left_alone() -> None:
    r = route("10.1.0.0/24", "172.31.255.12")
    observed = ObservedState(
        links={"eth0": ETH0}, routes=(RouteRecord(route=r, protocol=211, type=1),)
    )
    assert diff(NodeState(node="n", routes=(r,)), observed).empty


def test_ipv6_metric_zero_matches_kernel_1024() -> None:
    want = route("fd00::/64", dev="eth0")
    have = Route(dst=net("fd00::/64"), dev="eth0", metric=1024)
    observed = ObservedState(
        links={"eth0": ETH0}, routes=(RouteRecord(route=have, protocol=211, type=1),)
    )
    assert diff(NodeState(node="n", routes=(want,)), observed).empty


def test_foreign_route_at_desired_key_is_a_conflict_naming_both() -> None:
    foreign = RouteRecord(route=route("10.244.2.0/24", "172.31.255.1"), protocol=4, type=1)
    delta = diff(
        NodeState(node="n", routes=(route("10.244.2.0/24", "172.31.255.12"),)),
        ObservedState(links={"eth0": ETH0}, routes=(foreign,)),
    )
    assert delta.empty
    assert [str(c) for c in delta.conflicts] == [
        (
            "route 10.244.2.0/24 via 172.31.255.12 dev eth0 proto 211: conflicts with existing "
            "route 10.244.2.0/24 via 172.31.255.1 dev eth0 proto 4, which netwright does not own"
        )
    ]


def test_foreign_link_with_desired_name_blocks_its_dependants() -> None:
    foreign = LinkRecord(index=3, alias=None, link=Link(name="cni0", kind="bridge", mtu=1500))
    desired = NodeState(
        node="n",
        links=(Link(name="cni0", kind="bridge"),),
        addresses=(Address(dev="cni0", address=ipaddress.ip_interface("10.244.1.1/24")),),
        routes=(route("10.244.9.0/24", dev="cni0"),),
    )
    delta = diff(desired, ObservedState(links={"cni0": foreign}))
    assert delta.empty
    assert len(delta.conflicts) == 1
    assert "existing link cni0 type bridge" in str(delta.conflicts[0])


def test_deleting_a_link_implies_what_hangs_on_it() -> None:
    observed = ObservedState(
        links={"eth0": ETH0, "nwvx.1": owned(VX)},
        addresses=(
            AddressRecord(
                dev="nwvx.1", address=ipaddress.ip_interface("10.244.1.0/32"), link_local=False
            ),
            AddressRecord(
                dev="nwvx.1", address=ipaddress.ip_interface("fe80::1/64"), link_local=True
            ),
        ),
        neighbours=(
            NeighbourRecord(
                neighbour=Neighbour(dev="nwvx.1", ip=ip("10.244.2.0"), mac="0e:6e:ac:1f:ff:0c"),
                permanent=True,
            ),
            NeighbourRecord(
                neighbour=Neighbour(dev="nwvx.1", ip=ip("10.244.3.0"), mac=""), permanent=False
            ),
        ),
        routes=(
            RouteRecord(
                route=route("10.244.2.0/24", "10.244.2.0", dev="nwvx.1", onlink=True),
                protocol=211,
                type=1,
            ),
        ),
    )
    delta = diff(NodeState(node="n"), observed)
    explicit = [(c.kind, str(c.op)) for c in delta.changes if not c.implied]
    assert explicit == [("link", "delete")]
    assert {c.kind for c in delta.changes if c.implied} == {"address", "neighbour", "route"}


def test_changed_vxlan_settings_recreate_and_re_add_dependants() -> None:
    observed = ObservedState(
        links={"eth0": ETH0, "nwvx.1": owned(VX)},
        addresses=(
            AddressRecord(
                dev="nwvx.1", address=ipaddress.ip_interface("10.244.1.0/32"), link_local=False
            ),
        ),
    )
    new = Link(
        name="nwvx.1",
        kind="vxlan",
        mtu=1450,
        vxlan=VxlanLink(vni=2, port=8472, local=ip("172.31.255.11"), dev="eth0"),
    )
    desired = NodeState(
        node="n",
        links=(new,),
        addresses=(Address(dev="nwvx.1", address=ipaddress.ip_interface("10.244.1.0/32")),),
    )
    steps = [(c.kind, str(c.op)) for c in diff(desired, observed).changes]
    assert steps == [("link", "delete"), ("link", "add"), ("address", "add")]


def test_link_change_lists_fields() -> None:
    observed = ObservedState(
        links={"nwvx.1": owned(Link(name="nwvx.1", kind="vxlan", mtu=1500, vxlan=VX.vxlan))}
    )
    (change,) = diff(NodeState(node="n", links=(VX,)), observed).changes
    assert change.fields == ("mtu",)
    assert str(change).endswith("[mtu 1500 -> 1450]")


def test_optional_sysctl_missing_is_a_note() -> None:
    s = Sysctl(name="net.bridge.bridge-nf-call-iptables", value="0", optional=True)
    delta = diff(NodeState(node="n", sysctls=(s,)), ObservedState(sysctls={s.name: None}))
    assert delta.empty
    assert delta.notes == (
        "sysctl net.bridge.bridge-nf-call-iptables: not in this kernel, skipped",
    )


def test_sysctl_whitespace_is_not_a_change() -> None:
    s = Sysctl(name="net.ipv4.tcp_rmem", value="4096 131072 6291456")
    assert diff(
        NodeState(node="n", sysctls=(s,)), ObservedState(sysctls={s.name: "4096\t131072\t6291456"})
    ).empty


def test_nft_compares_by_digest_and_is_deleted_when_undesired() -> None:
    table = NftTable(body="\tchain c {\n\t}\n")
    same = host.NftRecord(family="inet", name="netwright", digest=host.nft_digest(table), text="")
    assert diff(NodeState(node="n", nft=table), ObservedState(nft=same)).empty
    other = host.NftRecord(family="inet", name="netwright", digest=None, text="")
    assert [
        str(c.op) for c in diff(NodeState(node="n", nft=table), ObservedState(nft=other)).changes
    ] == ["change"]
    assert [str(c.op) for c in diff(NodeState(node="n"), ObservedState(nft=same)).changes] == [
        "delete"
    ]


SECRET = SecretValue(
    SecretRef(namespace="kube-system", name="bgp", key="tor-a"), "hunter2-cleartext"
)


def bird_file(password: SecretValue) -> File:
    return File(
        path="/r/etc/bird.conf",
        content=f'password "{password.placeholder}";\n',
        mode=0o600,
        secrets=(password,),
    )


def on_host(files: dict[str, host.FileRecord], *, owned: bool = False) -> ObservedState:
    """`files` as found on a host where only root exists; netwright's if `owned`."""
    return ObservedState(
        files=files,
        owned_files=frozenset(files) if owned else frozenset(),
        users={"root": host.Account(name="root", uid=0, group="root")},
        groups=frozenset({"root"}),
    )


def record(text: str, *, mode: int = 0o600) -> host.FileRecord:
    import hashlib

    return host.FileRecord(
        path="/r/etc/bird.conf",
        regular=True,
        mode=mode,
        owner="root",
        group="root",
        digest=hashlib.sha256(text.encode()).hexdigest(),
        text=text,
    )


def test_files_compare_materialized_but_never_show_secrets() -> None:
    f = bird_file(SECRET)
    on_disk = record('password "hunter2-cleartext";\n')
    same = on_host({f.path: on_disk}, owned=True)
    assert diff(NodeState(node="n", files=(f,)), same).empty

    old = record('password "old-secret-value";\n')
    changed = on_host({f.path: old}, owned=True)
    delta = diff(NodeState(node="n", files=(f,)), changed)
    assert [c.fields for c in delta.changes] == [("content",)]
    shown = "\n".join(delta.lines()) + json.dumps(delta.to_json())
    assert "hunter2" not in shown
    assert "old-secret-value" not in shown
    assert "<secret kube-system/bgp/tor-a>" in shown


def test_foreign_file_is_a_conflict_unless_identical() -> None:
    f = File(path="/r/etc/a.conf", content="a\n")
    foreign = record("b\n", mode=0o644)
    delta = diff(
        NodeState(node="n", files=(f,)),
        on_host({f.path: foreign}),
    )
    assert delta.empty
    assert "existing file /r/etc/a.conf (content differ)" in str(delta.conflicts[0])
    identical = host.FileRecord(
        path=f.path,
        regular=True,
        mode=0o644,
        owner="root",
        group="root",
        digest=host.content_digest(f),
        text="a\n",
    )
    adopted = diff(NodeState(node="n", files=(f,)), on_host({f.path: identical}))
    assert not adopted.conflicts
    # Exactly what netwright writes: adopted (recorded as netwright's, nothing written).
    assert [(c.kind, str(c.op), c.key, c.fields) for c in adopted.changes] == [
        ("file", "change", f.path, ())
    ]
    assert diff(NodeState(node="n", files=(f,)), on_host({f.path: identical}, owned=True)).empty


def test_owned_file_not_desired_is_deleted() -> None:
    delta = diff(
        NodeState(node="n"), ObservedState(files={"/r/x": None}, owned_files=frozenset({"/r/x"}))
    )
    assert [(c.kind, str(c.op), c.key) for c in delta.changes] == [("file", "delete", "/r/x")]


def test_missing_group_is_compared_as_root() -> None:
    f = File(path="/r/etc/bird.conf", content="x\n", mode=0o640, group="bird")
    import hashlib

    disk = host.FileRecord(
        path=f.path,
        regular=True,
        mode=0o640,
        owner="root",
        group="root",
        digest=hashlib.sha256(b"x\n").hexdigest(),
        text=None,
    )
    delta = diff(
        NodeState(node="n", files=(f,)),
        on_host({f.path: disk}, owned=True),
    )
    assert delta.empty
    assert delta.notes == ("file /r/etc/bird.conf: group bird does not exist; group root instead",)


def test_delta_json_and_summary() -> None:
    delta = diff(
        NodeState(node="n", routes=(route("10.1.0.0/24", "172.31.255.12"),)),
        ObservedState(links={"eth0": ETH0}),
    )
    data = delta.to_json()
    assert data["summary"] == {"add": 2, "change": 0, "delete": 0, "conflict": 0}
    assert json.loads(json.dumps(data)) == data
    assert data["changes"][1]["key"] == "10.1.0.0/24 table 254 metric 0"


# ---------------------------------------------------------------- the no-op fast path


def _vtep_state() -> NodeState:
    return NodeState(
        node="n",
        links=(VX,),
        routes=(
            route("10.1.0.0/24", "10.1.0.0", dev="nwvx.1", onlink=True),
            route("10.2.0.0/24", "10.2.0.0", dev="nwvx.1", onlink=True),
        ),
        neighbours=(
            Neighbour(dev="nwvx.1", ip=ip("10.1.0.0"), mac="0e:6e:ac:1f:ff:0c"),
            Neighbour(dev="nwvx.1", ip=ip("10.2.0.0"), mac="0e:6e:ac:1f:ff:0d"),
        ),
        fdb=(
            FdbEntry(dev="nwvx.1", mac="0e:6e:ac:1f:ff:0c", dst=ip("172.31.255.12")),
            FdbEntry(dev="nwvx.1", mac="0e:6e:ac:1f:ff:0d", dst=ip("172.31.255.13")),
        ),
    )


def _synced(desired: NodeState, vtep: Link = VX, **kw: Any) -> ObservedState:
    return ObservedState(
        links={"eth0": ETH0, "nwvx.1": owned(vtep)},
        nexthop_ids=frozenset({7, 8}),
        unrecorded=Unrecorded(
            synced_routes={0: 7, 1: 8},
            synced_neighbours=frozenset({0, 1}),
            synced_fdb=frozenset({0, 1}),
            basis=desired,
        ),
        **kw,
    )


def test_synced_objects_make_an_empty_delta() -> None:
    desired = _vtep_state()
    assert diff(desired, _synced(desired)).empty


def test_synced_index_is_only_valid_for_its_own_desired_state() -> None:
    desired = _vtep_state()
    with pytest.raises(ValueError, match="another desired state"):
        diff(NodeState(node="n", links=(VX,)), _synced(desired))


def test_synced_objects_on_a_recreated_vtep_are_added_again_with_fresh_nexthops() -> None:
    desired = _vtep_state()
    other_vni = Link(name="nwvx.1", kind="vxlan", mtu=1450, vxlan=VxlanLink(
        vni=2, port=8472, local=ip("172.31.255.11"), dev="eth0"))  # fmt: skip
    delta = diff(desired, _synced(desired, other_vni))
    adds = {(c.kind, str(c.key)) for c in delta.changes if str(c.op) == "add"}
    assert sum(k == "route" for k, _ in adds) == 2
    assert sum(k == "neighbour" for k, _ in adds) == 2
    assert sum(k == "fdb" for k, _ in adds) == 2
    nhids = {c.after.id for c in delta.changes if c.kind == "nexthop"}
    assert len(nhids) == 2
    assert not nhids & {7, 8}


def test_a_new_route_shares_a_synced_routes_nexthop() -> None:
    desired = _vtep_state()
    more = NodeState(
        node="n",
        links=desired.links,
        routes=(*desired.routes, route("10.9.0.0/24", "10.1.0.0", dev="nwvx.1", onlink=True)),
        neighbours=desired.neighbours,
        fdb=desired.fdb,
    )
    observed = _synced(more)
    delta = diff(more, observed)
    assert [(c.kind, str(c.op), c.nhid) for c in delta.changes] == [("route", "add", 7)]


def test_stale_owned_objects_go_even_with_synced_ones() -> None:
    desired = _vtep_state()
    stale = route("10.3.0.0/24", "10.3.0.0", dev="nwvx.1", onlink=True)
    observed = _synced(
        desired,
        routes=(RouteRecord(route=stale, protocol=211, type=1, nhid=9),),
        nexthops=(owned_nexthop(Nexthop(id=9, gateway=ip("10.3.0.0"), dev="nwvx.1", onlink=True)),),
        neighbours=(
            NeighbourRecord(
                neighbour=Neighbour(dev="nwvx.1", ip=ip("10.3.0.0"), mac="0e:6e:ac:1f:ff:0e"),
                permanent=True,
            ),
        ),
    )
    delta = diff(desired, observed)
    assert sorted((c.kind, str(c.op), c.implied) for c in delta.changes) == [
        ("neighbour", "delete", False),
        ("nexthop", "delete", False),
        ("route", "delete", True),
    ]


@pytest.mark.parametrize(
    "r",
    [
        route("10.1.0.0/24", "172.31.255.12"),
        Route(dst=net("10.1.0.0/24"), table=1000, metric=100),
        Route(dst=net("fd00::/64"), dev="eth0"),
        Route(dst=net("fd00::/64"), dev="eth0", metric=5),
        Route(dst=net("0.0.0.0/0"), dev="eth0"),
    ],
    ids=["v4", "v4-table-metric", "v6-metric-0", "v6-metric", "default"],
)
def test_wire_key_in_one_step_matches_route_key(r: Route) -> None:
    from netwright.kernel._wire import route_wire_key, route_wire_key_of

    assert route_wire_key_of(r) == route_wire_key(r.key)


def test_what_goes_with_a_deleted_link_is_summarised() -> None:
    desired = NodeState(node="n")
    observed = ObservedState(
        links={"eth0": ETH0, "nwvx.1": owned(VX)},
        unrecorded=Unrecorded(
            vanishing={
                ("nwvx.1", "route"): 5000,
                ("nwvx.1", "neighbour"): 5000,
                ("nwvx.1", "fdb"): 4,
            },
            basis=desired,
        ),
    )
    delta = diff(desired, observed)
    assert [(c.kind, str(c.op), c.implied, c.count) for c in delta.changes] == [
        ("fdb", "delete", True, 4),
        ("neighbour", "delete", True, 5000),
        ("route", "delete", True, 5000),
        ("link", "delete", False, 1),
    ]
    assert delta.summary() == {"add": 0, "change": 0, "delete": 10005, "conflict": 0}
    assert delta.by_kind()["route"] == {"delete": 5000}
    assert delta.lines()[:3] == [
        "- 4 fdb entries on nwvx.1 (go with their link)",
        "- 5,000 neighbours on nwvx.1 (go with their link)",
        "- 5,000 routes on nwvx.1 (go with their link)",
    ]
    assert delta.to_json()["changes"][2]["count"] == 5000


def test_summaries_must_match_the_links_the_diff_deletes() -> None:
    desired = NodeState(node="n", links=(VX,))
    observed = ObservedState(
        links={"eth0": ETH0, "nwvx.1": owned(VX)},
        unrecorded=Unrecorded(vanishing={("nwvx.1", "route"): 3}, basis=desired),
    )
    with pytest.raises(ValueError, match="vanishing"):
        diff(desired, observed)
    with pytest.raises(ValueError, match="another desired state"):
        diff(NodeState(node="n"), observed)


def _leftover(*routes: tuple[str, int]) -> LeftoverRoutes:
    """Leftover routes (destination, nexthop id) as a dump lists them; nexthop N
    goes via 172.31.255.N dev eth0 onlink."""
    ids = sorted({nhid for _dst, nhid in routes})
    return LeftoverRoutes(
        keys=tuple(
            (2, 254, net(d).network_address.packed, net(d).prefixlen, 0) for d, _nhid in routes
        ),
        nexthops=tuple(nhid for _dst, nhid in routes),
        vias=tuple((i, ip(f"172.31.255.{i}").packed, "eth0", True) for i in ids),
    )


def test_routes_through_deleted_nexthops_go_first_as_one_summary() -> None:
    desired = NodeState(node="n")
    observed = ObservedState(
        links={"eth0": ETH0},
        unrecorded=Unrecorded(
            leftover_routes=_leftover(
                ("10.64.0.0/24", 7), ("10.64.1.0/24", 8), ("10.64.2.0/24", 7)
            ),
            basis=desired,
        ),
    )
    delta = diff(desired, observed)
    assert [(c.kind, str(c.op), c.implied, c.count) for c in delta.changes] == [
        ("route", "delete", False, 3),
        ("nexthop", "delete", False, 2),
    ]
    assert delta.summary() == {"add": 0, "change": 0, "delete": 5, "conflict": 0}
    assert delta.lines() == [  # a summary of few objects lists each by key
        "- 3 routes through the 2 nexthops deleted (deleted first)",
        "    - route 10.64.0.0/24 table 254 metric 0",
        "    - route 10.64.1.0/24 table 254 metric 0",
        "    - route 10.64.2.0/24 table 254 metric 0",
        "- 2 nexthops (their routes deleted first)",
        "    - nexthop id 7 via 172.31.255.7 dev eth0 onlink",
        "    - nexthop id 8 via 172.31.255.8 dev eth0 onlink",
    ]
    changes = delta.to_json()["changes"]
    assert (changes[0]["count"], changes[0]["before"]) == (3, {"nexthops": 2, "routes": 3})
    assert (changes[1]["count"], changes[1]["before"]) == (2, {"nexthops": 2})


def test_a_one_route_summary_sorts_after_single_deletes() -> None:
    desired = NodeState(node="n")
    nh = Nexthop(id=8, gateway=ip("172.31.255.8"), dev="eth0", onlink=True)
    observed = ObservedState(
        links={"eth0": ETH0},
        nexthops=(owned_nexthop(nh),),
        routes=(RouteRecord(route=route("10.9.0.0/24", "172.31.255.9"), protocol=211, type=1),),
        unrecorded=Unrecorded(leftover_routes=_leftover(("10.64.0.0/24", 7)), basis=desired),
    )
    delta = diff(desired, observed)
    assert [(c.kind, c.key, c.count, c.summary) for c in delta.changes] == [
        ("route", (254, net("10.9.0.0/24"), 0), 1, False),
        ("route", "through deleted nexthops", 1, True),
        ("nexthop", 8, 1, False),
        ("nexthop", "through deleted nexthops", 1, True),
    ]


def test_a_leftover_route_goes_alone_where_a_desired_route_keeps_its_nexthop() -> None:
    # Nexthop 7 (172.31.255.7) carries a route no longer desired, and a desired
    # route to add goes the same way: 7 serves it, and only the old route goes,
    # on its own. Nexthop 8 serves nothing: it goes with its route, in the batch.
    desired = NodeState(node="n", routes=(route("10.64.9.0/24", "172.31.255.7", onlink=True),))
    observed = ObservedState(
        links={"eth0": ETH0},
        unrecorded=Unrecorded(
            leftover_routes=_leftover(("10.64.0.0/24", 7), ("10.64.1.0/24", 8)), basis=desired
        ),
        nexthop_ids=frozenset({7, 8}),
    )
    delta = diff(desired, observed)
    assert [(c.kind, str(c.op), c.key, c.nhid, c.count) for c in delta.changes] == [
        ("route", "delete", (254, net("10.64.0.0/24"), 0), 7, 1),
        ("route", "delete", "through deleted nexthops", 0, 1),
        ("route", "add", (254, net("10.64.9.0/24"), 0), 7, 1),
        ("nexthop", "delete", "through deleted nexthops", 0, 1),
    ]
    alone = delta.changes[0]
    assert alone.before == route("10.64.0.0/24", "172.31.255.7", onlink=True)
    assert not alone.implied
    batch, nexthops = delta.changes[1].before, delta.changes[3].before
    assert isinstance(batch, RouteSet)
    assert isinstance(nexthops, NexthopSet)
    assert (batch.nexthops, batch.keys) == (frozenset({8}), _leftover(("10.64.1.0/24", 8)).keys)
    assert nexthops.ids == {8}


def test_a_leftover_route_goes_alone_where_a_foreign_route_keeps_its_nexthop() -> None:
    desired = NodeState(node="n")
    observed = ObservedState(
        links={"eth0": ETH0},
        foreign_nexthop_users=frozenset({7}),
        unrecorded=Unrecorded(
            leftover_routes=_leftover(("10.64.0.0/24", 7), ("10.64.1.0/24", 7)), basis=desired
        ),
    )
    delta = diff(desired, observed)
    assert [(c.kind, str(c.op), c.key, c.implied) for c in delta.changes] == [
        ("route", "delete", (254, net("10.64.0.0/24"), 0), False),
        ("route", "delete", (254, net("10.64.1.0/24"), 0), False),
    ]
    kept = "nexthop id 7 via 172.31.255.7 dev eth0 onlink proto 211"
    assert delta.notes == (f"{kept}: kept, routes netwright does not own use it",)


def test_leftover_routes_hold_for_their_basis_only() -> None:
    desired = NodeState(node="n")
    observed = ObservedState(
        links={"eth0": ETH0},
        unrecorded=Unrecorded(leftover_routes=_leftover(("10.64.0.0/24", 7)), basis=desired),
    )
    assert diff(desired, observed).summary()["delete"] == 2
    with pytest.raises(ValueError, match="another desired state"):
        diff(NodeState(node="n"), observed)


def test_the_fast_add_constructor_equals_the_dataclass_one() -> None:
    from netwright.engine.changes import Change, Op, added

    r = route("10.64.0.0/24", "172.31.0.1", onlink=True)
    for nhid in (0, 7):
        fast = added("route", r.key, r, nhid)
        slow = Change(op=Op.ADD, kind="route", key=r.key, after=r, nhid=nhid)
        assert fast == slow
        assert hash(fast) == hash(slow)
        assert repr(fast) == repr(slow)


def test_entries_of_departed_peers_are_one_change_per_kind_and_vtep() -> None:
    from netwright.kernel.records import EntrySet

    desired = NodeState(node="n", links=(VX,))
    left_n = EntrySet(kind="neighbour", dev="nwvx.1", entries=((2, b"\x0a\x40\x00\x00", b""),))
    left_f = EntrySet(
        kind="fdb", dev="nwvx.1", entries=((7, b"\xac\x1f\x00\x01", b"\x0e" * 6),) * 2
    )
    observed = ObservedState(
        links={"eth0": ETH0, "nwvx.1": owned(VX)},
        unrecorded=Unrecorded(departing_entries=(left_n, left_f), basis=desired),
    )
    delta = diff(desired, observed)
    assert [(c.kind, str(c.op), c.count, c.key) for c in delta.changes] == [
        ("fdb", "delete", 2, "nwvx.1"),
        ("neighbour", "delete", 1, "nwvx.1"),
    ]
    assert delta.lines() == [  # a summary of few objects lists each by key
        "- 2 fdb entries on nwvx.1 (no longer desired)",
        "    - fdb 0e:0e:0e:0e:0e:0e dev nwvx.1 dst 172.31.0.1",
        "    - fdb 0e:0e:0e:0e:0e:0e dev nwvx.1 dst 172.31.0.1",
        "- 1 neighbour on nwvx.1 (no longer desired)",
        "    - neighbour 10.64.0.0 dev nwvx.1",
    ]
    assert delta.to_json()["changes"][0]["before"] == {"dev": "nwvx.1", "entries": 2}
    # Only on a VTEP of netwright's that stays.
    for links in (
        {"eth0": ETH0},
        {"eth0": ETH0, "nwvx.1": LinkRecord(index=9, alias=None, link=VX)},
    ):
        bad = ObservedState(
            links=links, unrecorded=Unrecorded(departing_entries=(left_n,), basis=desired)
        )
        with pytest.raises(ValueError, match=r"neighbour entries on nwvx\.1"):
            diff(desired, bad)
    gone = NodeState(node="n")
    bad = ObservedState(
        links={"eth0": ETH0, "nwvx.1": owned(VX)},
        unrecorded=Unrecorded(departing_entries=(left_n,), basis=gone),
    )
    with pytest.raises(ValueError, match=r"neighbour entries on nwvx\.1"):
        diff(gone, bad)


def test_a_refused_member_fails_its_summary_and_gone_ones_count_as_done(tmp_path: Path) -> None:
    import errno as errno_mod

    from netwright.engine.applying.runner import Applier
    from netwright.kernel._netlink import Failure, Message
    from netwright.kernel.records import Target

    class Session:
        """Only the bulk path: any other session call fails the test."""

        target = Target(root=str(tmp_path))

        def route_set_messages(self, routes: RouteSet, *, protocol: int) -> list[Message]:
            return [(0, 0, f"route {i}".encode()) for i in range(len(routes.keys))]

        def nexthop_set_messages(self, nexthops: object) -> list[Message]:
            return [(0, 0, b"nexthop 7"), (0, 0, b"nexthop 8")]

        def transact(self, messages: Sequence[Message]) -> list[Failure]:
            sent = [payload.decode() for _kind, _flags, payload in messages]
            assert sent == ["route 0", "route 1", "route 2", "nexthop 7", "nexthop 8"]
            return [
                Failure(0, errno_mod.ESRCH, ""),  # already gone: fine
                Failure(2, errno_mod.EPERM, "no"),
            ]

        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"session.{name}: not expected here")

    desired = NodeState(node="n")
    observed = ObservedState(
        links={"eth0": ETH0},
        unrecorded=Unrecorded(
            leftover_routes=_leftover(
                ("10.64.0.0/24", 7), ("10.64.1.0/24", 8), ("10.64.2.0/24", 7)
            ),
            basis=desired,
        ),
    )
    delta = diff(desired, observed)
    result = Applier(Session(), delta).run()
    assert [(c.kind, c.count) for c in result.done] == [("nexthop", 2)]
    assert [(c.kind, c.count) for c, _e in result.failed] == [("route", 3)]
    assert "1 refused, the first" in result.failed[0][1]
    assert "EPERM" in result.failed[0][1] or "Operation not permitted" in result.failed[0][1]
