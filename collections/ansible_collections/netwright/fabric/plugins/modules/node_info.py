#!/usr/bin/python
# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: node_info
short_description: A node's live netwright state and its drift from the spec
version_added: 0.1.0
description:
  - Observes the node the way M(netwright.fabric.node) does in check mode and reports what
    differs from the spec (RV(drift)), whether it is in sync, the underlay facts it found and
    the blocks allocated to it. Never changes anything, and takes no lock.
  - Conflicts (foreign objects in netwright's way) are reported, not failed on.
author:
  - netwright maintainers (@netwright)
requirements:
  - netwright (the Python package, with pyroute2) on the managed node
extends_documentation_fragment:
  - netwright.fabric.spec
  - netwright.fabric.target
attributes:
  check_mode:
    support: full
    description: Reads only, in check mode or not.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff; RV(plan) shows the drift.
  platform:
    support: full
    platforms: linux
    description: Linux only (netlink, network namespaces, nftables).
seealso:
  - module: netwright.fabric.node
"""

EXAMPLES = r"""
- name: Read the node's drift
  netwright.fabric.node_info:
    spec_dir: /srv/gitops/network
    node: "{{ inventory_hostname }}"
  register: info

- name: The node is exactly as planned
  ansible.builtin.assert:
    that: info.in_sync
    fail_msg: "{{ info.plan | join('\n') }}"
"""

RETURN = r"""
in_sync:
  description: Nothing would change and nothing conflicts.
  returned: success
  type: bool
drift:
  description: The changes M(netwright.fabric.node) would make, by kind and kernel key.
  returned: success
  type: list
  elements: dict
  sample: [{op: add, kind: route, key: 10.244.3.0/24 table 254 metric 0}]
summary:
  description: Pending objects to add, change and delete, and conflicts.
  returned: success
  type: dict
  sample: {add: 0, change: 0, delete: 0, conflict: 0}
by_kind:
  description: Pending counts per kind of object and operation.
  returned: success
  type: dict
conflicts:
  description: Foreign objects sitting where netwright's must go.
  returned: success
  type: list
  elements: str
plan:
  description: The lines C(netwright plan -v) prints for this node and target.
  returned: success
  type: list
  elements: str
facts:
  description: What only the live node knows, as the plan used it.
  returned: success
  type: dict
  sample: {underlay: eth0, underlay_mtu: 1500, underlay_prefix: 172.31.255.0/24, root: /}
blocks:
  description: The address blocks allocated to the node.
  returned: success
  type: list
  elements: dict
  sample: [{pool: pods-v4, cidr: 10.244.1.0/24}]
node:
  description: The node inspected.
  returned: success
  type: str
target:
  description: Where it was inspected.
  returned: success
  type: dict
notes:
  description: What netwright said while observing (an assumed underlay, for one).
  returned: success
  type: list
  elements: str
error:
  description: Why the task failed, for C(failed_when) and C(rescue).
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netwright.fabric.plugins.module_utils.actions import inspect_node, run
from ansible_collections.netwright.fabric.plugins.module_utils.environment import RunEnvironment
from ansible_collections.netwright.fabric.plugins.module_utils.options import (
    SPEC_OPTIONS,
    TARGET_OPTIONS,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(SPEC_OPTIONS, **TARGET_OPTIONS), supports_check_mode=True
    )
    run(RunEnvironment(module), inspect_node)


if __name__ == "__main__":
    main()
