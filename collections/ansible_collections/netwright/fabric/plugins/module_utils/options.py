# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Argument specs shared by the modules, and the checks Ansible's types cannot make.

Why it exists: `node`, `node_info` and `allocate` take the same spec options and the
first two the same target options; declaring them once keeps the modules, their
`DOCUMENTATION` (the doc fragments of the same names) and validate-modules in step.
A new fine-grained module (`link`, `route`, ...) takes `TARGET_OPTIONS` the same way.

What it must not do: import netwright. The checks here run before the guarded import
is consulted, so a wrong argument is reported as such even where netwright is missing.
"""

from __future__ import annotations

import os
import re

#: An inventory-defined Node: `nodes:` when the spec directory holds no Node documents.
NODE_ENTRY = dict(
    name=dict(type="str", required=True),
    ip=dict(type="list", elements="str", required=True),
    labels=dict(type="dict", default={}),
)

#: Where the spec comes from (doc fragment `netwright.fabric.spec`).
SPEC_OPTIONS = dict(
    spec_dir=dict(type="path", required=True),
    nodes=dict(type="list", elements="dict", options=NODE_ENTRY, default=[]),
)

#: Which node, and where it lives (doc fragment `netwright.fabric.target`).
TARGET_OPTIONS = dict(
    node=dict(type="str", required=True),
    root=dict(type="path", default="/"),
    netns=dict(type="str"),
    underlay=dict(type="str"),
    underlay_mtu=dict(type="int", default=1500),
    wait_lock=dict(type="float", default=5.0),
)

MTU_MIN, MTU_MAX = 68, 65535
WAIT_MAX = 3600.0
IFNAMSIZ = 16
# What `ip netns add` accepts as a name: one path component of /run/netns.
_NETNS = re.compile(r"^[^/\0]+$")


def check_target(params):
    """Problems with the target options, one line each (`option: what is wrong`); [] if none.

    Normalises `root` to an absolute path in place, as the CLI's `--root` does.
    """
    problems = []
    root = params.get("root")
    if root is not None:
        if not root:
            problems.append("root: must be a non-empty path")
        else:
            params["root"] = os.path.abspath(root)
    netns = params.get("netns")
    if netns is not None and (not _NETNS.match(netns) or netns in (".", "..")):
        problems.append(f"netns: {netns!r} is not a namespace name (one name under /run/netns)")
    underlay = params.get("underlay")
    if underlay is not None and (
        not 0 < len(underlay) < IFNAMSIZ or any(c in underlay for c in "/: \t\n")
    ):
        problems.append(
            f"underlay: {underlay!r} is not an interface name"
            f" (1 to {IFNAMSIZ - 1} characters, no '/', ':' or spaces)"
        )
    mtu = params.get("underlay_mtu")
    if mtu is not None and not MTU_MIN <= mtu <= MTU_MAX:
        problems.append(f"underlay_mtu: {mtu} is out of range; allowed {MTU_MIN} to {MTU_MAX}")
    wait = params.get("wait_lock")
    if wait is not None and not 0 <= wait <= WAIT_MAX:
        problems.append(f"wait_lock: {wait:g} is out of range; allowed 0 to {WAIT_MAX:g} seconds")
    return problems


def _label(value):
    """A label value as Kubernetes writes it: YAML's `true` in an inventory is "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def node_documents(entries):
    """`nodes:` entries as v1 Node documents, the shape a spec directory holds."""
    documents = []
    for entry in entries or ():
        metadata = {"name": entry["name"]}
        if entry.get("labels"):
            metadata["labels"] = {str(k): _label(v) for k, v in entry["labels"].items()}
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": metadata,
                "status": {
                    "addresses": [{"type": "InternalIP", "address": ip} for ip in entry["ip"]]
                },
            }
        )
    return documents
