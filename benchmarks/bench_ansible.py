"""The Ansible push path on namespace hosts: how site.yml scales with hosts, and the
`node` module against one `command: ip ...` task per object.

(a) `playbooks/site.yml` (allocate once, then the node role on every host) on 1, 4 and
    16 network-namespace hosts (vxlan, one node per host), each a fresh spec and fresh
    namespaces: seconds per host, and t(16)/t(1). Goal: at most 4, which needs Ansible's
    forks to run the hosts in parallel (this runs with forks = 16; the default, 5, would
    make it about 16/5 = 3.2 rounds). A second run (changed=0) is timed as well.
(b) One host-gw node with P peers (one route per peer: P routes): the `node` module
    provisioning it (bridge, sysctls, NAT, conflist and the P routes, one task), against
    the baseline a shell-heavy role would run: one `ansible.builtin.command: ip route
    replace ...` task item per route, looped, in a fresh namespace with the same eth0.
    Both are whole `ansible-playbook` runs with the same settings (pipelining on, as
    a tuned shell role would have it), measured in the same run, for P = 100 and 1,000.

Printed as ratios, since ratios survive a change of machine. Runs as root only; every
namespace it makes is removed, also on failure or Ctrl-C.

Usage: python benchmarks/bench_ansible.py [--hosts 1 4 16] [--peers 100 1000] [-v]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "playbooks" / "site.yml"
RECAP = re.compile(
    r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE
)
FORKS = 16


class Namespaces:
    """The namespaces this run made; `close()` deletes every one of them."""

    def __init__(self) -> None:
        self.prefix = f"nwb{uuid.uuid4().hex[:4]}"
        self.made: list[str] = []

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    def add(self, what: str) -> str:
        ns = self.name(what)
        self.made.append(ns)  # recorded first: a failed add is still tried on close
        sh("ip", "netns", "add", ns)
        return ns

    def close(self) -> None:
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        self.made.clear()


def sh(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True).stdout


def make_hosts(spaces: Namespaces, tag: str, addresses: dict[str, str], prefixlen: int) -> str:
    """A switch and one namespace per host whose eth0 holds its address; returns the switch."""
    switch = spaces.add(f"{tag}sw")
    batch = ["link add br0 type bridge", "link set br0 up"]
    sh("ip", "-n", switch, "-batch", "-", stdin="\n".join(batch) + "\n")
    for host, address in addresses.items():
        ns = spaces.add(f"{tag}{host}")
        sh(
            "ip",
            "link",
            "add",
            "eth0",
            "netns",
            ns,
            "type",
            "veth",
            "peer",
            "name",
            f"v{host}",
            "netns",
            switch,
        )
        sh("ip", "-n", switch, "link", "set", f"v{host}", "master", "br0", "up")
        sh(
            "ip",
            "-n",
            ns,
            "-batch",
            "-",
            stdin=(
                f"address add {address}/{prefixlen} dev eth0\nlink set eth0 up\nlink set lo up\n"
            ),
        )
    return switch


def write_spec(spec: Path, backend: str, nodes: dict[str, str], pool: str) -> None:
    spec.mkdir(parents=True)
    docs = [
        {
            "apiVersion": "netwright.io/v1alpha1",
            "kind": "Backend",
            "metadata": {"name": "b"},
            "spec": {"type": backend},
        },
        {
            "apiVersion": "netwright.io/v1alpha1",
            "kind": "IPPool",
            "metadata": {"name": "pods"},
            "spec": {"cidr": pool, "blockSize": 24, "backend": "b", "natOutgoing": True},
        },
        {
            "apiVersion": "netwright.io/v1alpha1",
            "kind": "Network",
            "metadata": {"name": "podnet"},
            "spec": {
                "type": "bridge",
                "bridge": {"name": "cni0"},
                "mtu": "auto",
                "ipPools": ["pods"],
            },
        },
    ]
    (spec / "network.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    (spec / "nodes.yaml").write_text(
        yaml.safe_dump_all(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name},
                "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
            }
            for name, ip in nodes.items()
        ),
        encoding="utf-8",
    )


def write_inventory(path: Path, hosts: dict[str, str], spec: Path, roots: Path) -> Path:
    inventory = {
        "all": {
            "children": {
                "nodes": {
                    "vars": {
                        "ansible_connection": "netwright.fabric.netns",
                        "ansible_python_interpreter": sys.executable,
                        "netwright_spec_dir": str(spec),
                    },
                    "hosts": {
                        host: {"ansible_host": ns, "netwright_root": str(roots / host)}
                        for host, ns in hosts.items()
                    },
                }
            }
        }
    }
    path.write_text(yaml.safe_dump(inventory), encoding="utf-8")
    return path


def play(inventory: Path, playbook: Path, tmp: Path, *args: str) -> tuple[float, dict[str, int]]:
    """Seconds of one `ansible-playbook` run, and changed= per host; fails on any failure."""
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
        ANSIBLE_FORKS=str(FORKS),
        ANSIBLE_PIPELINING="1",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCAL_TEMP=str(tmp / ".ansible-local"),
        PATH=f"{Path(os.path.realpath(sys.executable)).parent}{os.pathsep}{os.environ['PATH']}",
    )
    started = time.perf_counter()
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(playbook), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - started
    recap = {m[1]: int(m[2]) for m in RECAP.finditer(proc.stdout)}
    if proc.returncode != 0 or not recap:
        sys.exit(
            f"bench_ansible: {playbook.name} failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
        )
    return seconds, recap


def bench_site(sizes: list[int], tmp: Path, say) -> dict[int, tuple[float, float]]:
    """Per size: (seconds of the first site.yml run, seconds of the second)."""
    results = {}
    for size in sizes:
        spaces = Namespaces()
        try:
            nodes = {f"n{i}": f"172.31.{i // 200}.{i % 200 + 10}" for i in range(1, size + 1)}
            make_hosts(spaces, "s", nodes, 16)
            work = tmp / f"site-{size}"
            spec = work / "spec"
            write_spec(spec, "vxlan", nodes, "10.244.0.0/16")
            inventory = write_inventory(
                work / "inventory.yml",
                {n: spaces.name(f"s{n}") for n in nodes},
                spec,
                work / "roots",
            )
            first, recap = play(inventory, SITE, work)
            assert all(recap[n] > 0 for n in nodes), recap
            second, recap = play(inventory, SITE, work)
            assert all(recap[n] == 0 for n in nodes), f"second run changed something: {recap}"
            results[size] = (first, second)
            say(f"  site.yml, {size:2d} hosts: first {first:6.2f} s, second {second:6.2f} s")
        finally:
            spaces.close()
    return results


BASELINE = """\
- name: One command task per route, as a shell-heavy role does it
  hosts: all
  gather_facts: false
  vars:
    routes: "{{ lookup('ansible.builtin.file', routes_file) | from_yaml }}"
  tasks:
    - name: Route each peer's block via the peer
      ansible.builtin.command: ip route replace {{ item.dst }} via {{ item.via }} dev eth0 proto 211
      loop: "{{ routes }}"
      changed_when: true
