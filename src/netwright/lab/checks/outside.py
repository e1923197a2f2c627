"""`lab test`, the outside: NAT outgoing, and the top-of-rack router's sessions and routes.

Why it exists: NAT outgoing, external BGP peers, their passwords, timers and
graceful restart only show what they do against something outside the pools
(`netwright.lab.outside`). What the outside's kernel sees is measured there:

- NAT outgoing: a pod connects to a listener on the outside address; the address
  the listener's accept() returns must be the pod's node, and the connection only
  works because of that (the outside has no route to the pools without BGP). Pod
  to pod across nodes, the peer seen must be the pod itself (not masqueraded);
- the router: each session Established with the negotiated hold time the spec
  asks for, and its kernel table holding every peering node's blocks via that node;
- a wrong password keeps a session down: the router's side is reconfigured with a
  random password for one session, which must not come up while the kernel counts
  TCP MD5 failures (`TCPMD5Failure`), and comes back once the right one is restored;
- graceful restart: one node's BIRD leaves with `graceful restart` (on its control socket); the
  router must keep that node's routes for the restart time the node announced (and
  drop them once it is over), and take the node back when it restarts with `-R`.

What it must not do: print or write the password (only the router's 0600 config
holds it; the wrong one is random and written there too), or leave a session,
process or route changed: each check that disturbs the lab restores it and waits
until BGP has converged again.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import time
from typing import TYPE_CHECKING

from netwright.lab import bird, outside
from netwright.lab._proc import ip_json, ns_run
from netwright.lab.checks.results import FAIL
from netwright.lab.checks.traffic import tcp_probe, v4

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from netwright.lab.checks.results import Recorder
    from netwright.lab.state import LabState, NodeRecord
    from netwright.model.state import NodeState
    from netwright.pipeline import Pipeline

#: Ports of the listeners the NAT checks open (in the outside, and in a pod).
OUTSIDE_PORT, POD_PORT = 15301, 15302
#: How long a session with a wrong password is watched (the router retries every 2 s).
WRONG_PASSWORD_WINDOW = 4.0
RECONVERGE_TIMEOUT = 30.0
_HOLD = re.compile(r"Hold timer:\s+[\d.]+/(\d+)")
_KEEPALIVE = re.compile(r"Keepalive timer:\s+[\d.]+/(\d+)")


# ---------------------------------------------------------------- NAT outgoing


def nat(r: Recorder, state: LabState, pipeline: Pipeline) -> None:
    """Pods reach the outside as their node; pod-to-pod keeps the pod's own address."""
    if state.outside is None:
        return
    masq = [p.cidr for p in pipeline.spec.cluster.pools if p.nat_outgoing]
    for i, n in enumerate(state.nodes):
        pod = next((p for p in state.pods if p.node == n.name and p.ips), None)
        if pod is None:
            continue
        ip = ipaddress.ip_address(v4(pod))
        if ip.version != 4 or not any(ip in c for c in masq):
            continue
        name = f"nat outgoing {pod.name} -> outside"
        try:
            seen, reply, took = tcp_probe(
                state.underlay_netns,
                state.outside.ip,
                OUTSIDE_PORT,
                client_netns=pod.netns,
                dst=state.outside.ip,
                dst_port=OUTSIDE_PORT,
            )
        except OSError as exc:
            r.add(FAIL, name, f"{ip} -> {state.outside.ip}:{OUTSIDE_PORT}: {exc}")
            continue
        r.verdict(
            seen == n.ip and reply == b"netwright lab",
            name,
            f"{ip} -> {state.outside.ip}:{OUTSIDE_PORT}: the outside saw {seen} "
            f"(node {n.name} is {n.ip}), round trip {took:.1f} ms",
        )
        other = state.nodes[(i + 1) % len(state.nodes)]
        peer = next((p for p in state.pods if p.node == other.name and p.ips), None)
        if peer is None or other is n:
            continue
        name = f"no nat pod to pod {pod.name} -> {peer.name}"
        try:
            seen, reply, took = tcp_probe(
                peer.netns,
                "0.0.0.0",  # noqa: S104 - inside the pod's namespace
                POD_PORT,
                client_netns=pod.netns,
                dst=v4(peer),
                dst_port=POD_PORT,
            )
        except OSError as exc:
            r.add(FAIL, name, f"{ip} -> {v4(peer)}:{POD_PORT}: {exc}")
            continue
        r.verdict(
            seen == str(ip) and reply == b"netwright lab",
            name,
            f"{ip} -> {v4(peer)}:{POD_PORT}: {peer.name} saw {seen} (the pod itself, "
            f"not node {n.ip}), round trip {took:.1f} ms",
        )


