# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Options naming the spec: `spec_dir`, and inventory Nodes where it holds none."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  spec_dir:
    description:
      - The spec directory (a GitOps repository or part of one) on the host the module runs on.
      - Every C(*.yaml) and C(*.yml) file under it is read, as by C(netwright validate DIR);
        IPBlock allocations live in its C(ipblocks.yaml).
    type: path
    required: true
  nodes:
    description:
      - v1 Nodes defined by the inventory, used only when O(spec_dir) holds no Node document
        (a warning says so when it does, and they are ignored).
      - "A problem in one of them is reported as C(nodes[i]: Node/NAME: ...)."
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The node's name, as in the spec (usually the inventory hostname).
        type: str
        required: true
      ip:
        description: The node's InternalIP addresses; the first of each family is its address.
        type: list
        elements: str
        required: true
      labels:
        description: The node's labels, matched by the spec's C(nodeSelector)s.
        type: dict
        default: {}
"""