"""

NODE = """\
- name: The node module, one task
  hosts: all
  gather_facts: false
  tasks:
    - name: Provision the node
      netwright.fabric.node:
        spec_dir: "{{ netwright_spec_dir }}"
        node: n0
        root: "{{ netwright_root }}"
"""


def bench_peers(sizes: list[int], tmp: Path, say) -> dict[int, tuple[float, float, int]]:
    """Per peer count: (node module seconds, one-task-per-route seconds, routes)."""
    results = {}
    for peers in sizes:
        spaces = Namespaces()
        try:
            underlay = ipaddress.ip_network("172.20.0.0/20")
            hosts = list(underlay.hosts())
            nodes = {f"n{i}": str(hosts[i]) for i in range(peers + 1)}
            make_hosts(spaces, "m", {"n0": nodes["n0"]}, 20)
            make_hosts(spaces, "c", {"n0": nodes["n0"]}, 20)
            work = tmp / f"peers-{peers}"
            spec = work / "spec"
            write_spec(spec, "host-gw", nodes, "10.0.0.0/8")
            sh(sys.executable, "-m", "netwright.cli", "allocate", "--write", str(spec))
            blocks = {
                d["spec"]["node"]: d["spec"]["cidr"]
                for d in yaml.safe_load_all((spec / "ipblocks.yaml").read_text(encoding="utf-8"))
                if d
            }
            routes = [{"dst": blocks[n], "via": ip} for n, ip in nodes.items() if n != "n0"]
            (work / "routes.yaml").write_text(yaml.safe_dump(routes), encoding="utf-8")
            node_pb, base_pb = work / "node.yml", work / "baseline.yml"
            node_pb.write_text(NODE, encoding="utf-8")
            base_pb.write_text(BASELINE, encoding="utf-8")
            module_s, recap = play(
                write_inventory(work / "m.yml", {"n0": spaces.name("mn0")}, spec, work / "roots"),
                node_pb,
                work,
            )
            assert recap["n0"] == 1, recap
            base_s, _ = play(
                write_inventory(work / "c.yml", {"n0": spaces.name("cn0")}, spec, work / "roots"),
                base_pb,
                work,
                "-e",
                f"routes_file={work / 'routes.yaml'}",
            )
            for tag in ("mn0", "cn0"):  # both did the routes' work
                got = sh("ip", "-n", spaces.name(tag), "route", "show", "proto", "211")
                assert len(got.splitlines()) == peers, (tag, len(got.splitlines()))
            results[peers] = (module_s, base_s, len(routes))
            say(
                f"  {peers:5d} peers: node module {module_s:7.2f} s, "
                f"one command task per route {base_s:7.2f} s"
            )
        finally:
            spaces.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--peers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_ansible: needs root (it makes network namespaces)")
    if shutil.which("ansible-playbook") is None:
        sys.exit("bench_ansible: needs ansible-playbook (ansible-core)")
    say = (lambda line: print(line, file=sys.stderr)) if args.verbose else (lambda _line: None)
    with tempfile.TemporaryDirectory(prefix="bench-ansible-") as tmp:
        site = bench_site(sorted(args.hosts), Path(tmp), say) if args.hosts else {}
        peers = bench_peers(sorted(args.peers), Path(tmp), say) if args.peers else {}

    if site:
        print(f"(a) playbooks/site.yml on namespace hosts (vxlan, forks={FORKS})")
        print("  hosts  first run  per host  second run  per host")
        for size, (first, second) in site.items():
            print(
                f"  {size:5d}  {first:7.2f} s  {first / size:6.2f} s  "
                f"{second:8.2f} s  {second / size:6.2f} s"
            )
        small, large = min(site), max(site)
        if large > small:
            ratio = site[large][0] / site[small][0]
            again = site[large][1] / site[small][1]
            print(
                f"  t({large})/t({small}) = {ratio:.2f} first run, {again:.2f} second run "
                f"(goal <= 4; {large / small:.0f} would be one host at a time)"
            )
    if peers:
        print(
            "(b) host-gw node, P peers: the node module vs one `command: ip route` task per route"
        )
        print("  peers  node module  per-route tasks  ratio (tasks / module)")
        for count, (module_s, base_s, _routes) in peers.items():
            print(f"  {count:5d}  {module_s:9.2f} s  {base_s:13.2f} s  {base_s / module_s:8.1f}")
        if len(peers) > 1:
            small, large = min(peers), max(peers)
            print(
                f"  growth t({large})/t({small}): node module "
                f"{peers[large][0] / peers[small][0]:.2f}, per-route tasks "
                f"{peers[large][1] / peers[small][1]:.2f} ({large / small:.0f} = linear)"
            )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
