"""`netwright apply` killed (SIGKILL) at many points of a large run, again and again:
every later run recognises what the killed ones made as netwright's, reports no
conflict, and the last one converges, judged by `ip -json`, `bridge -json` and the
files under the root.

Two specs of 2,000 vxlan nodes take turns, so that every run re-creates the VTEP
(another VNI) and the bridge (another name), deletes one conflist and writes another,
and moves 1,999 routes, nexthops, neighbour and fdb entries (a run killed before it
changed anything is followed by the same spec again): each run is killed at a delay
spread over the measured length of a run, or at a step named through
`NETWRIGHT_CRASH_AT` (between a link's create and its alias, after the files are
recorded and before they are written, ...), where a timer would need luck. After
each kill, `plan` of the next run must show no conflict.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
from _netns import KERNEL, ipj, quiet, sh

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = KERNEL

NODES = 2000
UNDERLAY = ipaddress.ip_network("172.20.0.0/16")
NODE = "n00000"
#: (VNI, bridge, network) of the two specs that take turns.
SPECS = {"a": (7, "cni0", "podnet"), "b": (8, "cni1", "podnet2")}

NETWORK = """\
apiVersion: netwright.io/v1alpha1
kind: Backend
metadata: {{name: overlay}}
spec: {{type: vxlan, vxlan: {{vni: {vni}, port: 8472}}}}
---
apiVersion: netwright.io/v1alpha1
kind: IPPool
metadata: {{name: pods-v4}}
spec: {{cidr: 10.64.0.0/11, blockSize: 24, backend: overlay, natOutgoing: true}}
---
apiVersion: netwright.io/v1alpha1
kind: Network
metadata: {{name: {network}}}
spec:
  type: bridge
  bridge: {{name: {bridge}}}
  mtu: auto
  ipPools: [pods-v4]
  plugins: [{{type: portmap}}]
