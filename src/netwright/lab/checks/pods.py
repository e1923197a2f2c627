"""`lab test`, CNI and the engine: CHECK every pod, DEL/ADD one, and a second provisioning pass.

Why it exists: a pod network is more than packets today; the runtime must be able
to CHECK and re-create pods, and the engine must find nothing to change on a
second run (idempotence). portmap 1.1.1 CHECK with port mappings fails on
IPv4-only pods (docs/troubleshooting.md#portmap-check-fails-on-ipv4-only-pods,
fixed upstream in v1.3.0): that is reported as XFAIL once the IPv4 DNAT chain it
failed to find in ip6tables is verified to be there. A deleted and re-added pod
gets connectivity back, at the *next* address host-local hands out
(docs/troubleshooting.md#host-local-state-per-node).

What it must not do: change the lab beyond the DEL/ADD of one pod (whose new
address it records in the state file).
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from netwright.engine import Target
from netwright.lab._proc import ip_json, ns_run
from netwright.lab.checks.results import FAIL, PASS, XFAIL, Verdict
from netwright.lab.checks.traffic import ping, v4
from netwright.lab.cni import CniError
from netwright.lab.lifecycle import attachment, pod_ips, runtime
from netwright.provisioning import provision

if TYPE_CHECKING:
    from netwright.lab.checks.results import Recorder
    from netwright.lab.state import LabState, PodRecord
    from netwright.pipeline import Pipeline

# portmap 1.1.1's checkPorts() looks for the IPv4 DNAT chain and rules in ip6tables
# too (fixed upstream in v1.3.0, fb5d195). IPv4-only pod: the chain is missing there;
# dual-stack pod: the chain exists (for the IPv6 rules) but the IPv4 rules do not.
_PORTMAP_V6_BUG = re.compile(
    r"could not check ipv6 dnat: (?:chain (CNI-DN-[0-9a-f]+)"
    r"|rule \[.*--to-destination [0-9.]+:\d+\]\] in chain (CNI-DN-[0-9a-f]+)) not found"
)


def check_one(state: LabState, pod: PodRecord) -> tuple[Verdict, str]:

    node = state.node(pod.node)
    try:
        runtime(state, node).check(attachment(pod))
    except CniError as exc:
        bug = _PORTMAP_V6_BUG.search(str(exc))
        if exc.plugin == "portmap" and pod.port_mappings and bug:
            chain = bug.group(1) or bug.group(2)
            rules = ns_run(node.netns, "iptables", "-t", "nat", "-S", chain, check=False).stdout
            target = f"--to-destination {v4(pod)}:{pod.port_mappings[0]['containerPort']}"
            if target in rules:
                return XFAIL, (
                    f"portmap 1.1.1 CHECK looks for the IPv4 chain {chain} and its rules in "
                    "ip6tables (fixed upstream in v1.3.0; "
                    "docs/troubleshooting.md#portmap-check-fails-on-ipv4-only-pods); "
                    f"the IPv4 chain is there with DNAT {target.rsplit(maxsplit=1)[-1]}"
                )
        return FAIL, str(exc)
    return PASS, f"every plugin of the conflist passed CHECK for {', '.join(pod.ips)}"


def cni_check(r: Recorder, state: LabState) -> None:
    with ThreadPoolExecutor(max_workers=max(1, len(state.nodes))) as pool:
        outcomes = list(pool.map(lambda p: check_one(state, p), state.pods))
    for pod, (status, detail) in zip(state.pods, outcomes, strict=True):
        r.add(status, f"cni check {pod.name}", detail)


def second_pass(r: Recorder, state: LabState, pipeline: Pipeline) -> None:

    for n in state.nodes:
        started = time.perf_counter()
        report = provision(pipeline, n.name, Target(netns=n.netns, root=n.root), check=False)
        took = (time.perf_counter() - started) * 1000
        counts = report.delta.summary()
        if report.ok and report.delta.empty:
            r.add(PASS, f"second pass {n.name}", f"0 changes ({took:.0f} ms)")
        else:
            lines = "; ".join(report.lines()[:8])
            r.add(FAIL, f"second pass {n.name}", f"{counts} ok={report.ok}: {lines}")


def del_add(r: Recorder, state: LabState) -> None:

    if not state.pods:
        return
    pod = state.pods[-1]
    node = state.node(pod.node)
    rt = runtime(state, node)
    att = attachment(pod)
    old = list(pod.ips)
    conflist = rt.conflist()
    network = conflist["name"]
    data_dir = conflist["plugins"][0].get("ipam", {}).get("dataDir", "/var/lib/cni/networks")
    name = f"cni del/add {pod.name}"

    def held() -> list[str]:
        return [ip for ip in old if os.path.exists(os.path.join(data_dir, network, ip))]

    # Without this, a wrong dataDir would make "host-local released them" pass unseen.
    before = held()
    if before != old:
        r.add(
            FAIL,
            name,
            f"before DEL: host-local holds {', '.join(before) or 'nothing'} "
            f"of {', '.join(old)} in {os.path.join(data_dir, network)}",
        )
        return
    rt.delete(att)
    links = [x["ifname"] for x in ip_json(pod.netns, "link", "show")]
    leftover = held()
    if "eth0" in links or leftover:
        r.add(
            FAIL,
            name,
            f"after DEL: eth0 {'still there' if 'eth0' in links else 'gone'}, "
            f"host-local still holds {', '.join(leftover) or 'nothing'}",
        )
        return
    try:
        rt.delete(att)
    except CniError as exc:
        r.add(FAIL, name, f"a second DEL must succeed: {exc}")
        return
    try:
        rt.check(att)
    except CniError as exc:
        refused = str(exc)
    else:
        r.add(FAIL, name, "CHECK after DEL passed; it must fail")
        return
    result = rt.add(att)
    pod.ips = pod_ips(result)
    state.save()
    status, detail = check_one(state, pod)
    if status == FAIL:
        r.add(FAIL, name, f"CHECK after the new ADD: {detail}")
        return
    peer = next((p for p in state.pods if p.node != pod.node and p.ips), None)
    src = peer.netns if peer else node.netns
    ok, what = ping(src, v4(pod), count=1)
    detail = (
        f"DEL removed eth0 and host-local's {', '.join(old)}; second DEL ok; "
        f"CHECK after DEL refused ({refused.split(': ', 1)[-1][:60]}); "
        f"ADD gave {', '.join(pod.ips)} (was {', '.join(old)}); "
        f"CHECK {status}; ping from {peer.name if peer else node.name}: {what}"
    )
    r.add(PASS if ok else FAIL, name, detail)
