#!/usr/bin/python
# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: nat
short_description: Manage netwright's nftables NAT table (masquerade pod traffic)
version_added: 0.2.0
description:
  - >-
    Loads netwright's own nftables table C(inet netwright), whole, in one C(nft -f) transaction:
    traffic from O(sources) to anything outside O(exclude) is masqueraded, exactly the table
    M(netwright.fabric.node) makes for pools with C(natOutgoing).
  - >-
    No other table is read or changed.
author:
  - netwright maintainers (@netwright)
requirements:
  - netwright (the Python package, with pyroute2) on the managed node
  - root on the managed node
extends_documentation_fragment:
  - netwright.fabric.objects
options:
  sources:
    description:
      - Source networks whose traffic is masqueraded when it leaves (the pools' CIDRs); at least one with O(state=present).
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Destination networks reached without masquerading (every pool's CIDR, so pod-to-pod traffic keeps its source).
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) loads the table as described; V(absent) deletes netwright's table (O(sources) and O(exclude) must then be empty).
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    description: Observes and plans only; C(changed) says whether changes are pending.
  diff_mode:
    support: full
    description: The table as found and as it will be loaded.
  platform:
    support: full
    platforms: linux
    description: Linux only (netlink, network namespaces, nftables).
seealso:
  - module: netwright.fabric.node
"""

EXAMPLES = r"""
- name: Masquerade pod traffic leaving the cluster
  netwright.fabric.nat:
    sources: [10.244.0.0/16, fd00:10:244::/56]
    exclude: [10.244.0.0/16, fd00:10:244::/56]

- name: Remove netwright's NAT table
  netwright.fabric.nat:
    state: absent
"""

RETURN = r"""
changed:
  description: Changes were made (check mode, changes are pending).
  returned: always
  type: bool
target:
  description: Where the objects are.
  returned: success
  type: dict
  sample: {netns: null, root: /}
summary:
  description: How many objects are added, changed and deleted, and how many conflicts were found.
  returned: success
  type: dict
  sample: {add: 2, change: 0, delete: 0, conflict: 0}
changes:
  description: Every change by kind and kernel key, in the order applied; a summary change counts the objects it stands for.
  returned: success
  type: list
  elements: dict
  sample: [{op: add, kind: nft, key: inet netwright}]
conflicts:
  description: Foreign objects where listed ones must go; the task fails and nothing is changed when there are any.
  returned: success
  type: list
  elements: str
plan:
  description: The changes as C(netwright plan -v) prints them, one line each.
  returned: success
  type: list
  elements: str
applied:
  description: Outside check mode, how many changes were made and which failed, with the kernel's error.
  returned: success and not check mode
  type: dict
  sample: {done: 2, failed: []}
notes:
  description: What netwright said while running (a lock it waited for, a sysctl this kernel lacks).
  returned: success
  type: list
  elements: str
error:
  description: Why the task failed, for C(failed_when) and C(rescue).
  returned: failure
  type: str
  sample: conflict
issues:
  description: With RV(error=argument), every wrong entry, one line each, named by its path.
  returned: failure
  type: list
  elements: str
  sample: ["routes[1].via: '10.0.0.300' is not an IP address"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netwright.fabric.plugins.module_utils.actions import run
from ansible_collections.netwright.fabric.plugins.module_utils.environment import RunEnvironment
from ansible_collections.netwright.fabric.plugins.module_utils.objects import make_objects
from ansible_collections.netwright.fabric.plugins.module_utils.options import object_argument_spec


def main():
    module = AnsibleModule(argument_spec=object_argument_spec("nat"), supports_check_mode=True)
    run(RunEnvironment(module), make_objects("nat"))


if __name__ == "__main__":
    main()
