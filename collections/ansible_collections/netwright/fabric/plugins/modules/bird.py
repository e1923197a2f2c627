#!/usr/bin/python
# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: bird
short_description: Manage the BIRD configuration netwright owns, and reload BIRD
version_added: 0.2.0
description:
  - >-
    Writes BIRD's configuration to C(<root>/etc/bird/bird.conf) (mode 0640, owner root, group
    bird) and, when it changed, has BIRD load it through its control socket
    C(<root>/run/bird/bird.ctl) (C(birdc configure)), as M(netwright.fabric.node) does for the
    C(bgp) backend.
  - >-
    A changed file whose reload fails (BIRD not running) fails the task; the reload is retried by
    the next run.
  - >-
    The file is one object, so there is no purge.
author:
  - netwright maintainers (@netwright)
requirements:
  - netwright (the Python package, with pyroute2) on the managed node
  - root on the managed node
extends_documentation_fragment:
  - netwright.fabric.objects
options:
  config:
    description:
      - The configuration text (a final newline is added when missing); required with O(state=present).
    type: str
  state:
    description:
      - V(present) writes O(config) and reloads BIRD when it changed; V(absent) removes the file if netwright wrote it (BIRD is not told).
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    description: Observes and plans only; C(changed) says whether changes are pending.
  diff_mode:
    support: full
    description: The file as found and as it will be written.
  platform:
    support: full
    platforms: linux
    description: Linux only (netlink, network namespaces, nftables).
seealso:
  - module: netwright.fabric.node
"""

EXAMPLES = r"""
- name: BIRD's configuration from a template
  netwright.fabric.bird:
    config: "{{ lookup('template', 'bird.conf.j2') }}"
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
  sample: [{op: change, kind: file, key: /etc/bird/bird.conf}, {op: change, kind: bird, key: /run/bird/bird.ctl}]
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
    module = AnsibleModule(argument_spec=object_argument_spec("bird"), supports_check_mode=True)
    run(RunEnvironment(module), make_objects("bird"))


if __name__ == "__main__":
    main()
