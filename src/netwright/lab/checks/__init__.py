"""`lab test`: prove the lab's pod network works, each check printed with what it measured.

Why it exists: the lab is only worth something if it shows that the network
netwright provisioned really carries traffic, and that what it renders for the
outside (NAT, external BGP peers, route reflectors) behaves against real peers.
This module runs the checks in order; each section lives in its own module:

- `routing`: routing state per node exactly as planned, read back with
  `ip -json route/neigh` and `bridge -json fdb` (never with the engine under
  test); for bgp the remote blocks as `proto bird` routes via their owner, every
  session Established, and with route reflectors the topology itself;
- `traffic`: pod-to-pod pings across every pair of nodes and on the same node,
  node-to-remote-pod pings, path MTU with DF set, vxlan encapsulation (VTEP TX
  counters), and a host port DNATed to its pod (portmap);
- `outside`: NAT outgoing as the outside sees it, pod to pod not masqueraded; the
  top-of-rack router's sessions, timers and routes, a wrong password, and graceful
  restart of one node's BIRD;
- `pods`: CNI CHECK on every pod (portmap 1.1.1's known CHECK bug is XFAIL), a
  second provisioning pass that changes nothing, and a pod DEL/ADD;
- `results`: the typed result (`Check`: name, verdict, what was measured).

What it must not do: fail the run for a known bug of the installed plugins (that
is XFAIL), or leave the lab changed beyond the DEL/ADD of one pod (a check that
disturbs BGP restores it and waits until every table has converged again).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from netwright.lab.checks import outside, pods, routing, traffic
from netwright.lab.checks.results import FAIL, PASS, XFAIL, Check, Recorder, Verdict
from netwright.lab.lifecycle import bird_text, load_pipeline, node_facts

if TYPE_CHECKING:
    from collections.abc import Callable

    from netwright.lab.state import LabState

__all__ = ["FAIL", "PASS", "XFAIL", "Check", "Verdict", "run_checks"]


def run_checks(state: LabState, emit: Callable[[Check], None]) -> list[Check]:
    r = Recorder(emit)
    if state.phase != "ready":
        r.add(FAIL, "lab", f"phase is {state.phase!r}, not ready (did `lab up` finish?)")
        return r.results
    pipeline = load_pipeline(state)
    plans = {n.name: pipeline.plan(n.name, node_facts(state, n)) for n in state.nodes}
    for n in state.nodes:
        r.guard(f"routing {n.name}", functools.partial(routing.routing, r, n, plans[n.name]))
    bgp_nodes = [n for n in state.nodes if plans[n.name].bird is not None]
    if bgp_nodes:
        configs = {n.name: bird_text(pipeline, state, n) for n in bgp_nodes}
        r.guard("bgp sessions", lambda: routing.bgp(r, state, pipeline, plans, configs))
        r.guard("router", lambda: outside.router(r, state))
    vteps = {
        n.name: [lk.name for lk in plans[n.name].links if lk.kind == "vxlan"] for n in state.nodes
    }
    before = {
        n.name: traffic.tx_packets(n.netns, vteps[n.name]) for n in state.nodes if vteps[n.name]
    }
    r.guard("ping", lambda: traffic.pings(r, state))
    if before:
        r.guard("vxlan encapsulation", lambda: traffic.encapsulated(r, state, vteps, before))
    r.guard("path mtu", lambda: traffic.path_mtu(r, state, pipeline))
    r.guard("portmap", lambda: traffic.portmap(r, state))
    r.guard("nat outgoing", lambda: outside.nat(r, state, pipeline))
    r.guard("cni check", lambda: pods.cni_check(r, state))
    r.guard("second pass", lambda: pods.second_pass(r, state, pipeline))
    r.guard("cni del/add", lambda: pods.del_add(r, state))
    if bgp_nodes:
        # Last: these take sessions down on purpose, and wait until all is back.
        expected = outside.expected_routes(state, bgp_nodes)
        r.guard("router wrong password", lambda: outside.wrong_password(r, state, pipeline))
        r.guard(
            "router graceful restart",
            lambda: outside.graceful_restart(r, state, plans, expected),
        )
    return r.results
