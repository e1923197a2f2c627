"""The controller on a real API server: converging over N Nodes, and one more joining.

For each size N (default 1,000 and 5,000) a fresh etcd + kube-apiserver (the test
harness's `tests/operator/_apiserver.py`, from `KUBEBUILDER_ASSETS`) gets the CRDs, the
examples/vxlan Backend, IPPool and Network (the pool widened to 10.64.0.0/10 so that it
holds a /24 block for every node) and N Nodes with an InternalIP. Then:

- converge: `netwright controller --no-leader-election` starts, and the clock runs until
  every Node has its NodeNetworkConfig and an IPBlock (read from the audit log, checked
  once with a list) and the controller has stopped writing; its API writes are counted
  in the audit log (by user agent: the controller's and kopf's own).
- join: one more Node (created by the benchmark, not counted); time until its
  NodeNetworkConfig and IPBlock exist, and the controller's writes for it.

With `--agent` (root only), at the largest size: `netwright agent` for node-00000 in a
throwaway network namespace (a veth `eth0` holding its address; removed also on
failure), with every other node as a peer; its first apply and its no-op resyncs are
timed by its own metrics (`netwright_agent_apply_seconds`), against one `ip -batch` plus
one `bridge -batch` adding the same routes, with a neighbour and an fdb entry per peer,
on a VTEP in another throwaway namespace (bench_engine.py's vxlan baseline).

Printed: writes per join at every size (goal: at most 3, the same at every size), and
t_converge(largest) / t_converge(smallest) (goal: at most 6 for 1k -> 5k; 5 = linear).
Each control plane is stopped by pid and its directory removed, also on failure.

Needs KUBEBUILDER_ASSETS (e.g. `KUBEBUILDER_ASSETS=$(../shared/envtest/setup)`); refuses
to run without it. Usage: python benchmarks/bench_operator.py [--sizes 1000 5000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from netwright.model.state import vtep_mac

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "operator"))

from _apiserver import (  # noqa: E402
    ASSETS_VARIABLE,
    ApiError,
    Client,
    ControlPlane,
)

NW = "/apis/netwright.io/v1alpha1"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
PLURALS = {"Backend": "backends", "IPPool": "ippools", "Network": "networks"}
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
POOL_CIDR = "10.64.0.0/10"  # 16,384 /24 blocks
UNDERLAY = ipaddress.ip_network("172.16.0.0/12")


# -- the cluster ---------------------------------------------------------------------


def install_crds(api: Client) -> None:
    crds = []
    for file in sorted((REPO / "crds").glob("*.yaml")):
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        if doc.get("kind") == "CustomResourceDefinition":
            api.post(CRD_PATH, doc)
            crds.append(doc)
    for crd in crds:
        deadline = time.monotonic() + 60
        while True:
            try:
                api.get(f"{NW}/{crd['spec']['names']['plural']}", query={"limit": "1"})
                break
            except ApiError as exc:
                if exc.code not in (404, 429, 503) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def create_spec(api: Client) -> None:
    for doc in yaml.safe_load_all((REPO / "examples" / "vxlan" / "network.yaml").read_text()):
        if doc["kind"] == "IPPool":
            doc["spec"]["cidr"] = POOL_CIDR
            doc["spec"]["reserved"] = [POOL_CIDR.replace("/10", "/24")]
        api.post(f"{NW}/{PLURALS[doc['kind']]}", doc)


def node_name(i: int) -> str:
    return f"node-{i:05d}"


def add_node(api: Client, i: int) -> None:
    """A Node, then its address through /status, as a kubelet reports it."""
    name = node_name(i)
    ip = str(UNDERLAY.network_address + 256 + i)
    node = api.post(
        "/api/v1/nodes",
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}},
    )
    node["status"] = {"addresses": [{"type": "InternalIP", "address": ip}]}
    api.put(f"/api/v1/nodes/{name}/status", node)


def add_nodes(plane: ControlPlane, count: int) -> None:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        clients = [plane.client() for _ in range(8)]
        list(pool.map(lambda i: add_node(clients[i % 8], i), range(count)))


# -- the audit log -------------------------------------------------------------------


class Audit:
    """The controller's writes in the audit log, read on from where the last read ended."""

    def __init__(self, plane: ControlPlane) -> None:
        self.path = plane.audit_log
        self.offset = 0
        self.writes: list[tuple[str, str, str, int]] = []  # verb, resource, name, code

    def mark(self) -> int:
        self.read()
        return len(self.writes)

    def read(self) -> list[tuple[str, str, str, int]]:
        with contextlib.suppress(FileNotFoundError), open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
            end = data.rfind(b"\n") + 1
            self.offset += end
            for line in data[:end].splitlines():
                if b"ResponseComplete" not in line:
                    continue
                event = json.loads(line)
                agent = event.get("userAgent", "")
                if event.get("verb") not in WRITES:
                    continue
                if not agent.startswith(("netwright-controller", "kopf")):
                    continue
                ref = event.get("objectRef", {})
                resource = ref.get("resource", "")
                if ref.get("subresource"):
                    resource += "/" + ref["subresource"]
                code = int(event.get("responseStatus", {}).get("code", 0))
                self.writes.append((event["verb"], resource, ref.get("name", ""), code))
        return self.writes

    def quiet(self, since: int, settle: float = 2.0, timeout: float = 600) -> None:
        """Until the controller has written nothing for `settle` seconds."""
        deadline = time.monotonic() + timeout
        seen, still = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len(self.read()) - since
            if count != seen:
                seen, still = count, time.monotonic()
            elif time.monotonic() - still >= settle:
                return
            time.sleep(0.2)
        raise TimeoutError("the controller never stopped writing")


