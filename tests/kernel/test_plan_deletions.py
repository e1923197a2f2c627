"""`plan` names every object `apply` deletes: each route, nexthop, neighbour and fdb
entry by its key in `-v` text and in JSON, however many a summary folds, judged
against what `ip -json` and `bridge -json` list in the namespace before and after.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from _netns import KERNEL, ip, ipj, net, quiet, underlay

from netwright.engine import Target, run
from netwright.engine._text import LIST_AT_MOST
from netwright.model.state import (
    FdbEntry,
    Link,
    Neighbour,
    NodeState,
    Route,
    VxlanLink,
    vtep_mac,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from ipaddress import IPv4Address, IPv4Network
    from pathlib import Path

pytestmark = KERNEL

NODE_IP = ip("172.31.255.11")
TABLES = {"main": 254, "local": 255, "default": 253}
NOUNS = {"route": "routes", "nexthop": "nexthops", "neighbour": "neighbours", "fdb": "fdb entries"}
VTEPS = ("nwvx.1", "nwvx.2")
#: Peers on the VTEP that stays, host-gw peers on eth0, peers on the VTEP that goes.
VXLAN, HOST_GW, DOOMED = 60, 40, 5
#: How many of each kind of peer stay.
KEPT = 3

Key = tuple[Any, ...]


def vtep(name: str, vni: int) -> Link:
    return Link(
        name=name,
        kind="vxlan",
        mtu=1450,
        mac=vtep_mac(NODE_IP),
        vxlan=VxlanLink(vni=vni, port=8472, local=NODE_IP, dev="eth0"),
    )


def peers(first: int, n: int) -> list[tuple[IPv4Network, IPv4Address]]:
    """Blocks 10.<first>.i.0/24 on underlay 172.31.<first>.i (on-link through eth0's /16)."""
    return [(net(f"10.{first}.{i}.0/24"), ip(f"172.31.{first}.{i + 1}")) for i in range(n)]


def state(*, vxlan: int, host_gw: int, doomed: int | None) -> NodeState:
    """nwvx.1 with `vxlan` peers, `host_gw` peers via eth0, and (unless None) nwvx.2
    with `doomed` peers; plus a plain IPv6 route, wanted only with nwvx.2."""
    on_vx = [(b, u, "nwvx.1") for b, u in peers(64, vxlan)]
    if doomed is not None:
        on_vx += [(b, u, "nwvx.2") for b, u in peers(65, doomed)]
    links = (vtep("nwvx.1", 1),) + ((vtep("nwvx.2", 2),) if doomed is not None else ())
    routes = [Route(dst=b, gateway=b.network_address, dev=d, onlink=True) for b, _u, d in on_vx]
    routes += [Route(dst=b, gateway=u, dev="eth0", onlink=True) for b, u in peers(66, host_gw)]
    if doomed is not None:
        routes.append(Route(dst=net("fd00:244:2::/64"), dev="eth0"))
    return NodeState(
        node="n1",
        links=links,
        routes=tuple(routes),
        neighbours=tuple(
            Neighbour(dev=d, ip=b.network_address, mac=vtep_mac(u)) for b, u, d in on_vx
        ),
        fdb=tuple(FdbEntry(dev=d, mac=vtep_mac(u), dst=u) for _b, u, d in on_vx),
    )


def on_the_kernel(ns: str) -> dict[Key, str]:
    """netwright's objects as iproute2 lists them: key -> the device they hang on.

    Keys: ("route", dst, table, metric), ("nexthop", id), ("neighbour", dev, ip, mac),
    ("fdb", dev, mac, dst).
    """
    out: dict[Key, str] = {}
    for family, default_metric in (("-4", 0), ("-6", 1024)):
        for r in ipj(ns, "ip", family, "route", "show", "table", "all", "proto", "211"):
            dst = r["dst"] if r["dst"] != "default" else ("0.0.0.0/0" if family == "-4" else "::/0")
            if "/" not in dst:
                dst += "/32" if family == "-4" else "/128"
            table = r.get("table", "main")
            table = TABLES.get(table, table)
            dev = r.get("dev", "")
            out["route", dst, int(table), r.get("metric", default_metric)] = dev
    for nh in ipj(ns, "ip", "nexthop", "show"):
        if str(nh.get("protocol")) == "211":
            out["nexthop", nh["id"]] = nh.get("dev", "")
    for n in ipj(ns, "ip", "neigh", "show", "nud", "permanent"):
        if n["dev"] in VTEPS:
            out["neighbour", n["dev"], n["dst"], n.get("lladdr")] = n["dev"]
    for f in ipj(ns, "bridge", "fdb", "show"):
        if f.get("ifname") in VTEPS and "permanent" in f.get("state", "") and "dst" in f:
            out["fdb", f["ifname"], f["mac"], f["dst"]] = f["ifname"]
    return out


def planned(delta_json: dict[str, Any]) -> tuple[set[Key], list[dict[str, Any]]]:
    """The keys of every deleted object the plan names, and its implied summaries
    (what goes with a deleted link, whose objects are among the keys)."""
    keys: set[Key] = set()
    implied = []

    def key(kind: str, o: dict[str, Any]) -> Key:
        if kind == "route":
            return ("route", o["dst"], o["table"], o["metric"])
        if kind == "nexthop":
            return ("nexthop", o["id"])
        if kind == "neighbour":
            return ("neighbour", o["dev"], o["ip"], o["mac"])
        return ("fdb", o["dev"], o["mac"], o["dst"])

    for c in delta_json["changes"]:
        if c["op"] != "delete" or c["kind"] not in {"route", "nexthop", "neighbour", "fdb"}:
            continue
        if "count" in c:  # a summary
            if c.get("implied"):
                implied.append(c)
            assert c["objects"] is not None, c["text"]
            assert len(c["objects"]) == c["count"], c["text"]
            keys.update(key(c["kind"], o) for o in c["objects"])
        else:
            keys.add(key(c["kind"], c["before"]))
    return keys, implied


@pytest.fixture
def node(netns: Callable[[str], str]) -> str:
    ns = netns("n1")
    quiet(ns)
    underlay(ns, "172.31.255.11/16")
    return ns


@pytest.fixture
def departing(node: str, tmp_path: Path) -> tuple[Target, NodeState, dict[Key, str]]:
    """Every peer applied, then a state that keeps `KEPT` of each kind and drops
    nwvx.2; returns the target, that state, and what the kernel has before it."""
    target = Target(netns=node, root=str(tmp_path))
    report = run(state(vxlan=VXLAN, host_gw=HOST_GW, doomed=DOOMED), target, check=False)
    assert report.ok, report.lines()
    before = on_the_kernel(node)
    assert sum(k[0] == "route" for k in before) == VXLAN + HOST_GW + DOOMED + 1
    assert sum(k[0] == "fdb" for k in before) == VXLAN + DOOMED
    return target, state(vxlan=KEPT, host_gw=KEPT, doomed=None), before


def test_plan_names_every_object_apply_deletes(
    departing: tuple[Target, NodeState, dict[Key, str]], node: str
) -> None:
    target, after, before = departing
    plan = run(after, target, check=True)
    listed, implied = planned(json.loads(json.dumps(plan.delta.to_json())))

    report = run(after, target, check=False)
    assert report.ok, report.lines()
    now = on_the_kernel(node)
    assert set(now) <= set(before)
    gone = {k for k in before if k not in now}
    # Everything that went, and nothing else, what went with nwvx.2 included.
    assert listed == gone
    assert {k[0] for k in listed} == {"route", "nexthop", "neighbour", "fdb"}
    assert sum(k[0] == "route" for k in listed) == VXLAN + HOST_GW - 2 * KEPT + 1 + DOOMED
    # What went with nwvx.2 is summarised per kind, with the count iproute2 saw.
    with_link = {k for k in gone if before[k] == "nwvx.2"}
    assert {(c["kind"], c["key"], c["count"]) for c in implied} == {
        (kind, "nwvx.2", n)
        for kind in ("route", "nexthop", "neighbour", "fdb")
        if (n := sum(k[0] == kind for k in with_link))
    }
    assert len(implied) == 4

    # -v text names each one as JSON does; without -v, big summaries fold.
    verbose = plan.delta.lines(verbose=True)
    for c in plan.delta.to_json()["changes"]:
        if c.get("objects"):
            at = verbose.index(c["text"])
            assert verbose[at + 1 : at + 1 + c["count"]] == [
                f"    - {o['key']}" for o in c["objects"]
            ]
        else:
            assert c["text"] in verbose
    big = [c for c in plan.delta.changes if c.summary and c.count > LIST_AT_MOST]
    assert big, "the test should fold at least one summary"
    folded = plan.delta.lines()
    assert sum(line.endswith("(-v lists each)") for line in folded) == len(big)
    # -v adds each folded object, and nothing else.
    assert len(folded) == len(verbose) - sum(c.count for c in big)


def test_apply_sends_nothing_for_what_goes_with_its_link(
    departing: tuple[Target, NodeState, dict[Key, str]], node: str
) -> None:
    """Each summary of what goes with nwvx.2 is done, as one change, none refused."""
    target, after, before = departing
    report = run(after, target, check=False)
    assert report.ok, report.lines()
    assert report.result is not None
    done = [c for c in report.result.done if c.implied and c.summary]
    assert sorted((c.kind, c.key, c.count) for c in done) == sorted(
        (kind, "nwvx.2", sum(k[0] == kind and dev == "nwvx.2" for k, dev in before.items()))
        for kind in ("route", "nexthop", "neighbour", "fdb")
    )
    assert not any(dev == "nwvx.2" for dev in on_the_kernel(node).values())


def test_plan_names_what_goes_with_a_deleted_link(
    departing: tuple[Target, NodeState, dict[Key, str]],
) -> None:
    target, after, before = departing
    plan = run(after, target, check=True)
    _listed, implied = planned(plan.delta.to_json())
    named = set()
    for c in implied:
        assert c["text"] == f"- {c['count']} {NOUNS[c['kind']]} on nwvx.2 (go with their link)"
        named |= planned({"changes": [{**c, "implied": False}]})[0]
    on_it = {k for k, dev in before.items() if dev == "nwvx.2"}
    assert named == on_it
    assert {k[0] for k in on_it} == {"route", "nexthop", "neighbour", "fdb"}
    # Listed below their line, each by key, as they are few (-v would list more).
    lines = plan.delta.lines()
    for c in implied:
        at = lines.index(c["text"])
        assert lines[at + 1 : at + 1 + c["count"]] == [f"    - {o['key']}" for o in c["objects"]]


def test_plan_names_each_deleted_nexthops_gateway_and_device(
    departing: tuple[Target, NodeState, dict[Key, str]], node: str
) -> None:
    target, after, _before = departing
    kernel = {
        nh["id"]: (nh["gateway"], nh["dev"], "onlink" in nh.get("flags", []))
        for nh in ipj(node, "ip", "nexthop", "show")
        if str(nh.get("protocol")) == "211"
    }
    plan = run(after, target, check=True)
    verbose = plan.delta.lines(verbose=True)
    sets = [
        c
        for c in plan.delta.to_json()["changes"]
        if c["kind"] == "nexthop" and c["op"] == "delete" and c.get("objects")
    ]
    # Those after their routes, and those that go with nwvx.2.
    assert {c["key"] for c in sets} == {"through deleted nexthops", "nwvx.2"}
    for c in sets:
        for o in c["objects"]:
            gateway, dev, onlink = kernel[o["id"]]
            assert (o["gateway"], o["dev"], o["onlink"]) == (gateway, dev, onlink)
            line = f"    - nexthop id {o['id']} via {gateway} dev {dev}" + " onlink" * onlink
            assert line in verbose
