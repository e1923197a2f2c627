#!/usr/bin/python
# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: fdb
short_description: Manage permanent fdb entries on netwright-owned VXLAN devices
version_added: 0.2.0
description:
  - >-
    Adds and removes permanent C(self) forwarding entries on the VXLAN devices netwright owns
    (C(bridge fdb append ... dst ...)), as the engine does for a node's VTEP: frames for a MAC go
    to a remote VTEP.
  - >-
    An entry on a link that is not one of netwright's VXLAN devices is a conflict.
author:
  - netwright maintainers (@netwright)
requirements:
  - netwright (the Python package, with pyroute2) on the managed node
  - root on the managed node
extends_documentation_fragment:
  - netwright.fabric.objects
options:
  entries:
    description:
      - The entries, each keyed by O(entries[].dev), O(entries[].mac) and O(entries[].dst).
    type: list
    elements: dict
    required: true
    suboptions:
      dev:
        description: The netwright VXLAN device the entry is on.
        type: str
        required: true
      mac:
        description: The remote MAC address (unicast), usually the remote VTEP's.
        type: str
        required: true
      dst:
        description: The remote VTEP's underlay address.
        type: str
        required: true
  state:
    description:
      - V(present) makes the listed fdb entries exist as given; V(absent) removes the listed ones that are
        netwright's (a foreign one at a listed key fails the task and stays).
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=present), also remove netwright's fdb entries (on its VXLAN devices) that are not listed.
        Foreign ones are never removed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Observes and plans only; C(changed) says whether changes are pending.
  diff_mode:
    support: full
    description: The entries as found and as listed.
  platform:
    support: full
    platforms: linux
    description: Linux only (netlink, network namespaces, nftables).
seealso:
  - module: netwright.fabric.node
"""

EXAMPLES = r"""
- name: Where two peers' VTEP MACs live
  netwright.fabric.fdb:
    entries:
      - dev: nwvx.1
        mac: 0e:6e:ac:1f:ff:0c
        dst: 172.31.255.12
      - dev: nwvx.1
        mac: 0e:6e:ac:1f:ff:0d
        dst: 172.31.255.13
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
  sample: [{op: add, kind: fdb, key: nwvx.1 0e:6e:ac:1f:ff:0c 172.31.255.12}]
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
    module = AnsibleModule(argument_spec=object_argument_spec("fdb"), supports_check_mode=True)
    run(RunEnvironment(module), make_objects("fdb"))


if __name__ == "__main__":
    main()
