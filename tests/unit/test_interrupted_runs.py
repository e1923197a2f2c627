"""What a killed or failed `apply` left behind, as the diff sees it on the next run:
links recorded as being created, BIRD reloads recorded as pending, files exactly as
netwright writes them. Pure: `ObservedState` values in, a `Delta` out.
"""

from __future__ import annotations

import dataclasses

import pytest

from netwright.engine import ObservedState, Ownership, diff
from netwright.kernel import host
from netwright.kernel.records import LinkRecord
from netwright.model.state import BirdControl, File, Link, NodeState

BRIDGE = Link(name="cni0", kind="bridge", mtu=1450, mac="0e:6f:00:00:00:01")


def found(alias: str | None, *, kind: str = "bridge", up: bool = True) -> LinkRecord:
    link = Link(name="cni0", kind=kind, mtu=1450, mac="0e:6f:00:00:00:01", up=up)
    return LinkRecord(index=7, alias=alias, link=link)


@pytest.mark.parametrize(
    ("alias", "kind", "pending", "owned"),
    [
        pytest.param("netwright", "bridge", {}, True, id="marked"),
        pytest.param(None, "bridge", {"cni0": "bridge"}, True, id="recorded-unmarked"),
        pytest.param("", "bridge", {"cni0": "bridge"}, True, id="recorded-empty-alias"),
        pytest.param(None, "bridge", {}, False, id="unrecorded-unmarked"),
        pytest.param(None, "vxlan", {"cni0": "bridge"}, False, id="recorded-other-kind"),
        pytest.param("theirs", "bridge", {"cni0": "bridge"}, False, id="recorded-foreign-alias"),
    ],
)
def test_a_link_is_netwrights_by_alias_or_by_record(
    alias: str | None, kind: str, pending: dict[str, str], owned: bool
) -> None:
    assert Ownership(links=pending).link(found(alias, kind=kind)) is owned


def test_a_recorded_link_without_alias_is_marked_not_a_conflict() -> None:
    # Killed between create and alias: the link is down and has no alias.
    observed = ObservedState(
        links={"cni0": found(None, up=False)}, pending_links={"cni0": "bridge"}
    )
    delta = diff(NodeState(node="n", links=(BRIDGE,)), observed)
    assert not delta.conflicts
    assert [(c.kind, str(c.op), c.key, c.fields) for c in delta.changes] == [
        ("link", "change", "cni0", ("up",))
    ]
    assert any("left without netwright's alias by an interrupted run" in n for n in delta.notes)
    assert delta.settled_links == frozenset()  # not until apply has marked it


def test_an_unrecorded_link_without_alias_stays_a_conflict() -> None:
    delta = diff(NodeState(node="n", links=(BRIDGE,)), ObservedState(links={"cni0": found(None)}))
    assert delta.empty
    assert "which netwright does not own" in str(delta.conflicts[0])


def test_a_recorded_link_no_longer_desired_is_deleted() -> None:
    observed = ObservedState(links={"cni0": found(None)}, pending_links={"cni0": "bridge"})
    delta = diff(NodeState(node="n"), observed)
    assert [(c.kind, str(c.op), c.key) for c in delta.changes] == [("link", "delete", "cni0")]


def test_records_of_links_marked_or_absent_are_settled() -> None:
    observed = ObservedState(
        links={"cni0": found("netwright")},
        pending_links={"cni0": "bridge", "nwvx.1": "vxlan"},
    )
    delta = diff(NodeState(node="n", links=(BRIDGE,)), observed)
    assert delta.empty
    assert delta.settled_links == {"cni0", "nwvx.1"}


def test_a_pending_bird_reload_is_planned_again() -> None:
    conf = File(path="/r/etc/bird/bird.conf", content="router id 1.2.3.4;\n")
    bird = BirdControl(config=conf.path, socket="/r/run/bird/bird.ctl")
    in_place = host.FileRecord(
        path=conf.path,
        regular=True,
        mode=0o644,
        owner="root",
        group="root",
        digest=host.content_digest(conf),
        text=conf.content,
    )
    observed = ObservedState(
        files={conf.path: in_place},
        owned_files=frozenset({conf.path}),
        users={"root": host.Account(name="root", uid=0, group="root")},
        groups=frozenset({"root"}),
    )
    state = NodeState(node="n", files=(conf,), bird=bird)
    assert diff(state, observed).empty  # loaded: nothing to do
    pending = diff(state, dataclasses.replace(observed, bird_pending=frozenset({conf.path})))
    assert [(c.kind, str(c.op)) for c in pending.changes] == [("bird", "change")]
    assert f"bird {bird.socket}: reload of {conf.path} still pending" in pending.notes