def created(writes: list[tuple[str, str, str, int]], resource: str) -> int:
    return sum(1 for v, r, _, code in writes if v == "create" and r == resource and code == 201)


# -- the controller ------------------------------------------------------------------


def start_controller(plane: ControlPlane, log: Path) -> subprocess.Popen[bytes]:
    cli = shutil.which("netwright")
    argv = [cli] if cli else [sys.executable, "-m", "netwright.cli"]
    with open(log, "wb") as out:
        return subprocess.Popen(
            [*argv, "controller", "--no-leader-election", "--kubeconfig", str(plane.kubeconfig)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def converged(api: Client, nodes: int) -> bool:
    configs = api.get(f"{NW}/nodenetworkconfigs")["items"]
    blocks = api.get(f"{NW}/ipblocks")["items"]
    owners = {b["spec"]["node"] for b in blocks}
    return len(configs) == nodes and len(owners) == nodes and len(blocks) == nodes


def measure(assets: str, size: int, timeout: float, *, agent: bool = False) -> dict[str, Any]:
    plane = ControlPlane.start(assets)
    controller = None
    try:
        api = plane.client()
        install_crds(api)
        create_spec(api)
        started = time.monotonic()
        add_nodes(plane, size)
        print(f"  {size} Nodes created in {time.monotonic() - started:.1f} s", flush=True)
        audit = Audit(plane)
        mark = audit.mark()
        log = plane.workdir.parent / f"netwright-bench-controller-{size}.log"
        started = time.monotonic()
        controller = start_controller(plane, log)
        while True:
            writes = audit.read()[mark:]
            done = created(writes, "nodenetworkconfigs") >= size
            if done and created(writes, "ipblocks") >= size:
                break
            if controller.poll() is not None:
                raise RuntimeError(f"the controller exited: see {log}")
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"not converged after {timeout:.0f} s: "
                    f"{created(writes, 'nodenetworkconfigs')} configs, "
                    f"{created(writes, 'ipblocks')} blocks of {size}"
                )
            time.sleep(0.2)
        converge = time.monotonic() - started
        audit.quiet(mark)
        converge_writes = len(audit.writes) - mark
        assert converged(api, size), "the audit log and the lists disagree"

        mark = audit.mark()
        joiner = node_name(size)
        started = time.monotonic()
        add_node(api, size)
        while True:
            try:
                api.get(f"{NW}/nodenetworkconfigs/{joiner}")
                joins = [w for w in audit.read()[mark:] if w[1] == "ipblocks" and w[3] == 201]
                if joins:
                    break
            except ApiError as exc:
                if exc.code != 404:
                    raise
            if time.monotonic() - started > 120:
                raise TimeoutError(f"{joiner} got no config in 120 s")
            time.sleep(0.02)
        join = time.monotonic() - started
        audit.quiet(mark)
        join_writes = audit.writes[mark:]
        assert converged(api, size + 1)
        resync = agent_resync(plane) if agent else None
        return {
            "agent": resync,
            "size": size,
            "converge": converge,
            "converge_writes": converge_writes,
            "join": join,
            "join_writes": join_writes,
        }
    finally:
        if controller is not None:
            stop(controller)
        plane.stop()


# -- the agent ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def ip(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["ip", *argv], input=stdin, text=True, check=True, capture_output=True
    ).stdout


