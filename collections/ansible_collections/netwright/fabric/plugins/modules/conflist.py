#!/usr/bin/python
# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: conflist
short_description: Manage CNI conflist files netwright owns under the root
version_added: 0.2.0
description:
  - >-
    Writes CNI network configuration lists under C(<root>/etc/cni/net.d/), atomically, in the
    format M(netwright.fabric.node) writes them (JSON, two-space indent), and records them as
    netwright's.
  - >-
    A file at a listed path that netwright did not write is a conflict, unless it already has
    exactly the content and mode netwright would write (it is then adopted).
author:
  - netwright maintainers (@netwright)
requirements:
  - netwright (the Python package, with pyroute2) on the managed node
  - root on the managed node
extends_documentation_fragment:
  - netwright.fabric.objects
options:
  conflists:
    description:
      - The conflists, each keyed by its file name.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The file name in C(<root>/etc/cni/net.d/) (V(10-pods.conflist)); a plain name, no directory.
        type: str
        required: true
      config:
        description: The conflist (C(cniVersion), C(name), C(plugins)); ignored with O(state=absent).
        type: dict
        required: true
  state:
    description:
      - V(present) makes the listed conflist files exist as given; V(absent) removes the listed ones that are
        netwright's (a foreign one at a listed key fails the task and stays).
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=present), also remove netwright's conflist files (in C(<root>/etc/cni/net.d/)) that are not listed.
        Foreign ones are never removed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Observes and plans only; C(changed) says whether changes are pending.
  diff_mode:
    support: full
    description: The files as found and as they will be written.
  platform:
    support: full
    platforms: linux
    description: Linux only (netlink, network namespaces, nftables).
seealso:
  - module: netwright.fabric.node
"""

EXAMPLES = r"""
- name: A bridge network for the pods
  netwright.fabric.conflist:
    root: /
    conflists:
      - name: 10-pods.conflist
        config:
          cniVersion: 1.0.0
          name: pods
          plugins:
            - type: bridge
              bridge: cni0
              isGateway: true
              ipam: {type: host-local, ranges: [[{subnet: 10.244.1.0/24}]]}
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
  sample: [{op: add, kind: file, key: /etc/cni/net.d/10-pods.conflist}]
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
    module = AnsibleModule(argument_spec=object_argument_spec("conflist"), supports_check_mode=True)
    run(RunEnvironment(module), make_objects("conflist"))


if __name__ == "__main__":
    main()
