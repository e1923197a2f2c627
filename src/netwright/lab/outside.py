"""The lab's outside: one address in the underlay namespace, and the top-of-rack BIRD there.

Why it exists: without it nothing in the lab answers outside the pools, so NAT
outgoing, external BGP peers, their passwords, timers and graceful restart would
never meet a real packet or a real peer. The underlay namespace `<lab>-ul` gets an
address on its switch `br0` (the subnet's first address, unless a node holds it:
then the last one that no node holds) that acts as the nodes' default gateway, the
top-of-rack router and "the internet" at once. It has no route to any pool unless
it learns one by BGP.

When the spec has a BGPPeer whose `peerIP` is that address, the lab runs BIRD 2 in
`<lab>-ul` as the router the nodes peer with: the peer's AS, the password from the
spec's Secret (TCP MD5), its hold and keepalive times, graceful restart as the
nodes' side announces it, and every route learned exported to the namespace's
kernel table (so `ip -n <lab>-ul route` shows what the router knows). Which nodes
open a session is read from each node's rendered BIRD configuration, the
renderer's answer to the BGPPeer's `nodeSelector`.

What it must not do: write the password anywhere but the router's configuration
(mode 0600, in the lab's state directory), show it in what it returns or says, or
export anything to the nodes (the router only listens: `export none`).
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING

from netwright._atomic import write_atomic
from netwright.lab import LabError, bird
from netwright.lab.state import Outside, Process, RouterSession

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from netwright.lab.state import LabState, NodeRecord
    from netwright.pipeline import Pipeline

#: The router's connect delay and retry (BIRD's defaults, 5 s and 120 s, would
#: dominate every bring-up and every session the checks take down on purpose).
CONNECT_DELAY = 1
CONNECT_RETRY = 2
CONFIG_MODE = 0o600


def choose_address(
    prefix: ipaddress.IPv4Network, taken: Collection[ipaddress.IPv4Address]
) -> tuple[ipaddress.IPv4Address, str]:
    """The outside address: the subnet's first, or its last free one when a node has the first."""
    hosts = list(prefix.hosts())
    first = hosts[0]
    if first not in taken:
        return first, ""
    for candidate in reversed(hosts):
        if candidate not in taken:
            return candidate, f"{first} is a node's address, so the outside is {candidate}"
    raise LabError(f"the underlay {prefix} has no address left for the outside")


def router_sessions(
    pipeline: Pipeline, nodes: Sequence[NodeRecord], configs: Mapping[str, str], outside: str
) -> list[RouterSession]:
    """One session per node whose rendered BIRD config opens one to a BGPPeer at `outside`."""
    address = ipaddress.ip_address(outside)
    peers = [p for p in pipeline.spec.cluster.peers if p.peer_ip == address]
    backends = [b.bgp for b in pipeline.spec.cluster.backends if b.bgp is not None]
    sessions: list[RouterSession] = []
    for peer in sorted(peers, key=lambda p: p.name):
        for n in nodes:
            text = configs.get(n.name, "")
            if f"neighbor {outside} as {peer.as_number};" not in text:
                continue
            node_as = _local_as(text, outside)
            if node_as is None:
                node_as = backends[0].as_number if backends else peer.as_number
            gr = peer.graceful_restart
            sessions.append(
                RouterSession(
                    node=n.name,
                    peer=peer.name,
                    protocol=_symbol(f"n_{n.name}_{peer.name}"),
                    node_ip=n.ip,
                    node_as=node_as,
                    router_as=peer.as_number,
                    hold_time=peer.hold_time,
                    keepalive_time=peer.keepalive_time,
                    graceful_restart=gr.enabled,
                    restart_time=gr.restart_time if gr.enabled else 0,
                    password_ref=str(peer.password_ref) if peer.password_ref else "",
                )
            )
    return sessions


def _local_as(text: str, outside: str) -> int | None:
    """The AS a node's config speaks from in its session to `outside` (`local X as N;`)."""
    blocks = text.split("protocol bgp ")
    for block in blocks[1:]:
        if f"neighbor {outside} as " not in block:
            continue
        for line in block.splitlines():
            words = line.split()
            if len(words) == 4 and words[0] == "local" and words[2] == "as":
                return int(words[3].rstrip(";"))
    return None