@contextlib.contextmanager
def node_netns(address: str) -> Any:
    """A throwaway namespace with `eth0` (a veth) holding `address`; deleted on exit."""
    name = f"nwbench-{secrets.token_hex(3)}"
    ip("netns", "add", name)
    try:
        for args in (
            ["link", "set", "lo", "up"],
            ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"],
            ["addr", "add", f"{address}/{UNDERLAY.prefixlen}", "dev", "eth0"],
            ["link", "set", "eth0-peer", "up"],
            ["link", "set", "eth0", "up"],
        ):
            ip("-n", name, *args)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def agent_resync(plane: ControlPlane, runs: int = 3) -> dict[str, float]:
    """node-00000's agent, every other node its peer: first apply, no-op resync, ip -batch."""
    address = str(UNDERLAY.network_address + 256)
    port = free_port()
    with node_netns(address) as netns, tempfile.TemporaryDirectory() as root:
        cli = shutil.which("netwright")
        argv = [cli] if cli else [sys.executable, "-m", "netwright.cli"]
        log = plane.workdir.parent / "netwright-bench-agent.log"
        with open(log, "wb") as out:
            agent = subprocess.Popen(
                [
                    *argv,
                    "agent",
                    "--node",
                    node_name(0),
                    "--netns",
                    netns,
                    "--root",
                    root,
                    "--resync-interval",
                    "1",
                    "--metrics-port",
                    str(port),
                    "--kubeconfig",
                    str(plane.kubeconfig),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            deadline = time.monotonic() + 900
            first = 0.0
            while True:
                samples = scrape(port)
                count = samples.get("netwright_agent_apply_seconds_count", 0)
                if count >= 1 and not first:
                    first = samples["netwright_agent_apply_seconds_sum"]
                if count >= 1 + runs:
                    break
                if agent.poll() is not None:
                    raise RuntimeError(f"the agent exited: see {log}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the agent ran {count:.0f} times in 900 s: see {log}")
                time.sleep(0.2)
            failed = samples.get('netwright_agent_applies_total{result="failed"}', 0)
            if failed or not samples.get('netwright_agent_applies_total{result="ok"}'):
                raise RuntimeError(f"the agent's runs failed: see {log}")
            resync = (samples["netwright_agent_apply_seconds_sum"] - first) / (count - 1)
            changes = samples.get("netwright_agent_changes_total", 0)
            routes = json.loads(ip("-n", netns, "-json", "route", "show", "proto", "211") or "[]")
            links = json.loads(ip("-n", netns, "-json", "link", "show", "type", "vxlan") or "[]")
        finally:
            stop(agent)
    peers = [r for r in routes if "/" in r.get("dst", "")]
    vtep = links[0]["ifname"] if links else "nwvx.1"
    # The same objects as plain entries: per peer a permanent neighbour (its VTEP's
    # address), an fdb entry (to its underlay address) and the route, on a VTEP made
    # outside the timing, as bench_engine.py's vxlan baseline does.
    add_ip, add_br = [], []
    for i, route in enumerate(peers):
        underlay = UNDERLAY.network_address + 257 + i
        mac = vtep_mac(ipaddress.ip_address(underlay))
        # (a route through a nexthop object names no gateway: the block's first address)
        gateway = route.get("gateway") or ipaddress.ip_network(route["dst"]).network_address
        add_ip.append(f"neigh add {gateway} lladdr {mac} dev {vtep} nud permanent")
        add_br.append(f"fdb add {mac} dev {vtep} dst {underlay} self permanent")
        add_ip.append(f"route add {route['dst']} via {gateway} dev {vtep} onlink proto 211")
    with node_netns(address) as netns:
        ip(
            "-n", netns, "link", "add", vtep, "address", vtep_mac(ipaddress.ip_address(address)),
            "mtu", "1450", "type", "vxlan", "id", "1", "local", address,
            "dev", "eth0", "dstport", "8472", "nolearning",
        )  # fmt: skip
        ip("-n", netns, "link", "set", vtep, "up")
        started = time.monotonic()
        ip("-n", netns, "-batch", "-", stdin="\n".join(add_ip) + "\n")
        subprocess.run(
            ["bridge", "-n", netns, "-batch", "-"],
            input="\n".join(add_br) + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        baseline = time.monotonic() - started
    return {
        "routes": len(peers),
        "changes": changes,
        "first": first,
        "resync": resync,
        "ip_batch": baseline,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds to wait for convergence"
    )
    parser.add_argument(
        "--agent",
        action="store_true",
        help="at the largest size, also time an agent's resync against `ip -batch` (root)",
    )
    args = parser.parse_args()
    if args.agent and os.geteuid() != 0:
        print("bench_operator: --agent needs root (network namespaces)", file=sys.stderr)
        return 2
    assets = os.environ.get(ASSETS_VARIABLE)
    if not assets:
        print(
            f"bench_operator: {ASSETS_VARIABLE} is not set: it needs a kube-apiserver and "
            "etcd to run the controller against (e.g. "
            "`KUBEBUILDER_ASSETS=$(../shared/envtest/setup)`, or setup-envtest)",
            file=sys.stderr,
        )
        return 2
    results = []
    for size in sorted(args.sizes):
        print(f"{size} nodes:", flush=True)
        r = measure(assets, size, args.timeout, agent=args.agent and size == max(args.sizes))
        kinds = sorted({f"{v} {res}" for v, res, _, _ in r["join_writes"]})
        print(
            f"  converge {r['converge']:.1f} s, {r['converge_writes']} writes "
            f"({r['converge_writes'] / size:.2f} per node); "
            f"join {r['join'] * 1000:.0f} ms, {len(r['join_writes'])} writes ({', '.join(kinds)})",
            flush=True,
        )
        results.append(r)
    print()
    print(f"{'nodes':>6} {'converge s':>11} {'writes':>7} {'join ms':>8} {'writes/join':>12}")
    for r in results:
        print(
            f"{r['size']:>6} {r['converge']:>11.1f} {r['converge_writes']:>7} "
            f"{r['join'] * 1000:>8.0f} {len(r['join_writes']):>12}"
        )
    per_join = [len(r["join_writes"]) for r in results]
    same = len(set(per_join)) == 1
    print(
        f"writes per join: {per_join} (goal: <= 3, the same at every size: "
        f"{'met' if max(per_join) <= 3 and same else 'NOT met'})"
    )
    if len(results) > 1:
        small, large = results[0], results[-1]
        ratio = large["converge"] / small["converge"]
        factor = large["size"] / small["size"]
        print(
            f"converge time {large['size']}/{small['size']}: {ratio:.2f} "
            f"(linear = {factor:g}; goal for 5000/1000: <= 6)"
        )
    agent = results[-1]["agent"]
    if agent is not None:
        print(
            f"agent, {results[-1]['size']} nodes ({agent['routes']} routes, "
            f"{agent['changes']:.0f} changes): first apply {agent['first']:.2f} s = "
            f"{agent['first'] / agent['ip_batch']:.1f}x ip -batch; no-op resync "
            f"{agent['resync']:.2f} s = {agent['resync'] / agent['ip_batch']:.1f}x "
            f"ip -batch ({agent['ip_batch']:.3f} s: the same routes, neighbours and fdb entries)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
