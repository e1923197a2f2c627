"""Device and file names: what the kernel refuses, and what is taken already.

A bridge or tunnel named in a spec becomes a real device, and a conflist name a
real file: a name the kernel refuses, or one that is a kernel or netwright
device already, breaks a node rather than fails a check. `validate` refuses
such names in a spec, and `render` applies the same rules to the names it
derives, so both read them from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping


#: Linux's IFNAMSIZ (16) less its terminating NUL.
IFNAME_MAX_BYTES = 15
#: Prefixes of the tunnel devices netwright derives (`render`: `nwvx.<vni>`,
#: `nwip.<hash>`, `nwwg.<hash>`); no spec may name another device so.
TUNNEL_PREFIXES = ("nwvx.", "nwip.", "nwwg.")
#: Devices the kernel creates by itself: `lo` in every namespace, and the
#: fallback device each tunnel module registers when it loads. A bridge holding
#: one of these names makes that module fail to load.
_KERNEL_DEVICES: Mapping[str, str] = {
    "lo": "loopback device",
    "tunl0": "ipip fallback device",
    "sit0": "sit fallback device",
    "ip6tnl0": "ip6_tunnel fallback device",
    "gre0": "gre fallback device",
    "gretap0": "gre fallback device",
    "erspan0": "gre fallback device",
    "ip6gre0": "ip6_gre fallback device",
    "ip_vti0": "vti fallback device",
    "ip6_vti0": "vti6 fallback device",
}
#: Names a device cannot take because sysctl already has a directory of that name
#: (`net.ipv4.conf.all`, `net.ipv6.conf.default`, ...): registering it fails.
_SYSCTL_NAMES = frozenset({"all", "default"})


def interface_name_problem(name: str) -> str | None:
    """What the kernel (`dev_valid_name`, net/core/dev.c) refuses in a device name, or None.

    Also `%`, which `dev_alloc_name` expands as a number template, and `all` /
    `default`, which collide with sysctl's per-device directories.
    """
    size = len(name.encode())
    if size == 0:
        return "is empty"
    if size > IFNAME_MAX_BYTES:
        return f"is {size} bytes long"
    if name in (".", ".."):
        return "is a path component"
    bad = sorted({c for c in name if c in "/:%" or c.isspace()})
    if bad:
        return "contains " + ", ".join(repr(c) for c in bad)
    if name in _SYSCTL_NAMES:
        return f"is the name of sysctl's net.ipv4.conf.{name} directory"
    return None


def interface_name_rule() -> str:
    """What a device name may be, for messages."""
    return (
        f"a device name is 1 to {IFNAME_MAX_BYTES} bytes without '/', ':', '%' or whitespace, "
        "and not '.', '..', 'all' or 'default'"
    )


def reserved_device(name: str) -> str | None:
    """Whose device `name` already is (the kernel's or netwright's own), or None."""
    kernel = _KERNEL_DEVICES.get(name)
    if kernel is not None:
        return f"the kernel's {kernel}"
    if name.startswith(TUNNEL_PREFIXES):
        return (
            "in netwright's tunnel device names ("
            + ", ".join(p + "*" for p in TUNNEL_PREFIXES)
            + ")"
        )
    return None


def file_name_problem(name: str) -> str | None:
    """Why `name` is not a plain file name inside its directory, or None."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        return f"{name!r} is not a plain file name: it would land outside the node's directory"
    return None
