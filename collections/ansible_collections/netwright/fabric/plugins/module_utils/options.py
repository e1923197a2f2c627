# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Argument specs shared by the modules, and the checks Ansible's types cannot make.

Why it exists: `node`, `node_info` and `allocate` take the same spec options and the
first two the same target options; declaring them once keeps the modules, their
`DOCUMENTATION` (the doc fragments of the same names) and validate-modules in step.
The fine-grained modules (`link`, `route`, ...) take `OBJECT_TARGET_OPTIONS` (doc fragment
`netwright.fabric.objects`) and their own list of entries (`object_argument_spec`).

What it must not do: import netwright. The checks here run before the guarded import
is consulted, so a wrong argument is reported as such even where netwright is missing.
"""

from __future__ import annotations

import os
import re

from ansible_collections.netwright.fabric.plugins.module_utils.entries import ifname_problem

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
    if underlay is not None and (text := ifname_problem(underlay)) is not None:
        problems.append(f"underlay: {text}")
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


# -- the fine-grained modules (link, route, neighbour, fdb, sysctl, nat, conflist, bird) --

#: Where the objects go (doc fragment `netwright.fabric.objects`): no node, no spec.
OBJECT_TARGET_OPTIONS = dict(
    root=dict(type="path", default="/"),
    netns=dict(type="str"),
    wait_lock=dict(type="float", default=5.0),
)

#: `state` and `purge`, for the modules whose objects can be removed.
STATE_OPTIONS = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    purge=dict(type="bool", default=False),
)

LINK_ENTRY = dict(
    name=dict(type="str", required=True),
    kind=dict(type="str", required=True, choices=["bridge", "veth", "vxlan"]),
    mtu=dict(type="int"),
    mac=dict(type="str"),
    up=dict(type="bool", default=True),
    vni=dict(type="int"),
    port=dict(type="int", default=4789),
    local=dict(type="str"),
    dev=dict(type="str"),
    learning=dict(type="bool", default=False),
)

ROUTE_ENTRY = dict(
    dst=dict(type="str", required=True),
    via=dict(type="str"),
    dev=dict(type="str"),
    metric=dict(type="int", default=0),
    table=dict(type="int", default=254),
    onlink=dict(type="bool", default=False),
)

NEIGHBOUR_ENTRY = dict(
    dev=dict(type="str", required=True),
    ip=dict(type="str", required=True),
    mac=dict(type="str", required=True),
)

FDB_ENTRY = dict(
    dev=dict(type="str", required=True),
    mac=dict(type="str", required=True),
    dst=dict(type="str", required=True),
)

SYSCTL_ENTRY = dict(
    name=dict(type="str", required=True),
    value=dict(type="str", required=True),
    optional=dict(type="bool", default=False),
)

CONFLIST_ENTRY = dict(
    name=dict(type="str", required=True),
    config=dict(type="dict", required=True),
)

#: Each fine-grained module's argument_spec (target options included).
OBJECT_MODULES = dict(
    link=dict(
        links=dict(type="list", elements="dict", options=LINK_ENTRY, required=True), **STATE_OPTIONS
    ),
    route=dict(
        routes=dict(type="list", elements="dict", options=ROUTE_ENTRY, required=True),
        **STATE_OPTIONS,
    ),
    neighbour=dict(
        neighbours=dict(type="list", elements="dict", options=NEIGHBOUR_ENTRY, required=True),
        **STATE_OPTIONS,
    ),
    fdb=dict(
        entries=dict(type="list", elements="dict", options=FDB_ENTRY, required=True),
        **STATE_OPTIONS,
    ),
    sysctl=dict(sysctls=dict(type="list", elements="dict", options=SYSCTL_ENTRY, required=True)),
    nat=dict(
        sources=dict(type="list", elements="str", default=[]),
        exclude=dict(type="list", elements="str", default=[]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    ),
    conflist=dict(
        conflists=dict(type="list", elements="dict", options=CONFLIST_ENTRY, required=True),
        **STATE_OPTIONS,
    ),
    bird=dict(
        config=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    ),
)


def object_argument_spec(module):
    """The argument_spec of fine-grained module `module`."""
    return dict(OBJECT_MODULES[module], **OBJECT_TARGET_OPTIONS)
