"""How a plan reads: summary deletions folded in text, each object listed by key
with `verbose` (the CLI's `-v`), with few of them, and always in JSON, what goes with
a deleted link included (which apply never sends); no secret shown."""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import socket
from typing import TYPE_CHECKING, Any

import pytest

from netwright.engine import ObservedState, Unrecorded, _text, diff
from netwright.engine.changes import Change, Delta, Op
from netwright.errors import KernelError
from netwright.kernel import host
from netwright.kernel.records import EntrySet, LinkRecord, NexthopSet, RouteSet, Target
from netwright.model.spec import SecretRef, SecretValue
from netwright.model.state import LINK_ALIAS, File, Link, NodeState, VxlanLink

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from netwright.kernel._netlink import Failure, Message

AF_BRIDGE = 7
BASE = int(ipaddress.IPv4Address("10.64.0.0"))
NHID = 0x6E770001


def peer_block(i: int) -> str:
    return f"{ipaddress.IPv4Address(BASE + (i << 8))}/24"


def peer_ip(i: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(ipaddress.IPv4Address("172.31.0.1")) + i)


def peer_mac(i: int) -> str:
    return "0e:6e:" + ":".join(f"{b:02x}" for b in peer_ip(i).packed)


def routes(n: int) -> Change:
    keys = tuple(
        (socket.AF_INET, 254, ipaddress.IPv4Address(BASE + (i << 8)).packed, 24, 0)
        for i in reversed(range(n))  # not in key order: the listing sorts
    )
    return Change(
        op=Op.DELETE,
        kind="route",
        key="through deleted nexthops",
        before=RouteSet(nexthops=frozenset(range(NHID, NHID + n)), keys=keys),
        count=n,
    )


def nexthops(n: int) -> Change:
    vias = tuple(
        (NHID + i, peer_ip(i).packed, "eth0", i % 2 == 0) for i in reversed(range(n))
    )  # not in id order: the listing sorts
    ids = NexthopSet(ids=frozenset(range(NHID, NHID + n)), vias=vias)
    return Change(op=Op.DELETE, kind="nexthop", key="through deleted nexthops", before=ids, count=n)


def neighbours(n: int) -> Change:
    entries = tuple(
        (
            socket.AF_INET,
            ipaddress.IPv4Address(BASE + (i << 8)).packed,
            bytes.fromhex("0e6e") + peer_ip(i).packed,
        )
        for i in range(n)
    )
    before = EntrySet(kind="neighbour", dev="nwvx.1", entries=entries)
    return Change(op=Op.DELETE, kind="neighbour", key="nwvx.1", before=before, count=n)


def fdb(n: int) -> Change:
    entries = tuple(
        (AF_BRIDGE, peer_ip(i).packed, bytes.fromhex("0e6e") + peer_ip(i).packed) for i in range(n)
    )
    before = EntrySet(kind="fdb", dev="nwvx.1", entries=entries)
    return Change(op=Op.DELETE, kind="fdb", key="nwvx.1", before=before, count=n)


#: Per kind: the summary change for n objects, and the key text of object i.
KINDS: dict[str, tuple[Callable[[int], Change], Callable[[int], str]]] = {
    "routes": (routes, lambda i: f"route {peer_block(i)} table 254 metric 0"),
    "nexthops": (
        nexthops,
        lambda i: f"nexthop id {NHID + i} via {peer_ip(i)} dev eth0" + " onlink" * (i % 2 == 0),
    ),
    "neighbours": (
        neighbours,
        lambda i: f"neighbour {peer_block(i)[:-3]} dev nwvx.1 lladdr {peer_mac(i)}",
    ),
    "fdb": (fdb, lambda i: f"fdb {peer_mac(i)} dev nwvx.1 dst {peer_ip(i)}"),
}


@pytest.mark.parametrize("verbose", [False, True], ids=["plain", "verbose"])
@pytest.mark.parametrize("n", [1, 20, 21, 4000], ids=lambda n: f"{n}-objects")
@pytest.mark.parametrize("kind", list(KINDS))
def test_summary_folds_in_text_and_lists_each_key_when_verbose_or_few(
    kind: str, n: int, *, verbose: bool
) -> None:
    make, key = KINDS[kind]
    delta = Delta(changes=(make(n),))
    lines = delta.lines(verbose=verbose)
    listed = verbose or n <= _text.LIST_AT_MOST
    assert lines[0].startswith(f"- {n:,} ")
    assert lines[0].endswith("(-v lists each)") is not listed
    if listed:
        assert lines[1:] == [f"    - {key(i)}" for i in range(n)]
    else:
        assert lines == lines[:1]


