"""The measurements of `lab bench` between two lab namespaces: iperf3, ping, DF pings, frames.

Why it exists: `lab bench` compares the backends by what the kernel actually does, not
by what their specs say. Each function here measures one figure between a source and
a destination `Endpoint` (a namespace and an address), the same way for a pod pair
and for the underlay baseline between two node namespaces:

- `throughput`: one iperf3 TCP run (`-t SECONDS`), the receiver's bits per second;
- `latency`: the round trips of a burst of pings;
- `path_mtu`: the largest ping with don't-fragment set that gets an answer, plus its
  28 bytes of IPv4 and ICMP headers (a binary search);
- `wire_frame`: the size of the frame a ping of a fixed payload becomes on the
  underlay switch port, captured there with an AF_PACKET socket, and the headers
  found around the ping (plain IPv4, or UDP/VXLAN around an inner Ethernet frame).

What it must not do: leave an iperf3 server running (each one is a `Server`, stopped
by its pid in a `finally`, Ctrl-C included), send traffic anywhere but between the
lab's own namespaces (every address it is given is a lab address, every process runs
inside a lab namespace), or run unbounded (iperf3 has `-t` and `--connect-timeout`,
every subprocess a timeout).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netwright.lab import LabError
from netwright.lab._proc import in_netns, ns_run, socket_in

if TYPE_CHECKING:
    from collections.abc import Callable

#: iperf3's port inside the destination namespace (a lab namespace: nothing else listens).
PORT = 5201
#: Path MTU search range: no lab link carries more than a jumbo frame.
MTU_CEILING = 9000
#: The ICMP payload of the pings whose frames `wire_frame` captures (fits every backend's MTU).
FRAME_PAYLOAD = 1000
_TIME = re.compile(r"time=([\d.]+) ms")
_REFUSED = re.compile(r"message too long, mtu=(\d+)")
_ETH_P_ALL, _PACKET_OUTGOING = 0x0003, 4
_ICMP, _IPIP, _UDP = 1, 4, 17
#: How many Ethernet (or IPv4-in-IPv4) layers deep `_ping_headers` looks for the ping.
_MAX_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a measurement: who (for messages), which namespace, which IPv4 address."""

    label: str
    netns: str
    ip: str


def iperf3_binary() -> str:
    found = shutil.which("iperf3")
    if found is None:
        raise LabError("lab bench needs iperf3: apt-get install iperf3")
    return found


class Servers:
    """The iperf3 servers the bench started: each known by pid, each stopped by that pid."""

    def __init__(self) -> None:
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        #: Every pid ever started, for the report (`lab bench -o json` lists them).
        self.started: list[int] = []

    def start(self, where: Endpoint) -> subprocess.Popen[bytes]:
        # `ip netns exec` enters the namespace and execs iperf3: the pid is iperf3's own.
        argv = in_netns(where.netns, iperf3_binary(), "-s", "-1", "-B", where.ip, "-p", str(PORT))
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._running[proc.pid] = proc
        self.started.append(proc.pid)
        deadline = time.monotonic() + 10
        while not _listening(proc.pid, where.ip, PORT):
            if proc.poll() is not None:
                why = _stderr(proc)  # before `stop`, which closes the pipe
                self.stop(proc)
                raise LabError(f"iperf3 server in {where.netns} exited: {why}")
            if time.monotonic() > deadline:
                self.stop(proc)
                raise LabError(f"iperf3 server in {where.netns}: not listening after 10 s")
            time.sleep(0.02)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
        """Stop one server by its pid (SIGTERM, then SIGKILL) and reap it."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(grace)
        if proc.stderr is not None:
            proc.stderr.close()
        self._running.pop(proc.pid, None)

    def finish(self, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        """Let a `-1` server end by itself after its one test; stop it by pid if it has not
        within `timeout` seconds (its test is over: the result is already in hand)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        self.stop(proc)

    def stop_all(self) -> None:
        for proc in list(self._running.values()):
            self.stop(proc)


def _stderr(proc: subprocess.Popen[bytes]) -> str:
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    return err.strip().replace("\n", "; ") or f"exit {proc.returncode}"


