"""The doctor's verdicts, decided from values: each threshold and each piece of advice."""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING

import pytest

from netwright.doctor import gathering
from netwright.doctor.commands import DEFAULT_CNI_BIN_DIR
from netwright.doctor.node_verdicts import (
    Bird,
    LinkMtu,
    Mtus,
    Nat,
    PlanDiff,
    PlanItem,
    Session,
    Sysctls,
    judge_bird,
    judge_bridge_nf,
    judge_forwarding,
    judge_mtu,
    judge_nat,
    judge_plan,
    judge_rp_filter,
)
from netwright.doctor.running import Where, lines, to_json
from netwright.doctor.verdicts import (
    Check,
    Conflist,
    Ipam,
    PluginAnswer,
    Reservation,
    Status,
    judge_conflist,
    judge_ipam,
    judge_plugins,
    worst,
)

if TYPE_CHECKING:
    from pathlib import Path

IP = ipaddress.ip_address
NET = ipaddress.ip_network
BLOCK = NET("10.244.1.0/24")


def test_worst_orders_fail_over_warn_over_pass() -> None:
    assert worst([]) is Status.PASS
    assert worst([Status.PASS, Status.WARN]) is Status.WARN
    assert worst([Status.WARN, Status.FAIL, Status.PASS]) is Status.FAIL


# -- conflist


def test_conflist_missing_invalid_shadowed_and_good() -> None:
    d = "/r/etc/cni/net.d"
    assert judge_conflist(Conflist(directory=d)).status is Status.FAIL
    bad = judge_conflist(Conflist(directory=d, files=(f"{d}/10-x.conflist",), error="not JSON"))
    assert bad.status is Status.FAIL
    assert "not JSON" in bad.measured
    shadow = judge_conflist(
        Conflist(
            directory=d,
            files=(f"{d}/00-other.conflist", f"{d}/10-podnet.conflist"),
            name="other",
            cni_version="1.0.0",
            plugins=("bridge",),
            expected=f"{d}/10-podnet.conflist",
        )
    )
    assert shadow.status is Status.FAIL
    assert "00-other.conflist" in shadow.todo
    good = judge_conflist(
        Conflist(
            directory=d,
            files=(f"{d}/10-podnet.conflist",),
            name="podnet",
            cni_version="1.0.0",
            plugins=("bridge", "portmap", "host-local"),
            expected=f"{d}/10-podnet.conflist",
        )
    )
    assert good.status is Status.PASS
    assert "bridge, portmap, host-local" in good.measured


# -- plugins


def test_plugins_missing_silent_too_old_and_good() -> None:
    ok = PluginAnswer(type="bridge", path="/b/bridge", supported=("0.4.0", "1.0.0"))
    assert judge_plugins("1.0.0", [ok], "/b").status is Status.PASS
    missing = judge_plugins("1.0.0", [ok, PluginAnswer(type="portmap", path=None)], "/b")
    assert missing.status is Status.FAIL
    assert "portmap: not installed in /b" in missing.measured
    old = judge_plugins("1.0.0", [PluginAnswer(type="x", path="/b/x", supported=("0.3.1",))], "/b")
    assert old.status is Status.FAIL
    assert "does not speak cniVersion 1.0.0" in old.measured
    silent = judge_plugins("1.0.0", [PluginAnswer(type="x", path="/b/x", error="no VERSION")], "/b")
    assert silent.status is Status.FAIL


# -- host-local


def _res(ip: str, cid: str) -> Reservation:
    return Reservation(ip=IP(ip), container_id=cid, ifname="eth0")


def test_ipam_every_reservation_held_passes() -> None:
    i = Ipam(
        data_dir="/d",
        blocks=(BLOCK,),
        reservations=(_res("10.244.1.2", "a"), _res("10.244.1.3", "b")),
        held=frozenset({IP("10.244.1.2"), IP("10.244.1.3")}),
    )
    c = judge_ipam(i)
    assert c.status is Status.PASS
    assert "2 of 253 used" in c.measured


