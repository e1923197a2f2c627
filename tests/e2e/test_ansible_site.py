"""`ansible-playbook playbooks/site.yml` against three network-namespace hosts.

The push path end to end: the inventory's hosts are namespaces on this machine (the
`netwright.fabric.netns` connection), each with an `eth0` on one switch holding its
node's address from a copy of `examples/vxlan`. Checked with `ip -json` and the play's
recap, never with netwright's own code: the first run writes the allocations and
provisions every host, the second changes nothing, `--check --diff` after a spec change
shows the changes the real run then makes and changes nothing itself, and bad input (a
wrong field, a host holding another node's address) fails naming the cause and changes
nothing anywhere.

Skipped (with the reason) unless root with ansible-playbook installed; removes every
namespace it made, also when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from netwright.kernel import Target  # only to hold a node's lock, as another run would
from netwright.locking import target_lock

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "playbooks" / "site.yml"
NODES = {"n1": "172.31.255.11", "n2": "172.31.255.12", "n3": "172.31.255.13"}
RECAP = re.compile(
    r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE
)
DIFF_LINE = re.compile(r"^[+~-] (?:link|address|nexthop|route|neighbour|fdb|sysctl|nft|file|bird) ")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(
        shutil.which("ansible-playbook") is None, reason="needs ansible-playbook (ansible-core)"
    ),
]


#: What the kernel changes by itself after a run, none of it netwright's doing: an empty
#: bridge loses its carrier some time after it is created (NO-CARRIER, operstate DOWN, its
#: routes `linkdown`) and counts down its timers; a new link's IPv6 link-local address is
#: tentative until DAD ends, and its routes appear then; learned neighbours come and go.
_CARRIER = frozenset({"NO-CARRIER", "LOWER_UP", "M-DOWN", "linkdown"})
_SETTLING = ("operstate", "tentative")


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def stable(value: Any) -> Any:
    """`ip -json` output without what the kernel changes on its own (`_CARRIER`)."""
    if isinstance(value, dict):
        return {
            k: [f for f in v if f not in _CARRIER] if k == "flags" else stable(v)
            for k, v in value.items()
            if k not in _SETTLING and not k.endswith("_timer")
        }
    if isinstance(value, list):
        return [stable(v) for v in value if not _link_local(v)]
    return value


def _link_local(entry: Any) -> bool:
    """An IPv6 link-local or multicast address or route, made by the kernel for each link."""
    if not isinstance(entry, dict):
        return False
    where = str(entry.get("dst") or entry.get("local") or "")
    return where.startswith(("fe80:", "ff00:", "ff02:")) or (
        entry.get("family") == "inet6" and entry.get("scope") == "link"
    )


def permanent(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e for e in entries if "PERMANENT" in e.get("state", ()) or e.get("state") == "permanent"
    ]


@dataclass
class Hosts:
    prefix: str
    spec: Path
    roots: Path
    inventory: Path

    def netns(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    def write_inventory(
        self,
        path: Path,
        mapping: dict[str, str] | None = None,
        *,
        node_ips: bool = False,
    ) -> Path:
        """Inventory of the nodes; `mapping` sends a host to another node's namespace,
        `node_ips` gives each host its Node's address and labels (`netwright_node_ip`)."""
        mapping = mapping or {n: n for n in NODES}
        hosts: dict[str, dict[str, Any]] = {
            host: {
                "ansible_host": self.netns(ns_of),
                "netwright_root": str(self.roots / host),
            }
            for host, ns_of in mapping.items()
        }
        if node_ips:
            for host, host_vars in hosts.items():
                host_vars["netwright_node_ip"] = NODES[host]
                host_vars["netwright_node_labels"] = {"kubernetes.io/os": "linux"}
        inventory = {
            "all": {
                "children": {
                    "nodes": {
                        "vars": {
                            "ansible_connection": "netwright.fabric.netns",
                            "ansible_python_interpreter": sys.executable,
                            "netwright_spec_dir": str(self.spec),
                        },
                        "hosts": hosts,
                    }
                }
            }
        }
        path.write_text(yaml.safe_dump(inventory), encoding="utf-8")
        return path

    def play(self, *args: str, inventory: Path | None = None) -> Run:
        env = dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_STDOUT_CALLBACK="default",
            ANSIBLE_CALLBACK_RESULT_FORMAT="json",
            ANSIBLE_LOCAL_TEMP=str(self.roots / ".ansible-local"),
        )
        proc = subprocess.run(
            ["ansible-playbook", "-i", str(inventory or self.inventory), str(SITE), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        return Run(proc)

    def snapshot(self) -> dict[str, Any]:
        """Every namespace's kernel state (ip -json), every file under the roots and the spec."""
        state: dict[str, Any] = {}
        for node in NODES:
            ns = self.netns(node)
            state[node] = {
                what: stable(json.loads(sh("ip", "-n", ns, "-json", *argv) or "[]"))
                for what, argv in {
                    "links": ["-d", "link", "show"],
                    "addresses": ["address", "show"],
                    "routes": ["route", "show", "table", "all"],
                    "nexthops": ["nexthop", "show"],
                    "neighbours": ["neighbour", "show"],
                }.items()
            }
            state[node]["neighbours"] = permanent(state[node]["neighbours"])
            fdb = sh("ip", "netns", "exec", ns, "bridge", "-json", "fdb", "show")
            state[node]["fdb"] = permanent(json.loads(fdb or "[]"))
        for top in (self.roots, self.spec):
            for path in sorted(top.rglob("*")):
                if (
                    path.is_file()
                    and ".ansible-local" not in path.parts
                    and not path.name.endswith(".lock")
                ):
                    state[str(path)] = path.read_bytes()
        return state


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]

    @property
    def out(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def recap(self) -> dict[str, dict[str, int]]:
        return {
            m[1]: {
                "ok": int(m[2]),
                "changed": int(m[3]),
                "unreachable": int(m[4]),
                "failed": int(m[5]),
            }
            for m in RECAP.finditer(self.proc.stdout)
        }

    def diff_lines(self) -> list[str]:
        return sorted(line for line in self.proc.stdout.splitlines() if DIFF_LINE.match(line))

    def says(self, text: str) -> bool:
        """`text` appears, plainly or as a JSON string inside a result."""
        return any(
            form in self.out
            for form in (text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1])
        )

    def __str__(self) -> str:
        return f"exit {self.proc.returncode}\n{self.out}"


def make_hosts(tmp: Path) -> Iterator[Hosts]:
    prefix = f"nwa{uuid.uuid4().hex[:5]}"
    made: list[str] = []
    try:
        switch = f"{prefix}-sw"
        sh("ip", "netns", "add", switch)
        made.append(switch)
        sh("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", switch, "link", "set", "br0", "up")
        for node, address in NODES.items():
            ns = f"{prefix}-{node}"
            sh("ip", "netns", "add", ns)
            made.append(ns)
            port = f"{prefix}{node}"
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
                port,
                "netns",
                switch,
            )
            sh("ip", "-n", switch, "link", "set", port, "master", "br0", "up")
            sh("ip", "-n", ns, "address", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        spec = tmp / "spec"
        shutil.copytree(REPO / "examples" / "vxlan", spec)
        (spec / "ipblocks.yaml").unlink()
        roots = tmp / "roots"
        roots.mkdir()
        hosts = Hosts(prefix=prefix, spec=spec, roots=roots, inventory=tmp / "inventory.yml")
        hosts.write_inventory(hosts.inventory)
        yield hosts
    finally:
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def allocated(spec: Path) -> dict[str, str]:
    """Block by node, as ipblocks.yaml has them."""
    text = (spec / "ipblocks.yaml").read_text(encoding="utf-8")
    return {doc["spec"]["node"]: doc["spec"]["cidr"] for doc in yaml.safe_load_all(text) if doc}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    yield from make_hosts(tmp_path_factory.mktemp("ansible-site"))


@pytest.fixture(scope="module")
def first(hosts: Hosts) -> Run:
    return hosts.play()


def test_first_run_allocates_and_provisions_every_host(hosts: Hosts, first: Run) -> None:
    assert first.proc.returncode == 0, first
    recap = first.recap()
    assert set(recap) == set(NODES), first
    assert all(r["changed"] > 0 and r["failed"] == 0 for r in recap.values()), first
    blocks = allocated(hosts.spec)
    assert set(blocks) == set(NODES)
    for node in NODES:
        ns = hosts.netns(node)
        vteps = json.loads(sh("ip", "-n", ns, "-json", "-d", "link", "show", "type", "vxlan"))
        assert len(vteps) == 1
        assert vteps[0]["linkinfo"]["info_data"]["id"] == 1
        assert json.loads(sh("ip", "-n", ns, "-json", "link", "show", "type", "bridge"))
        routes = json.loads(sh("ip", "-n", ns, "-json", "route", "show", "proto", "211"))
        assert {r["dst"] for r in routes} >= {cidr for n, cidr in blocks.items() if n != node}
        conflists = list((hosts.roots / node / "etc" / "cni" / "net.d").glob("*.conflist"))
        assert len(conflists) == 1


def test_a_second_run_changes_nothing(hosts: Hosts, first: Run) -> None:
    assert first.proc.returncode == 0, first
    before = hosts.snapshot()
    again = hosts.play()
    assert again.proc.returncode == 0, again
    assert again.recap() == {n: dict(again.recap()[n], changed=0) for n in NODES}, again
    assert hosts.snapshot() == before


def test_check_diff_shows_the_changes_and_makes_none(hosts: Hosts, first: Run) -> None:
    assert first.proc.returncode == 0, first
    nodes_yaml = hosts.spec / "nodes.yaml"
    nodes_yaml.write_text(
        nodes_yaml.read_text(encoding="utf-8")
        + "---\napiVersion: v1\nkind: Node\nmetadata: {name: n4}\n"
        "status:\n  addresses: [{type: InternalIP, address: 172.31.255.14}]\n",
        encoding="utf-8",
    )
    before = hosts.snapshot()
    check = hosts.play("--check", "--diff")
    assert check.proc.returncode == 0, check
    assert hosts.snapshot() == before, "--check changed something"
    predicted = check.diff_lines()
    assert any(line.startswith("+ route 10.244.4.0/24") for line in predicted), check
    assert all(r["changed"] > 0 for r in check.recap().values()), check

    real = hosts.play("--diff")
    assert real.proc.returncode == 0, real
    assert real.diff_lines() == predicted, "the real run made other changes than --check showed"
    assert "n4" in allocated(hosts.spec)
    for node in NODES:
        routes = json.loads(
            sh("ip", "-n", hosts.netns(node), "-json", "route", "show", "proto", "211")
        )
        assert "10.244.4.0/24" in {r["dst"] for r in routes}


def test_a_wrong_field_fails_with_the_validate_line(
    hosts: Hosts, first: Run, tmp_path: Path
) -> None:
    assert first.proc.returncode == 0, first
    bad = tmp_path / "bad-spec"
    shutil.copytree(hosts.spec, bad)
    network = bad / "network.yaml"
    network.write_text(
        network.read_text(encoding="utf-8").replace("spec:\n", "spec:\n  bogusField: 1\n", 1),
        encoding="utf-8",
    )
    validate = subprocess.run(
        [sys.executable, "-m", "netwright.cli", "validate", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validate.returncode == 2
    line = next(entry for entry in validate.stderr.splitlines() if "bogusField" in entry)
    before = hosts.snapshot()
    run = hosts.play("-e", f"netwright_spec_dir={bad}")
    assert run.proc.returncode != 0, run
    assert run.says(line), f"{line!r} not in the output:\n{run}"
    assert all(r["changed"] == 0 for r in run.recap().values()), run
    assert hosts.snapshot() == before


def test_a_host_holding_another_nodes_address_fails(
    hosts: Hosts, first: Run, tmp_path: Path
) -> None:
    assert first.proc.returncode == 0, first
    swapped = hosts.write_inventory(tmp_path / "swapped.yml", {"n1": "n2"})
    before = hosts.snapshot()
    run = hosts.play("--limit", "n1", inventory=swapped)
    assert run.proc.returncode != 0, run
    assert run.says("holds 172.31.255.12 (on eth0), which is node n2's address, not n1's"), run
    assert run.says("nothing was changed"), run
    assert run.recap()["n1"]["failed"] == 1, run
    assert hosts.snapshot() == before


def test_a_node_locked_by_another_run_fails_and_changes_nothing(hosts: Hosts, first: Run) -> None:
    assert first.proc.returncode == 0, first
    ns = hosts.netns("n1")
    gone = next(
        r["dst"]
        for r in json.loads(sh("ip", "-n", ns, "-json", "route", "show", "proto", "211"))
        if r["dst"].startswith("10.244.")
    )
    sh("ip", "-n", ns, "route", "del", gone)
    before = hosts.snapshot()
    with target_lock(Target(netns=ns, root=str(hosts.roots / "n1")), wait=1.0):
        busy = hosts.play("--limit", "n1", "-e", "netwright_wait_lock=0.3")
    assert busy.proc.returncode != 0, busy
    assert busy.says('"error": "lock_busy"'), busy
    assert hosts.snapshot() == before
    freed = hosts.play("--limit", "n1")
    assert freed.recap()["n1"]["changed"] == 1, freed
    routes = json.loads(sh("ip", "-n", ns, "-json", "route", "show", "proto", "211"))
    assert gone in {r["dst"] for r in routes}


def test_nodes_can_come_from_the_inventory(hosts: Hosts, first: Run, tmp_path: Path) -> None:
    assert first.proc.returncode == 0, first
    spec = tmp_path / "spec-without-nodes"
    shutil.copytree(hosts.spec, spec)
    (spec / "nodes.yaml").unlink()
    (spec / "ipblocks.yaml").unlink()
    inventory = hosts.write_inventory(tmp_path / "with-ips.yml", node_ips=True)
    run = hosts.play("-e", f"netwright_spec_dir={spec}", inventory=inventory)
    assert run.proc.returncode == 0, run
    blocks = allocated(spec)
    assert set(blocks) == set(NODES)
    for node in NODES:
        routes = json.loads(
            sh("ip", "-n", hosts.netns(node), "-json", "route", "show", "proto", "211")
        )
        assert {r["dst"] for r in routes} == {cidr for n, cidr in blocks.items() if n != node}
    again = hosts.play("-e", f"netwright_spec_dir={spec}", inventory=inventory)
    assert all(r["changed"] == 0 for r in again.recap().values()), again