def _symbol(text: str) -> str:
    clean = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    return clean[:60]


def passwords(pipeline: Pipeline) -> dict[str, str]:
    """Secret values by reference ("namespace/name/key"), for the router's config alone."""
    return {str(ref): value.reveal() for ref, value in pipeline.spec.cluster.secrets.items()}


def router_config(
    outside: Outside, secrets: Mapping[str, str], *, wrong: Mapping[str, str] | None = None
) -> str:
    """The router's BIRD configuration; `wrong` replaces the password of these protocols."""
    lines = [
        "# Written by `netwright lab`: the lab's top-of-rack router. Holds BGP passwords (0600).",
        f'log "{outside.bird_log}" all;',
        f"router id {outside.ip};",
        "protocol device { scan time 10; }",
        "# Every route learned from the nodes goes to this namespace's kernel table.",
        "protocol kernel tor_kernel { ipv4 { import none; export all; }; }",
    ]
    for s in outside.sessions:
        lines += [
            f"protocol bgp {s.protocol} {{",
            f'  description "node {s.node}, BGPPeer {s.peer}";',
            f"  local {outside.ip} as {s.router_as};",
            f"  neighbor {s.node_ip} as {s.node_as};",
            *(["  direct;"] if s.node_as == s.router_as else []),
            f"  connect delay time {CONNECT_DELAY};",
            f"  connect retry time {CONNECT_RETRY};",
            f"  hold time {s.hold_time};",
            *([f"  keepalive time {s.keepalive_time};"] if s.hold_time else []),
            f"  graceful restart {'on' if s.graceful_restart else 'off'};",
        ]
        password = (wrong or {}).get(s.protocol) or secrets.get(s.password_ref)
        if s.password_ref and password is None:
            raise LabError(
                f"BGPPeer {s.peer}: passwordSecretRef {s.password_ref} names no Secret key "
                "in the spec"
            )
        if password is not None:
            # BIRD 2's string literal is `"[^"\n]*"`: no escapes, so these cannot be said.
            if '"' in password or "\n" in password:
                raise LabError(
                    f"BGPPeer {s.peer}: the password in {s.password_ref} holds a '\"' or a line "
                    "break, which a BIRD 2 configuration cannot hold"
                )
            lines.append(f'  password "{password}";')
        lines += ["  ipv4 { import all; export none; };", "}"]
    return "\n".join(lines) + "\n"


def write_config(outside: Outside, text: str) -> None:
    write_atomic(outside.bird_config, text, mode=CONFIG_MODE, durable=False)


def start_router(
    state: LabState, pipeline: Pipeline, configs: Mapping[str, str], say: Callable[[str], None]
) -> Process | None:
    """Start the top-of-rack BIRD when a BGPPeer's peerIP is the outside; None when none is."""
    outside = state.outside
    if outside is None:
        return None
    outside.sessions = router_sessions(pipeline, state.nodes, configs, outside.ip)
    if not outside.sessions:
        others = [
            f"{p.name} ({p.peer_ip})"
            for p in pipeline.spec.cluster.peers
            if p.peer_ip is not None and p.peer_ip != ipaddress.ip_address(outside.ip)
        ]
        if others:
            say(
                f"  no router for BGPPeer {', '.join(others)}: the lab's outside is {outside.ip}, "
                "so those sessions stay down"
            )
        return None
    here = os.path.join(state.directory, "outside")
    os.makedirs(here, mode=0o700, exist_ok=True)
    outside.bird_config = os.path.join(here, "bird.conf")
    outside.bird_socket = os.path.join(here, "bird.ctl")
    outside.bird_log = os.path.join(here, "bird.log")
    write_config(outside, router_config(outside, passwords(pipeline)))
    proc = Process(
        what="bird outside", netns=state.underlay_netns, pidfile=os.path.join(here, "bird.pid")
    )
    state.processes.append(proc)
    state.save()
    return bird.launch(state, proc, config=outside.bird_config, socket=outside.bird_socket)


def node_process(state: LabState, node: str) -> Process | None:
    return next((p for p in state.processes if p.what == f"bird {node}"), None)