def test_ipam_leak_is_named_with_its_container() -> None:
    i = Ipam(
        data_dir="/d",
        blocks=(BLOCK,),
        reservations=(_res("10.244.1.2", "a"), _res("10.244.1.9", "gone")),
        held=frozenset({IP("10.244.1.2")}),
    )
    c = judge_ipam(i)
    assert c.status is Status.WARN
    assert "1 leaked address (no pod" in c.measured
    assert any("10.244.1.9" in d and "gone" in d for d in c.details)
    assert "/d" in c.todo


def test_ipam_unreadable_ports_soften_the_leak_verdict() -> None:
    i = Ipam(
        data_dir="/d",
        blocks=(BLOCK,),
        reservations=(_res("10.244.1.9", "x"),),
        unreadable=1,
    )
    c = judge_ipam(i)
    assert c.status is Status.WARN
    assert "unnamed namespaces" in c.measured
    assert "1 address not found" in c.measured
    two = judge_ipam(Ipam(data_dir="/d", blocks=(BLOCK,), reservations=i.reservations * 2))
    assert "2 leaked addresses (no pod" in two.measured


def test_ipam_exhausted_block_fails() -> None:
    small = NET("10.244.1.0/30")  # network, gateway, broadcast: 1 address for pods
    c = judge_ipam(Ipam(data_dir="/d", blocks=(small,), reservations=(_res("10.244.1.2", "a"),)))
    assert c.status is Status.FAIL
    assert "exhausted" in c.todo


def test_ipam_reservation_outside_the_blocks_warns() -> None:
    c = judge_ipam(Ipam(data_dir="/d", blocks=(BLOCK,), reservations=(_res("10.244.7.2", "a"),)))
    assert c.status is Status.WARN
    assert "outside the node's blocks" in c.measured


def test_ipam_twenty_thousand_reservations_counted_per_block() -> None:
    """Counts per block, leaks and outsiders from one pass (this took 29 s when quadratic)."""
    blocks = (NET("10.0.0.0/16"), NET("10.1.0.0/16"), NET("10.2.0.0/30"))
    two = NET("10.0.0.0/15")
    first = 65_536 - 9_000  # 9000 in the first block, 10000 in the second
    inside = [Reservation(ip=two[first + n], container_id=f"c{n}") for n in range(19_000)]
    stray = [Reservation(ip=IP("10.9.0.0") + n, container_id=f"s{n}") for n in range(1_000)]
    held = frozenset(r.ip for r in inside[::2])
    c = judge_ipam(Ipam(data_dir="/d", blocks=blocks, reservations=(*inside, *stray), held=held))
    assert c.status is Status.WARN
    assert "10.0.0.0/16: 9000 of 65533 used, 10.1.0.0/16: 10000 of 65533 used" in c.measured
    assert "10.2.0.0/30: 0 of 1 used" in c.measured
    assert "9500 leaked addresses (no pod holds them)" in c.measured
    assert "1000 reservations outside the node's blocks" in c.measured
    assert len(c.details) == 9_500 + 1_000
    assert c.details[0].startswith("10.0.220.217 reserved for container c1 ")
    assert c.details[-1].startswith("10.9.3.231 reserved for container s999: outside")


def test_ipam_counts_both_blocks_and_fails_the_full_one() -> None:
    blocks = (NET("10.244.1.0/30"), NET("10.244.2.0/24"))
    res = (_res("10.244.1.2", "a"), _res("10.244.2.2", "b"), _res("10.244.2.3", "c"))
    held = frozenset(r.ip for r in res)
    c = judge_ipam(Ipam(data_dir="/d", blocks=blocks, reservations=res, held=held))
    assert c.status is Status.FAIL
    assert "10.244.1.0/30: 1 of 1 used, 10.244.2.0/24: 2 of 253 used" in c.measured
    assert "block 10.244.1.0/30 is exhausted" in c.todo


