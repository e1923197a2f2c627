"""The fine-grained Ansible modules against a real kernel, through the collection's code.

Each module's action runs as `AnsibleModule` would run it (arguments validated against
the module's argument_spec, then `actions.run`), in a fresh namespace: apply, re-apply
(not changed), check mode predicts and changes nothing (the `ip -json` snapshot stays
identical), purge removes only netwright's objects, absent removes the listed ones, and
a foreign object at a listed key fails the task, naming it, and is left untouched. The
results are read back with `ip -json`, `bridge -json`, `nft` and the file system, never
with netwright's code.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tests.kernel._netns import KERNEL, ipj, quiet, sh, snapshot, underlay

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402
from ansible_collections.netwright.fabric.plugins.module_utils.actions import run  # noqa: E402
from ansible_collections.netwright.fabric.plugins.module_utils.environment import (  # noqa: E402
    Finished,
    RecordingEnvironment,
)
from ansible_collections.netwright.fabric.plugins.module_utils.objects import (  # noqa: E402
    make_objects,
)
from ansible_collections.netwright.fabric.plugins.module_utils.options import (  # noqa: E402
    object_argument_spec,
)

pytestmark = KERNEL


@pytest.fixture
def node(netns: Callable[[str], str], tmp_path: Path) -> tuple[str, str]:
    """A fresh namespace with `eth0` (172.31.9.1/24, up) and its own root."""
    ns = netns("fg")
    quiet(ns)
    underlay(ns, "172.31.9.1/24")
    return ns, str(tmp_path / "root")


@pytest.fixture
def call(node: tuple[str, str]) -> Callable[..., dict[str, Any]]:
    """`call(module, check=False, **args)`: the module's result (`failed` on failure)."""
    ns, root = node

    def invoke(module: str, *, check: bool = False, **args: Any) -> dict[str, Any]:
        args = {"netns": ns, "root": root, **args}
        checked = ArgumentSpecValidator(object_argument_spec(module)).validate(args)
        assert not checked.error_messages, checked.error_messages
        env = RecordingEnvironment(checked.validated_parameters, check_mode=check, diff_mode=True)
        with pytest.raises(Finished) as done:
            run(env, make_objects(module))
        return done.value.result

    return invoke


#: What the kernel changes on its own after a run, none of it the module's doing: a new
#: bridge or VTEP loses or gains carrier and operstate some time after it is created;
#: IPv6 link-local addresses and their routes appear per link (as in tests/e2e).
_CARRIER = frozenset({"NO-CARRIER", "LOWER_UP", "M-DOWN", "linkdown"})


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: [f for f in v if f not in _CARRIER] if k == "flags" else _stable(v)
            for k, v in value.items()
            if k not in ("operstate", "tentative") and not k.endswith("_timer")
        }
    if isinstance(value, list):
        return [_stable(v) for v in value if not _link_local(v)]
    return value


def _link_local(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    where = str(entry.get("dst") or entry.get("local") or "")
    return where.startswith(("fe80:", "ff00:", "ff02:", "multicast"))


def state_of(ns: str) -> Any:
    """The namespace's `ip -json`/`bridge -json`/`nft` snapshot, less what settles alone."""
    return _stable(snapshot(ns))


def routes211(ns: str) -> list[str]:
    return sorted(
        f"{r['dst']} {r.get('gateway', '-')} {r.get('dev', '-')}"
        for r in ipj(ns, "ip", "route", "show", "table", "all")
        if r.get("protocol") == "211"
    )


def assert_idempotent_and_checked(
    call: Callable[..., dict[str, Any]], ns: str, module: str, **args: Any
) -> dict[str, Any]:
    """Apply, re-apply (not changed), and check mode changes nothing at all."""
    first = call(module, **args)
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] is True
    before = state_of(ns)
    again = call(module, **args)
    assert not again.get("failed"), again.get("msg")
    assert (again["changed"], again["summary"]["add"], again["summary"]["change"]) == (False, 0, 0)
    checked = call(module, check=True, **args)
    assert checked["changed"] is False
    assert state_of(ns) == before
    return first


