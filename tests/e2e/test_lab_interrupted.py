"""`lab up` cut short: a closed pipe or a signal leaves a whole lab or no lab at all.

`netwright lab up | head -1` closes stdout after one line; `2>&1 | head -1` closes the
progress stream before the lab is built; SIGTERM and SIGINT arrive mid-build. In each
case the exit status says which end it came to: 0 and a ready lab (then removed here),
or non-zero and nothing left: no namespace of the lab, no process, no state directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from _lab import alive, lab_name, lab_namespaces, netwright

ARGV = [sys.executable, "-m", "netwright.cli", "lab", "up", "--pods", "1"]


def _nothing_left(name: str, before: set[int]) -> None:
    assert lab_namespaces(name) == []
    status = netwright("lab", "status", "--name", name)
    assert status.returncode != 0
    assert not [p for p in _lab_processes(name) if p not in before]


def _lab_processes(name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if f"{name}-".encode() in cmd and alive(int(entry)):
                found.append(int(entry))
    return found


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_closed_pipe_finishes_the_lab_or_removes_it(stream: str) -> None:
    name = lab_name(f"p{stream[3]}")
    before = set(_lab_processes(name))
    redirect = "2>&1" if stream == "stderr" else "2>/dev/null"
    command = " ".join([*ARGV, "--name", name]) + f" {redirect} | head -1 >/dev/null"
    try:
        result = subprocess.run(
            ["bash", "-c", f"{command}; exit ${{PIPESTATUS[0]}}"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert "Traceback" not in result.stderr
        if result.returncode == 0:
            status = json.loads(netwright("lab", "status", "--name", name, "-o", "json").stdout)
            assert status["phase"] == "ready"
            assert len(status["nodes"]) == 3
            assert sorted(lab_namespaces(name)) == sorted(
                [status["underlay"]["netns"]]
                + [n["netns"] for n in status["nodes"]]
                + [p["netns"] for p in status["pods"]]
            )
        else:
            _nothing_left(name, before)
    finally:
        netwright("lab", "down", "--name", name)
    _nothing_left(name, before)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_mid_build_removes_the_lab(signum: int) -> None:
    name = lab_name(f"s{signal.Signals(signum).name[3].lower()}")
    before = set(_lab_processes(name))
    proc = subprocess.Popen(
        [*ARGV, "--name", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        # Interrupt it as soon as the namespaces exist, before any node is provisioned.
        for line in proc.stderr:
            if "node namespaces" in line:
                break
        os.kill(proc.pid, signum)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        netwright("lab", "down", "--name", name)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert (
        err.rstrip().splitlines()[-1] == f"lab {name}: interrupted; what was built has been removed"
    )
    _nothing_left(name, before)
