# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Options naming the node and where it lives: the same as the CLI's `plan`/`apply` flags."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  node:
    description:
      - The name of the Node to work on; it must be one of the spec's nodes.
    type: str
    required: true
  root:
    description:
      - Prefix of every file path the node owns (conflists, BIRD configuration, netwright's
        state and lock), as C(netwright apply --root). Give each simulated node on one machine
        its own.
    type: path
    default: /
  netns:
    description:
      - Work in this named network namespace (under C(/run/netns)) instead of the one the
        module runs in.
      - Not needed with the P(netwright.fabric.netns#connection) connection, whose modules
        already run inside the host's namespace.
    type: str
  underlay:
    description:
      - The node's underlay device, for a target holding none of the node's addresses
        (otherwise the run refuses such a target). Its MTU is read when it exists.
    type: str
  underlay_mtu:
    description:
      - The underlay MTU where no live link says it, 68 to 65535.
    type: int
    default: 1500
  wait_lock:
    description:
      - Seconds to wait for another run on the same target (another play, the node agent)
        to finish before failing, 0 to 3600.
    type: float
    default: 5.0
"""
