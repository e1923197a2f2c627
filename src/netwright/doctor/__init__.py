"""`netwright doctor`: the pod-network troubleshooting list, run against one node in one command.

Why it exists: when pod networking breaks, an operator walks the same list by hand
(conflist present, plugins installed, IPAM state, routes, MTU, forwarding, rp_filter,
bridge-nf, BIRD, NAT). `doctor` walks it for them, on a lab node or a real one, and
says for each item PASS, WARN or FAIL, what it measured and what to do.

What it must not do: change anything. It reads the kernel (`ip -json`, the kernel
adapter's sysctl reads, `nft list`), the node's files, host-local's state directory,
BIRD's control socket (`show` commands only), and runs each CNI plugin with
`CNI_COMMAND=VERSION` only; the plan comparison is `netwright plan`'s, in check mode.

Modules: `verdicts` and `node_verdicts` (pure: measured values in, `Check`s out), `gathering` (the
measuring), `running` (which node, then gather, judge, print), `commands` (the
argparse registration; imports nothing heavy).
"""

from __future__ import annotations
