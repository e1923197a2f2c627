"""A read-only /proc/sys, as an unprivileged container has it, and `--proc-sys` around it.

Container runtimes mount /proc/sys read-only unless the container is privileged, so
the agent in its DaemonSet cannot set `net.ipv4.ip_forward` through it. The manifest
mounts the host's /proc/sys/net elsewhere (writable) and passes `--proc-sys`. Here a
private mount namespace (`unshare --mount`) reproduces exactly that: /proc/sys bound
read-only over itself, /proc/sys/net bound writable under a scratch directory. The
sysctl is read back from outside, through the real /proc, in the node's namespace.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _netns import KERNEL, sh

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = [
    *KERNEL,
    pytest.mark.skipif(shutil.which("unshare") is None, reason="util-linux unshare is missing"),
]

VXLAN = Path(__file__).parents[2] / "examples" / "vxlan"


def in_container_mounts(host: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """`argv` in a mount namespace where /proc/sys is read-only and `host`/net is not."""
    script = " && ".join(
        [
            "mount --make-rprivate /",
            f"mkdir -p {shlex.quote(str(host / 'net'))}",
            f"mount --bind /proc/sys/net {shlex.quote(str(host / 'net'))}",
            "mount --bind /proc/sys /proc/sys",
            "mount -o remount,bind,ro /proc/sys",
            shlex.join(argv),
        ]
    )
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_apply_sets_sysctls_through_a_writable_mount_where_proc_sys_is_read_only(
    netns: Callable[[str], str], tmp_path: Path
) -> None:
    node = netns("node")
    sh(node, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer")
    sh(node, "ip", "addr", "add", "172.31.255.11/24", "dev", "eth0")
    sh(node, "ip", "link", "set", "eth0", "up")
    sh(node, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0")
    apply = [sys.executable, "-m", "netwright.cli", "apply", str(VXLAN), "--node", "n1"]
    apply += ["--netns", node, "--root", str(tmp_path / "root")]
    host = tmp_path / "host-proc-sys"
    ours = Path("/proc/sys/net/ipv4/ip_forward").read_text()

    refused = in_container_mounts(host, apply)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "sysctl net.ipv4.ip_forward (/proc/sys is read-only" in refused.stdout + refused.stderr
    assert sh(node, "sysctl", "-n", "net.ipv4.ip_forward").strip() == "0"

    done = in_container_mounts(host, [*apply, "--proc-sys", str(host)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert sh(node, "sysctl", "-n", "net.ipv4.ip_forward").strip() == "1"
    assert sh(node, "sysctl", "-n", "net.ipv4.conf.all.rp_filter").strip() == "1"
    # The files answer for the namespace that opens them: the test's own is untouched.
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == ours
    again = in_container_mounts(host, [*apply, "--proc-sys", str(host)])
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 to add, 0 to change, 0 to delete" in again.stdout