def test_ipam_not_used() -> None:
    assert judge_ipam(Ipam(data_dir="-", blocks=(), used=False)).status is Status.PASS


# -- the plan


def test_plan_groups_missing_extra_and_foreign() -> None:
    d = PlanDiff(
        items=(
            PlanItem(kind="route", op="add", text="+ route 10.244.2.0/24"),
            PlanItem(kind="fdb", op="delete", text="- fdb x", count=3),
        ),
        conflicts=(("link", "link cni0: conflicts with a dummy"),),
        apply="netwright apply S --node n1",
    )
    by = {c.name: c for c in judge_plan(d)}
    assert by["routes"].status is Status.FAIL
    assert by["routes"].measured == "against the plan: 1 missing"
    assert by["routes"].details == ("+ route 10.244.2.0/24",)
    assert "netwright apply S --node n1" in by["routes"].todo
    assert by["fdb"].status is Status.WARN
    assert "3 extra" in by["fdb"].measured
    assert by["devices"].status is Status.FAIL
    assert "foreign in the way" in by["devices"].measured
    assert by["files"].status is Status.PASS


# -- MTU


def _mtus(**kw: object) -> Mtus:
    base: dict[str, object] = {
        "underlay": "eth0",
        "underlay_mtu": 1500,
        "devices": (
            LinkMtu(name="nwvx.1", kind="vxlan", mtu=1450, expected=1450),
            LinkMtu(name="cni0", kind="bridge", mtu=1450, expected=1450),
        ),
        "conflist": {"cni0": 1450},
        "veths": (LinkMtu(name="veth1", kind="veth", mtu=1450, master="cni0"),),
        "pods": (LinkMtu(name="p1/eth0", kind="veth", mtu=1450, master="cni0"),),
    }
    base.update(kw)
    return Mtus(**base)  # type: ignore[arg-type]


def test_mtu_consistent_chain_passes() -> None:
    c = judge_mtu(_mtus())
    assert c.status is Status.PASS
    assert c.measured.startswith("underlay eth0 1500 -> vxlan nwvx.1 1450 -> bridge cni0 1450")


def test_mtu_pod_veth_differs_from_its_bridge() -> None:
    c = judge_mtu(_mtus(veths=(LinkMtu(name="veth1", kind="veth", mtu=1400, master="cni0"),)))
    assert c.status is Status.FAIL
    assert c.details == ("veth veth1 has MTU 1400, bridge cni0 is for 1450",)


def test_mtu_a_lowered_port_is_named_though_the_bridge_followed_it() -> None:
    # The kernel lowers a bridge to its smallest port's MTU: both differ from the plan.
    c = judge_mtu(
        _mtus(
            devices=(LinkMtu(name="cni0", kind="bridge", mtu=1400, expected=1450),),
            veths=(
                LinkMtu(name="veth1", kind="veth", mtu=1400, master="cni0"),
                LinkMtu(name="veth2", kind="veth", mtu=1450, master="cni0"),
            ),
        )
    )
    assert c.status is Status.FAIL
    assert c.details == (
        "bridge cni0 has MTU 1400, the plan says 1450",
        "veth veth1 has MTU 1400, bridge cni0 is for 1450",
    )


def test_mtu_tunnel_too_big_for_the_underlay() -> None:
    c = judge_mtu(
        _mtus(
            devices=(
                LinkMtu(name="nwvx.1", kind="vxlan", mtu=1500, expected=1450),
                LinkMtu(name="cni0", kind="bridge", mtu=1450, expected=1450),
            )
        )
    )
    assert c.status is Status.FAIL
    assert any("the plan says 1450" in d for d in c.details)
    assert any("1500 + 50 bytes of vxlan > underlay 1500" in d for d in c.details)


