#!/usr/bin/python
# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: node
short_description: Provision one node's pod networking from a netwright spec directory
version_added: 0.1.0
description:
  - Validates the spec, renders and plans the node, observes its kernel and files, and
    applies the difference over netlink, the same way C(netwright apply) does.
  - Only objects netwright owns are changed (routes of protocol 211, links carrying its
    alias, its nft table, files under O(root)); anything foreign in the way is a conflict and
    fails the task without being touched.
  - Refuses, changing nothing, a spec that does not validate, a target that holds another
    node's address (or none of this node's, unless O(underlay) names it), and a target another
    run holds locked for longer than O(wait_lock).
  - Run M(netwright.fabric.allocate) once first, so that the spec directory carries every node's
    blocks.
author:
  - netwright maintainers (@netwright)
requirements:
  - netwright (the Python package, with pyroute2) on the managed node
  - root on the managed node
extends_documentation_fragment:
  - netwright.fabric.spec
  - netwright.fabric.target
attributes:
  check_mode:
    support: full
    description: Plans only; C(changed) says whether changes are pending.
  diff_mode:
    support: full
    description: The diff is the plan, the lines C(netwright plan -v) prints.
  platform:
    support: full
    platforms: linux
    description: Linux only (netlink, network namespaces, nftables).
notes:
  - Failures carry RV(error), one of C(invalid), C(wrong_target), C(lock_busy), C(kernel),
    C(failed) (some changes failed, listed in RV(applied)), C(netwright), C(os), C(argument),
    C(missing_library).
seealso:
  - module: netwright.fabric.allocate
  - module: netwright.fabric.node_info
"""

EXAMPLES = r"""
- name: Provision this host as node n1
  netwright.fabric.node:
    spec_dir: /srv/gitops/network
    node: n1

- name: Provision a namespace host of the lab, files under its own root
  netwright.fabric.node:
    spec_dir: "{{ netwright_spec_dir }}"
    node: "{{ inventory_hostname }}"
    root: /var/lib/lab/{{ inventory_hostname }}

- name: Provision a named namespace from the host itself
  netwright.fabric.node:
    spec_dir: /srv/gitops/network
    node: n2
    netns: nw-n2
    root: /var/lib/lab/n2

- name: Preview the changes (check mode with --diff shows the plan)
  netwright.fabric.node:
    spec_dir: /srv/gitops/network
    node: n1
  check_mode: true
  diff: true
  register: plan

- name: Nodes from the inventory, for a spec directory without Node documents
  netwright.fabric.node:
    spec_dir: /srv/gitops/network
    node: "{{ inventory_hostname }}"
    nodes:
      - name: n1
        ip: [172.31.255.11]
        labels: {rack: a}
"""

RETURN = r"""
changed:
  description: Changes were made (check mode, changes are pending).
  returned: always
  type: bool
node:
  description: The node provisioned.
  returned: success
  type: str
  sample: n1
target:
  description: Where the changes went.
  returned: success
  type: dict
  sample: {netns: null, root: /}
summary:
  description: How many objects are added, changed and deleted, and how many conflicts were found.
  returned: success
  type: dict
  sample: {add: 12, change: 0, delete: 1, conflict: 0}
by_kind:
  description: Counts per kind of object (link, address, nexthop, route, neighbour, fdb, sysctl, nft, file, bird) and operation.
  returned: success
  type: dict
  sample: {link: {add: 2}, route: {add: 2, delete: 1}}
changes:
  description: Every change by kind and kernel key, in the order applied; a summary change counts the objects it stands for.
  returned: success
  type: list
  elements: dict
  sample: [{op: add, kind: link, key: nwvx.1}, {op: add, kind: route, key: 10.244.2.0/24 table 254 metric 0}]
conflicts:
  description: Foreign objects sitting where netwright's must go (the task fails when there are any).
  returned: success
  type: list
  elements: str
plan:
  description: The plan, exactly the lines C(netwright plan -v) prints for the same node and target.
  returned: success
  type: list
  elements: str
applied:
  description: Outside check mode, how many changes were made and which failed, with the kernel's error.
  returned: success and not check mode
  type: dict
  sample: {done: 13, failed: []}
error:
  description: Why the task failed, for C(failed_when) and C(rescue).
  returned: failure
  type: str
  sample: wrong_target
issues:
  description: On an invalid spec, every problem, one line each, as C(netwright validate) prints them.
  returned: failure
  type: list
  elements: str
notes:
  description: What netwright said while running (the underlay it assumed or was named, a lock it waited for).
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netwright.fabric.plugins.module_utils.actions import provision_node, run
from ansible_collections.netwright.fabric.plugins.module_utils.environment import RunEnvironment
from ansible_collections.netwright.fabric.plugins.module_utils.options import (
    SPEC_OPTIONS,
    TARGET_OPTIONS,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(SPEC_OPTIONS, **TARGET_OPTIONS), supports_check_mode=True
    )
    run(RunEnvironment(module), provision_node)


if __name__ == "__main__":
    main()
