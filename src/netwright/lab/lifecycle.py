"""`lab up` and `lab down`: build a lab through the normal pipeline, and remove all of it.

Why it exists: this is the order of things, and the promise that a failed `up`
leaves nothing behind. `up`:

1. copies the spec into the state directory (`specdir`), adjusting the node count;
2. makes the underlay switch with the outside address, and the node namespaces
   with their default route through it (`topology`);
3. for bgp, starts one BIRD per node with a bootstrap config (`bird`), so that the
   engine can reload it when it writes the real one;
4. provisions every node with `netwright.provisioning.provision` (the call every
   front end makes) against the node namespace and root;
5. for bgp, starts the top-of-rack BIRD in the underlay namespace when a BGPPeer's
   `peerIP` is the lab's outside address (`outside`), and waits until every node
   has every remote block in its kernel table (and the router every node's blocks);
6. makes P pod namespaces per node and attaches each with the real CNI plugins,
   from the conflist the engine wrote into the node's `etc/cni/net.d` (`cni`).

Each namespace and process is recorded in the state file before it exists; any
failure (or Ctrl-C) tears down what was built and re-raises.

What it must not do: change anything in the root namespace, reuse a lab or a
namespace that already exists, or remove anything `down` cannot find in the state file.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from netwright.lab import LabError, bird, outside, specdir, topology
from netwright.lab.cni import CNI_PATH, Attachment, Runtime
from netwright.lab.state import STATE_ROOT, LabState, NodeRecord, Outside, PodRecord, lab_dir

if TYPE_CHECKING:
    from collections.abc import Callable

    from netwright.model.config import NodeFacts
    from netwright.model.state import NodeState
    from netwright.pipeline import Pipeline

#: The first pod on every node gets a host port, so portmap has something to do.
PORT_MAPPING = {"hostPort": 15201, "containerPort": 5201, "protocol": "tcp"}
CONVERGENCE_TIMEOUT = 30.0


class LabExistsError(LabError):
    """`up` for a lab that is already there: said, and nothing is changed."""


def node_facts(state: LabState, node: NodeRecord) -> NodeFacts:
    from netwright.model.config import NodeFacts  # noqa: PLC0415

    return NodeFacts(
        underlay_dev="eth0",
        underlay_mtu=1500,
        underlay_prefix=ipaddress.ip_network(state.underlay_prefix),
        root=node.root,
    )


def load_pipeline(state: LabState) -> Pipeline:
    from netwright.pipeline import Pipeline  # noqa: PLC0415

    return Pipeline.load(state.spec)


def attachment(pod: PodRecord) -> Attachment:
    caps: dict[str, Any] = {"portMappings": pod.port_mappings} if pod.port_mappings else {}
    return Attachment(
        container_id=pod.container_id, pod=pod.name, pod_netns=pod.netns, capability_args=caps
    )


def runtime(state: LabState, node: NodeRecord) -> Runtime:
    return Runtime(
        node_netns=node.netns,
        conf_dir=os.path.join(node.root, "etc", "cni", "net.d"),
        cache_dir=os.path.join(state.directory, "cni", node.name),
    )


def pod_ips(result: dict[str, Any]) -> list[str]:
    return [str(ipaddress.ip_interface(i["address"]).ip) for i in result.get("ips", [])]


def _preflight(backend: str) -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (it makes network namespaces)")
    if not os.path.exists(os.path.join(CNI_PATH, "bridge")):
        raise LabError(f"no CNI plugins in {CNI_PATH}: apt-get install containernetworking-plugins")
    if backend == "bgp" and shutil.which("bird") is None:
        raise LabError("the bgp backend needs BIRD 2: apt-get install bird2")


def up(
    *,
    name: str,
    backend: str,
    nodes: int | None,
    pods: int,
    spec: str | None,
    say: Callable[[str], None],
) -> LabState:
    directory = lab_dir(name)
    existing = LabState.load(name)
    if existing is not None or os.path.exists(directory):
        what = (
            f"backend {existing.backend}, phase {existing.phase}" if existing else "no state file"
        )
        raise LabExistsError(
            f"lab {name} already exists ({directory}, {what}); it was left unchanged. "
            f"`netwright lab down --name {name}` removes it, or pick another --name"
        )
    if pods < 0:
        raise LabError(f"--pods {pods}: must be 0 or more")
    _preflight(backend)
    state = LabState(name=name, backend=backend, directory=directory, underlay_netns=f"{name}-ul")
    state.save()
    try:
        _build(state, nodes=nodes, pods=pods, spec=spec, say=say)
    except BaseException as exc:
        say(f"lab {name}: up failed ({exc.__class__.__name__}: {exc}); removing what was built")
        problems = down(state, say=say)
        for p in problems:
            say(f"  {p}")
        raise
    return state


def _step(say: Callable[[str], None], what: str, started: float) -> float:
    took = time.perf_counter() - started
    say(f"  {what} ({took:.3f} s)")
    return took


def _build(
    state: LabState, *, nodes: int | None, pods: int, spec: str | None, say: Callable[[str], None]
) -> None:
    from netwright.engine import Target, prepare_link_writes  # noqa: PLC0415 - fail early
    from netwright.provisioning import provision  # noqa: PLC0415

    t_all = time.perf_counter()
    say(f"lab {state.name}: state in {state.directory}")
    t = time.perf_counter()
    # Every node's first apply creates links, which imports pyroute2 (~0.1 s, once per
    # process): pay it here, in the setup step, not inside the first node's provisioning.
    prepare_link_writes()
    state.spec = os.path.join(state.directory, "spec")
    source = specdir.copy_spec(spec, state.backend, state.spec)
    if nodes is not None and specdir.set_node_count(state.spec, nodes):
        source += f", {nodes} generated nodes, blocks allocated"
    pipeline = load_pipeline(state)
    types = {
        str(b.type)
        for b in pipeline.spec.cluster.backends
        if any(pool.backend == b.name for pool in pipeline.spec.cluster.pools)
    }
    if len(types) == 1:
        state.backend = types.pop()  # a --spec says which backend it is
    state.timings["spec"] = _step(
        say,
        f"spec from {source}: valid, backend {state.backend}, {len(pipeline.node_names)} nodes",
        t,
    )

    # -- underlay and node namespaces
    t = time.perf_counter()
    addresses: list[ipaddress.IPv4Address] = []
    for node_name in pipeline.node_names:
        v4 = [
            a
            for a in pipeline.index.nodes[node_name].addresses
            if isinstance(a, ipaddress.IPv4Address)
        ]
        if not v4:
            raise LabError(
                f"node {node_name}: the lab's underlay is IPv4 and the node has no IPv4 InternalIP"
            )
        addresses.append(v4[0])
    prefix = ipaddress.IPv4Network(f"{addresses[0]}/24", strict=False)
    strays = [str(a) for a in addresses if a not in prefix]
    if strays:
        raise LabError(
            f"the lab's underlay is one /24 ({prefix}); "
            f"node addresses outside it: {', '.join(strays)}"
        )
    state.underlay_prefix = str(prefix)
    gateway, note = outside.choose_address(prefix, set(addresses))
    state.outside = Outside(ip=str(gateway), note=note)
    blocks: dict[str, list[str]] = {}
    for b in pipeline.allocation.blocks:
        blocks.setdefault(b.node, []).append(str(b.cidr))
    for node_name, address in zip(pipeline.node_names, addresses, strict=True):
        state.nodes.append(
            NodeRecord(
                name=node_name,
                netns=f"{state.name}-{node_name}",
                ip=str(address),
                blocks=blocks.get(node_name, []),
                root=os.path.join(state.directory, "nodes", node_name),
            )
        )
    topology.build_underlay(
        state, [(n.netns, n.ip) for n in state.nodes], prefix.prefixlen, str(gateway)
    )
    state.timings["underlay"] = _step(
        say,
        f"underlay {state.underlay_netns} (br0, outside {gateway}{'; ' + note if note else ''}) "
        f"+ {len(state.nodes)} node namespaces",
        t,
    )

    plans: dict[str, NodeState] = {
        n.name: pipeline.plan(n.name, node_facts(state, n)) for n in state.nodes
    }

    # -- BIRD first (bootstrap config), so that the engine can reload it
    if any(p.bird is not None for p in plans.values()):
        if shutil.which("bird") is None:
            raise LabError("the spec uses bgp, which needs BIRD 2: apt-get install bird2")
        t = time.perf_counter()
        for n in state.nodes:
            control = plans[n.name].bird
            if control is None:
                continue
            n.bird_socket = control.socket
            bird.start(
                state,
                node=n.name,
                netns=n.netns,
                router_id=n.ip,
                config_dir=os.path.join(state.directory, "bird"),
                socket=control.socket,
                log=os.path.join(n.root, "var", "log", "bird", "bird.log"),
            )
        state.timings["bird_start"] = _step(
            say, f"BIRD started in {len(state.processes)} node namespaces", t
        )

    # -- provisioning through the engine
    t = time.perf_counter()
    first_loaded: float | None = None
    for n in state.nodes:
        t_node = time.perf_counter()
        report = provision(pipeline, n.name, Target(netns=n.netns, root=n.root), check=False)
        if not report.ok:
            raise LabError(f"provisioning {n.name} failed:\n  " + "\n  ".join(report.lines()))
        if first_loaded is None and plans[n.name].bird is not None:
            first_loaded = time.perf_counter()
        counts = report.delta.summary()
        _step(
            say,
            f"provisioned {n.name} in {n.netns}: "
            f"{counts['add']} added, {counts['change']} changed, "
            f"{counts['delete']} deleted",
            t_node,
        )
    state.timings["provision"] = time.perf_counter() - t
    state.save()

    # -- bgp: every node has every remote block in its kernel table
    if first_loaded is not None:
        bgp_nodes = [n for n in state.nodes if plans[n.name].bird is not None]
        expected = {
            n.netns: {b for other in bgp_nodes if other is not n for b in other.blocks}
            for n in bgp_nodes
        }
        t = time.perf_counter()
        configs = {n.name: bird_text(pipeline, state, n) for n in bgp_nodes}
        if outside.start_router(state, pipeline, configs, say) is not None:
            assert state.outside is not None
            peers = sorted({s.node for s in state.outside.sessions})
            expected[state.underlay_netns] = {
                b for n in state.nodes if n.name in peers for b in n.blocks
            }
            _step(
                say,
                f"top-of-rack BIRD started in {state.underlay_netns} at {state.outside.ip}: "
                f"{len(state.outside.sessions)} sessions ({', '.join(peers)})",
                t,
            )
        waited = bird.wait_routes(expected, CONVERGENCE_TIMEOUT)
        state.timings["convergence"] = time.perf_counter() - first_loaded
        say(
            f"  bgp converged: every node has every remote block as a proto bird route "
            f"({state.timings['convergence']:.3f} s since the first BIRD loaded its config, "
            f"{waited:.3f} s after provisioning)"
        )

    # -- pods
    t = time.perf_counter()
    if pods:
        add_pods(state, pods, say)
    state.timings["pods"] = _step(say, f"{len(state.pods)} pods attached with the CNI plugins", t)
    state.phase = "ready"
    state.timings["total"] = time.perf_counter() - t_all
    state.save()
    say(f"lab {state.name}: up in {state.timings['total']:.2f} s")


def bird_text(pipeline: Pipeline, state: LabState, node: NodeRecord) -> str:
    """The node's rendered BIRD configuration (passwords as placeholders), "" without one."""
    config = pipeline.render(node.name, node_facts(state, node)).bird
    return config.config or "" if config is not None else ""


