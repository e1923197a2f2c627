# Copyright: netwright contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Checking listed entries the way Ansible's types cannot, naming each one's path.

Why it exists: the fine-grained modules (`module_utils.objects`) check every entry of
their list (addresses, MACs, interface names, ranges, duplicates) and report all the
problems at once, each as `path: what is wrong`; the target options
(`module_utils.options`) check an interface name the same way. One place says what an
interface name, a MAC address or a network is, so that every module words it alike.

What it must not do: import netwright. These checks run before the guarded import is
consulted, so a wrong entry is reported as such even where netwright is missing.
"""

from __future__ import annotations

import ipaddress
import re


#: The kernel's limit on an interface name, with its terminating NUL.
IFNAMSIZ = 16
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def ifname_problem(value):
    """What is wrong with `value` as an interface name, or None if nothing is."""
    if not 0 < len(value) < IFNAMSIZ or any(c in value for c in "/: \t\n") or value in (".", ".."):
        return (
            f"{value!r} is not an interface name (1 to {IFNAMSIZ - 1} characters,"
            " no '/', ':' or spaces)"
        )
    return None


class Problems(Exception):
    """Entries that cannot be used: one line each, `path: what is wrong`."""

    def __init__(self, lines):
        super().__init__("\n".join(lines))
        self.lines = lines


class EntryCheck:
    """Collects problems with the entries, each prefixed with the entry's path."""

    def __init__(self):
        self.lines = []

    def problem(self, where, text):
        self.lines.append(f"{where}: {text}")

    def ifname(self, where, value):
        if value is not None:
            text = ifname_problem(value)
            if text is not None:
                self.problem(where, text)
        return value

    def ip(self, where, value):
        if value is None:
            return None
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            self.problem(where, f"{value!r} is not an IP address")
            return None

    def network(self, where, value):
        try:
            return ipaddress.ip_network(value)
        except ValueError:
            try:
                loose = ipaddress.ip_network(value, strict=False)
            except ValueError:
                self.problem(where, f"{value!r} is not a network (CIDR)")
            else:
                self.problem(where, f"{value!r} has host bits set; did you mean {loose}?")
            return None

    def mac(self, where, value):
        if value is None:
            return None
        mac = value.lower()
        if not _MAC.match(mac):
            self.problem(where, f"{value!r} is not a MAC address (six hex pairs, colon-separated)")
            return None
        if int(mac[:2], 16) & 1:
            self.problem(where, f"{value} is a multicast MAC address; a unicast one is expected")
        return mac

    def between(self, where, value, low, high):
        if value is not None and not low <= value <= high:
            self.problem(where, f"{value} is out of range; allowed {low} to {high}")

    def unique(self, name, keys):
        seen = {}
        for i, key in enumerate(keys):
            if key is None:
                continue
            if key in seen:
                self.problem(f"{name}[{i}]", f"the same object as {name}[{seen[key]}]")
            else:
                seen[key] = i

    def done(self):
        if self.lines:
            raise Problems(self.lines)
