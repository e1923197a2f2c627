"""One BIRD 2 per bgp node: started in the node namespace, stopped by pid, watched in the kernel.

Why it exists: the bgp backend needs a routing daemon per node. The engine writes
the node's `bird.conf` and reloads BIRD through its control socket (`configure`) when the
file changes, so BIRD must already be running when the engine first applies. The
lab therefore starts each node's BIRD *before* provisioning, with a bootstrap
configuration (router id, device protocol, the node's log file; no sessions) and
the socket the rendered config expects; the engine's first apply writes the real
configuration and reloads it, exactly as on a host where the bird2 package
already runs BIRD. A second pass finds the file unchanged and reloads nothing.

Convergence is watched in the kernel (`ip -json route show proto bird`), never
through BIRD's control socket: every connection to it wakes BIRD 2.0.12's event
loop and hides its 3 s stall (docs/troubleshooting.md#bird-stalls-after-a-session-comes-up).

What it must not do: talk to a BIRD but through the lab's own control socket path
(`kernel.birdctl`, never `birdc` without `-s`: the system BIRD's socket is
`/run/bird/bird.ctl`, docs/troubleshooting.md#birdc-talks-to-the-system-bird),
or signal a pid whose start time is not the one recorded (a reused pid is someone
else's process).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import TYPE_CHECKING

from netwright.kernel import birdctl
from netwright.lab import LabError
from netwright.lab._proc import ip_json, run
from netwright.lab.state import Process

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright.lab.state import LabState


def bootstrap_config(router_id: str, log: str) -> str:
    return (
        "# Written by `netwright lab up`: BIRD's configuration until netwright's own is applied.\n"
        f'log "{log}" all;\n'
        f"router id {router_id};\n"
        "protocol device { scan time 10; }\n"
    )


def starttime(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks after boot), or None when gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stream:
            text = stream.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rfind(")") + 2 :].split()
    # fields[0] is field 3 (state); field 22 is fields[19]. A zombie is as good as gone.
    if fields[0] == "Z":
        return None
    return int(fields[19])


def _read_pid(pidfile: str) -> int | None:
    try:
        with open(pidfile, encoding="ascii") as stream:
            text = stream.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def start(
    state: LabState,
    *,
    node: str,
    netns: str,
    router_id: str,
    config_dir: str,
    socket: str,
    log: str,
) -> Process:
    """Start BIRD in `netns` on `socket` with a bootstrap config; recorded before it exists."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    os.makedirs(config_dir, exist_ok=True)
    config = os.path.join(config_dir, f"{node}.bootstrap.conf")
    with open(config, "w", encoding="utf-8") as stream:
        stream.write(bootstrap_config(router_id, log))
    pidfile = os.path.join(os.path.dirname(socket), "bird.pid")
    proc = Process(what=f"bird {node}", netns=netns, pidfile=pidfile)
    state.processes.append(proc)
    state.save()
    return launch(state, proc, config=config, socket=socket)


def launch(
    state: LabState, proc: Process, *, config: str, socket: str, recover: bool = False
) -> Process:
    """Run BIRD for `proc` (already in the state file) and record its pid and start time.

    `recover` starts it with `-R`, graceful restart recovery: the peers that kept
    its routes get them refreshed instead of withdrawn and re-announced.
    """
    os.makedirs(os.path.dirname(socket), exist_ok=True)
    argv = ["ip", "netns", "exec", proc.netns, "bird", "-c", config, "-s", socket]
    argv += ["-P", proc.pidfile, *(["-R"] if recover else [])]
    with contextlib.suppress(FileNotFoundError):
        os.unlink(proc.pidfile)  # a stale one would be taken for the new daemon's
    # BIRD daemonises; its pid file is written by the daemon, so wait for it.
    run(argv)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = _read_pid(proc.pidfile)
        if pid is not None and os.path.exists(socket):
            proc.pid, proc.starttime = pid, starttime(pid)
            state.save()
            return proc
        time.sleep(0.005)
    raise LabError(
        f"{proc.what}: started but wrote no pid file {proc.pidfile} or socket {socket} within 10 s"
    )


