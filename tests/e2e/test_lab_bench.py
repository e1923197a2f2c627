"""`netwright lab bench` end to end: real labs, real iperf3, real pings, then nothing left.

One bench run (vxlan and host-gw, two iperf3 runs of 1 s per pair, with a chart) is shared by the
checks of its output; the Ctrl-C test runs its own. Results are checked against
what the protocols and the kernel say (a 1500-byte veth, the 50 bytes VXLAN adds,
a PNG's header), and what is left afterwards with `ip netns list` and /proc, never
with the bench's own code.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
from _lab import alive, lab_name, lab_namespaces, netwright

if TYPE_CHECKING:
    from pathlib import Path

BENCHED = ("vxlan", "host-gw")
FIGURES = (
    "throughputCrossNode",
    "throughputSameNode",
    "perCpuCrossNode",
    "perCpuSameNode",
    "latencyCrossNode",
    "latencySameNode",
    "pathMtuCrossNode",
    "pathMtuSameNode",
    "wireFrameCrossNode",
)
pytestmark = pytest.mark.skipif(shutil.which("iperf3") is None, reason="lab bench needs iperf3")


def _lab_dirs(prefix: str) -> list[str]:
    root = os.environ.get("NETWRIGHT_LAB_DIR", "/run/netwright/lab")
    if not os.path.isdir(root):
        return []
    return sorted(d for d in os.listdir(root) if d.startswith(f"{prefix}-"))


def _argv(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            return stream.read().decode(errors="replace").split("\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


def _iperf3_servers(namespaces: list[str]) -> list[int]:
    """Pids of iperf3 processes inside any of the named network namespaces."""
    inodes = set()
    for ns in namespaces:
        try:
            inodes.add(os.stat(f"/run/netns/{ns}").st_ino)
        except FileNotFoundError:
            continue
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="ascii") as stream:
                if stream.read().strip() != "iperf3":
                    continue
            if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                pids.append(int(entry))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return pids


def _iperf3_cmdlines() -> list[str]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as stream:
                    argv = stream.read().split(b"\0")
            except (FileNotFoundError, ProcessLookupError):
                continue
            if argv and os.path.basename(argv[0]) == b"iperf3":
                out.append(b" ".join(argv).decode(errors="replace"))
    return out


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, str, Path]:
    prefix = lab_name("b")
    chart = tmp_path_factory.mktemp("bench") / "bench.png"
    proc = netwright(
        "lab",
        "bench",
        "--backends",
        ",".join(BENCHED),
        "--seconds",
        "1",
        "--runs",
        "2",
        "--name",
        prefix,
        "-o",
        "json",
        "--chart",
        str(chart),
    )
    for backend in BENCHED:  # whatever happened, no lab of this test stays
        netwright("lab", "down", "--name", f"{prefix}-{backend}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return prefix, json.loads(proc.stdout), proc.stderr, chart


def test_one_entry_per_backend_with_positive_figures(bench: tuple[str, Any, str, Path]) -> None:
    _, entries, _, _ = bench
    assert [e["backend"] for e in entries] == list(BENCHED)
    for e in entries:
        assert set(e["figures"]) == set(FIGURES), e
        for key, f in e["figures"].items():
            assert f["value"] > 0, (e["backend"], key, f)
            assert f["baseline"] > 0, (e["backend"], key, f)
            assert f["ratio"] == pytest.approx(f["value"] / f["baseline"], abs=0.001)
        assert e["seconds"] == 1
        # two runs each: baseline, across nodes, on one node; the figure is their median
        assert len(e["iperf3Servers"]) == 6
        runs = e["throughputRuns"]
        assert all(len(v) == 2 and min(v) > 0 for v in runs.values()), runs
        tput = e["figures"]["throughputCrossNode"]
        assert tput["value"] == pytest.approx(sum(runs["crossNode"]) / 2)
        assert tput["baseline"] == pytest.approx(sum(runs["baseline"]) / 2)


def test_the_baseline_is_the_bare_underlay(bench: tuple[str, Any, str, Path]) -> None:
    _, entries, _, _ = bench
    for e in entries:
        assert e["pairs"]["baseline"]["src"] == "n1 172.31.255.11"
        assert e["pairs"]["baseline"]["dst"] == "n2 172.31.255.12"
        # a veth's default MTU, and a ping's 1000 bytes + ICMP 8 + IPv4 20 + Ethernet 14
        assert e["figures"]["pathMtuCrossNode"]["baseline"] == 1500
        assert e["figures"]["wireFrameCrossNode"]["baseline"] == 1042
        assert e["wireHeaders"]["baseline"] == "eth/ipv4/icmp"


def test_vxlan_path_mtu_is_smaller_by_the_measured_overhead(
    bench: tuple[str, Any, str, Path],
) -> None:
    _, entries, _, _ = bench
    by = {e["backend"]: e for e in entries}
    vxlan, host_gw = by["vxlan"], by["host-gw"]
    overhead = vxlan["encapsulationOverhead"]
    # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8, seen on the switch port
    assert overhead == 50, vxlan
    assert vxlan["wireHeaders"]["crossNode"] == "eth/ipv4/udp:8472/vxlan(vni 1)/eth/ipv4/icmp"
    assert host_gw["encapsulationOverhead"] == 0
    assert host_gw["wireHeaders"]["crossNode"] == "eth/ipv4/icmp"
    mtu = {b: e["figures"]["pathMtuCrossNode"]["value"] for b, e in by.items()}
    assert mtu["host-gw"] - mtu["vxlan"] == overhead, mtu


def test_progress_goes_to_stderr(bench: tuple[str, Any, str, Path]) -> None:
    _, _, stderr, _ = bench
    for backend in BENCHED:
        assert f"measuring ({backend})" in stderr
    for what in ("iperf3 baseline #1:", "iperf3 cross-node #2:", "path mtu cross-node:"):
        assert stderr.count(what) == len(BENCHED), stderr


def test_chart_is_a_png(bench: tuple[str, Any, str, Path]) -> None:
    _, _, _, chart = bench
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 600, width
    assert height >= 400, height


def test_nothing_is_left(bench: tuple[str, Any, str, Path]) -> None:
    prefix, entries, _, _ = bench
    assert lab_namespaces(prefix) == []
    assert _lab_dirs(prefix) == []
    for e in entries:
        assert not [pid for pid in e["iperf3Servers"] if alive(pid)], e["iperf3Servers"]
    ips = {p[k].split()[1] for e in entries for p in e["pairs"].values() for k in ("src", "dst")}
    assert not [c for c in _iperf3_cmdlines() if any(f" {ip} " in f"{c} " for ip in ips)]


def test_ctrl_c_stops_the_servers_and_removes_the_lab() -> None:
    prefix = lab_name("i")
    argv = [sys.executable, "-m", "netwright.cli", "lab", "bench", "--backends", "host-gw"]
    proc = subprocess.Popen(
        [*argv, "--seconds", "30", "--name", prefix],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        namespaces = [f"{prefix}-host-gw-{n}" for n in ("n1", "n2", "n1-p1", "n1-p2", "n2-p1")]
        deadline = time.monotonic() + 60
        servers: list[int] = []
        while not servers and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            servers = _iperf3_servers(namespaces)
        assert servers, "no iperf3 server appeared in the bench's namespaces"
        clients: list[int] = []
        while not clients and time.monotonic() < deadline and proc.poll() is None:
            clients = [p for p in _iperf3_servers(namespaces) if "-c" in _argv(p)]
            time.sleep(0.02)
        assert clients, "no iperf3 client ran in the bench's namespaces"
        proc.send_signal(signal.SIGINT)  # in the middle of a 30 s measurement
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        netwright("lab", "down", "--name", f"{prefix}-host-gw")
    assert proc.returncode == 130, err
    assert "interrupted" in err.splitlines()[-1], err
    assert not [pid for pid in servers if alive(pid)]
    assert lab_namespaces(prefix) == []
    assert _lab_dirs(prefix) == []


def test_chart_without_matplotlib_is_one_line_before_any_lab(tmp_path: Path) -> None:
    prefix = lab_name("m")
    chart = tmp_path / "x.png"
    code = (
        "import sys; sys.modules['matplotlib'] = None; from netwright.cli import main; "
        f"sys.exit(main(['lab', 'bench', '--name', '{prefix}', '--chart', '{chart}']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pip install 'netwright[chart]'" in lines[0]
    assert lab_namespaces(prefix) == []
    assert not chart.exists()


def test_a_failed_build_removes_what_it_made_and_nothing_else() -> None:
    prefix = lab_name("f")
    taken = f"{prefix}-host-gw-n2-p2"  # the last pod namespace `lab up` would make
    subprocess.run(["ip", "netns", "add", taken], check=True)
    try:
        proc = netwright("lab", "bench", "--backends", "host-gw", "--name", prefix)
        left = lab_namespaces(prefix)
    finally:
        subprocess.run(["ip", "netns", "del", taken], check=False)
        netwright("lab", "down", "--name", f"{prefix}-host-gw")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(f"netwright: network namespace {taken}")
    assert "removing what was built" in proc.stderr
    assert left == [taken]  # the namespace it did not make is still there, nothing else
    assert _lab_dirs(prefix) == []


def test_the_text_table_puts_each_figure_next_to_its_baseline(
    bench: tuple[str, Any, str, Path],
) -> None:
    from netwright.lab._bench_table import table

    _, entries, _, _ = bench
    lines = table(entries, nodes=2, pods=2)
    assert lines[1].split()[-2:] == list(BENCHED)
    rows = lines[2 : 2 + len(FIGURES)]
    for row in rows:  # a cell per backend: "value / baseline (ratio)"
        assert row.count(" / ") == len(BENCHED), row
    frame = next(line for line in rows if line.startswith("frame of a 1000-byte ping"))
    cells = frame.split("(bytes)")[1].split()
    assert cells == ["1092", "/", "1042", "(1.05)", "1042", "/", "1042", "(1)"]
    assert lines[2 + len(FIGURES)].split()[-2:] == ["+50", "+0"]
