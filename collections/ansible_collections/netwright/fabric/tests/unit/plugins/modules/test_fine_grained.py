# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The fine-grained modules through `main`: arguments in, objects and scope out, JSON back.

The engine is faked at the provisioning call (`provision_objects`): it records the
partial state and the scope the module built and diffs them against an empty node, so
these tests check argument handling, the model objects built, and the results, with no
kernel. The real kernel is `tests/kernel/test_fine_grained_modules.py`'s.
"""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.netwright.fabric.plugins.module_utils import objects
from ansible_collections.netwright.fabric.plugins.modules import (
    bird,
    conflist,
    fdb,
    link,
    nat,
    neighbour,
    route,
    sysctl,
)

netwright = pytest.importorskip("netwright")

from netwright.engine import ApplyResult, Conflict, ObservedState, Report, diff  # noqa: E402
from netwright.engine.diffing import scoped_basis  # noqa: E402


@pytest.fixture
def engine(monkeypatch):
    """The provisioning call, faked: an empty node; `calls` holds (state, scope, check)."""
    calls = []
    conflicts = []

    def provision_objects(state, target, *, check, scope, options=None, say=None):
        calls.append((state, scope, check))
        basis = scoped_basis(state, {}, scope)[0]
        delta = diff(basis, ObservedState(), scope=scope)
        if conflicts:
            delta = type(delta)(changes=delta.changes, conflicts=tuple(conflicts))
        result = None
        if not check:
            done = () if delta.conflicts else delta.changes  # as the engine's scoped run
            result = ApplyResult(done=done, conflicts=delta.conflicts)
        return Report(node=state.node, target=target, check=check, delta=delta, result=result)

    monkeypatch.setattr(objects, "provision_objects", provision_objects)
    provision_objects.calls = calls
    provision_objects.conflicts = conflicts
    return provision_objects


VTEP = {"name": "nwvx.1", "kind": "vxlan", "vni": 1, "local": "172.31.9.1", "dev": "eth0"}
CONFIG = {"cniVersion": "1.0.0", "name": "pods", "plugins": [{"type": "bridge"}]}

APPLY_CASES = [
    # id, module, args, expected scope (kinds, purge, absent), expected (op, kind) of changes
    (
        "link: bridge, veth, vxlan",
        link,
        {"links": [{"name": "br0", "kind": "bridge", "mtu": 1400}, {"name": "ve0", "kind": "veth"}, VTEP]},
        ({"link"}, False, False),
        [("add", "link")] * 3,
    ),
    (
        "route: via a nexthop, and a device route",
        route,
        {
            "routes": [
                {"dst": "10.9.0.0/24", "via": "172.31.9.2", "dev": "eth0"},
                {"dst": "fd00::/64", "dev": "eth0", "table": 100},
            ]
        },
        ({"route"}, False, False),
        [("add", "nexthop"), ("add", "route"), ("add", "route")],
    ),
    (
        "route: purge",
        route,
        {"routes": [{"dst": "10.9.0.0/24", "dev": "eth0"}], "purge": True},
        ({"route"}, True, False),
        [("add", "route")],
    ),
    (
        "route: absent needs only the key",
        route,
        {"routes": [{"dst": "10.9.0.0/24"}], "state": "absent"},
        ({"route"}, False, True),
        [],
    ),
    (
        "neighbour",
        neighbour,
        {"neighbours": [{"dev": "nwvx.1", "ip": "10.244.2.0", "mac": "0E:6E:AC:1F:09:02"}]},
        ({"neighbour"}, False, False),
        [],  # on an empty node there is no VTEP of netwright's: a conflict, not an add
    ),
    (
        "fdb absent",
        fdb,
        {"entries": [{"dev": "nwvx.1", "mac": "0e:6e:ac:1f:09:02", "dst": "172.31.9.2"}], "state": "absent"},
        ({"fdb"}, False, True),
        [],
    ),
    (
        "sysctl, with slashes",
        sysctl,
        {"sysctls": [{"name": "net/ipv4/ip_forward", "value": "1"}]},
        ({"sysctl"}, False, False),
        [("change", "sysctl")],
    ),
    (
        "nat",
        nat,
        {"sources": ["10.244.0.0/16"], "exclude": ["10.244.0.0/16"]},
        ({"nft"}, False, False),
        [("add", "nft")],
    ),
    ("nat absent", nat, {"state": "absent"}, ({"nft"}, False, True), []),
    (
        "conflist",
        conflist,
        {"conflists": [{"name": "10-pods.conflist", "config": CONFIG}], "purge": True},
        ({"file"}, True, False),
        [("add", "file")],
    ),
    (
        "bird",
        bird,
        {"config": "router id 10.0.0.1;"},
        ({"file", "bird"}, False, False),
        [("add", "file"), ("change", "bird")],
    ),
    ("bird absent", bird, {"state": "absent"}, ({"file"}, False, True), []),
]


@pytest.mark.parametrize("check", [False, True], ids=["apply", "check"])
@pytest.mark.parametrize(
    "module, args, scope, changes", [c[1:] for c in APPLY_CASES], ids=[c[0] for c in APPLY_CASES]
)
def test_module_builds_scope_and_reports(run_module, engine, tmp_path, module, args, scope, changes, check):
    args = dict(args, root=str(tmp_path), _ansible_check_mode=check, _ansible_diff=True)
    result = run_module(module, args)
    (state, got, was_check), = engine.calls
    assert was_check is check
    assert (set(got.kinds), got.purge, got.absent) == scope
    if module is neighbour:  # the empty node has no VTEP: the fake diff says so
        assert result["failed"] is True
        assert result["error"] == "conflict"
        assert "nwvx.1" in result["msg"]
        assert state.neighbours[0].mac == "0e:6e:ac:1f:09:02"  # normalised
        return
    assert not result.get("failed"), result.get("msg")
    assert [(c["op"], c["kind"]) for c in result["changes"]] == changes
    assert result["changed"] is bool(changes)
    assert ("applied" in result) is (not check)
    assert ("diff" in result) is bool(changes)
    if changes:
        assert result["diff"]["after"]


def test_route_entries_become_planned_routes(run_module, engine, tmp_path):
    args = {
        "root": str(tmp_path),
        "routes": [
            {"dst": "10.9.0.0/24", "via": "172.31.9.2", "dev": "eth0", "onlink": True, "metric": 7, "table": 100}
        ],
    }
    run_module(route, args)
    (state, _scope, _check), = engine.calls
    (r,) = state.routes
    assert (r.dst, r.gateway, r.dev, r.onlink, r.metric, r.table) == (
        ipaddress.ip_network("10.9.0.0/24"),
        ipaddress.ip_address("172.31.9.2"),
        "eth0",
        True,
        7,
        100,
    )
    assert r.key == (100, ipaddress.ip_network("10.9.0.0/24"), 7)


def test_files_go_under_the_root(run_module, engine, tmp_path):
    run_module(conflist, {"root": str(tmp_path), "conflists": [{"name": "a.conflist", "config": CONFIG}]})
    run_module(bird, {"root": str(tmp_path), "config": "router id 1.2.3.4;"})
    (cstate, cscope, _check), (bstate, _scope, _check2) = engine.calls
    assert cstate.files[0].path == f"{tmp_path}/etc/cni/net.d/a.conflist"
    assert cscope.file_dirs == (f"{tmp_path}/etc/cni/net.d",)
    assert bstate.files[0].path == f"{tmp_path}/etc/bird/bird.conf"
    assert bstate.files[0].content.endswith(";\n")
    assert (bstate.files[0].mode, bstate.files[0].group) == (0o640, "bird")
    assert bstate.bird.socket == f"{tmp_path}/run/bird/bird.ctl"


def test_a_conflict_fails_naming_it(run_module, engine, tmp_path):
    engine.conflicts.append(
        Conflict(kind="route", key="k", ours="route 10.9.7.0/24 dev eth0 proto 211", theirs="existing route 10.9.7.0/24 proto 4")
    )
    result = run_module(route, {"root": str(tmp_path), "routes": [{"dst": "10.9.7.0/24", "dev": "eth0"}]})
    assert result["failed"] is True
    assert result["error"] == "conflict"
    assert result["changed"] is False
    assert "existing route 10.9.7.0/24 proto 4" in result["msg"]
    assert result["conflicts"]


BAD_CASES = [
    # id, module, args, message (in msg), issue path (or None: Ansible's own check)
    ("route dst with host bits", route, {"routes": [{"dst": "10.9.0.1/24", "dev": "eth0"}]}, "did you mean 10.9.0.0/24?", "routes[0].dst"),
    ("route via not an address", route, {"routes": [{"dst": "10.9.0.0/24", "via": "10.0.0.300"}]}, "is not an IP address", "routes[0].via"),
    ("route without via or dev", route, {"routes": [{"dst": "10.9.0.0/24"}]}, "needs `via`, `dev` or both", "routes[0]"),
    ("route onlink without dev", route, {"routes": [{"dst": "10.9.0.0/24", "via": "10.0.0.1", "onlink": True}]}, "needs `dev`", "routes[0].onlink"),
    ("route families differ", route, {"routes": [{"dst": "fd00::/64", "via": "10.0.0.1"}]}, "is IPv4", "routes[0].via"),
    (
        "route twice",
        route,
        {"routes": [{"dst": "10.9.0.0/24", "dev": "a"}, {"dst": "10.9.0.0/24", "dev": "b"}]},
        "the same object as routes[0]",
        "routes[1]",
    ),
    ("purge with absent", route, {"routes": [{"dst": "10.9.0.0/24"}], "state": "absent", "purge": True}, "only with state=present", "purge"),
    ("route entry with an unknown key", route, {"routes": [{"dst": "10.9.0.0/24", "gw": "10.0.0.1"}]}, "gw", None),
    ("routes missing", route, {}, "missing required arguments: routes", None),
    ("vxlan without vni", link, {"links": [{"name": "vx", "kind": "vxlan", "local": "10.0.0.1"}]}, "required for a vxlan link", "links[0].vni"),
    ("vni on a bridge", link, {"links": [{"name": "br", "kind": "bridge", "vni": 3}]}, "only for kind vxlan", "links[0]"),
    ("link name too long", link, {"links": [{"name": "a" * 16, "kind": "bridge"}]}, "is not an interface name", "links[0].name"),
    ("link mtu out of range", link, {"links": [{"name": "br", "kind": "bridge", "mtu": 10}]}, "10 is out of range", "links[0].mtu"),
    ("link kind unknown", link, {"links": [{"name": "d", "kind": "dummy"}]}, "dummy", None),
    ("neighbour multicast mac", neighbour, {"neighbours": [{"dev": "vx", "ip": "10.0.0.1", "mac": "01:00:5e:00:00:01"}]}, "multicast", "neighbours[0].mac"),
    ("fdb bad mac", fdb, {"entries": [{"dev": "vx", "mac": "zz", "dst": "10.0.0.1"}]}, "is not a MAC address", "entries[0].mac"),
    ("sysctl not per namespace", sysctl, {"sysctls": [{"name": "kernel.pid_max", "value": "1"}]}, "not a per-namespace sysctl", "sysctls[0].name"),
    ("sysctl has no state", sysctl, {"sysctls": [], "state": "absent"}, "state", None),
    ("nat without sources", nat, {}, "at least one network", "sources"),
    ("nat absent with sources", nat, {"state": "absent", "sources": ["10.0.0.0/8"]}, "not with state=absent", "sources"),
    ("conflist name with a directory", conflist, {"conflists": [{"name": "../x", "config": CONFIG}]}, "not a plain file name", "conflists[0].name"),
    (
        "conflist without plugins",
        conflist,
        {"conflists": [{"name": "x.conflist", "config": {"name": "x"}}]},
        "needs cniVersion, plugins",
        "conflists[0].config",
    ),
    ("bird without config", bird, {}, "required with state=present", "config"),
    ("netns not a name", route, {"routes": [{"dst": "10.9.0.0/24", "dev": "a"}], "netns": "a/b"}, "netns:", None),
    ("wait_lock out of range", nat, {"sources": ["10.0.0.0/8"], "wait_lock": -1}, "wait_lock: -1 is out of range", None),
]


@pytest.mark.parametrize(
    "module, args, message, path", [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_wrong_entries_fail_naming_them_and_change_nothing(run_module, engine, tmp_path, module, args, message, path):
    result = run_module(module, dict(args, root=str(tmp_path)))
    assert result["failed"] is True
    assert message in result["msg"]
    assert result.get("changed", False) is False
    assert engine.calls == []  # refused before the engine was asked anything
    if path is not None:
        assert result["error"] == "argument"
        assert any(issue.startswith(f"{path}: ") for issue in result["issues"])
