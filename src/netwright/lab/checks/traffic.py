"""`lab test`, traffic: pings between pods and nodes, path MTU, vxlan encapsulation, portmap.

Why it exists: routing state that looks right can still drop packets (a missing
forward sysctl, a wrong MTU, a bridge that filters). These checks send real
packets between the lab's namespaces and measure what arrived: every pod pings
every other (one direction per same-node pair), nodes ping remote pods, DF-set
pings find the path MTU, VTEP TX counters prove vxlan encapsulated, and a TCP
connection to a node's host port shows portmap's DNAT and the peer address seen.

What it must not do: send anything outside the lab's namespaces, or leave a
process behind (sockets are made in-thread with setns, `socket_in`).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from netwright.lab._proc import ip_json, ns_run, socket_in
from netwright.lab.checks.results import FAIL, PASS
from netwright.lab.lifecycle import node_facts

if TYPE_CHECKING:
    from collections.abc import Sequence

    from netwright.lab.checks.results import Recorder
    from netwright.lab.state import LabState, PodRecord
    from netwright.pipeline import Pipeline

_RTT = re.compile(r"= [\d.]+/([\d.]+)/")


def ping(
    netns: str,
    dst: str,
    *,
    size: int | None = None,
    df: bool = False,
    count: int = 1,
    wait: int = 2,
) -> tuple[bool, str]:
    argv = ["ping", "-n", "-c", str(count), "-W", str(wait)]
    if df:
        argv += ["-M", "do"]
    if size is not None:
        argv += ["-s", str(size)]
    proc = ns_run(netns, *argv, dst, check=False, timeout=15)
    m = _RTT.search(proc.stdout)
    if proc.returncode == 0:
        return True, f"rtt {m.group(1)} ms" if m else "replied"
    lines = proc.stdout.strip().splitlines()
    why = proc.stderr.strip() or (lines[-2] if len(lines) > 1 else "no reply")
    return False, why.replace("\n", "; ")


def pings(r: Recorder, state: LabState) -> None:
    pods = [p for p in state.pods if p.ips]
    jobs: list[tuple[str, str, str, str]] = []  # (group, source netns, destination name, ip)
    for src in pods:
        for dst in pods:
            if dst is src:
                continue
            kind = "same node" if dst.node == src.node else "other nodes"
            if kind == "same node" and dst.name < src.name:
                continue  # one direction per same-node pair is enough
            for ip in dst.ips:  # every family the pods have: IPv4, and IPv6 with a v6 pool
                jobs.append((f"pod {src.name} -> {kind}{family(ip)}", src.netns, dst.name, ip))
    for i, n in enumerate(state.nodes):
        remote = [
            p
            for p in pods
            if p.node == state.nodes[(i + 1) % len(state.nodes)].name and p.node != n.name
        ]
        if remote:
            for ip in remote[0].ips:
                group = f"node {n.name} -> remote pod{family(ip)}"
                jobs.append((group, n.netns, remote[0].name, ip))
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(lambda j: ping(j[1], j[3]), jobs))
    groups: dict[str, list[tuple[str, str, bool, str]]] = {}
    for (group, _, name, ip), (ok, what) in zip(jobs, outcomes, strict=True):
        groups.setdefault(group, []).append((name, ip, ok, what))
    for group, items in groups.items():
        failed = [f"{name} {ip}: {what}" for name, ip, ok, what in items if not ok]
        rtts = [float(w.split()[1]) for _, _, ok, w in items if ok and w.startswith("rtt")]
        targets = ", ".join(f"{name}" for name, _, _, _ in items)
        if failed:
            r.add(
                FAIL,
                f"ping {group}",
                f"{len(items) - len(failed)}/{len(items)} replied; failed: {'; '.join(failed)}",
            )
        else:
            rtt = f", rtt max {max(rtts):.3f} ms" if rtts else ""
            r.add(PASS, f"ping {group}", f"{len(items)}/{len(items)} replied ({targets}){rtt}")
    if not groups:
        r.add(FAIL, "ping", "no pods with addresses to ping (lab up --pods 0?)")


def family(ip: str) -> str:
    """A suffix for check names: nothing for IPv4 (the default lab), ` (IPv6)` otherwise."""
    return " (IPv6)" if ipaddress.ip_address(ip).version == 6 else ""


def v4(pod: PodRecord) -> str:
    for ip in pod.ips:
        if ipaddress.ip_address(ip).version == 4:
            return ip
    return pod.ips[0]


def tx_packets(netns: str, devs: Sequence[str]) -> dict[str, int]:
    out = {}
    for x in ip_json(netns, "-s", "link", "show"):
        if x["ifname"] in devs:
            out[x["ifname"]] = int(x["stats64"]["tx"]["packets"])
    return out


def encapsulated(
    r: Recorder, state: LabState, vteps: dict[str, list[str]], before: dict[str, dict[str, int]]
) -> None:
    for n in state.nodes:
        if n.name not in before:
            continue
        after = tx_packets(n.netns, vteps[n.name])
        grew = {d: after.get(d, 0) - before[n.name].get(d, 0) for d in vteps[n.name]}
        detail = ", ".join(
            f"{d} TX packets {before[n.name].get(d, 0)} -> {after.get(d, 0)} (+{g})"
            for d, g in grew.items()
        )
        if len(state.nodes) < 2:
            r.add(
                PASS,
                f"vxlan encapsulation {n.name}",
                f"single node, nothing to encapsulate; {detail}",
            )
        elif all(g > 0 for g in grew.values()):
            r.add(
                PASS,
                f"vxlan encapsulation {n.name}",
                f"cross-node pings went through the VTEP: {detail}",
            )
        else:
            r.add(
                FAIL,
                f"vxlan encapsulation {n.name}",
                f"cross-node pings did not use the VTEP: {detail}",
            )


def path_mtu(r: Recorder, state: LabState, pipeline: Pipeline) -> None:
    pairs: list[tuple[PodRecord, PodRecord, int]] = []
    for i, n in enumerate(state.nodes):
        src = next((p for p in state.pods if p.node == n.name and p.ips), None)
        other = state.nodes[(i + 1) % len(state.nodes)]
        dst = next((p for p in state.pods if p.node == other.name and p.ips and p is not src), None)
        if src is None or dst is None:
            continue
        config = pipeline.render(n.name, node_facts(state, n))
        pairs.append((src, dst, int(config.conflists[0].config["plugins"][0]["mtu"])))

    def probe(
        pair: tuple[PodRecord, PodRecord, int],
    ) -> tuple[int, tuple[bool, str], tuple[bool, str]]:
        src, dst, mtu = pair
        eth0 = int(ip_json(src.netns, "link", "show", "dev", "eth0")[0]["mtu"])
        fits = ping(src.netns, v4(dst), size=mtu - 28, df=True)
        # Refused locally (EMSGSIZE) or dropped on the way: either way no reply within 1 s.
        over = ping(src.netns, v4(dst), size=mtu - 27, df=True, wait=1)
        return eth0, fits, over

    with ThreadPoolExecutor(max_workers=max(1, len(pairs))) as pool:
        outcomes = list(pool.map(probe, pairs))
    for (src, dst, mtu), (eth0, (fits, why_fits), (over, why_over)) in zip(
        pairs, outcomes, strict=True
    ):
        detail = (
            f"MTU {mtu} (pod eth0 {eth0}): "
            f"DF {mtu - 28} bytes {'passed' if fits else 'FAILED: ' + why_fits}, "
            f"DF {mtu - 27} bytes "
            f"{'refused: ' + why_over if not over else 'PASSED (should be refused)'}"
        )
        ok = fits and not over and eth0 == mtu
        r.add(PASS if ok else FAIL, f"path mtu {src.name} -> {dst.name}", detail)


def tcp_probe(
    server_netns: str, bind: str, port: int, *, client_netns: str, dst: str, dst_port: int
) -> tuple[str, bytes, float]:
    """Connect from `client_netns` to `dst:dst_port`; a listener on `bind:port` in `server_netns`.

    Returns the peer address the listener saw (what its kernel says in accept()),
    the reply the client got, and the round trip in ms. Raises OSError when
    nothing answers within 5 s.
    """
    seen: list[str] = []
    # Both in one `with`: if the client cannot be made, the server is closed all the same.
    with (
        socket_in(server_netns, socket.AF_INET, socket.SOCK_STREAM) as server,
        socket_in(client_netns, socket.AF_INET, socket.SOCK_STREAM) as client,
    ):
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((bind, port))
        server.listen(1)
        server.settimeout(5)

        def serve() -> None:
            try:
                conn, peer = server.accept()
            except OSError:
                return
            with conn:
                seen.append(peer[0])
                conn.sendall(b"netwright " + conn.recv(64))

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        client.settimeout(5)
        started = time.perf_counter()
        client.connect((dst, dst_port))
        client.sendall(b"lab")
        reply = client.recv(64)
        took = (time.perf_counter() - started) * 1000
        thread.join(5)
    return (seen[0] if seen else "nothing"), reply, took


def portmap(r: Recorder, state: LabState) -> None:
    """From another node, `<node ip>:hostPort` reaches the pod's containerPort (portmap DNAT)."""
    pod = next((p for p in state.pods if p.port_mappings and p.ips), None)
    if pod is None or len(state.nodes) < 2:
        return
    node = state.node(pod.node)
    client_node = next(n for n in state.nodes if n is not node)
    mapping = pod.port_mappings[0]
    seen, reply, took = tcp_probe(
        pod.netns,
        "0.0.0.0",  # noqa: S104 - inside the pod's namespace
        int(mapping["containerPort"]),
        client_netns=client_node.netns,
        dst=node.ip,
        dst_port=int(mapping["hostPort"]),
    )
    name = f"portmap {client_node.name} -> {node.ip}:{mapping['hostPort']}"
    if reply == b"netwright lab":
        r.add(
            PASS,
            name,
            f"DNATed to {pod.name} {v4(pod)}:{mapping['containerPort']} (peer seen as {seen}), "
            f"round trip {took:.1f} ms",
        )
    else:
        r.add(FAIL, name, f"unexpected reply {reply!r}")
