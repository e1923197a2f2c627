# Copyright: netwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# (GPLv3, unlike the rest of netwright: it subclasses ansible-core's local connection.)
"""Run a host's tasks inside a named network namespace on the control machine.

Why it exists: a namespace is a real kernel network stack without a VM, so playbooks,
Molecule and the e2e tests provision real links, routes and fdb entries on namespace
hosts with the very modules that run over ssh in production.

What it must not do: pretend to isolate files. Only the network namespace changes;
file transfer is the local connection's (one file system), so each namespace host
needs its own `netwright_root`.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: netns
short_description: Run tasks inside a network namespace of the control machine
version_added: 0.1.0
description:
  - Runs every command of a host under C(ip netns exec NAME), where NAME is the host's
    O(netns_name) (by default its C(ansible_host), else its inventory name), so an inventory
    host can be a named network namespace (C(ip netns add NAME)) on the control machine.
  - Everything else is the P(ansible.builtin.local#connection) connection, file transfer
    included, since a network namespace shares the control machine's file system. Give each
    namespace host its own C(netwright_root), so that their files do not collide.
  - Needs root (or C(CAP_SYS_ADMIN)) on the control machine, and C(ip) from iproute2.
author:
  - netwright maintainers (@netwright)
extends_documentation_fragment:
  - connection_pipelining
options:
  netns_name:
    description:
      - The network namespace to run in, a name under C(/run/netns).
    type: str
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_netns_name
  ip_executable:
    description:
      - The iproute2 C(ip) command that enters the namespace.
    type: str
    default: ip
    vars:
      - name: ansible_netns_ip_executable
"""

import shlex

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.connection.local import Connection as LocalConnection
from ansible.utils.display import Display

display = Display()


class Connection(LocalConnection):
    """The local connection, with each command entering the host's network namespace."""

    transport = "netwright.fabric.netns"

    def _netns_command(self, cmd):
        name = self.get_option("netns_name")
        if not name or "/" in name or name in (".", ".."):
            raise AnsibleConnectionFailure(f"netns: {name!r} is not a network namespace name")
        ip = self.get_option("ip_executable")
        wrapped = f"{shlex.quote(ip)} netns exec {shlex.quote(name)} /bin/sh -c {shlex.quote(cmd)}"
        display.vvv(f"NETNS {name}: {cmd}", host=name)
        return wrapped

    def exec_command(self, cmd, in_data=None, sudoable=True):
        return super().exec_command(self._netns_command(cmd), in_data=in_data, sudoable=sudoable)