def test_mtu_conflist_and_pod_end_and_missing_device() -> None:
    c = judge_mtu(
        _mtus(
            conflist={"cni0": 1500},
            pods=(LinkMtu(name="p1/eth0", kind="veth", mtu=1500, master="cni0"),),
            devices=(LinkMtu(name="cni0", kind="bridge", mtu=None, expected=1450),),
        )
    )
    assert c.status is Status.FAIL
    assert "bridge cni0 is missing" in c.details


# -- sysctls


def _sysctls(**found: str | None) -> Sysctls:
    wanted = {
        "net.ipv4.ip_forward": "1",
        "net.ipv4.conf.all.rp_filter": "1",
        "net.bridge.bridge-nf-call-iptables": "1",
    }
    values: dict[str, str | None] = dict(wanted)
    values.update({k.replace("__", "."): v for k, v in found.items()})
    return Sysctls(wanted=wanted, found=values, rp_filter={"eth0": 1, "cni0": 2})


def test_forwarding_off_fails_with_the_command() -> None:
    assert judge_forwarding(_sysctls()).status is Status.PASS
    c = judge_forwarding(
        Sysctls(wanted={"net.ipv4.ip_forward": "1"}, found={"net.ipv4.ip_forward": "0"})
    )
    assert c.status is Status.FAIL
    assert c.measured == "net.ipv4.ip_forward=0"
    assert "sysctl -w net.ipv4.ip_forward=1" in c.todo


def test_a_forward_policy_drop_warns() -> None:
    s = Sysctls(
        wanted={"net.ipv4.ip_forward": "1"},
        found={"net.ipv4.ip_forward": "1"},
        forward_drop=("table ip filter chain FORWARD",),
    )
    c = judge_forwarding(s)
    assert c.status is Status.WARN
    assert c.measured == "net.ipv4.ip_forward=1; policy drop in table ip filter chain FORWARD"


def test_rp_filter_and_bridge_nf() -> None:
    assert judge_rp_filter(_sysctls()).status is Status.PASS
    assert "cni0 2, eth0 1" in judge_rp_filter(_sysctls()).measured
    loose = Sysctls(
        wanted={"net.ipv4.conf.all.rp_filter": "1"}, found={"net.ipv4.conf.all.rp_filter": "0"}
    )
    assert judge_rp_filter(loose).status is Status.WARN
    assert judge_bridge_nf(_sysctls()).status is Status.PASS
    name = "net.bridge.bridge-nf-call-iptables"
    off = Sysctls(wanted={name: "1"}, found={name: "0"})
    assert judge_bridge_nf(off).status is Status.WARN
    absent = Sysctls(wanted={name: "1"}, found={name: None})
    assert "br_netfilter" in judge_bridge_nf(absent).measured


# -- BIRD, NAT


def _bird(**kw: object) -> Bird:
    base: dict[str, object] = {
        "socket": "/r/run/bird/bird.ctl",
        "status": "BIRD 2.0.12: Daemon is up and running",
        "expected": ("node_n2_v4", "node_n3_v4"),
        "sessions": (
            Session(name="node_n2_v4", state="up", info="Established"),
            Session(name="node_n3_v4", state="up", info="Established"),
        ),
        "routes_expected": frozenset({"10.244.2.0/24"}),
        "routes_found": frozenset({"10.244.2.0/24"}),
    }
    base.update(kw)
    return Bird(**base)  # type: ignore[arg-type]


def test_bird_running_established_and_routed_passes() -> None:
    c = judge_bird(_bird())
    assert c.status is Status.PASS
    assert "2 of 2 BGP sessions Established" in c.measured


def test_bird_not_running_fails() -> None:
    c = judge_bird(_bird(status=None, error="connection refused", config="/r/etc/bird/bird.conf"))
    assert c.status is Status.FAIL
    assert "connection refused" in c.measured
    assert "bird -c /r/etc/bird/bird.conf -s /r/run/bird/bird.ctl" in c.todo


