"""Running iproute2 and friends for the lab: argument lists, never a shell; errors say what ran.

Why it exists: the lab drives `ip`, `bridge`, `sysctl`, `ping`, the CNI plugins and
BIRD as programs, and reads the kernel back with `ip -json` (never with the engine
under test). `ip -n NS` / `bridge -n NS` are used where they can be: they cost less
than `ip netns exec` (docs/troubleshooting.md#ip-netns-exec-is-slow).

What it must not do: swallow a failure silently, or run anything through a shell.
"""

from __future__ import annotations

import json
import socket
import subprocess
from typing import TYPE_CHECKING, Any

from netwright.lab import LabError

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The only PATH the plugins and helpers see (portmap needs it to find `iptables`).
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Where `ip netns add` puts a namespace's bind mount (what CNI_NETNS names).
NETNS_DIR = "/run/netns"


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    stdin: str | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv`; with `check`, a non-zero exit raises `LabError` naming the command."""
    try:
        proc = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env=env,
        )
    except FileNotFoundError:
        raise LabError(f"{argv[0]}: program not found (is it installed?)") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)}: no answer after {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        out = (proc.stderr.strip() or proc.stdout.strip()).replace("\n", "; ")
        raise LabError(f"{' '.join(argv)}: exit {proc.returncode}: {out}")
    return proc


def in_netns(netns: str, *argv: str) -> list[str]:
    """`argv` run inside `netns`: `ip -n`/`bridge -n` for iproute2, else `ip netns exec`."""
    if argv[0] in {"ip", "bridge"}:
        return [argv[0], "-n", netns, *argv[1:]]
    return ["ip", "netns", "exec", netns, *argv]


def ns_run(
    netns: str, *argv: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return run(in_netns(netns, *argv), check=check, timeout=timeout)


def ip_json(netns: str, *args: str) -> Any:
    """`ip -n NS -json ARGS` (or `bridge`, when args start with "bridge") as parsed JSON."""
    tool = "ip"
    if args and args[0] == "bridge":
        tool, args = "bridge", args[1:]
    out = run([tool, "-n", netns, "-json", *args]).stdout
    return json.loads(out) if out.strip() else []


def batch(netns: str | None, commands: Sequence[str]) -> None:
    """One `ip -batch -` for many commands (one process instead of one per command)."""
    if not commands:
        return
    argv = ["ip", "-n", netns, "-batch", "-"] if netns else ["ip", "-batch", "-"]
    run(argv, stdin="\n".join(commands) + "\n")


def socket_in(netns: str, family: int, kind: int) -> socket.socket:
    """A socket created inside `netns` (sockets keep the namespace they were made in).

    The calling thread enters the namespace with setns(2) for the one `socket()`
    call and returns at once (the kernel package's `entered`), so no process
    (`ip netns exec`) is needed.
    """
    from netwright.errors import KernelError  # noqa: PLC0415
    from netwright.kernel._netns import entered  # noqa: PLC0415 - the kernel package: ~60 ms

    try:
        with entered(netns):
            return socket.socket(family, kind)
    except KernelError as exc:
        raise LabError(str(exc)) from exc