@pytest.mark.parametrize("kind", list(KINDS))
def test_json_lists_every_object_of_a_summary_by_key(kind: str) -> None:
    make, key = KINDS[kind]
    out = json.loads(json.dumps(Delta(changes=(make(4000),)).to_json()))
    (change,) = out["changes"]
    assert change["count"] == 4000
    assert out["summary"]["delete"] == 4000
    assert [o["key"] for o in change["objects"]] == [key(i) for i in range(4000)]


def test_json_objects_carry_the_key_fields() -> None:
    changes = (routes(1), nexthops(1), neighbours(1), fdb(1))
    objects = [c["objects"][0] for c in Delta(changes=changes).to_json()["changes"]]
    assert [{k: v for k, v in o.items() if k != "key"} for o in objects] == [
        {"dst": "10.64.0.0/24", "table": 254, "metric": 0},
        {"id": NHID, "gateway": "172.31.0.1", "dev": "eth0", "onlink": True},
        {"dev": "nwvx.1", "ip": "10.64.0.0", "mac": "0e:6e:ac:1f:00:01"},
        {"dev": "nwvx.1", "mac": "0e:6e:ac:1f:00:01", "dst": "172.31.0.1"},
    ]


def test_routes_of_every_family_and_the_default_route_read_as_ip_writes_them() -> None:
    keys = (
        (socket.AF_INET, 254, b"", 0, 0),  # the kernel sends no destination for 0/0
        (socket.AF_INET6, 200, ipaddress.IPv6Address("fd00:244:2::").packed, 64, 1024),
    )
    change = Change(
        op=Op.DELETE,
        kind="route",
        key="through deleted nexthops",
        before=RouteSet(nexthops=frozenset({NHID}), keys=keys),
        count=2,
    )
    assert Delta(changes=(change,)).lines()[1:] == [
        "    - route 0.0.0.0/0 table 254 metric 0",
        "    - route fd00:244:2::/64 table 200 metric 1024",
    ]


def test_counted_implied_deletes_say_they_cannot_be_listed() -> None:
    # A hand-built summary with a count and no keys (the observer gives keys).
    change = Change(op=Op.DELETE, kind="route", key="nwvx.1", implied=True, count=4000)
    delta = Delta(changes=(change,))
    assert delta.lines() == ["- 4,000 routes on nwvx.1 (go with their link)"]
    assert delta.lines(verbose=True) == [
        "- 4,000 routes on nwvx.1 (go with their link)",
        "    (not listed: only counted, no keys given)",
    ]
    (out,) = delta.to_json()["changes"]
    assert out["count"] == 4000
    assert out["objects"] is None


@pytest.mark.parametrize("kind", list(KINDS))
def test_implied_deletes_given_with_their_keys_are_listed(kind: str) -> None:
    # As the observer gives what goes with a deleted link: a set as `before`.
    make, key = KINDS[kind]
    change = dataclasses.replace(make(30), key="nwvx.1", implied=True)
    noun = "fdb entries" if kind == "fdb" else kind
    line = f"- 30 {noun} on nwvx.1 (go with their link)"
    delta = Delta(changes=(change,))
    assert delta.lines() == [f"{line} (-v lists each)"]
    assert delta.lines(verbose=True) == [line, *(f"    - {key(i)}" for i in range(30))]
    (out,) = delta.to_json()["changes"]
    assert (out["implied"], out["count"]) == (True, 30)
    assert [o["key"] for o in out["objects"]] == [key(i) for i in range(30)]


def _doomed_vtep(n: int) -> tuple[NodeState, ObservedState]:
    """Nothing desired; a VTEP of netwright's whose `n` peers go with it, by key."""
    vtep = Link(
        name="nwvx.1",
        kind="vxlan",
        vxlan=VxlanLink(vni=1, port=8472, local=ipaddress.IPv4Address("172.31.255.11")),
    )
    desired = NodeState(node="n")
    nh_set = nexthops(n).before
    route_set = dataclasses.replace(routes(n).before, vias=nh_set.vias)
    observed = ObservedState(
        links={"nwvx.1": LinkRecord(index=10, alias=LINK_ALIAS, link=vtep)},
        unrecorded=Unrecorded(
            vanishing={
                ("nwvx.1", "route"): route_set,
                ("nwvx.1", "nexthop"): nh_set,
                ("nwvx.1", "neighbour"): neighbours(n).before,
                ("nwvx.1", "fdb"): fdb(n).before,
            },
            basis=desired,
        ),
    )
    return desired, observed