def graceful_restart_stop(proc: Process, socket: str, timeout: float = 10.0) -> float:
    """`graceful restart` on the control socket: BIRD exits without telling its peers;
    seconds until gone.

    Its BGP sessions close without a Cease notification, so a peer that agreed to
    graceful restart keeps the routes for the restart time the daemon announced.
    """
    if proc.pid is None or starttime(proc.pid) != proc.starttime:
        raise LabError(f"{proc.what}: not running (pid {proc.pid})")
    started = time.perf_counter()
    try:
        code, lines = birdctl.command(socket, "graceful restart", timeout=timeout)
    except OSError:
        pass  # it may close the socket as it goes: its exit, below, is what counts
    else:
        if birdctl.failed(code):
            raise LabError(f"{proc.what}: graceful restart refused: {code} {'; '.join(lines)}")
    while starttime(proc.pid) is not None:
        if time.perf_counter() - started > timeout:
            raise LabError(f"{proc.what}: still running {timeout:.0f} s after graceful restart")
        time.sleep(0.005)
    return time.perf_counter() - started


def configure(socket: str) -> None:
    """`configure` on the control socket: reload the configuration file; an error names
    BIRD's complaint."""
    try:
        code, lines = birdctl.command(socket, "configure", timeout=10)
    except OSError as exc:
        raise LabError(f"BIRD {socket}: configure: {exc}") from exc
    if code not in birdctl.RECONFIGURED:
        said = "; ".join(line.strip() for line in lines if line.strip())
        raise LabError(f"BIRD {socket}: configure failed: {code} {said}")


def protocol_detail(socket: str, protocol: str) -> str:
    """`show protocols all PROTOCOL` on the control socket, as text (timers, routes)."""
    try:
        _code, lines = birdctl.command(socket, f"show protocols all {protocol}", timeout=10)
    except OSError as exc:
        raise LabError(f"BIRD {socket}: show protocols all {protocol}: {exc}") from exc
    return "\n".join(lines)


def stop(processes: list[Process], timeout: float = 10.0) -> list[str]:
    """SIGTERM each recorded process that is still ours, wait until all are gone."""
    problems: list[str] = []
    waiting: list[Process] = []
    for p in processes:
        pid = p.pid if p.pid is not None else _read_pid(p.pidfile)
        if pid is None:
            continue
        now = starttime(pid)
        if now is None or (p.starttime is not None and now != p.starttime):
            continue  # gone, or the pid now belongs to another process
        p.pid = pid
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        waiting.append(p)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        waiting = [p for p in waiting if p.pid is not None and starttime(p.pid) is not None]
        time.sleep(0.01)
    for p in waiting:
        if p.pid is not None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            problems.append(f"{p.what} (pid {p.pid}) ignored SIGTERM for {timeout:.0f} s; killed")
    return problems


def sessions(socket: str) -> list[birdctl.Session]:
    """The BGP protocols of the BIRD behind `socket` (`show protocols` on its socket)."""
    try:
        return birdctl.sessions(socket, timeout=10)
    except OSError as exc:
        raise LabError(f"bird {socket}: show protocols: {exc}") from exc


def bird_routes(netns: str) -> set[str]:
    return {r["dst"] for r in ip_json(netns, "route", "show", "proto", "bird")}


def wait_routes(expected: Mapping[str, set[str]], timeout: float, interval: float = 0.02) -> float:
    """Poll every node's kernel table until it has its expected `proto bird` routes.

    Returns the seconds waited; raises `LabError` naming what is missing on timeout.
    """
    started = time.perf_counter()
    pending = dict(expected)
    while True:
        for netns in list(pending):
            if pending[netns] <= bird_routes(netns):
                del pending[netns]
        if not pending:
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            missing = "; ".join(
                f"{ns}: {', '.join(sorted(want - bird_routes(ns)))}" for ns, want in pending.items()
            )
            raise LabError(
                f"bgp did not converge within {timeout:.0f} s; missing proto bird routes: {missing}"
            )
        time.sleep(interval)


def node_sessions(state: LabState) -> dict[str, list[dict[str, str]]]:
    """Per node, its BGP sessions as its BIRD reports them (`show protocols` on its socket)."""
    out: dict[str, list[dict[str, str]]] = {}
    for n in state.nodes:
        socket = n.bird_socket or os.path.join(n.root, "run", "bird", "bird.ctl")
        if not os.path.exists(socket):
            continue
        try:
            found = sessions(socket)
        except LabError as exc:
            out[n.name] = [{"name": "?", "state": "unknown", "since": "", "info": str(exc)}]
            continue
        out[n.name] = [
            {"name": s.name, "state": s.state, "since": s.since, "info": s.info} for s in found
        ]
    return out


def router_session_states(state: LabState) -> dict[str, str]:
    """The top-of-rack BIRD's sessions by protocol name: `birdc show protocols`' info column."""
    o = state.outside
    if o is None or not o.bird_socket or not os.path.exists(o.bird_socket):
        return {}
    try:
        return {s.name: s.info for s in sessions(o.bird_socket)}
    except LabError as exc:
        return {s.protocol: f"unknown ({exc})" for s in o.sessions}
