"""`lab test`, the routing state: each node's kernel as planned, and BGP as the spec says.

Why it exists: pings prove that packets get through, not that they took the path
netwright planned. These checks read every node's routes, neighbours, fdb entries
and links back with `ip -json` / `bridge -json` (never with the engine under
test) and compare them with the plan; for bgp they read BIRD's sessions, the
`proto bird` routes in the kernel and the node's TCP connections on port 179, so
the BGP topology itself (full mesh, or route reflectors) is measured, not assumed.

What it must not do: change anything (reads only).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from netwright.lab._proc import ip_json, ns_run
from netwright.lab.bird import node_sessions
from netwright.lab.checks.results import FAIL, PASS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright.lab.checks.results import Recorder
    from netwright.lab.state import LabState, NodeRecord
    from netwright.model.state import NodeState
    from netwright.pipeline import Pipeline

_NEIGHBOR = re.compile(r"^\s*neighbor (\S+) as \d+;", re.MULTILINE)


def routing(r: Recorder, node: NodeRecord, plan: NodeState) -> None:
    routes = ip_json(node.netns, "route", "show", "table", "all")
    missing: list[str] = []
    onlink = 0
    for want in plan.routes:
        dst = str(want.dst)
        found = [
            x
            for x in routes
            if x.get("dst") in (dst, "default" if want.dst.prefixlen == 0 else dst)
            and x.get("dev") == want.dev
            and (want.gateway is None or x.get("gateway") == str(want.gateway))
            and _table(x) == want.table
            and str(x.get("protocol")) in ("211", "netwright")
        ]
        if not found:
            missing.append(f"route {dst} via {want.gateway} dev {want.dev} proto 211")
        elif want.onlink and "onlink" not in found[0].get("flags", []):
            missing.append(f"route {dst}: not onlink")
        onlink += bool(want.onlink)
    # One dump per device, not one per planned entry.
    neighbours = {
        dev: ip_json(node.netns, "neigh", "show", "dev", dev)
        for dev in {nb.dev for nb in plan.neighbours}
    }
    for nb in plan.neighbours:
        if not any(
            x.get("dst") == str(nb.ip)
            and x.get("lladdr") == nb.mac
            and "PERMANENT" in x.get("state", [])
            for x in neighbours[nb.dev]
        ):
            missing.append(f"neighbour {nb.ip} lladdr {nb.mac} dev {nb.dev} permanent")
    fdbs = {
        dev: ip_json(node.netns, "bridge", "fdb", "show", "dev", dev)
        for dev in {f.dev for f in plan.fdb}
    }
    for fdb in plan.fdb:
        if not any(
            x.get("mac") == fdb.mac
            and x.get("dst") == str(fdb.dst)
            and x.get("state") == "permanent"
            for x in fdbs[fdb.dev]
        ):
            missing.append(f"fdb {fdb.mac} dst {fdb.dst} dev {fdb.dev} permanent")
    links = {x["ifname"]: x for x in ip_json(node.netns, "link", "show")}
    for lk in plan.links:
        if lk.name not in links:
            missing.append(f"link {lk.name}")
        elif lk.mtu and links[lk.name].get("mtu") != lk.mtu:
            missing.append(f"link {lk.name}: mtu {links[lk.name].get('mtu')}, planned {lk.mtu}")
    what = (
        f"{len(plan.routes)} proto 211 routes ({onlink} onlink), "
        f"{len(plan.neighbours)} permanent neighbours, {len(plan.fdb)} fdb entries, "
        f"links {', '.join(f'{lk.name}/{lk.mtu}' for lk in plan.links)}"
    )
    if missing:
        r.add(FAIL, f"routing {node.name}", f"planned {what}; missing: {'; '.join(missing)}")
    else:
        r.add(PASS, f"routing {node.name}", f"as planned: {what}")


def _table(route: dict[str, Any]) -> int:
    table = str(route.get("table", "main"))  # `ip -json` leaves out the main table
    return (
        int(table) if table.isdigit() else {"main": 254, "local": 255, "default": 253}.get(table, 0)
    )


def bgp_peers_tcp(netns: str) -> set[str]:
    """The addresses `netns` has an established TCP connection with on port 179 (`ss`)."""
    out = ns_run(netns, "ss", "-H", "-t", "-n", "state", "established").stdout
    peers: set[str] = set()
    for line in out.splitlines():
        cols = line.split()
        if len(cols) < 4:
            continue
        local, peer = cols[-2], cols[-1]
        if local.endswith(":179") or peer.endswith(":179"):
            peers.add(peer.rsplit(":", 1)[0].strip("[]"))
    return peers


def bgp(
    r: Recorder,
    state: LabState,
    pipeline: Pipeline,
    plans: Mapping[str, NodeState],
    configs: Mapping[str, str],
) -> None:
    """Every session the node's config opens is Established; remote blocks via their owner."""
    sessions = node_sessions(state)
    bgp_nodes = [n for n in state.nodes if plans[n.name].bird is not None]
    by_ip = {n.ip: n.name for n in state.nodes}
    if state.outside is not None:
        by_ip[state.outside.ip] = "outside"
    for n in bgp_nodes:
        remote = {b: other.ip for other in bgp_nodes if other is not n for b in other.blocks}
        have = {x["dst"]: x for x in ip_json(n.netns, "route", "show", "proto", "bird")}
        bad = [
            f"{b} via {gw}"
            + (
                ""
                if b not in have
                else f" (is {have[b].get('type', '')} via {have[b].get('gateway')})"
            )
            for b, gw in remote.items()
            if b not in have or have[b].get("gateway") != gw or have[b].get("type") == "unreachable"
        ]
        mine = sessions.get(n.name, [])
        established = [s for s in mine if s["info"].startswith("Established")]
        neighbours = set(_NEIGHBOR.findall(configs.get(n.name, "")))
        tcp = bgp_peers_tcp(n.netns)
        detail = (
            f"{len(established)}/{len(neighbours)} sessions Established "
            f"(TCP port 179 with {', '.join(sorted(by_ip.get(a, a) for a in tcp)) or 'nobody'}), "
            f"{len(remote) - len(bad)}/{len(remote)} remote blocks as proto bird routes "
            "via their node"
        )
        down = [f"{s['name']} {s['state']} {s['info']}" for s in mine if s not in established]
        missing_tcp = sorted(by_ip.get(a, a) for a in neighbours - tcp)
        if missing_tcp:
            down.append(f"no TCP session with {', '.join(missing_tcp)}")
        if bad or down or len(established) < len(neighbours):
            r.add(FAIL, f"bgp {n.name}", f"{detail}; wrong or missing: {', '.join(bad + down)}")
        else:
            r.add(PASS, f"bgp {n.name}", detail)
    _reflectors(r, state, pipeline, bgp_nodes)