def test_what_goes_with_a_deleted_link_is_planned_by_key() -> None:
    desired, observed = _doomed_vtep(3)
    delta = diff(desired, observed)
    implied = [c for c in delta.changes if c.implied]
    assert [(c.kind, c.key, c.count, c.before) for c in implied] == [
        (kind, "nwvx.1", 3, observed.unrecorded.vanishing["nwvx.1", kind])
        for kind in ("fdb", "neighbour", "route", "nexthop")
    ]
    assert all(c.summary for c in implied)
    lines = delta.lines()
    at = lines.index("- 3 nexthops on nwvx.1 (go with their link)")
    assert lines[at + 1 :] == [f"    - {KINDS['nexthops'][1](i)}" for i in range(3)]


class _Session:
    """Refuses the link delete; sends nothing else (the implied changes are not sent)."""

    def __init__(self, root: str) -> None:
        self.target = Target(root=root)
        self.sent: list[object] = []

    def delete_link(self, name: str) -> None:
        raise KernelError(f"link {name}: EBUSY")

    def transact(self, messages: Sequence[Message]) -> list[Failure]:
        self.sent.extend(messages)
        return []

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"session.{name}: not expected here")


@pytest.mark.parametrize("refused", [False, True], ids=["link-deleted", "link-refused"])
def test_what_goes_with_a_link_is_never_sent_and_fails_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, refused: bool
) -> None:
    from netwright.engine.applying.runner import Applier

    desired, observed = _doomed_vtep(30)
    delta = diff(desired, observed)
    session = _Session(str(tmp_path))
    if not refused:
        monkeypatch.setattr(session, "delete_link", lambda _name: None)
    result = Applier(session, delta).run()
    assert session.sent == []
    implied = {(c.kind, c.count) for c in delta.changes if c.implied}
    assert len(implied) == 4
    failed = {(c.kind, c.count): e for c, e in result.failed}
    done = {(c.kind, c.count) for c in result.done}
    if refused:
        assert implied <= failed.keys()
        assert "- 30 routes on nwvx.1 (go with their link): still there" in failed["route", 30]
    else:
        assert implied <= done
        assert not failed


def test_folded_text_builds_no_key_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """A removal of 5,000 peers prints its summary without rendering 15,000 keys."""

    def refuse(_c: Change) -> None:
        raise AssertionError("keys built for a folded summary")

    monkeypatch.setattr(_text, "summary_objects", refuse)
    changes = tuple(make(5000) for make, _key in KINDS.values())
    assert len(Delta(changes=changes).lines()) == len(changes)


def test_verbose_shows_no_secret_of_a_bird_file() -> None:
    secret = SecretValue(
        SecretRef(namespace="kube-system", name="bgp", key="tor-a"), "hunter2-cleartext"
    )
    path = "/r/etc/bird.conf"
    want = File(
        path=path, content=f'password "{secret.placeholder}";\n', mode=0o600, secrets=(secret,)
    )
    old = 'password "old-secret-value";\n'
    observed = ObservedState(
        files={
            path: host.FileRecord(
                path=path,
                regular=True,
                mode=0o600,
                owner="root",
                group="root",
                digest=hashlib.sha256(old.encode()).hexdigest(),
                text=old,
            )
        },
        owned_files=frozenset({path}),
        users={"root": host.Account(name="root", uid=0, group="root")},
        groups=frozenset({"root"}),
    )
    changed = diff(NodeState(node="n", files=(want,)), observed)
    delta = Delta(changes=(*changed.changes, routes(30), fdb(30)))
    shown = "\n".join(delta.lines(verbose=True)) + json.dumps(delta.to_json())
    assert "hunter2" not in shown
    assert "old-secret-value" not in shown
    assert "<secret kube-system/bgp/tor-a>" in shown


def test_a_bare_delete_of_a_vanished_file_is_no_summary_to_list() -> None:
    # An owned file already gone from disk is deleted with no record: not a fold.
    change = Change(op=Op.DELETE, kind="file", key="/r/etc/gone.conf")
    delta = Delta(changes=(change,))
    assert delta.lines(verbose=True) == delta.lines() == ["- file /r/etc/gone.conf"]
    assert "objects" not in delta.to_json()["changes"][0]