def add_pods(state: LabState, per_node: int, say: Callable[[str], None]) -> None:
    records: list[PodRecord] = []
    for n in state.nodes:
        for k in range(1, per_node + 1):
            pod_name = f"{n.name}-p{k}"
            records.append(
                PodRecord(
                    name=pod_name,
                    node=n.name,
                    netns=f"{state.name}-{pod_name}",
                    container_id=f"{state.name}-{pod_name}",
                    port_mappings=[dict(PORT_MAPPING)] if k == 1 else [],
                )
            )
    state.pods.extend(records)
    topology.add_netns(state, [p.netns for p in records])

    def attach_node(node: NodeRecord) -> list[tuple[PodRecord, dict[str, Any], float]]:
        rt = runtime(state, node)
        out = []
        for pod in records:
            if pod.node == node.name:
                started = time.perf_counter()
                result = rt.add(attachment(pod))
                out.append((pod, result, time.perf_counter() - started))
        return out

    # Nodes in parallel (separate namespaces, bridges and host-local dirs); pods of a
    # node one after another, as a kubelet would.
    with ThreadPoolExecutor(max_workers=min(8, len(state.nodes))) as pool:
        futures = [pool.submit(attach_node, n) for n in state.nodes]
        done = [f.result() for f in futures]
    for per_node_results in done:
        for pod, result, took in per_node_results:
            pod.ips = pod_ips(result)
            say(f"  pod {pod.name} in {pod.netns}: {', '.join(pod.ips)} ({took:.3f} s)")
    state.save()


def down(state: LabState, *, say: Callable[[str], None]) -> list[str]:
    """Remove everything in the state file; returns the problems (empty: all gone)."""
    problems = bird.stop(state.processes)
    problems += topology.delete_netns(state.namespaces, say)
    if not problems:
        root = os.path.realpath(STATE_ROOT)
        directory = os.path.realpath(state.directory)
        if os.path.dirname(directory) == root:
            shutil.rmtree(directory, ignore_errors=True)
        prune_state_root()
    return problems


def prune_state_root() -> None:
    """Remove the labs' parent directories once no lab lives there any more."""
    root = os.path.realpath(STATE_ROOT)
    for d in (root, os.path.dirname(root)):
        try:
            os.rmdir(d)  # only when empty: another lab may still live there
        except OSError:
            break
