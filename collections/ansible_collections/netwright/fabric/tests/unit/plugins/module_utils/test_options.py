# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The target options' checks and the inventory Nodes, without Ansible or netwright."""

from __future__ import annotations

import pytest

from ansible_collections.netwright.fabric.plugins.module_utils.options import (
    check_target,
    node_documents,
)

GOOD = dict(root="/", netns=None, underlay=None, underlay_mtu=1500, wait_lock=5.0)

CASES = [
    ("defaults", {}, []),
    ("netns name", {"netns": "nw-n1"}, []),
    ("netns path", {"netns": "a/b"}, ["netns: 'a/b' is not a namespace name (one name under /run/netns)"]),
    ("netns dotdot", {"netns": ".."}, ["netns: '..' is not a namespace name (one name under /run/netns)"]),
    ("underlay ok", {"underlay": "eth0"}, []),
    (
        "underlay too long",
        {"underlay": "a" * 16},
        ["underlay: 'aaaaaaaaaaaaaaaa' is not an interface name (1 to 15 characters, no '/', ':' or spaces)"],
    ),
    (
        "underlay colon",
        {"underlay": "eth0:1"},
        ["underlay: 'eth0:1' is not an interface name (1 to 15 characters, no '/', ':' or spaces)"],
    ),
    (
        "underlay dot-dot",
        {"underlay": ".."},
        ["underlay: '..' is not an interface name (1 to 15 characters, no '/', ':' or spaces)"],
    ),
    ("mtu low", {"underlay_mtu": 67}, ["underlay_mtu: 67 is out of range; allowed 68 to 65535"]),
    ("mtu high", {"underlay_mtu": 65536}, ["underlay_mtu: 65536 is out of range; allowed 68 to 65535"]),
    ("wait negative", {"wait_lock": -1.0}, ["wait_lock: -1 is out of range; allowed 0 to 3600 seconds"]),
    ("empty root", {"root": ""}, ["root: must be a non-empty path"]),
    (
        "two problems",
        {"underlay_mtu": 1, "wait_lock": 4000.0},
        [
            "underlay_mtu: 1 is out of range; allowed 68 to 65535",
            "wait_lock: 4000 is out of range; allowed 0 to 3600 seconds",
        ],
    ),
]


@pytest.mark.parametrize("change, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check_target(change, expected):
    assert check_target(dict(GOOD, **change)) == expected


def test_check_target_makes_root_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = dict(GOOD, root="lab/n1")
    assert check_target(params) == []
    assert params["root"] == str(tmp_path / "lab" / "n1")


def test_check_target_ignores_options_a_module_lacks():
    assert check_target({"spec_dir": "/srv", "nodes": []}) == []


NODE_CASES = [
    ("none", [], []),
    (
        "one, no labels",
        [{"name": "n1", "ip": ["172.31.255.11"], "labels": {}}],
        [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "n1"},
                "status": {"addresses": [{"type": "InternalIP", "address": "172.31.255.11"}]},
            }
        ],
    ),
    (
        "dual stack, labels as strings",
        [{"name": "n2", "ip": ["172.31.255.12", "fd00::12"], "labels": {"rack": "a", "gpu": True}}],
        [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "n2", "labels": {"rack": "a", "gpu": "true"}},
                "status": {
                    "addresses": [
                        {"type": "InternalIP", "address": "172.31.255.12"},
                        {"type": "InternalIP", "address": "fd00::12"},
                    ]
                },
            }
        ],
    ),
]


@pytest.mark.parametrize("entries, expected", [c[1:] for c in NODE_CASES], ids=[c[0] for c in NODE_CASES])
def test_node_documents(entries, expected):
    assert node_documents(entries) == expected