def test_bird_session_down_or_route_missing_fails() -> None:
    down = judge_bird(
        _bird(sessions=(Session(name="node_n2_v4", state="start", info="Active Socket: x"),))
    )
    assert down.status is Status.FAIL
    assert "node_n3_v4: not configured in the running BIRD" in down.details
    assert "node_n2_v4: start Active Socket: x" in down.details
    lost = judge_bird(_bird(routes_found=frozenset()))
    assert lost.status is Status.FAIL
    assert lost.details == ("no proto bird route to 10.244.2.0/24",)


def test_nat_absent_or_without_masquerade_fails() -> None:
    assert judge_nat(Nat(table="inet netwright", text=None)).status is Status.FAIL
    assert judge_nat(Nat(table="inet netwright", text="table inet netwright {}")).status is (
        Status.FAIL
    )
    good = Nat(table="inet netwright", text="... masquerade ...", sources=("10.244.0.0/16",))
    assert judge_nat(good).status is Status.PASS


# -- the output


def test_json_shape_and_text_lines() -> None:
    at = Where(node="n1", netns="ns1", root="/r", spec="/s")
    checks = [
        Check(name="conflist", status=Status.PASS, measured="ok"),
        Check(name="mtu", status=Status.FAIL, measured="bad", todo="fix", details=("veth",)),
    ]
    doc = json.loads(json.dumps(to_json(at, checks)))
    assert doc["ok"] is False
    assert doc["summary"] == {"PASS": 1, "WARN": 0, "FAIL": 1}
    assert doc["target"] == {"netns": "ns1", "root": "/r", "spec": "/s"}
    assert doc["checks"][1] == {
        "name": "mtu",
        "status": "FAIL",
        "measured": "bad",
        "todo": "fix",
        "details": ["veth"],
    }
    text = lines(at, checks, verbose=False)
    assert text[0] == "PASS conflist  ok"
    assert text[1] == "FAIL mtu       bad"
    assert "- veth" in text[2]
    assert "do: fix" in text[3]
    assert text[-1] == "node n1 (netns ns1, root /r): 1 PASS, 0 WARN, 1 FAIL"


# -- parsing what the node holds


def test_default_plugin_dir_is_the_labs() -> None:
    from netwright.lab.cni import CNI_PATH

    assert DEFAULT_CNI_BIN_DIR == CNI_PATH


def test_conflist_is_the_first_by_name_and_names_its_ipam(tmp_path: Path) -> None:
    conf = {
        "cniVersion": "1.0.0",
        "name": "podnet",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "mtu": 1450, "ipam": {"type": "host-local"}},
            {"type": "portmap"},
        ],
    }
    (tmp_path / "10-podnet.conflist").write_text(json.dumps(conf))
    (tmp_path / "README").write_text("not a conflist")
    found, raw = gathering.conflist(str(tmp_path), str(tmp_path / "10-podnet.conflist"))
    assert found.error is None
    assert found.plugins == ("bridge", "portmap", "host-local")
    assert gathering.conflist_mtus(raw) == {"cni0": 1450}
    assert gathering.host_local_dir(raw) == "/var/lib/cni/networks/podnet"
    (tmp_path / "05-broken.conf").write_text("{")
    broken, raw = gathering.conflist(str(tmp_path), None)
    assert broken.files[0].endswith("05-broken.conf")
    assert broken.error is not None
    assert broken.error.startswith("not JSON")
    assert raw is None


def test_reservations_read_host_locals_files(tmp_path: Path) -> None:
    (tmp_path / "10.244.1.2").write_text("cid-a\r\neth0")
    (tmp_path / "10.244.1.3").write_text("cid-b")
    (tmp_path / "last_reserved_ip.0").write_text("10.244.1.3")
    (tmp_path / "lock").write_text("")
    got = gathering.reservations(str(tmp_path))
    assert got == [
        Reservation(ip=IP("10.244.1.2"), container_id="cid-a", ifname="eth0"),
        Reservation(ip=IP("10.244.1.3"), container_id="cid-b", ifname=""),
    ]


