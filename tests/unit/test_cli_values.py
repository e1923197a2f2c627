"""Command-line values out of range are refused in one line, before anything is read.

Each case names a spec directory that does not exist: had the value been accepted,
the run would have complained about the directory instead (or, for the lab, started
building). The exact line, exit 2, and nothing on stdout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from netwright.cli import main

if TYPE_CHECKING:
    from pathlib import Path

MISSING = "/nonexistent/netwright-spec"

CASES = {
    "mtu-too-big": (
        ["apply", MISSING, "--node", "n1", "--underlay-mtu", "70000"],
        "netwright apply: argument --underlay-mtu: 70000 is out of range; allowed 68 to 65535",
    ),
    "mtu-too-small": (
        ["render", MISSING, "--node", "n1", "--underlay-mtu", "67"],
        "netwright render: argument --underlay-mtu: 67 is out of range; allowed 68 to 65535",
    ),
    "mtu-beyond-64-bits": (
        ["plan", MISSING, "--node", "n1", "--underlay-mtu", "1" + "0" * 30],
        "netwright plan: argument --underlay-mtu: 1" + "0" * 30 + " is out of range;"
        " allowed 68 to 65535",
    ),
    "mtu-not-a-number": (
        ["plan", MISSING, "--node", "n1", "--underlay-mtu", "1e3"],
        "netwright plan: argument --underlay-mtu: '1e3' is not a whole number",
    ),
    "kubeconfig-missing": (
        ["controller", "--kubeconfig", "/nonexistent/kubeconfig"],
        (
            "netwright controller: argument --kubeconfig: /nonexistent/kubeconfig: no such"
            " readable file"
        ),
    ),
    "resync-zero": (
        ["agent", "--node", "n1", "--resync-interval", "0"],
        "netwright agent: argument --resync-interval: 0 is out of range; allowed 1 to 86400",
    ),
    "proc-sys-without-net": (
        ["agent", "--node", "n1", "--proc-sys", "/nonexistent/host-proc-sys"],
        (
            "netwright agent: argument --proc-sys: /nonexistent/host-proc-sys: holds no net/"
            " directory (mount the host's /proc/sys/net at /nonexistent/host-proc-sys/net)"
        ),
    ),
    "netns-with-slash": (
        ["apply", MISSING, "--node", "n1", "--netns", "../etc"],
        (
            "netwright apply: argument --netns: '../etc' is not a network namespace name;"
            " allowed 1 to 255 bytes, no '/', not . or .."
        ),
    ),
    "underlay-too-long": (
        ["apply", MISSING, "--node", "n1", "--underlay", "a" * 16],
        (
            f"netwright apply: argument --underlay: {'a' * 16!r} is not a device name;"
            " allowed 1 to 15 bytes, not . or .."
        ),
    ),
    "wait-lock-negative": (
        ["apply", MISSING, "--node", "n1", "--wait-lock", "-1"],
        "netwright apply: argument --wait-lock: -1 is out of range; allowed 0 to 86400",
    ),
    "wait-lock-infinite": (
        ["apply", MISSING, "--node", "n1", "--wait-lock", "inf"],
        "netwright apply: argument --wait-lock: inf is out of range; allowed 0 to 86400",
    ),
    "lab-nodes-zero": (
        ["lab", "up", "--nodes", "0"],
        "netwright lab up: argument --nodes: 0 is out of range; allowed 1 to 244",
    ),
    "lab-nodes-huge": (
        ["lab", "up", "--nodes", "99999999999999999999"],
        (
            "netwright lab up: argument --nodes: 99999999999999999999 is out of range;"
            " allowed 1 to 244"
        ),
    ),
    "lab-pods-negative": (
        ["lab", "up", "--pods", "-1"],
        "netwright lab up: argument --pods: -1 is out of range; allowed 0 to 50",
    ),
    "lab-spec-missing": (
        ["lab", "up", "--spec", MISSING],
        (
            f"netwright lab up: argument --spec: {MISSING}: not a directory"
            " (a spec directory is expected)"
        ),
    ),
    "lab-name": (
        ["lab", "down", "--name", "Nw/x"],
        (
            "netwright lab down: argument --name: lab name 'Nw/x': use 1 to 16 lowercase letters,"
            " digits and '-' (it prefixes every namespace the lab makes)"
        ),
    ),
}


@pytest.mark.parametrize(("argv", "line"), CASES.values(), ids=CASES.keys())
def test_out_of_range_value_is_one_line_before_anything_is_read(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    assert exited.value.code == 2
    assert out == ""
    prog = " ".join(["netwright", *argv[:2]]) if argv[0] == "lab" else f"netwright {argv[0]}"
    assert err == f"{line} (see {prog} --help)\n"


def test_root_is_made_absolute(capsys: pytest.CaptureFixture[str]) -> None:
    from netwright.cli import build_parser

    args = build_parser().parse_args(["render", MISSING, "--node", "n1", "--root", "srv/n1"])
    assert args.root.startswith("/")
    assert args.root.endswith("/srv/n1")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command", [["controller"], ["agent", "--node", "n1"]])
def test_no_credentials_is_one_line_before_anything_starts(
    command: list[str], tmp_path: Path
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "HOME")
    }
    env["HOME"] = str(tmp_path)  # no ~/.kube/config there
    result = subprocess.run(
        [sys.executable, "-m", "netwright.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        (
            "netwright: no credentials for the API: not in a cluster (no service account token)"
            " and no kubeconfig (give --kubeconfig FILE, or set KUBECONFIG, or write"
            " ~/.kube/config)"
        )
    ]