def test_route(call: Callable[..., dict[str, Any]], node: tuple[str, str]) -> None:
    ns, _ = node
    a = {"dst": "10.9.0.0/24", "via": "172.31.9.2", "dev": "eth0"}
    b = {"dst": "10.9.1.0/24", "via": "172.31.9.2", "dev": "eth0"}
    c = {"dst": "10.9.2.0/24", "dev": "eth0", "table": 100, "metric": 5}
    result = assert_idempotent_and_checked(call, ns, "route", routes=[a, b, c])
    assert result["summary"] == {"add": 4, "change": 0, "delete": 0, "conflict": 0}
    assert routes211(ns) == [
        "10.9.0.0/24 172.31.9.2 eth0",
        "10.9.1.0/24 172.31.9.2 eth0",
        "10.9.2.0/24 - eth0",
    ]
    assert [n["gateway"] for n in ipj(ns, "ip", "nexthop", "show")] == ["172.31.9.2"]

    # check mode predicts an add and a change, and changes nothing
    before = state_of(ns)
    moved = dict(b, via="172.31.9.3")
    d = {"dst": "10.9.3.0/24", "dev": "eth0"}
    predicted = call("route", check=True, routes=[a, moved, c, d])
    assert predicted["changed"] is True
    assert {(ch["op"], ch["kind"]) for ch in predicted["changes"]} == {
        ("add", "nexthop"),
        ("change", "route"),
        ("add", "route"),
    }
    assert state_of(ns) == before

    # a foreign route at a listed key: refused, nothing changes, it stays
    sh(ns, "ip", "route", "add", "10.9.7.0/24", "dev", "eth0", "proto", "static")
    before = state_of(ns)
    refused = call("route", routes=[d, {"dst": "10.9.7.0/24", "via": "172.31.9.2", "dev": "eth0"}])
    assert refused["failed"] is True
    assert refused["error"] == "conflict"
    assert "10.9.7.0/24" in refused["msg"]
    assert "proto 4" in refused["msg"] or "static" in refused["msg"]
    assert state_of(ns) == before

    # present without purge leaves unlisted routes; purge removes only netwright's
    assert call("route", routes=[d])["changed"] is True
    assert len(routes211(ns)) == 4
    purged = call("route", routes=[a], purge=True)
    assert purged["changed"] is True
    assert routes211(ns) == ["10.9.0.0/24 172.31.9.2 eth0"]
    foreign = [r for r in ipj(ns, "ip", "route", "show") if r.get("protocol") == "static"]
    assert [r["dst"] for r in foreign] == ["10.9.7.0/24"]

    # absent removes the listed one and its last nexthop; a foreign one listed is refused
    refused = call("route", routes=[{"dst": "10.9.7.0/24"}], state="absent")
    assert (refused["failed"], refused["error"]) == (True, "conflict")
    gone = call("route", routes=[{"dst": "10.9.0.0/24"}, {"dst": "10.9.8.0/24"}], state="absent")
    assert gone["changed"] is True
    assert routes211(ns) == []
    assert ipj(ns, "ip", "nexthop", "show") == []
    assert call("route", routes=[{"dst": "10.9.0.0/24"}], state="absent")["changed"] is False


def links(ns: str) -> dict[str, dict[str, Any]]:
    return {lk["ifname"]: lk for lk in ipj(ns, "ip", "-d", "link", "show")}