# ---------------------------------------------------------------- the router


def _router_routes(state: LabState) -> dict[str, str]:
    return {
        x["dst"]: str(x.get("gateway", ""))
        for x in ip_json(state.underlay_netns, "route", "show", "proto", "bird")
    }


def _states(socket: str) -> dict[str, str]:
    return {s.name: s.info for s in bird.sessions(socket)}


def state_word(info: str) -> str:
    """The first word of a BGP protocol's info column (`Established`, `Active`, ...), or `?`.

    The column is empty while BIRD reconfigures the protocol (it shows `down`).
    """
    return (info.split() or ["?"])[0]


def _md5_failures(netns: str) -> int:
    """TcpExt TCPMD5Failure of `netns` (/proc/net/netstat is per namespace)."""
    text = ns_run(netns, "cat", "/proc/net/netstat").stdout.splitlines()
    for names, values in zip(text[::2], text[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("TCPMD5Failure", 0))
    return 0


def router(r: Recorder, state: LabState) -> None:
    """Sessions Established with the spec's timers; every peering node's blocks in its kernel."""
    o = state.outside
    if o is None or not o.sessions:
        return
    states = _states(o.bird_socket)
    routes = _router_routes(state)
    for s in o.sessions:
        node = state.node(s.node)
        info = states.get(s.protocol, "no such protocol")
        detail = bird.protocol_detail(o.bird_socket, s.protocol)
        hold = _HOLD.search(detail)
        keep = _KEEPALIVE.search(detail)
        timers = (
            f"hold {hold.group(1) if hold else '?'} s, keepalive {keep.group(1) if keep else '?'} s"
        )
        want_timers = f"hold {s.hold_time} s, keepalive {s.keepalive_time} s"
        r.verdict(
            info.startswith("Established") and timers == want_timers,
            f"router session {s.node}",
            f"{s.protocol} AS {s.router_as} <-> {node.ip} AS {s.node_as}: {info}, "
            f"negotiated {timers} (spec: {want_timers}), "
            f"password {'from ' + s.password_ref if s.password_ref else 'none'}",
        )
    for node_name in sorted({s.node for s in o.sessions}):
        node = state.node(node_name)
        wrong = {b: routes.get(b) for b in node.blocks if routes.get(b) != node.ip}
        r.verdict(
            not wrong,
            f"router routes {node_name}",
            f"{o.ip}'s kernel: {', '.join(f'{b} via {routes.get(b)}' for b in node.blocks)}"
            + (f"; want via {node.ip}" if wrong else ""),
        )


def _wait(predicate: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until `predicate()` held, polled every 50 ms; None after `timeout`."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if predicate():
            return time.perf_counter() - started
        time.sleep(0.05)
    return None


def wrong_password(r: Recorder, state: LabState, pipeline: Pipeline) -> None:
    """One session with a random wrong password on the router's side stays down."""
    o = state.outside
    if o is None:
        return
    s = next((x for x in o.sessions if x.password_ref), None)
    if s is None:
        return
    node = state.node(s.node)
    name = f"router wrong password {s.node}"
    right = outside.passwords(pipeline)
    before = _md5_failures(state.underlay_netns) + _md5_failures(node.netns)
    outside.write_config(
        o, outside.router_config(o, right, wrong={s.protocol: secrets.token_hex(12)})
    )
    try:
        bird.configure(o.bird_socket)
        # The reconfigured protocol restarts asynchronously: watch from when it went down.
        went_down = _wait(
            lambda: not _states(o.bird_socket).get(s.protocol, "").startswith("Established"),
            RECONVERGE_TIMEOUT,
        )
        seen: set[str] = set() if went_down is not None else {"Established"}
        started = time.perf_counter()
        while time.perf_counter() - started < WRONG_PASSWORD_WINDOW:
            seen.add(state_word(_states(o.bird_socket).get(s.protocol, "")))
            time.sleep(0.2)
        failures = _md5_failures(state.underlay_netns) + _md5_failures(node.netns) - before
    finally:
        outside.write_config(o, outside.router_config(o, right))
        bird.configure(o.bird_socket)
    back = _wait(
        lambda: (
            _states(o.bird_socket).get(s.protocol, "").startswith("Established")
            and set(node.blocks) <= set(_router_routes(state))
        ),
        RECONVERGE_TIMEOUT,
    )
    r.verdict(
        "Established" not in seen and failures > 0 and back is not None,
        name,
        f"for {WRONG_PASSWORD_WINDOW:.0f} s with a wrong password the session was "
        f"{'/'.join(sorted(seen))}; kernels counted {failures} TCP MD5 failures; "
        + (
            f"with the right one Established again and routes back in {back:.2f} s"
            if back is not None
            else f"NOT Established again within {RECONVERGE_TIMEOUT:.0f} s"
        ),
    )


def graceful_restart(
    r: Recorder,
    state: LabState,
    plans: Mapping[str, NodeState],
    expected: Mapping[str, set[str]],
) -> None:
    """The router keeps a restarting node's routes for the restart time it announced."""
    o = state.outside
    if o is None:
        return
    s = next((x for x in reversed(o.sessions) if x.graceful_restart), None)
    if s is None:
        return
    node = state.node(s.node)
    proc = outside.node_process(state, s.node)
    control = plans[s.node].bird
    name = f"router graceful restart {s.node}"
    if proc is None or control is None:
        r.add(FAIL, name, f"node {s.node} runs no BIRD the lab started")
        return
    if not set(node.blocks) <= set(_router_routes(state)):
        r.add(FAIL, name, f"before the restart the router lacks {', '.join(node.blocks)}")
        return
    bird.graceful_restart_stop(proc, control.socket)
    t0 = time.perf_counter()
    limit = s.restart_time + 5.0
    try:
        while time.perf_counter() - t0 < limit and set(node.blocks) & set(_router_routes(state)):
            time.sleep(0.05)
        held = time.perf_counter() - t0
    finally:
        # Whatever happened, the node gets its BIRD back (recorded under the same entry).
        bird.launch(state, proc, config=control.config, socket=control.socket, recover=True)
    back = _wait(
        lambda: _states(o.bird_socket).get(s.protocol, "").startswith("Established"),
        RECONVERGE_TIMEOUT,
    )
    converged = bird.wait_routes(expected, RECONVERGE_TIMEOUT)
    ok = s.restart_time - 0.5 <= held <= s.restart_time + 3.0 and back is not None
    r.verdict(
        ok,
        name,
        f"BIRD of {s.node} left with `graceful restart`; the router kept "
        f"{', '.join(node.blocks)} for {held:.2f} s (restart time {s.restart_time} s"
        + (", then dropped them)" if held < limit else ", and still had them)")
        + "; restarted with -R: "
        + (
            f"Established again after {back:.2f} s, every route back {converged:.2f} s later"
            if back is not None
            else f"NOT Established again within {RECONVERGE_TIMEOUT:.0f} s"
        ),
    )


def expected_routes(state: LabState, bgp_nodes: list[NodeRecord]) -> dict[str, set[str]]:
    """What every BIRD-fed kernel table must hold: remote blocks, and the router's."""
    expected = {
        n.netns: {b for other in bgp_nodes if other is not n for b in other.blocks}
        for n in bgp_nodes
    }
    if state.outside is not None and state.outside.sessions:
        peers = {x.node for x in state.outside.sessions}
        expected[state.underlay_netns] = {
            b for n in state.nodes if n.name in peers for b in n.blocks
        }
    return expected