"""

#: Kills at named steps: (point, which time it is reached). A run that never reaches
#: it (nothing to do there) just finishes, and is checked like any finished run.
POINTS = (
    ("link-recorded", 1),
    ("link-created", 1),
    ("link-created", 2),
    ("file-removed", 1),
    ("file-recorded", 1),
    ("file-written", 1),
)
#: Timed kills, as fractions of a whole run's measured length.
FRACTIONS = (0.35, 0.5, 0.6, 0.67, 0.73, 0.79, 0.84, 0.89, 0.94, 0.98)


def node_ip(i: int) -> str:
    return str(ipaddress.IPv4Address(int(UNDERLAY.network_address) + 256 + i))


def cli() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "netwright")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "netwright.cli"]


def write_specs(tmp_path: Path) -> dict[str, Path]:
    nodes = "---\n".join(
        f"apiVersion: v1\nkind: Node\nmetadata: {{name: n{i:05d}}}\n"
        f"status: {{addresses: [{{type: InternalIP, address: {node_ip(i)}}}]}}\n"
        for i in range(NODES)
    )
    out = {}
    for name, (vni, bridge, network) in SPECS.items():
        spec = tmp_path / f"spec-{name}"
        spec.mkdir()
        (spec / "network.yaml").write_text(NETWORK.format(vni=vni, bridge=bridge, network=network))
        (spec / "nodes.yaml").write_text(nodes)
        out[name] = spec
    # The same pool and nodes: one allocation serves both.
    subprocess.run([*cli(), "allocate", str(out["a"]), "--write"], check=True, capture_output=True)
    shutil.copy(out["a"] / "ipblocks.yaml", out["b"] / "ipblocks.yaml")
    return out


class Runs:
    """`netwright apply`/`plan` against one node namespace and root, as subprocesses."""

    def __init__(self, ns: str, root: Path, log: Path) -> None:
        self.ns, self.root, self.log = ns, root, log
        self.n = 0
        self.procs: list[subprocess.Popen[str]] = []

    def close(self) -> None:
        """Kill any run still going (a test that failed while waiting), by its pid."""
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()

    def argv(self, command: str, spec: Path) -> list[str]:
        return [*cli(), command, str(spec), "--node", NODE, "--netns", self.ns,
                "--root", str(self.root)]  # fmt: skip

    def start(self, spec: Path, crash_at: str | None = None) -> tuple[subprocess.Popen[str], Path]:
        self.n += 1
        out = self.log / f"run-{self.n}.txt"
        env = dict(os.environ)
        env.pop("NETWRIGHT_CRASH_AT", None)
        if crash_at is not None:
            env["NETWRIGHT_CRASH_AT"] = crash_at
        with out.open("w") as stream:  # a file: 8,000 lines would fill a pipe
            proc = subprocess.Popen(
                self.argv("apply", spec), stdout=stream, stderr=subprocess.STDOUT,
                text=True, env=env,
            )  # fmt: skip
        self.procs.append(proc)
        return proc, out

    def apply(self, spec: Path, crash_at: str | None = None) -> tuple[int, str]:
        proc, out = self.start(spec, crash_at)
        code = proc.wait(timeout=60)
        return code, out.read_text()

    def plan(self, spec: Path) -> str:
        proc = subprocess.run(
            self.argv("plan", spec), capture_output=True, text=True, check=False, timeout=60
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
        return proc.stdout


def whole(text: str) -> bool:
    """The run went all the way from one spec to the other (it deleted every peer)."""
    found = re.search(r"(\d+) to delete", text.splitlines()[0])
    return found is not None and int(found.group(1)) >= 3 * (NODES - 1)


def no_conflict(text: str, what: str) -> None:
    conflicts = [line for line in text.splitlines() if line.startswith("! ")]
    assert not conflicts, f"{what}: conflicts:\n" + "\n".join(conflicts[:10])
    assert "conflict:" not in text, f"{what}:\n{text[-3000:]}"


def finished(code: int, text: str, what: str) -> None:
    """A run that was not killed: done, without a failure or a conflict."""
    assert code == 0, f"{what}: exit {code}\n{text[-3000:]}"
    assert "failed: 0, conflicts: 0" in text, f"{what}:\n{text[-3000:]}"
    no_conflict(text, what)


@pytest.fixture
def node(netns: Callable[[str], str]) -> str:
    ns = netns("crash")
    quiet(ns)
    sh(ns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "ul")
    sh(ns, "ip", "link", "set", "ul", "up")
    sh(ns, "ip", "link", "set", "eth0", "up")
    sh(ns, "ip", "addr", "add", f"{node_ip(0)}/{UNDERLAY.prefixlen}", "dev", "eth0")
    return ns


@pytest.fixture
def runs(node: str, tmp_path: Path) -> Iterator[Runs]:
    root = tmp_path / "root"
    root.mkdir()
    log = tmp_path / "log"
    log.mkdir()
    made = Runs(node, root, log)
    try:
        yield made
    finally:
        made.close()


def test_apply_killed_anywhere_converges_and_owns_everything(
    node: str, runs: Runs, tmp_path: Path
) -> None:
    specs = write_specs(tmp_path)
    root = runs.root
    turn = ["b", "a"]  # the spec of the next run: they alternate

    def next_spec() -> Path:
        turn.reverse()
        return specs[turn[0]]

    # Whole runs from one spec to the other, timed (the shortest, once warm): what
    # the timed kills spread over.
    lengths = []
    for name in ("a", "b", "a", "b"):
        start = time.perf_counter()
        code, text = runs.apply(specs[name])
        lengths.append(time.perf_counter() - start)
        finished(code, text, f"whole apply of {name}")
    length = min(lengths[1:])

    killed: list[str] = []
    finishers: list[str] = []
    plans = [(f"{p}:{n}", None) for p, n in POINTS]
    plans += [(None, f) for f in FRACTIONS]
    for crash_at, fraction in plans:
        spec = next_spec()
        delay = None if fraction is None else fraction * length
        what = f"apply {spec.name} killed at {crash_at or f'{delay:.2f} s'}"
        start = time.perf_counter()
        proc, out = runs.start(spec, crash_at)
        if delay is not None:
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)  # our own child, by its pid
        code = proc.wait(timeout=60)
        text = out.read_text()
        if code == -signal.SIGKILL:
            killed.append(what)
        else:
            finished(code, text, what)
            if delay is not None and whole(text):  # a whole run, and a shorter one
                length = min(length, time.perf_counter() - start)
            finishers.append(f"{what} ({text.splitlines()[0].split(': ')[-1]})")
        # Whatever the killed run left, the next run must see it as netwright's.
        plan = runs.plan(specs[turn[1]])
        no_conflict(plan, f"plan after {what}")
        if "0 to add, 0 to change, 0 to delete" in plan:
            turn.reverse()  # killed before it changed anything: its spec comes again
    assert len(killed) >= len(plans) // 2, f"killed: {killed}; finished: {finishers}"

    # The last run converges; one more changes nothing.
    code, text = runs.apply(specs["a"])
    finished(code, text, "the last apply")
    code, text = runs.apply(specs["a"])
    finished(code, text, "one more apply")
    assert "0 to add, 0 to change, 0 to delete" in text, text[-3000:]

    # The kernel, as iproute2 sees it: netwright's links, each marked, nothing left over.
    links = {lk["ifname"]: lk for lk in ipj(node, "ip", "-d", "link", "show")}
    assert set(links) == {"lo", "eth0", "ul", "cni0", "nwvx.7"}, sorted(links)
    for name in ("cni0", "nwvx.7"):
        assert links[name].get("ifalias") == "netwright", links[name]
    routes = ipj(node, "ip", "route", "show", "table", "all", "proto", "211")
    dsts = [r["dst"] for r in routes]
    assert len(dsts) == len(set(dsts)) == NODES - 1
    assert all(r.get("dev") == "nwvx.7" for r in routes)
    owned = {r["dst"] for r in routes}
    for r in ipj(node, "ip", "route", "show", "table", "all"):
        if r["dst"] not in owned:  # only the kernel's own routes besides netwright's
            assert r.get("protocol") == "kernel", r
    nexthops = ipj(node, "ip", "nexthop", "show")
    assert len(nexthops) == NODES - 1
    assert {n.get("protocol") for n in nexthops} == {"211"}, nexthops[:3]
    neigh = [n for n in ipj(node, "ip", "neigh", "show") if "PERMANENT" in n.get("state", [])]
    assert len(neigh) == NODES - 1
    assert {n["dev"] for n in neigh} == {"nwvx.7"}
    fdb = [f for f in ipj(node, "bridge", "fdb", "show", "dev", "nwvx.7") if "dst" in f]
    assert len(fdb) == NODES - 1
    assert 'comment "netwright sha256:' in sh(node, "nft", "list", "table", "inet", "netwright")

    # Every file under the root that netwright wrote is in its state file, and only those.
    state_dir = root / "var/lib/netwright"
    state = json.loads((state_dir / "state.json").read_text())
    on_disk = {
        os.path.join(d, f)
        for d, _dirs, files in os.walk(root)
        for f in files
        if not d.startswith(str(state_dir))
    }
    assert on_disk == set(state["files"]) == {str(root / "etc/cni/net.d/10-podnet.conflist")}
    assert "links_pending" not in state
    assert "bird_pending" not in state
