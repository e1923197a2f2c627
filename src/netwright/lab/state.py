"""The lab's state file: everything one lab made, recorded as it is made.

Why it exists: `lab down` works from this file, never from a name prefix, so it
removes exactly what `up` made (namespaces, BIRD processes by pid, the state
directory) and nothing that merely looks similar. `up` records each namespace and
process *before* creating it and saves at once, so a crash in the middle still
leaves a file that `down` can clean up from. `status` and `test` read it too.

What it must not do: hold anything a second lab would share (one directory per
lab, `/run/netwright/lab/<name>/`; `/run` is tmpfs, like the namespaces themselves,
so neither outlives a reboot without the other), or be written half (atomic replace).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from netwright._atomic import write_atomic
from netwright.lab import LabError

#: Where every lab keeps its directory; overridable for tests and unusual hosts.
STATE_ROOT = os.environ.get("NETWRIGHT_LAB_DIR", "/run/netwright/lab")
STATE_FILE = "lab.json"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")


def check_name(name: str) -> str:
    """A lab name: it prefixes every namespace, so it stays short and plain."""
    if not _NAME.match(name) or name.endswith("-"):
        raise LabError(
            f"lab name {name!r}: use 1 to 16 lowercase letters, digits and '-' "
            "(it prefixes every namespace the lab makes)"
        )
    return name


def lab_dir(name: str) -> str:
    return os.path.join(STATE_ROOT, check_name(name))


@dataclass(kw_only=True, slots=True)
class Process:
    """A process the lab started (BIRD), known by pid and by its start time."""

    what: str
    netns: str
    pidfile: str
    pid: int | None = None
    #: Field 22 of /proc/<pid>/stat: tells our process from a later one with a reused pid.
    starttime: int | None = None


@dataclass(kw_only=True, slots=True)
class NodeRecord:
    name: str
    netns: str
    ip: str
    blocks: list[str]
    root: str
    #: The node's BIRD control socket ("" when the node runs no BIRD).
    bird_socket: str = ""


@dataclass(kw_only=True, slots=True)
class RouterSession:
    """One session of the top-of-rack BIRD: with which node, as the spec's BGPPeer asks."""

    node: str
    peer: str
    protocol: str
    #: The node's side: the address and AS it speaks from.
    node_ip: str
    node_as: int
    #: The router's side: the BGPPeer's AS.
    router_as: int
    hold_time: int
    keepalive_time: int
    graceful_restart: bool
    restart_time: int
    #: The Secret the password comes from ("namespace/name/key"), never the value.
    password_ref: str = ""


@dataclass(kw_only=True, slots=True)
class Outside:
    """The underlay namespace's own address: the nodes' gateway, top-of-rack router, "internet".

    It has no route to any pool unless its BIRD (started when a BGPPeer's `peerIP`
    is `ip`) learns one.
    """

    ip: str
    #: Why `ip` is not the subnet's first address, when it is not ("" otherwise).
    note: str = ""
    bird_socket: str = ""
    bird_config: str = ""
    bird_log: str = ""
    sessions: list[RouterSession] = field(default_factory=list)


@dataclass(kw_only=True, slots=True)
class PodRecord:
    name: str
    node: str
    netns: str
    container_id: str
    ips: list[str] = field(default_factory=list)
    port_mappings: list[dict[str, Any]] = field(default_factory=list)


@dataclass(kw_only=True, slots=True)
class LabState:
    """One lab. Mutable on purpose: it grows step by step while `up` builds."""

    name: str
    backend: str
    directory: str
    spec: str = ""
    #: building → ready; `down` accepts either.
    phase: str = "building"
    underlay_netns: str = ""
    underlay_prefix: str = ""
    outside: Outside | None = None
    #: Every namespace the lab made, in creation order (recorded before it exists).
    namespaces: list[str] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    nodes: list[NodeRecord] = field(default_factory=list)
    pods: list[PodRecord] = field(default_factory=list)
    #: Seconds per step of `up` (underlay, provision, bird, convergence, pods, total).
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return os.path.join(self.directory, STATE_FILE)

    def node(self, name: str) -> NodeRecord:
        for n in self.nodes:
            if n.name == name:
                return n
        raise LabError(f"lab {self.name}: no node {name}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self) -> None:
        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        write_atomic(self.path, json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LabState:
        return cls(
            name=d["name"],
            backend=d["backend"],
            directory=d["directory"],
            spec=d.get("spec", ""),
            phase=d.get("phase", "building"),
            underlay_netns=d.get("underlay_netns", ""),
            underlay_prefix=d.get("underlay_prefix", ""),
            outside=_outside(d.get("outside")),
            namespaces=list(d.get("namespaces", [])),
            processes=[Process(**p) for p in d.get("processes", [])],
            nodes=[NodeRecord(**n) for n in d.get("nodes", [])],
            pods=[PodRecord(**p) for p in d.get("pods", [])],
            timings=dict(d.get("timings", {})),
        )

    @classmethod
    def load(cls, name: str) -> LabState | None:
        """The lab's state, or None when there is no such lab."""
        path = os.path.join(lab_dir(name), STATE_FILE)
        try:
            with open(path, encoding="utf-8") as stream:
                return cls.from_json(json.load(stream))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise LabError(f"{path}: not a lab state file ({exc})") from exc

    @classmethod
    def require(cls, name: str) -> LabState:
        state = cls.load(name)
        if state is None:
            raise LabError(f"lab {name}: not up (no {os.path.join(lab_dir(name), STATE_FILE)})")
        return state


def _outside(d: dict[str, Any] | None) -> Outside | None:
    if d is None:
        return None
    sessions = [RouterSession(**x) for x in d.get("sessions", [])]
    return Outside(**{**d, "sessions": sessions})