def test_link(call: Callable[..., dict[str, Any]], node: tuple[str, str]) -> None:
    ns, _ = node
    wanted = [
        {"name": "nwbr0", "kind": "bridge", "mtu": 1400, "mac": "0e:6f:00:00:00:01"},
        {"name": "nwve0", "kind": "veth", "up": False},
        {"name": "nwvx.1", "kind": "vxlan", "vni": 1, "local": "172.31.9.1", "dev": "eth0"},
    ]
    assert_idempotent_and_checked(call, ns, "link", links=wanted)
    have = links(ns)
    assert have["nwbr0"]["linkinfo"]["info_kind"] == "bridge"
    assert (have["nwbr0"]["mtu"], have["nwbr0"]["address"]) == (1400, "0e:6f:00:00:00:01")
    assert have["nwvx.1"]["linkinfo"]["info_data"]["id"] == 1
    assert have["nwve0"]["linkinfo"]["info_kind"] == "veth"
    assert all(have[n].get("ifalias") == "netwright" for n in ("nwbr0", "nwve0", "nwvx.1"))

    # a change in place, predicted in check mode first
    before = state_of(ns)
    bigger = [dict(wanted[0], mtu=1450), *wanted[1:]]
    predicted = call("link", check=True, links=bigger)
    assert [(c["op"], c["key"]) for c in predicted["changes"]] == [("change", "nwbr0")]
    assert state_of(ns) == before
    assert call("link", links=bigger)["changed"] is True
    assert links(ns)["nwbr0"]["mtu"] == 1450

    # a foreign link of a listed name: refused, untouched
    sh(ns, "ip", "link", "add", "other0", "type", "bridge")
    before = state_of(ns)
    refused = call("link", links=[{"name": "other0", "kind": "bridge", "mtu": 1300}])
    assert (refused["failed"], refused["error"]) == (True, "conflict")
    assert "other0" in refused["msg"]
    assert state_of(ns) == before
    refused = call("link", links=[{"name": "other0", "kind": "bridge"}], state="absent")
    assert (refused["failed"], refused["error"]) == (True, "conflict")

    # purge removes only netwright's links (the foreign bridge and eth0 stay)
    assert call("link", links=[wanted[0]], purge=True)["changed"] is True
    names = set(links(ns))
    assert {"nwbr0", "other0", "eth0"} <= names
    assert not {"nwve0", "nwvx.1"} & names
    assert call("link", links=[{"name": "nwbr0", "kind": "bridge"}], state="absent")["changed"]
    assert "nwbr0" not in links(ns)


def test_neighbour_and_fdb(call: Callable[..., dict[str, Any]], node: tuple[str, str]) -> None:
    ns, _ = node
    vtep = {"name": "nwvx.1", "kind": "vxlan", "vni": 1, "local": "172.31.9.1", "dev": "eth0"}
    assert call("link", links=[vtep])["changed"] is True
    sh(ns, "ip", "link", "add", "forvx", "type", "vxlan", "id", "2", "dstport", "4789")
    n1 = {"dev": "nwvx.1", "ip": "10.244.2.0", "mac": "0e:6e:ac:1f:09:02"}
    n2 = {"dev": "nwvx.1", "ip": "10.244.3.0", "mac": "0e:6e:ac:1f:09:03"}
    assert_idempotent_and_checked(call, ns, "neighbour", neighbours=[n1, n2])
    perm = {
        (n["dst"], n["lladdr"])
        for n in ipj(ns, "ip", "neigh", "show", "dev", "nwvx.1")
        if "PERMANENT" in n["state"]
    }
    assert perm == {("10.244.2.0", "0e:6e:ac:1f:09:02"), ("10.244.3.0", "0e:6e:ac:1f:09:03")}
    f1 = {"dev": "nwvx.1", "mac": "0e:6e:ac:1f:09:02", "dst": "172.31.9.2"}
    f2 = {"dev": "nwvx.1", "mac": "0e:6e:ac:1f:09:03", "dst": "172.31.9.3"}
    assert_idempotent_and_checked(call, ns, "fdb", entries=[f1, f2])

    def fdb() -> set[tuple[str, str]]:
        return {
            (e["mac"], e["dst"])
            for e in ipj(ns, "bridge", "fdb", "show", "dev", "nwvx.1")
            if "dst" in e and e["mac"] != "00:00:00:00:00:00"
        }

    assert fdb() == {("0e:6e:ac:1f:09:02", "172.31.9.2"), ("0e:6e:ac:1f:09:03", "172.31.9.3")}

    # entries on a link that is not one of netwright's VTEPs: refused, nothing changes
    before = state_of(ns)
    refused = call("neighbour", neighbours=[dict(n1, dev="forvx"), dict(n1, ip="10.244.4.0")])
    assert (refused["failed"], refused["error"]) == (True, "conflict")
    assert "forvx" in refused["msg"]
    refused = call("fdb", entries=[dict(f1, dev="forvx")])
    assert (refused["failed"], refused["error"]) == (True, "conflict")
    assert state_of(ns) == before

    # purge and absent
    assert call("neighbour", neighbours=[n1], purge=True)["changed"] is True
    assert [n["dst"] for n in ipj(ns, "ip", "neigh", "show", "dev", "nwvx.1")] == ["10.244.2.0"]
    assert call("fdb", entries=[f2], state="absent")["changed"] is True
    assert fdb() == {("0e:6e:ac:1f:09:02", "172.31.9.2")}
    # the VTEP itself, and its routes, were never touched by the entry modules
    assert "nwvx.1" in links(ns)