def _reflectors(
    r: Recorder, state: LabState, pipeline: Pipeline, bgp_nodes: list[NodeRecord]
) -> None:
    """With `routeReflectors`: who peers with whom, measured in the kernel (`ss`), as API says.

    Reflectors peer with every other node, the others only with the reflectors;
    a block learned through a reflector keeps its owner's address as next hop.
    """
    selectors = [
        b.bgp.route_reflectors
        for b in pipeline.spec.cluster.backends
        if b.bgp is not None and b.bgp.route_reflectors is not None
    ]
    if not selectors:
        return
    labels = {name: pipeline.index.nodes[name].labels for name in pipeline.node_names}
    members = {n.name for n in bgp_nodes}
    reflectors = {m for m in members if any(sel.matches(labels[m]) for sel in selectors)}
    ip_of = {n.name: n.ip for n in state.nodes}
    name_of = {n.ip: n.name for n in state.nodes}
    for n in bgp_nodes:
        tcp = {name_of[a] for a in bgp_peers_tcp(n.netns) if a in name_of}
        if n.name in reflectors:
            want = members - {n.name}
            role = "reflector"
        else:
            want = reflectors - {n.name}
            role = "client"
        routes = {x["dst"]: x for x in ip_json(n.netns, "route", "show", "proto", "bird")}
        reflected = [
            (b, other.name)
            for other in bgp_nodes
            if other is not n and other.name not in tcp
            for b in other.blocks
        ]
        wrong_hop = [
            f"{b} via {routes.get(b, {}).get('gateway')}, not {ip_of[owner]}"
            for b, owner in reflected
            if routes.get(b, {}).get("gateway") != ip_of[owner]
        ]
        detail = (
            f"{role}: BGP over TCP with {', '.join(sorted(tcp)) or 'nobody'} "
            f"(API: {', '.join(sorted(want)) or 'nobody'}); "
            f"{len(reflected) - len(wrong_hop)}/{len(reflected)} blocks learned through a "
            "reflector keep their owner as next hop"
        )
        if reflected and not wrong_hop:
            detail += " (" + ", ".join(f"{b} via {ip_of[o]}" for b, o in reflected[:3]) + ")"
        ok = tcp == want and not wrong_hop
        r.add(
            PASS if ok else FAIL,
            f"bgp topology {n.name}",
            detail + (f"; wrong: {'; '.join(wrong_hop)}" if wrong_hop else ""),
        )
