"""The doctor's verdicts on the CNI side: conflist, plugins, host-local; and what a verdict is.

Why it exists apart from the measuring: every threshold and every piece of advice
is decided here (and in `node_verdicts`, for the kernel and BIRD side) from plain
values, so each can be tested without a kernel, and the gathering side stays a
list of reads.

What it must not do: read anything (no files, no kernel, no clock).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from netwright._types import IPAddress, IPNetwork


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    WARN = "WARN"
    FAIL = "FAIL"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, kw_only=True, slots=True)
class Check:
    """One item of the list: its verdict, what was measured, and what to do about it."""

    name: str
    status: Status
    measured: str
    todo: str = ""
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": str(self.status),
            "measured": self.measured,
            "todo": self.todo,
            "details": list(self.details),
        }


def worst(statuses: Iterable[Status]) -> Status:
    order = (Status.PASS, Status.WARN, Status.FAIL)
    return max(statuses, key=order.index, default=Status.PASS)


def plural(n: int, word: str) -> str:
    """`1 plugin`, `2 plugins`; `1 address`, `2 addresses`."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word}{'es' if word.endswith(('s', 'sh', 'ch', 'x')) else 's'}"


# ---------------------------------------------------------------- conflist


@dataclass(frozen=True, kw_only=True, slots=True)
class Conflist:
    """The network configuration a CNI runtime would pick from the node's conf dir."""

    directory: str
    #: Every *.conf, *.conflist and *.json there, sorted as libcni sorts them.
    files: tuple[str, ...] = ()
    #: Why the first file is not a usable conflist (None: it is).
    error: str | None = None
    name: str = ""
    cni_version: str = ""
    #: Plugin types in chain order, then the IPAM types they name.
    plugins: tuple[str, ...] = ()
    #: The conflist netwright writes for this node (None: the plan has none).
    expected: str | None = None


def judge_conflist(c: Conflist) -> Check:
    name = "conflist"
    if not c.files:
        return Check(
            name=name,
            status=Status.FAIL,
            measured=f"{c.directory}: no *.conflist, *.conf or *.json",
            todo="the runtime cannot attach pods; run `netwright apply` for this node",
        )
    first = c.files[0]
    if c.error is not None:
        return Check(
            name=name,
            status=Status.FAIL,
            measured=f"{first}: {c.error}",
            todo="the runtime cannot parse it; run `netwright apply` to rewrite it, "
            "or remove the file if it is not netwright's",
        )
    measured = (
        f"{first}: network {c.name}, cniVersion {c.cni_version}, "
        f"plugins {', '.join(c.plugins) or 'none'}"
    )
    if c.expected is not None and first != c.expected:
        return Check(
            name=name,
            status=Status.FAIL,
            measured=measured,
            todo=f"a runtime uses the first file by name, not netwright's {c.expected}: "
            f"remove or rename {first}",
            details=c.files,
        )
    return Check(name=name, status=Status.PASS, measured=measured, details=c.files[1:])


# ---------------------------------------------------------------- plugins


@dataclass(frozen=True, kw_only=True, slots=True)
class PluginAnswer:
    """One plugin type: where its binary is and what `CNI_COMMAND=VERSION` answered."""

    type: str
    path: str | None  # None: no executable of that name in the plugin directories
    supported: tuple[str, ...] = ()
    error: str | None = None


def plugin_name_error(kind: str) -> str | None:
    """Why `kind` cannot be a plugin `type` (None: it can).

    A type is the name of a file in the plugin directories, never a path: libcni
    refuses a type holding a `/`, so a conflist cannot make the runtime (or the
    doctor, which runs as root) execute a program from anywhere else.
    """
    if kind in {"", ".", ".."} or "/" in kind or "\x00" in kind:
        return "libcni refuses a type that is empty, '.', '..' or holds a '/' (not run)"
    return None


