#!/usr/bin/python
# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: route
short_description: Manage netwright-owned routes, a whole list in one task
version_added: 0.2.0
description:
  - >-
    Adds, changes and removes routes of netwright's routing protocol (211), as the engine does for
    a node; a list of thousands of routes is one task and one netlink session.
  - >-
    A route with a gateway and a device goes through a nexthop object, as the routes
    M(netwright.fabric.node) plans do; netwright's nexthop objects are shared and removed when
    their last route goes.
  - >-
    Routes are keyed the way the kernel keys them: table, destination and metric.
author:
  - netwright maintainers (@netwright)
requirements:
  - netwright (the Python package, with pyroute2) on the managed node
  - root on the managed node
extends_documentation_fragment:
  - netwright.fabric.objects
options:
  routes:
    description:
      - The routes, each keyed by O(routes[].table), O(routes[].dst) and O(routes[].metric).
    type: list
    elements: dict
    required: true
    suboptions:
      dst:
        description: The destination network, in CIDR notation without host bits (V(10.244.2.0/24)).
        type: str
        required: true
      via:
        description: The gateway address, of the destination's family.
        type: str
      dev:
        description: The output device. O(routes[].via), O(routes[].dev) or both are needed with O(state=present).
        type: str
      metric:
        description: The route's metric (priority); IPv6 stores 0 as 1024.
        type: int
        default: 0
      table:
        description: The routing table (254 is C(main)).
        type: int
        default: 254
      onlink:
        description: The gateway is on O(routes[].dev) even without a matching prefix there (needs O(routes[].dev)).
        type: bool
        default: false
  state:
    description:
      - V(present) makes the listed routes exist as given; V(absent) removes the listed ones that are
        netwright's (a foreign one at a listed key fails the task and stays).
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=present), also remove netwright's routes (in every table) that are not listed.
        Foreign ones are never removed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Observes and plans only; C(changed) says whether changes are pending.
  diff_mode:
    support: full
    description: The routes as found and as listed.
  platform:
    support: full
    platforms: linux
    description: Linux only (netlink, network namespaces, nftables).
seealso:
  - module: netwright.fabric.node
"""

EXAMPLES = r"""
- name: Routes to the other nodes' blocks (host-gw)
  netwright.fabric.route:
    routes:
      - dst: 10.244.2.0/24
        via: 172.31.255.12
        dev: eth0
      - dst: 10.244.3.0/24
        via: 172.31.255.13
        dev: eth0

- name: Many routes in one task, from a variable
  netwright.fabric.route:
    routes: "{{ peer_routes }}"
    purge: true

- name: Remove a route netwright installed
  netwright.fabric.route:
    routes:
      - dst: 10.244.3.0/24
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
  sample: [{op: add, kind: nexthop, key: id 1853292545}, {op: add, kind: route, key: 10.244.2.0/24 table 254 metric 0}]
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
    module = AnsibleModule(argument_spec=object_argument_spec("route"), supports_check_mode=True)
    run(RunEnvironment(module), make_objects("route"))


if __name__ == "__main__":
    main()
