# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Each module end to end through `main`: arguments in, JSON out (the kernel left out)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netwright.fabric.plugins.module_utils import actions
from ansible_collections.netwright.fabric.plugins.modules import allocate, node, node_info

netwright = pytest.importorskip("netwright")

from netwright.engine import ApplyResult, ObservedState, Report, diff  # noqa: E402
from netwright.model.config import NodeFacts  # noqa: E402


@pytest.fixture(autouse=True)
def empty_node(monkeypatch):
    def provision(pipeline, node, target, *, check, options=None, say=None):
        facts = NodeFacts(root=target.root)
        delta = diff(pipeline.plan(node, facts), ObservedState())
        result = None if check else ApplyResult(done=delta.changes)
        return Report(
            node=node, target=target, check=check, delta=delta, result=result, facts=facts
        )

    monkeypatch.setattr(actions, "provision", provision)


MODULE_CASES = [
    # id, module, extra args, check mode, expected (key: value) in the result
    ("node applies", node, {"node": "n2"}, False, {"changed": True, "node": "n2"}),
    ("node in check mode", node, {"node": "n2"}, True, {"changed": True}),
    ("node_info", node_info, {"node": "n3"}, False, {"changed": False, "in_sync": False}),
    ("allocate unchanged", allocate, {}, False, {"changed": False}),
]


@pytest.mark.parametrize(
    "module, args, check, expected",
    [c[1:] for c in MODULE_CASES],
    ids=[c[0] for c in MODULE_CASES],
)
def test_module(run_module, spec_copy, tmp_path, module, args, check, expected):
    args = dict(args, spec_dir=spec_copy("vxlan"), _ansible_check_mode=check, _ansible_diff=True)
    if module is not allocate:
        args["root"] = str(tmp_path / "root")
    result = run_module(module, args)
    assert not result.get("failed"), result.get("msg")
    assert {k: result[k] for k in expected} == expected


def test_node_diff_is_the_plan(run_module, spec_copy, tmp_path):
    args = dict(spec_dir=spec_copy("vxlan"), node="n1", root=str(tmp_path), _ansible_diff=True)
    result = run_module(node, dict(args, _ansible_check_mode=True))
    assert result["diff"]["prepared"].splitlines() == result["plan"]
    assert result["diff"]["after_header"] == "node n1 (planned)"


ARGUMENT_CASES = [
    ("unknown option", node, {"node": "n1", "nods": []}, "Unsupported parameters"),
    ("node missing", node, {}, "missing required arguments: node"),
    ("mtu not a number", node, {"node": "n1", "underlay_mtu": "big"}, "underlay_mtu"),
    ("mtu out of range", node_info, {"node": "n1", "underlay_mtu": 9}, "underlay_mtu: 9 is out of range"),
    ("node entry without ip", allocate, {"nodes": [{"name": "a"}]}, "missing required arguments: ip"),
]


@pytest.mark.parametrize(
    "module, args, message", [c[1:] for c in ARGUMENT_CASES], ids=[c[0] for c in ARGUMENT_CASES]
)
def test_wrong_arguments_fail_naming_them(run_module, spec_copy, module, args, message):
    spec = spec_copy("vxlan")
    before = sorted(os.listdir(spec))
    result = run_module(module, dict(args, spec_dir=spec))
    assert result["failed"] is True
    assert message in result["msg"]
    assert sorted(os.listdir(spec)) == before
