"""The local lab: a whole multi-node pod network in network namespaces, on this machine.

Why it exists: it is the embedded default of `netwright` (no cluster, no cloud) and
the backbone of the end-to-end tests. It builds an underlay switch and N node
namespaces, provisions every node through the normal pipeline and engine, attaches
pods with the real CNI reference plugins, and proves the result works.

What it must not do: touch anything outside its own namespaces and state directory
(the root namespace's links, routes and sysctls are the same before `up` and after
`down`), write into the spec directory it was given, or stop a process it did not
start. Everything it makes is recorded in its state file before or as it is made,
so that `down` can always clean up, even after a failed `up`.

Modules: `state` (the state file), `specdir` (the lab's copy of the spec),
`topology` (namespaces, underlay), `outside` (the underlay's own address and the
top-of-rack BIRD there), `cni` (a small libcni-like runtime), `bird` (one BIRD per
node for bgp), `lifecycle` (`up`/`down`), `checks` (`lab test`, one module per
section), `commands` (the argparse registration; imports nothing heavy).
"""

from __future__ import annotations

from netwright.errors import NetwrightError

__all__ = ["LabError"]


class LabError(NetwrightError):
    """Building, checking or removing the lab failed; the message says what and where."""