def _listening(pid: int, ip: str, port: int) -> bool:
    """Whether the namespace `pid` lives in has a TCP socket listening on ip:port."""
    want = f"{int.from_bytes(socket.inet_aton(ip), sys.byteorder):08X}:{port:04X}"
    try:
        with open(f"/proc/{pid}/net/tcp", encoding="ascii") as stream:
            lines = stream.read().splitlines()[1:]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return any(f[1] == want and f[3] == "0A" for f in (line.split() for line in lines))


def throughput(servers: Servers, src: Endpoint, dst: Endpoint, seconds: int) -> dict[str, Any]:
    """One iperf3 TCP run src → dst for `seconds`: Mbit/s received, bytes, retransmits."""
    server = servers.start(dst)
    try:
        argv = in_netns(
            src.netns,
            iperf3_binary(),
            "-c",
            dst.ip,
            "-B",
            src.ip,
            "-p",
            str(PORT),
            "-t",
            str(seconds),
            "-J",
            "--connect-timeout",
            "3000",
        )
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=seconds + 20, check=False
            )
        except subprocess.TimeoutExpired:
            raise LabError(
                f"iperf3 {src.label} -> {dst.label}: no result in {seconds + 20} s"
            ) from None
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            doc = {"error": proc.stderr.strip() or f"exit {proc.returncode}, no JSON"}
        if doc.get("error") or proc.returncode != 0:
            raise LabError(f"iperf3 {src.label} -> {dst.label}: {doc.get('error')}")
        end = doc["end"]
        cpu = end["cpu_utilization_percent"]
        servers.finish(server)  # `-1`: the server ends after its one test
    finally:
        servers.stop(server)
    return {
        "mbps": round(end["sum_received"]["bits_per_second"] / 1e6, 1),
        "bytes": int(end["sum_received"]["bytes"]),
        "retransmits": int(end["sum_sent"].get("retransmits", 0)),
        # CPU time of the two iperf3 processes (and the kernel work done on their
        # behalf), as a percentage of the run's length.
        "cpuPercent": round(cpu["host_total"] + cpu["remote_total"], 1),
    }


def latency(src: Endpoint, dst: Endpoint, count: int = 30) -> list[float]:
    """The round trips (ms) of `count` pings 10 ms apart (those answered: at least half)."""
    proc = ns_run(
        src.netns, "ping", "-n", "-c", str(count), "-i", "0.01", "-W", "1", dst.ip, check=False
    )
    times = [float(t) for t in _TIME.findall(proc.stdout)]
    if len(times) < count // 2:
        raise LabError(
            f"ping {src.label} -> {dst.label}: {len(times)} of {count} replied "
            f"({proc.stderr.strip() or 'no reply'})"
        )
    return times


def _df_ping(src: Endpoint, dst: Endpoint, payload: int) -> tuple[bool, int | None]:
    """Whether a DF ping of `payload` bytes is answered; and the MTU the kernel named, if it
    refused to send it (`local error: message too long, mtu=N`)."""
    argv = ("ping", "-n", "-c", "1", "-W", "1", "-M", "do", "-s", str(payload), dst.ip)
    proc = ns_run(src.netns, *argv, check=False, timeout=10)
    refused = _REFUSED.search(proc.stdout + proc.stderr)
    return proc.returncode == 0, int(refused.group(1)) if refused else None


def path_mtu(src: Endpoint, dst: Endpoint) -> int:
    """The largest IPv4 packet with DF set that goes src → dst and is answered (bytes).

    A binary search over ping payloads. A ping the sending kernel refuses names the
    MTU it knows for the route (the device's, or one an ICMP "fragmentation needed"
    taught it): that size is tried next, so the search costs a few pings, not a dozen
    one-second timeouts. The answer is always a size that was answered, with every
    larger size tried either refused or unanswered.
    """
    low, high = 0, MTU_CEILING - 28  # payload bytes: `low` is answered, above `high` is not
    if not _df_ping(src, dst, low)[0]:
        raise LabError(f"path mtu {src.label} -> {dst.label}: not even an empty ping is answered")
    mid = (low + high + 1) // 2
    while low < high:
        answered, limit = _df_ping(src, dst, mid)
        if answered:
            low = mid
        else:
            high = mid - 1
            if limit is not None and low < limit - 28 <= high:
                high = mid = limit - 28  # try the kernel's own limit next
                continue
        mid = (low + high + 1) // 2
    return low + 28  # the ICMP header (8) and the IPv4 header (20) around the payload


