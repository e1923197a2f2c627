"""Where a node's files live, below its root: conflists, BIRD's configuration and socket.

One place for the paths that render writes into a node's configuration and
that plan, the agent and the Ansible collection read back, so they cannot
drift apart. `under` joins them to a node's root (`--root`), refusing any path
that would climb out of it.
"""

from __future__ import annotations

from netwright.errors import Issue, ValidationError

CNI_DIR = "etc/cni/net.d"
CNI_DATA_DIR = "var/lib/cni/networks"
BIRD_CONFIG = "etc/bird/bird.conf"
BIRD_SOCKET = "run/bird/bird.ctl"
BIRD_LOG = "var/log/bird/bird.log"


def under(root: str, relative: str) -> str:
    """`relative` below the node's root (`--root`); `/` keeps the system paths.

    A `..` component would climb out of the root: `validate` refuses every spec
    value that could produce one, and this refuses it again where paths are made.
    """
    if ".." in relative.split("/"):
        raise ValidationError(
            [Issue(message=f"{relative} would land outside the node's root {root}")]
        )
    return root.rstrip("/") + "/" + relative.lstrip("/")