def judge_plugins(cni_version: str, answers: Sequence[PluginAnswer], bin_dir: str) -> Check:
    name = "plugins"
    if not answers:
        return Check(name=name, status=Status.WARN, measured="no conflist, so no plugins to ask")
    bad: list[str] = []
    good: list[str] = []
    invalid = 0
    for a in answers:
        why = plugin_name_error(a.type)
        if why is not None:
            invalid += 1
            bad.append(f"invalid plugin name {a.type!r}: {why}")
        elif a.path is None:
            bad.append(f"{a.type}: not installed in {bin_dir}")
        elif a.error is not None:
            bad.append(f"{a.type} ({a.path}): {a.error}")
        elif cni_version and cni_version not in a.supported:
            bad.append(
                f"{a.type} ({a.path}): does not speak cniVersion {cni_version} "
                f"(supports {', '.join(a.supported) or 'nothing'})"
            )
        else:
            good.append(f"{a.type} ({a.path}): supports {', '.join(a.supported)}")
    if bad:
        install = (
            "install the CNI plugins (Debian: apt-get install containernetworking-plugins, "
            "into /usr/lib/cni) or point --cni-bin-dir at the directory the runtime uses"
        )
        fix = "fix the conflist: a plugin `type` is a file name in --cni-bin-dir, never a path"
        return Check(
            name=name,
            status=Status.FAIL,
            measured="; ".join(bad),
            todo=install if not invalid else fix if invalid == len(bad) else f"{fix}; {install}",
            details=tuple(good),
        )
    return Check(
        name=name,
        status=Status.PASS,
        measured=f"{plural(len(good), 'plugin')} answer VERSION for cniVersion {cni_version}",
        details=tuple(good),
    )


# ---------------------------------------------------------------- host-local IPAM


@dataclass(frozen=True, kw_only=True, slots=True)
class Reservation:
    """One file of host-local's data directory: an address and who holds it."""

    ip: IPAddress
    container_id: str
    ifname: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Ipam:
    data_dir: str
    blocks: tuple[IPNetwork, ...]
    reservations: tuple[Reservation, ...] = ()
    #: Addresses held by a network namespace whose veth is on one of the node's bridges.
    held: frozenset[IPAddress] = frozenset()
    #: Bridge ports whose peer namespace has no name, so its addresses cannot be read.
    unreadable: int = 0
    #: host-local's type is not used (no host-local in the conflist).
    used: bool = True


def _capacity(block: IPNetwork) -> int:
    """What host-local can hand out in a block: all but network, gateway (and broadcast)."""
    reserved = 3 if block.version == 4 else 2
    return max(block.num_addresses - reserved, 0)


def judge_ipam(i: Ipam) -> Check:
    name = "ipam"
    if not i.used:
        return Check(name=name, status=Status.PASS, measured="the conflist uses no host-local IPAM")
    # One pass over the reservations (there may be tens of thousands), a few blocks each.
    count = dict.fromkeys(i.blocks, 0)
    leaked: list[Reservation] = []
    outside: list[Reservation] = []
    for r in i.reservations:
        inside = [b for b in count if r.ip in b]
        if not inside:
            outside.append(r)
            continue
        for b in inside:
            count[b] += 1
        if r.ip not in i.held:
            leaked.append(r)
    full = [b for b in count if count[b] >= _capacity(b)]
    used = ", ".join(f"{b}: {count[b]} of {_capacity(b)} used" for b in count)
    measured = f"{i.data_dir}: {used or 'no blocks for this node'}"
    details = [
        f"{r.ip} reserved for container {r.container_id} ({r.ifname or '?'}): "
        "no pod namespace on this node holds it"
        for r in leaked
    ]
    details += [
        f"{r.ip} reserved for container {r.container_id}: outside the node's blocks"
        for r in outside
    ]
    if full:
        return Check(
            name=name,
            status=Status.FAIL,
            measured=measured,
            todo=f"block {', '.join(str(b) for b in full)} is exhausted: new pods get no address;"
            " remove the leaked reservations listed (after making sure their pods are gone)",
            details=tuple(details),
        )
    if leaked and i.unreadable:
        return Check(
            name=name,
            status=Status.WARN,
            measured=f"{measured}; {plural(len(leaked), 'address')} not found in any pod, but"
            f" {plural(i.unreadable, 'bridge port')} lead to unnamed namespaces",
            todo="check those reservations against the runtime's pods (crictl pods)",
            details=tuple(details),
        )
    if leaked or outside:
        what = []
        if leaked:
            what.append(f"{plural(len(leaked), 'leaked address')} (no pod holds them)")
        if outside:
            what.append(f"{plural(len(outside), 'reservation')} outside the node's blocks")
        return Check(
            name=name,
            status=Status.WARN,
            measured=f"{measured}; {', '.join(what)}",
            todo=f"a runtime skipped CNI DEL: delete those files from {i.data_dir} "
            "(each is named by its address) once their containers are confirmed gone",
            details=tuple(details),
        )
    return Check(
        name=name,
        status=Status.PASS,
        measured=f"{measured}; every reservation is held by a pod",
    )


def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