def test_sysctl(call: Callable[..., dict[str, Any]], node: tuple[str, str]) -> None:
    ns, _ = node
    sh(ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0")
    wanted = [
        {"name": "net.ipv4.ip_forward", "value": "1"},
        {"name": "net/ipv4/conf/all/rp_filter", "value": "2"},
        {"name": "net.nosuch.thing", "value": "1", "optional": True},
    ]
    result = assert_idempotent_and_checked(call, ns, "sysctl", sysctls=wanted)
    assert any("net.nosuch.thing" in n for n in result["notes"])
    out = sh(ns, "sysctl", "-n", "net.ipv4.ip_forward", "net.ipv4.conf.all.rp_filter")
    assert out.split() == ["1", "2"]
    refused = call("sysctl", sysctls=[{"name": "kernel.hostname", "value": "x"}])
    assert (refused["failed"], refused["error"]) == (True, "argument")
    assert refused["issues"][0].startswith("sysctls[0].name:")


def test_nat(call: Callable[..., dict[str, Any]], node: tuple[str, str]) -> None:
    ns, _ = node
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed")
    sh(ns, "nft", "add", "table", "inet", "other")
    args = {"sources": ["10.244.0.0/16"], "exclude": ["10.244.0.0/16"]}
    assert_idempotent_and_checked(call, ns, "nat", **args)
    table = sh(ns, "nft", "list", "table", "inet", "netwright")
    assert "masquerade" in table
    assert "10.244.0.0/16" in table
    assert call("nat", state="absent")["changed"] is True
    tables = sh(ns, "nft", "list", "tables").split("\n")
    assert "table inet other" in tables
    assert "table inet netwright" not in tables


def test_conflist(call: Callable[..., dict[str, Any]], node: tuple[str, str]) -> None:
    ns, root = node
    net_d = Path(root, "etc/cni/net.d")
    config = {"cniVersion": "1.0.0", "name": "pods", "plugins": [{"type": "bridge"}]}
    a = {"name": "10-pods.conflist", "config": config}
    b = {"name": "20-more.conflist", "config": dict(config, name="more")}
    assert_idempotent_and_checked(call, ns, "conflist", conflists=[a, b])
    assert json.loads((net_d / "10-pods.conflist").read_text()) == config
    assert oct((net_d / "10-pods.conflist").stat().st_mode & 0o777) == "0o644"

    # a file netwright did not write, at a listed path: refused, left as it was
    (net_d / "30-theirs.conflist").write_text("{}\n")
    refused = call("conflist", conflists=[{"name": "30-theirs.conflist", "config": config}])
    assert (refused["failed"], refused["error"]) == (True, "conflict")
    assert (net_d / "30-theirs.conflist").read_text() == "{}\n"

    # check mode of a change writes nothing; purge removes only netwright's files
    changed = {"name": "10-pods.conflist", "config": dict(config, name="pods2")}
    predicted = call("conflist", check=True, conflists=[changed])
    assert predicted["changed"] is True
    assert "pods2" in predicted["diff"]["after"]
    assert json.loads((net_d / "10-pods.conflist").read_text()) == config
    assert call("conflist", conflists=[changed], purge=True)["changed"] is True
    assert sorted(os.listdir(net_d)) == ["10-pods.conflist", "30-theirs.conflist"]
    assert call("conflist", conflists=[changed], state="absent")["changed"] is True
    assert sorted(os.listdir(net_d)) == ["30-theirs.conflist"]


@pytest.fixture
def bird(node: tuple[str, str]) -> Iterator[str]:
    """BIRD running in the namespace on `<root>/run/bird/bird.ctl`; its socket path."""
    ns, root = node
    if shutil.which("bird") is None or shutil.which("birdc") is None:
        pytest.skip("BIRD 2 (bird2) is not installed")
    run_dir = Path(root, "run/bird")
    run_dir.mkdir(parents=True)
    boot = run_dir / "boot.conf"
    boot.write_text("router id 10.0.0.1;\nprotocol device {}\n")
    pidfile = run_dir / "bird.pid"
    socket = str(run_dir / "bird.ctl")
    sh(ns, "bird", "-c", str(boot), "-s", socket, "-P", str(pidfile))
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and os.path.exists(socket)) and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield socket
    finally:
        if pidfile.exists():
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10  # gone before its namespace is deleted
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.01)