@dataclass(frozen=True, slots=True)
class Frame:
    """A ping as the underlay switch port saw it: its length, and what was around the ping."""

    length: int
    headers: str


def wire_frame(
    underlay_netns: str, port: str, src: Endpoint, dst: Endpoint, count: int = 5
) -> Frame:
    """Ping src → dst with `FRAME_PAYLOAD` bytes and capture what the switch port receives."""
    capture = socket_in(underlay_netns, socket.AF_PACKET, socket.SOCK_RAW)
    try:
        capture.bind((port, _ETH_P_ALL))
        capture.setblocking(False)  # noqa: FBT003 - socket's own API
        argv = ("ping", "-n", "-q", "-c", str(count), "-i", "0.01", "-W", "1")
        ns_run(src.netns, *argv, "-s", str(FRAME_PAYLOAD), dst.ip, check=False, timeout=15)
        frames: list[Frame] = []
        while True:
            try:
                data, address = capture.recvfrom(65536)
            except BlockingIOError:
                break
            if address[2] == _PACKET_OUTGOING:  # towards the node, not from it
                continue
            headers = _ping_headers(data, dst.ip)
            if headers is not None:
                frames.append(Frame(len(data), headers))
    finally:
        capture.close()
    if not frames:
        raise LabError(
            f"frames {src.label} -> {dst.label}: no ping of {FRAME_PAYLOAD} bytes to {dst.ip} "
            f"crossed {port} in {underlay_netns}"
        )
    return statistics.mode(frames)


def _ping_headers(frame: bytes, dst: str) -> str | None:
    """The headers around an echo request of `FRAME_PAYLOAD` bytes to `dst`, or None.

    The frame is whatever crossed the switch port: every length is checked before it
    is used, and every loop is bounded (a header of IHL 0 must not be read forever).
    """
    layers: list[str] = []
    data = frame
    for _ in range(_MAX_DEPTH):  # Ethernet, at most a few encapsulations deep
        if len(data) < 14 or struct.unpack("!H", data[12:14])[0] != 0x0800:
            return None
        layers.append("eth")
        data = data[14:]
        for _ in range(_MAX_DEPTH):  # IPv4, possibly in IPv4 (IPIP)
            if len(data) < 20 or data[0] >> 4 != 4:
                return None
            ihl, proto = (data[0] & 0x0F) * 4, data[9]
            if ihl < 20 or len(data) < ihl:
                return None
            target = socket.inet_ntoa(data[16:20])
            layers.append("ipv4")
            data = data[ihl:]
            if proto != _IPIP:
                break
        else:
            return None  # IPIP deeper than any lab backend nests
        if proto == _ICMP:
            if data[:1] == b"\x08" and target == dst and len(data) - 8 == FRAME_PAYLOAD:
                return "/".join([*layers, "icmp"])
            return None
        if proto != _UDP or len(data) < 16:
            return None
        dport = struct.unpack("!H", data[2:4])[0]
        vxlan = data[8:16]
        if not vxlan[0] & 0x08:  # the VXLAN header's I flag: a VNI follows
            return None
        layers.append(f"udp:{dport}/vxlan(vni {int.from_bytes(vxlan[4:7], 'big')})")
        data = data[16:]
    return None


def measure_all(
    jobs: list[tuple[str, Callable[[], Any]]], say: Callable[[str], None]
) -> dict[str, Any]:
    """Run named measurements one after another (never two at once: they would share CPUs)."""
    out: dict[str, Any] = {}
    for name, job in jobs:
        started = time.perf_counter()
        out[name] = job()
        say(f"  {name}: {_show(out[name])} ({time.perf_counter() - started:.1f} s)")
    return out


def _show(value: Any) -> str:
    if isinstance(value, Frame):
        return f"{value.length} bytes, {value.headers}"
    if isinstance(value, list):
        return f"median {statistics.median(value):.3f} ms of {len(value)} replies"
    if isinstance(value, dict) and "mbps" in value:
        return (
            f"{value['mbps']:.0f} Mbit/s, {value['retransmits']} retransmits, "
            f"iperf3 CPU {value['cpuPercent']:.0f}%"
        )
    return str(value)
