#!/usr/bin/python
# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: sysctl
short_description: Set per-network-namespace sysctls (net.*)
version_added: 0.2.0
description:
  - >-
    Sets sysctls of the network namespace (C(net.*), the ones each namespace has its own of), as
    the engine does for a node: C(net.ipv4.ip_forward) and the like.
  - >-
    Sysctls are set, never removed, so there is no C(state); nothing is persisted across reboots
    (use M(ansible.posix.sysctl) for C(/etc/sysctl.d)).
author:
  - netwright maintainers (@netwright)
requirements:
  - netwright (the Python package, with pyroute2) on the managed node
  - root on the managed node
extends_documentation_fragment:
  - netwright.fabric.objects
options:
  sysctls:
    description:
      - The sysctls, each keyed by its name.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The name, with dots or slashes (V(net.ipv4.ip_forward)); only C(net.*).
        type: str
        required: true
      value:
        description: The value; compared with runs of white space as one space.
        type: str
        required: true
      optional:
        description: Skip it, with a note, where this kernel lacks it (V(net.bridge.bridge-nf-call-iptables) without C(br_netfilter)).
        type: bool
        default: false
attributes:
  check_mode:
    support: full
    description: Observes and plans only; C(changed) says whether changes are pending.
  diff_mode:
    support: full
    description: The values as found and as listed.
  platform:
    support: full
    platforms: linux
    description: Linux only (netlink, network namespaces, nftables).
seealso:
  - module: netwright.fabric.node
"""

EXAMPLES = r"""
- name: Forward, in the node's namespace
  netwright.fabric.sysctl:
    netns: nw-n1
    sysctls:
      - name: net.ipv4.ip_forward
        value: "1"
      - name: net.bridge.bridge-nf-call-iptables
        value: "1"
        optional: true
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
  sample: [{op: change, kind: sysctl, key: net.ipv4.ip_forward}]
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
    module = AnsibleModule(argument_spec=object_argument_spec("sysctl"), supports_check_mode=True)
    run(RunEnvironment(module), make_objects("sysctl"))


if __name__ == "__main__":
    main()