def test_bird(call: Callable[..., dict[str, Any]], node: tuple[str, str], bird: str) -> None:
    ns, root = node
    text = (
        "router id 10.0.0.1;\nprotocol device {}\n"
        "protocol static fg1 { ipv4; route 10.99.0.0/24 blackhole; }\n"
    )
    assert_idempotent_and_checked(call, ns, "bird", config=text)
    conf = Path(root, "etc/bird/bird.conf")
    assert conf.read_text() == text
    assert oct(conf.stat().st_mode & 0o777) == "0o640"
    shown = subprocess.run(
        ["birdc", "-s", bird, "show", "protocols"], capture_output=True, text=True, check=True
    ).stdout
    assert "fg1" in shown
    assert call("bird", state="absent")["changed"] is True
    assert not conf.exists()


PLAY = """
- hosts: all
  gather_facts: false
  module_defaults:
    group/netwright.fabric.all:
      root: "{{ netwright_root }}"
  tasks:
    - netwright.fabric.link:
        links: [{name: nwvx.1, kind: vxlan, vni: 1, local: 172.31.9.1, dev: eth0}]
    - netwright.fabric.route:
        routes:
          - {dst: 10.9.0.0/24, via: 172.31.9.2, dev: eth0}
          - {dst: 10.9.1.0/24, dev: nwvx.1}
    - netwright.fabric.fdb:
        entries: [{dev: nwvx.1, mac: "0e:6e:ac:1f:09:02", dst: 172.31.9.2}]
"""


def test_through_ansible_playbook(node: tuple[str, str], tmp_path: Path) -> None:
    """The real path: AnsiballZ, the action group, the netns connection; twice, then check."""
    if shutil.which("ansible-playbook") is None:
        pytest.skip("needs ansible-playbook (ansible-core)")
    ns, root = node
    (tmp_path / "play.yml").write_text(PLAY, encoding="utf-8")
    (tmp_path / "hosts.yml").write_text(
        json.dumps(
            {
                "all": {
                    "hosts": {"fg": {"ansible_host": ns, "netwright_root": root}},
                    "vars": {
                        "ansible_connection": "netwright.fabric.netns",
                        "ansible_python_interpreter": sys.executable,
                    },
                }
            }
        ),
        encoding="utf-8",
    )
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / ".ansible-local"),
    )

    def play(*args: str) -> str:
        argv = ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")]
        proc = subprocess.run(
            [*argv, *args], capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    assert "ok=3    changed=3" in play()
    assert routes211(ns) == ["10.9.0.0/24 172.31.9.2 eth0", "10.9.1.0/24 - nwvx.1"]
    before = state_of(ns)
    assert "ok=3    changed=0" in play()
    assert "ok=3    changed=0" in play("--check", "--diff")
    assert state_of(ns) == before