def test_a_plugin_not_in_the_directory_is_not_installed(tmp_path: Path) -> None:
    (tmp_path / "bridge").write_text("#!/bin/sh\n")  # not executable: not a plugin
    answers = gathering.plugins(["bridge"], "1.0.0", str(tmp_path))
    assert answers == [PluginAnswer(type="bridge", path=None)]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (
            "protocol bgp node_n2_v4 from nw_mesh_v4 {\n}\nprotocol bgp  ext_a {",
            ("node_n2_v4", "ext_a"),
        ),
        ("protocol kernel k {}\ntemplate bgp nw_mesh_v4 {}", ()),
    ],
)
def test_bgp_protocols_from_the_config(text: str, names: tuple[str, ...]) -> None:
    assert gathering.bgp_protocols(text) == names


def _marker_script(path: Path, marker: Path) -> None:
    path.write_text(f'#!/bin/sh\ntouch {marker}\necho \'{{"supportedVersions":["1.0.0"]}}\'\n')
    path.chmod(0o755)


@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_a_plugin_type_that_is_a_path_is_never_run(tmp_path: Path, how: str) -> None:
    """libcni refuses a plugin `type` with a `/`: the doctor (root) must not run it either."""
    marker = tmp_path / "ran"
    script = tmp_path / "evil"
    _marker_script(script, marker)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    conf_dir = tmp_path / "root" / "etc" / "cni" / "net.d"
    conf_dir.mkdir(parents=True)
    kind = str(script) if how == "absolute" else "../evil"
    conf = {"cniVersion": "1.0.0", "name": "podnet", "plugins": [{"type": kind}]}
    (conf_dir / "00-evil.conflist").write_text(json.dumps(conf))
    found, _ = gathering.conflist(str(conf_dir), None)
    answers = gathering.plugins(found.plugins, found.cni_version, str(bin_dir))
    check = judge_plugins(found.cni_version, answers, str(bin_dir))
    assert not marker.exists()
    assert check.status is Status.FAIL
    assert f"invalid plugin name {kind!r}" in check.measured
    assert "libcni" in check.measured


@pytest.mark.parametrize("kind", ["", ".", "..", "a/b", "nul\x00byte"])
def test_invalid_plugin_names_are_not_looked_up(tmp_path: Path, kind: str) -> None:
    (tmp_path / "sub").mkdir()
    answers = gathering.plugins([kind], "1.0.0", str(tmp_path))
    assert [(a.type, a.path) for a in answers] == [(kind, None)]
    check = judge_plugins("1.0.0", answers, str(tmp_path))
    assert check.status is Status.FAIL
    assert f"invalid plugin name {kind!r}" in check.measured


def test_a_directory_named_like_the_plugin_is_not_run(tmp_path: Path) -> None:
    (tmp_path / "bridge").mkdir()  # searchable, so os.access says X_OK
    answers = gathering.plugins(["bridge"], "1.0.0", str(tmp_path))
    assert answers == [PluginAnswer(type="bridge", path=None)]


def test_a_plugin_in_the_directory_answers_version(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _marker_script(bin_dir / "bridge", marker)
    answers = gathering.plugins(["bridge"], "1.0.0", str(bin_dir))
    assert answers == [
        PluginAnswer(type="bridge", path=str(bin_dir / "bridge"), supported=("1.0.0",))
    ]
    assert marker.exists()


def test_doctor_without_spec_dir_or_lab_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cmd_doctor` refuses it (exit 2, one line), so `running.where` need not check again."""
    from netwright.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--node", "n1"])
    out, err = capsys.readouterr()
    assert exited.value.code == 2
    assert out == ""
    assert err == (
        "netwright doctor: give the node's SPEC_DIR, or --lab NAME for a node of a local lab"
        " (see netwright doctor --help)\n"
    )
