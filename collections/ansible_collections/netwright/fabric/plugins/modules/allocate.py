#!/usr/bin/python
# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: allocate
short_description: Validate a netwright spec and keep its IPBlock allocations in ipblocks.yaml
version_added: 0.1.0
description:
  - Validates the whole spec directory (schema and cross-object checks, as C(netwright validate))
    and allocates a block of every pool to every node the pool selects, as
    C(netwright allocate --write) does. Existing blocks never move; blocks of nodes that are
    gone are freed.
  - Writes C(ipblocks.yaml) at the top of O(spec_dir), whole and sorted, only when its content
    differs; no other file is ever written. Run it once, on the control node
    (with C(run_once=true) and C(delegate_to=localhost)), before M(netwright.fabric.node).
  - An invalid spec fails the task with exactly the lines C(netwright validate) prints, one per
    problem, and writes nothing.
author:
  - netwright maintainers (@netwright)
requirements:
  - netwright (the Python package) where the module runs
extends_documentation_fragment:
  - netwright.fabric.spec
attributes:
  check_mode:
    support: full
    description: Writes nothing; C(changed) says whether C(ipblocks.yaml) would change.
  diff_mode:
    support: full
    description: The old and the new text of C(ipblocks.yaml).
  platform:
    support: full
    platforms: posix
    description: Any POSIX control node with the netwright package; reads and writes files only.
seealso:
  - module: netwright.fabric.node
"""

EXAMPLES = r"""
- name: Allocate once for the whole spec, on the control node
  netwright.fabric.allocate:
    spec_dir: "{{ netwright_spec_dir }}"
  run_once: true
  delegate_to: localhost

- name: Nodes from the inventory (the spec directory holds none)
  netwright.fabric.allocate:
    spec_dir: "{{ netwright_spec_dir }}"
    nodes: "{{ groups['nodes'] | map('extract', hostvars) | map(attribute='netwright_node_entry') | list }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
changed:
  description: C(ipblocks.yaml) was rewritten (check mode, would be).
  returned: always
  type: bool
path:
  description: The allocation file.
  returned: success
  type: str
  sample: /srv/gitops/network/ipblocks.yaml
blocks:
  description: Every block after allocating, sorted by pool, then address.
  returned: success
  type: list
  elements: dict
  sample: [{pool: pods-v4, cidr: 10.244.1.0/24, node: n1}]
added:
  description: Blocks new in this allocation.
  returned: success
  type: list
  elements: dict
freed:
  description: Blocks freed because their node is gone.
  returned: success
  type: list
  elements: dict
nodes:
  description: The spec's node names.
  returned: success
  type: list
  elements: str
issues:
  description: On an invalid spec, every problem, one line each, as C(netwright validate) prints them.
  returned: failure
  type: list
  elements: str
error:
  description: Why the task failed (C(invalid), C(os) when C(ipblocks.yaml) cannot be written, C(netwright), C(argument), C(missing_library)).
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netwright.fabric.plugins.module_utils.actions import allocate_blocks, run
from ansible_collections.netwright.fabric.plugins.module_utils.environment import RunEnvironment
from ansible_collections.netwright.fabric.plugins.module_utils.options import SPEC_OPTIONS


def main():
    module = AnsibleModule(argument_spec=SPEC_OPTIONS, supports_check_mode=True)
    run(RunEnvironment(module), allocate_blocks)


if __name__ == "__main__":
    main()
