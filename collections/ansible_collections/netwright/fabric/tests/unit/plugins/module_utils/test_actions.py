# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The actions over the real netwright pipeline, driven through `RecordingEnvironment`.

The kernel is left out: `provision` is replaced by one that diffs the real plan against
an empty node (the e2e test in the repository's tests/e2e provisions real namespaces).
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.netwright.fabric.plugins.module_utils import actions
from ansible_collections.netwright.fabric.plugins.module_utils.environment import (
    Finished,
    RecordingEnvironment,
)

netwright = pytest.importorskip("netwright")

from netwright.engine import ApplyResult, ObservedState, Report, diff  # noqa: E402
from netwright.errors import AllocationError, Issue, KernelError, NetwrightError, ValidationError  # noqa: E402
from netwright.locking import LockBusyError  # noqa: E402
from netwright.model.config import NodeFacts  # noqa: E402
from netwright.provisioning import WrongTargetError  # noqa: E402

TARGET = dict(node="n1", root="/", netns=None, underlay=None, underlay_mtu=1500, wait_lock=5.0)


def finish(action, params, check_mode=False, diff_mode=False):
    env = RecordingEnvironment(params, check_mode=check_mode, diff_mode=diff_mode)
    with pytest.raises(Finished) as info:
        actions.run(env, action)
    info.value.env = env
    return info.value


# -- allocate ----------------------------------------------------------------------------


def read(path):
    with open(path, encoding="utf-8") as stream:
        return stream.read()


ALLOCATE_CASES = [
    # id, ipblocks.yaml present, check mode, changed, written
    ("first run writes", False, False, True, True),
    ("first run in check mode writes nothing", False, True, True, False),
    ("unchanged spec is not rewritten", True, False, False, False),
    ("unchanged spec in check mode", True, True, False, False),
]


@pytest.mark.parametrize(
    "present, check_mode, changed, written",
    [c[1:] for c in ALLOCATE_CASES],
    ids=[c[0] for c in ALLOCATE_CASES],
)
def test_allocate(spec_copy, present, check_mode, changed, written):
    spec = spec_copy("vxlan", blocks=present)
    path = os.path.join(spec, "ipblocks.yaml")
    before = read(path) if present else None
    done = finish(actions.allocate_blocks, {"spec_dir": spec, "nodes": []}, check_mode, True)
    assert not done.failed
    assert done.result["changed"] is changed
    assert done.result["path"] == path
    assert [b["node"] for b in done.result["blocks"]] == ["n1", "n2", "n3"]
    if written:
        assert "diff" in done.result
        assert done.result["diff"]["after"] == read(path)
        assert done.result["diff"]["before"] == ""
    elif present:
        assert read(path) == before
        assert "diff" not in done.result
    else:
        assert not os.path.exists(path)


def test_allocate_that_cannot_write_fails_cleanly(spec_copy, monkeypatch):
    def read_only(path, text):
        raise PermissionError(13, "Permission denied", path)

    import netwright.provisioning

    monkeypatch.setattr(netwright.provisioning, "write_atomic", read_only)
    spec = spec_copy("vxlan", blocks=False)
    done = finish(actions.allocate_blocks, {"spec_dir": spec, "nodes": []})
    assert done.failed
    assert (done.result["error"], done.result["changed"]) == ("os", False)
    assert done.result["msg"] == os.path.join(spec, "ipblocks.yaml") + ": Permission denied"


def test_allocate_again_is_a_no_op(spec_copy):
    spec = spec_copy("vxlan", blocks=False)
    first = finish(actions.allocate_blocks, {"spec_dir": spec, "nodes": []})
    second = finish(actions.allocate_blocks, {"spec_dir": spec, "nodes": []})
    assert (first.result["changed"], second.result["changed"]) == (True, False)
    assert second.result["blocks"] == first.result["blocks"]
    assert second.result["added"] == []


def test_invalid_spec_fails_with_the_validate_lines(spec_copy, capsys):
    from netwright.cli import main as netwright_main

    spec = spec_copy("vxlan")
    network = os.path.join(spec, "network.yaml")
    text = read(network).replace("spec:\n", "spec:\n  bogusField: 1\n", 1)
    with open(network, "w", encoding="utf-8") as stream:
        stream.write(text)
    done = finish(actions.allocate_blocks, {"spec_dir": spec, "nodes": []})
    assert done.failed
    assert done.result["error"] == "invalid"
    assert done.result["changed"] is False
    assert netwright_main(["validate", spec]) == 2
    printed = capsys.readouterr().err.splitlines()
    lines = done.result["msg"].splitlines()
    assert lines == done.result["issues"]
    assert lines and all(line in printed for line in lines)
    assert any("bogusField" in line for line in lines)


def without_nodes(spec_copy):
    spec = spec_copy("vxlan", blocks=False)
    os.unlink(os.path.join(spec, "nodes.yaml"))
    return spec


INVENTORY = [
    {"name": "a", "ip": ["172.31.255.21"], "labels": {"rack": "a"}},
    {"name": "b", "ip": ["172.31.255.22"], "labels": {}},
]


def test_allocate_for_inventory_nodes(spec_copy):
    spec = without_nodes(spec_copy)
    done = finish(actions.allocate_blocks, {"spec_dir": spec, "nodes": INVENTORY})
    assert not done.failed
    assert done.result["nodes"] == ["a", "b"]
    assert sorted(b["node"] for b in done.result["blocks"]) == ["a", "b"]
    assert '"a"' in read(os.path.join(spec, "ipblocks.yaml"))


def test_a_bad_inventory_node_is_named_by_its_index(spec_copy):
    spec = without_nodes(spec_copy)
    bad = [INVENTORY[0], {"name": "b", "ip": ["not-an-ip"], "labels": {}}]
    done = finish(actions.allocate_blocks, {"spec_dir": spec, "nodes": bad})
    assert done.failed and done.result["error"] == "invalid"
    assert done.result["msg"].startswith("nodes[1]: Node/b: ")
    assert "not-an-ip" in done.result["msg"]


def test_inventory_nodes_yield_to_the_spec_directory(spec_copy):
    spec = spec_copy("vxlan")
    done = finish(actions.allocate_blocks, {"spec_dir": spec, "nodes": INVENTORY})
    assert done.result["nodes"] == ["n1", "n2", "n3"]
    assert done.env.warnings and done.env.warnings[0].startswith("nodes: ignored")


# -- node and node_info, over a node that has nothing yet ---------------------------------


def empty_node_provision(pipeline, node, target, *, check, options=None, say=None):
    """`provision` against a node with nothing on it: the real plan, diffed, 'applied'."""
    facts = NodeFacts(underlay_mtu=options.underlay_mtu, root=target.root)
    delta = diff(pipeline.plan(node, facts), ObservedState())
    if say is not None:
        say("note: a test node")
    result = None if check else ApplyResult(done=delta.changes)
    return Report(
        node=node, target=target, check=check, delta=delta, result=result, facts=facts
    )


@pytest.fixture
def empty_node(monkeypatch):
    monkeypatch.setattr(actions, "provision", empty_node_provision)


@pytest.mark.parametrize("check_mode", [False, True], ids=["apply", "check"])
@pytest.mark.parametrize("diff_mode", [False, True], ids=["no-diff", "diff"])
def test_node(spec_copy, empty_node, check_mode, diff_mode):
    params = dict(TARGET, spec_dir=spec_copy("vxlan"), nodes=[])
    done = finish(actions.provision_node, params, check_mode, diff_mode)
    result = done.result
    assert not done.failed
    assert result["changed"] is True
    assert result["summary"]["add"] > 0 and result["summary"]["conflict"] == 0
    assert result["plan"][0].startswith("node n1 (")
    assert {c["kind"] for c in result["changes"]} >= {"link", "route", "fdb"}
    assert sum(n.get("add", 0) for n in result["by_kind"].values()) == result["summary"]["add"]
    assert result["notes"] == ["note: a test node"]
    assert ("applied" in result) is not check_mode
    if diff_mode:
        assert result["diff"]["prepared"] == "\n".join(result["plan"]) + "\n"
    else:
        assert "diff" not in result


def test_node_info_reports_drift_and_changes_nothing(spec_copy, empty_node):
    params = dict(TARGET, spec_dir=spec_copy("vxlan"), nodes=[])
    done = finish(actions.inspect_node, params)
    result = done.result
    assert not done.failed
    assert result["changed"] is False
    assert result["in_sync"] is False
    assert result["drift"] and "changes" not in result
    assert result["blocks"] == [{"pool": "pods-v4", "cidr": "10.244.1.0/24"}]
    assert "applied" not in result


def test_node_not_in_the_spec(spec_copy, empty_node):
    params = dict(TARGET, node="n9", spec_dir=spec_copy("vxlan"), nodes=[])
    done = finish(actions.provision_node, params)
    assert done.failed and done.result["error"] == "invalid"
    assert "Node/n9: is not in the spec" in done.result["msg"]


def test_failed_changes_are_listed(spec_copy, monkeypatch):
    def failing(pipeline, node, target, *, check, options=None, say=None):
        report = empty_node_provision(pipeline, node, target, check=True, options=options)
        first = report.delta.changes[0]
        result = ApplyResult(done=report.delta.changes[1:], failed=((first, "link nw.1: EPERM"),))
        return Report(node=node, target=target, check=False, delta=report.delta, result=result)

    monkeypatch.setattr(actions, "provision", failing)
    done = finish(actions.provision_node, dict(TARGET, spec_dir=spec_copy("vxlan"), nodes=[]))
    assert done.failed and done.result["error"] == "failed"
    assert done.result["changed"] is True
    assert "1 of" in done.result["msg"] and "failed: link nw.1: EPERM" in done.result["msg"]
    assert done.result["applied"]["failed"][0]["error"] == "link nw.1: EPERM"


# -- one place maps errors to failures ---------------------------------------------------

ISSUE = Issue(file="x.yaml", line=3, kind="IPPool", name="p", path="spec.cidr", message="bad")
ERRORS = [
    ("validation", ValidationError([ISSUE]), "invalid", "x.yaml:3: IPPool/p: spec.cidr: bad"),
    ("allocation", AllocationError([ISSUE]), "invalid", "x.yaml:3: IPPool/p: spec.cidr: bad"),
    ("wrong target", WrongTargetError("holds 1.2.3.4"), "wrong_target", "holds 1.2.3.4"),
    ("busy", LockBusyError("held by pid 7"), "lock_busy", "held by pid 7"),
    ("kernel", KernelError("route x: EEXIST"), "kernel", "route x: EEXIST"),
    ("other", NetwrightError("odd"), "netwright", "netwright: odd"),
    ("os", PermissionError(13, "Permission denied", "/srv/ipblocks.yaml"), "os", "/srv/ipblocks.yaml: Permission denied"),
]


@pytest.mark.parametrize("exc, error, msg", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_become_failures(exc, error, msg):
    def action(env):
        raise exc

    done = finish(action, dict(TARGET))
    assert done.failed
    assert (done.result["error"], done.result["msg"], done.result["changed"]) == (error, msg, False)


def test_argument_problems_come_first():
    done = finish(lambda env: {"changed": False}, dict(TARGET, underlay_mtu=10))
    assert done.result["error"] == "argument"
    assert done.result["msg"] == "underlay_mtu: 10 is out of range; allowed 68 to 65535"


def test_missing_netwright(monkeypatch):
    monkeypatch.setattr(actions, "HAS_NETWRIGHT", False)
    monkeypatch.setattr(actions, "NETWRIGHT_IMPORT_ERROR", "Traceback: no netwright")
    done = finish(lambda env: {"changed": False}, dict(TARGET))
    assert done.result["error"] == "missing_library"
    assert "Failed to import the required Python library (netwright)" in done.result["msg"]
