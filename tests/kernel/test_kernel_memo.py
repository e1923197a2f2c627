"""The kernel's reusable state belongs to a `Memo` its caller holds, not to the process.

A memo handed to session after session is reused (a no-op builds no wire table
and learns no layout again), sessions without one share nothing, a memo stays
bounded however many desired states it sees, and no module of `netwright.kernel`
keeps a cache of its own. The kernel state is checked with `ip -json`.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
import socket
import struct
from typing import TYPE_CHECKING, Any

import pytest
from _netns import KERNEL, ip, ipj, net, quiet, snapshot, underlay

import netwright.kernel
from netwright.engine import Memo, Target, run
from netwright.kernel import _netlink as nl
from netwright.kernel import open_session
from netwright.kernel._netlink import FastParser
from netwright.kernel._wire import WIRE_KINDS, WireForms, route_wire_key_of
from netwright.kernel.memo import PARSER_KINDS
from netwright.model.state import FdbEntry, Link, Neighbour, NodeState, Route, VxlanLink, vtep_mac

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

pytestmark = KERNEL

NODE_IP = ip("172.31.255.11")
PROTOCOL = 211


class CountedWireForms(WireForms):
    """A `WireForms` that lists the kinds it builds (the builds themselves are real)."""

    def __init__(self) -> None:
        super().__init__()
        self.built: list[str] = []

    def get(self, kind: str, source: Any, build: Callable[[], Any], *, extra: Any = None) -> Any:
        def counted() -> Any:
            self.built.append(kind)
            return build()

        return super().get(kind, source, counted, extra=extra)


def vtep() -> Link:
    return Link(
        name="nwvx.1",
        kind="vxlan",
        mtu=1450,
        mac=vtep_mac(NODE_IP),
        vxlan=VxlanLink(vni=1, port=8472, local=NODE_IP, dev="eth0"),
    )


def peers_state(peers: Sequence[int], *, gateways: Sequence[int] = ()) -> NodeState:
    """A vxlan node with `peers` (numbers 2..250) and host-gw routes via `gateways`."""
    vx = [(net(f"10.244.{p}.0/24"), ip(f"10.244.{p}.0"), ip(f"172.31.254.{p}")) for p in peers]
    return NodeState(
        node="n1",
        links=(vtep(),),
        routes=(
            *(Route(dst=b, gateway=g, dev="nwvx.1", onlink=True) for b, g, _u in vx),
            *(
                Route(dst=net(f"10.245.{p}.0/24"), gateway=ip(f"172.31.255.{p}"), dev="eth0")
                for p in gateways
            ),
        ),
        neighbours=tuple(Neighbour(dev="nwvx.1", ip=g, mac=vtep_mac(u)) for _b, g, u in vx),
        fdb=tuple(FdbEntry(dev="nwvx.1", mac=vtep_mac(u), dst=u) for _b, _g, u in vx),
    )


@pytest.fixture
def node(netns: Callable[[str], str]) -> str:
    ns = netns("memo")
    quiet(ns)
    underlay(ns, "172.31.255.11/24")
    return ns


def layouts(memo: Memo) -> dict[str, dict[int, Any]]:
    return {kind: dict(parser.layouts) for kind, parser in memo.parsers.items()}


def test_a_memo_passed_to_the_next_session_is_reused(node: str, tmp_path: Path) -> None:
    target = Target(netns=node, root=str(tmp_path))
    memo = Memo()
    counted = CountedWireForms()
    memo.wire = counted
    desired = peers_state(range(2, 12), gateways=range(20, 25))
    assert run(desired, target, check=False, memo=memo).ok
    # The first no-op rebuilds what depends on the link indices (the VTEP is new).
    assert run(desired, target, check=False, memo=memo).delta.empty
    assert {"route", "route-sig", "neighbour-pre", "fdb-pre"} <= set(counted.built)
    tables = {kind: counted.table(kind) for kind in WIRE_KINDS}
    learnt = layouts(memo)
    assert all(learnt.values()), learnt  # every parser has read a dump
    before = snapshot(node)

    # The next run, a new session given the same memo and an equal (not the same)
    # desired state, as the agent's resync is: nothing built, nothing learnt again.
    counted.built.clear()
    again = peers_state(range(2, 12), gateways=range(20, 25))
    assert again is not desired
    report = run(again, target, check=False, memo=memo)
    assert report.ok, report.lines()
    assert report.delta.empty, report.lines()
    assert counted.built == []
    assert all(counted.table(kind) is tables[kind] for kind in WIRE_KINDS)
    after = layouts(memo)
    assert after.keys() == learnt.keys()
    for kind, known in learnt.items():
        assert after[kind].keys() == known.keys()
        assert all(after[kind][n] is known[n] for n in known)  # no layout compiled again
    assert snapshot(node) == before

    # What the memo kept still tells a change from a no-op: one peer less is seen.
    fewer = peers_state(range(2, 11), gateways=range(20, 25))
    report = run(fewer, target, check=False, memo=memo)
    assert report.ok, report.lines()
    assert not report.delta.empty
    assert "route" in counted.built
    assert {r["dst"] for r in ipj(node, "ip", "route", "show", "proto", str(PROTOCOL))} == {
        *(f"10.244.{p}.0/24" for p in range(2, 11)),
        *(f"10.245.{p}.0/24" for p in range(20, 25)),
    }
    assert {n["dst"] for n in ipj(node, "ip", "neigh", "show", "dev", "nwvx.1")} == {
        f"10.244.{p}.0" for p in range(2, 11)
    }


def test_sessions_without_a_memo_share_nothing(node: str, tmp_path: Path) -> None:
    target = Target(netns=node, root=str(tmp_path))
    desired = peers_state(range(2, 8), gateways=range(20, 23))
    assert run(desired, target, check=False).ok
    seen = []
    for _ in range(2):
        with open_session(target) as session:
            view = session.routes(protocol=PROTOCOL, desired=desired.routes)
            session.neighbours(["nwvx.1"], desired=desired.neighbours)
            session.fdb(["nwvx.1"], desired=desired.fdb)
            assert len(view.synced) == len(desired.routes)  # all there, all recognised
            seen.append(session.memo)
    first, second = seen
    assert first is not second
    assert all(first.parsers[k] is not second.parsers[k] for k in PARSER_KINDS)
    for kind in ("route", "route-sig", "nh-free", "neighbour-pre", "fdb-pre"):
        mine, theirs = first.wire.table(kind), second.wire.table(kind)
        assert mine is not None, kind
        assert mine == theirs, kind  # the same desired state: the same table, built twice
        assert mine is not theirs, kind


def test_a_memo_stays_bounded_over_many_desired_states(node: str, tmp_path: Path) -> None:
    target = Target(netns=node, root=str(tmp_path))
    memo = Memo()
    last = NodeState(node="n1")
    for i in range(200):
        # Each state different: a sliding window of peers, some host-gw routes.
        last = peers_state(range(2 + i % 40, 6 + i % 40 + i % 7), gateways=range(100, 100 + i % 5))
        report = run(last, target, check=i % 3 == 2, memo=memo)
        assert report.ok, report.lines()
        assert len(memo.wire) <= len(WIRE_KINDS)
        assert all(len(p.layouts) <= 64 for p in memo.parsers.values())
    # Only the last state's worth is kept: its routes, not the 200 states' union.
    kept = memo.wire.table("route")
    assert set(kept) == {route_wire_key_of(r) for r in last.routes}
    assert len(memo.wire.table("fdb-pre")) == len(last.fdb)
    assert sorted(memo.parsers) == sorted(PARSER_KINDS)


def _route_message(i: int, padding: int) -> bytes:
    """A route message as the kernel dumps it, with an attribute netwright skips
    (an unknown type) of `padding` words: one more message length per `padding`."""
    head = struct.pack("=BBBBBBBBI", socket.AF_INET, 24, 0, 0, 254, PROTOCOL, 0, 1, 0)
    attrs = struct.pack("=HH4s", 8, 1, bytes([10, 64, i % 256, 0]))  # RTA_DST
    attrs += struct.pack("=HH", 4 + 4 * padding, 250) + bytes(4 * padding)
    body = head + attrs
    return struct.pack("=IHHII", 16 + len(body), nl.RTM_NEWROUTE, 2, 0, 0) + body


def test_a_memos_parsers_learn_at_most_64_layouts_each() -> None:
    memo = Memo()
    parse = memo.parsers["route"]
    most = 0
    for padding in range(1, 151):  # 150 lengths, each seen twice (learnt, then read)
        for i in range(2):
            data = _route_message(padding + i, padding)
            assert parse(data, 16, len(data)) == nl.parse_route(data, 16, len(data))
        assert parse.layouts[len(data) - 16] is not None  # a layout the fast path reads
        most = max(most, len(parse.layouts))
        assert len(parse.layouts) <= 64
    assert most == 64  # the bound was reached, and held


def _kernel_modules() -> list[Any]:
    found = pkgutil.walk_packages(netwright.kernel.__path__, netwright.kernel.__name__ + ".")
    return [netwright.kernel, *(importlib.import_module(m.name) for m in found)]


#: Module-level containers in netwright.kernel that are constant tables, not caches.
CONSTANT_TABLES = {
    "netwright.kernel._entries._FAMILY_OF",
    "netwright.kernel._nexthops._FAMILY_OF_LEN",
    "netwright.kernel._netlink.FAMILY",
    "netwright.kernel._netlink.constants.FAMILY",
    # Counts of a crash point reached, bounded by `_crash.POINTS` and touched only
    # with NETWRIGHT_CRASH_AT set (the crash-safety test's processes).
    "netwright.kernel._crash._seen",
}
MUTABLE = (dict, list, set, bytearray)
CACHING = (WireForms, FastParser, Memo)


def _module_state() -> dict[str, Any]:
    """Every module-level object of netwright.kernel a cache could live in, by name."""
    out: dict[str, Any] = {}
    for module in _kernel_modules():
        for name, value in vars(module).items():
            if name.startswith("__") or isinstance(value, type):
                continue
            where = f"{module.__name__}.{name}"
            if isinstance(value, CACHING):
                out[where] = value
            elif hasattr(value, "cache_info") or hasattr(value, "cache_clear"):
                out[where] = value  # a functools cache: memoised for the process
            elif isinstance(value, MUTABLE):
                out[where] = value
    return out


def test_no_kernel_module_keeps_a_cache_of_its_own(node: str, tmp_path: Path) -> None:
    from netwright.kernel import _base, _wire

    assert not hasattr(_wire, "DESIRED")
    assert not hasattr(_base, "PARSERS")
    state = _module_state()
    assert set(state) == CONSTANT_TABLES, "a module-level container: a cache, or a new table?"
    frozen = copy.deepcopy(state)
    # The engine, with and without a memo, over a state that fills every table and
    # a change: the constant tables are what they were, no run added to them.
    target = Target(netns=node, root=str(tmp_path))
    memo = Memo()
    for desired, m in (
        (peers_state(range(2, 9), gateways=range(20, 24)), None),
        (peers_state(range(2, 9), gateways=range(20, 24)), memo),
        (peers_state(range(3, 12)), memo),
        (NodeState(node="n1"), None),
    ):
        assert run(desired, target, check=False, memo=m).ok
    assert len(memo.wire) > 0  # the runs did use a memo: theirs, not a module's
    assert _module_state() == frozen
