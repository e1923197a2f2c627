# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Options of the fine-grained modules naming where their objects go (no node, no spec)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  root:
    description:
      - Prefix of every file path netwright owns on this host (conflists, BIRD configuration,
        netwright's state file and lock), as C(netwright apply --root). Use the node's own,
        so that these objects and M(netwright.fabric.node) share one record of what netwright
        owns and one lock.
    type: path
    default: /
  netns:
    description:
      - Work in this named network namespace (under C(/run/netns)) instead of the one the
        module runs in.
      - Not needed with the P(netwright.fabric.netns#connection) connection.
    type: str
  wait_lock:
    description:
      - Seconds to wait for another run on the same target (another task, a play running
        M(netwright.fabric.node), the node agent) to finish before failing, 0 to 3600.
    type: float
    default: 5.0
notes:
  - Only objects netwright owns are changed or removed, that is routes and nexthop objects of
    protocol 211, links carrying netwright's C(ifalias), neighbour and fdb entries on those
    VXLAN links, the nft table C(inet netwright), and the files netwright's state file
    (under O(root)) records. A foreign object where a listed one must go fails the task,
    naming it, and nothing at all is changed.
  - Failures carry RV(error), one of C(argument) (an entry is wrong; every wrong entry is
    listed in RV(issues)), C(conflict), C(failed) (some changes failed, listed in
    RV(applied)), C(lock_busy), C(kernel), C(netwright), C(missing_library).
"""
