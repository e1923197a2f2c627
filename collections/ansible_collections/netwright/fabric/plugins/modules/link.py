#!/usr/bin/python
# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: link
short_description: Manage netwright-owned bridges, veth pairs and VXLAN devices
version_added: 0.2.0
description:
  - >-
    Creates, changes and removes links that carry netwright's C(ifalias) marker, as the engine
    does for a node: a bridge, a veth pair, or a VXLAN device (VTEP).
  - >-
    A link whose kind or VXLAN settings differ cannot be changed in place: it is deleted and
    created again, and what the kernel hangs on it (addresses, routes, neighbour and fdb entries)
    goes with it.
author:
  - netwright maintainers (@netwright)
requirements:
  - netwright (the Python package, with pyroute2) on the managed node
  - root on the managed node
extends_documentation_fragment:
  - netwright.fabric.objects
options:
  links:
    description:
      - The links, each keyed by its name.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The interface name (at most 15 characters).
        type: str
        required: true
      kind:
        description:
          - The link type. A V(veth) is created with a peer the kernel names; deleting it deletes both ends.
        type: str
        required: true
        choices: [bridge, veth, vxlan]
      mtu:
        description: The MTU, 68 to 65535; the kernel's default when not given.
        type: int
      mac:
        description: The link's MAC address (unicast); the kernel's choice when not given.
        type: str
      up:
        description: Whether the link is set up.
        type: bool
        default: true
      vni:
        description: The VXLAN network identifier, 0 to 16777215 (required for V(vxlan)).
        type: int
      port:
        description: The VXLAN UDP destination port.
        type: int
        default: 4789
      local:
        description: The VXLAN source address, this host's underlay address (required for V(vxlan)).
        type: str
      dev:
        description: The VXLAN underlay device; none lets the kernel route.
        type: str
      learning:
        description: Whether the VXLAN device learns remote MACs from traffic (netwright's own VTEPs do not).
        type: bool
        default: false
  state:
    description:
      - V(present) makes the listed links exist as given; V(absent) removes the listed ones that are
        netwright's (a foreign one at a listed key fails the task and stays).
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=present), also remove netwright's links (in this network namespace) that are not listed.
        Foreign ones are never removed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Observes and plans only; C(changed) says whether changes are pending.
  diff_mode:
    support: full
    description: The links as found and as listed.
  platform:
    support: full
    platforms: linux
    description: Linux only (netlink, network namespaces, nftables).
seealso:
  - module: netwright.fabric.node
"""

EXAMPLES = r"""
- name: A bridge and a VTEP
  netwright.fabric.link:
    links:
      - name: cni0
        kind: bridge
        mtu: 1450
      - name: nwvx.1
        kind: vxlan
        vni: 1
        local: 172.31.255.11
        dev: eth0
        mtu: 1450

- name: Remove netwright's links that are not listed (foreign links stay)
  netwright.fabric.link:
    links:
      - name: cni0
        kind: bridge
    purge: true

- name: Remove a link netwright made
  netwright.fabric.link:
    links:
      - name: nwvx.1
        kind: vxlan
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
  sample: [{op: add, kind: link, key: cni0}]
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
    module = AnsibleModule(argument_spec=object_argument_spec("link"), supports_check_mode=True)
    run(RunEnvironment(module), make_objects("link"))


if __name__ == "__main__":
    main()
