"""The doctor's measurements: what the node's files, kernel, plugins and BIRD say, as values.

Why it exists: the verdicts (`verdicts`) are pure; everything they judge is read
here, once per run, with the tools an operator would use by hand: `ip -json` for
links, addresses and namespace ids, the kernel adapter for sysctls and for running
`nft list` inside the node's namespace, BIRD's `show status` and `show protocols` on
its control socket (`kernel.birdctl`), each CNI plugin run with `CNI_COMMAND=VERSION`,
and `netwright plan`'s own comparison (`netwright.provisioning.provision` in check
mode) for routes, fdb, devices and files.

What it must not do: change anything. No command here writes: `ip` only shows,
BIRD is only asked to show, `nft` only lists, plugins only answer VERSION (no
namespace, no container), and the plan runs in check mode (no lock, no apply).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from typing import TYPE_CHECKING, Any

from netwright.doctor.node_verdicts import (
    Bird,
    LinkMtu,
    PlanDiff,
    PlanItem,
)
from netwright.doctor.verdicts import (
    Conflist,
    PluginAnswer,
    Reservation,
    parse_ip,
    plugin_name_error,
)
from netwright.errors import KernelError
from netwright.kernel import birdctl

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from netwright._types import IPAddress
    from netwright.engine import Report
    from netwright.model.state import BirdControl

#: host-local's default `dataDir`.
HOST_LOCAL_DIR = "/var/lib/cni/networks"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CONF_EXT = (".conf", ".conflist", ".json")
_BGP_PROTOCOL = re.compile(r"^\s*protocol\s+bgp\s+(\S+)", re.MULTILINE)


def _run(
    argv: Sequence[str], *, stdin: str | None = None, env: dict[str, str] | None = None
) -> Any:
    try:
        return subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=20,
            env=env,
        )
    except FileNotFoundError as exc:
        raise KernelError(f"{argv[0]}: not installed") from exc
    except OSError as exc:  # not runnable: permission, exec format
        raise KernelError(f"{argv[0]}: {exc.strerror or exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise KernelError(f"{' '.join(argv)}: no answer after 20 s") from exc


def ip_json(netns: str | None, *args: str) -> list[dict[str, Any]]:
    """`ip [-n NS] -json ARGS` as a list; a namespace that is gone is an error."""
    argv = ["ip", *(["-n", netns] if netns else []), "-json", *args]
    proc = _run(argv)
    if proc.returncode != 0:
        raise KernelError(f"{' '.join(argv)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    out = proc.stdout.strip()
    return list(json.loads(out)) if out else []


# ---------------------------------------------------------------- conflist and plugins


def conflist(directory: str, expected: str | None) -> tuple[Conflist, dict[str, Any] | None]:
    """The file a CNI runtime would load from `directory` (libcni: first by name), parsed."""
    try:
        names = sorted(f for f in os.listdir(directory) if f.endswith(_CONF_EXT))
    except FileNotFoundError:
        names = []
    files = tuple(os.path.join(directory, n) for n in names)
    found = Conflist(directory=directory, files=files, expected=expected)
    if not files:
        return found, None
    try:
        with open(files[0], encoding="utf-8") as stream:
            raw = json.load(stream)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return _with(found, error=f"not JSON ({exc})"), None
    if not isinstance(raw, dict):
        return _with(found, error="not a JSON object"), None
    plugins = raw.get("plugins")
    if plugins is None and "type" in raw:  # a single-plugin *.conf
        plugins = [raw]
    missing = [k for k in ("name", "cniVersion") if not isinstance(raw.get(k), str)]
    if missing or not isinstance(plugins, list) or not plugins:
        what = ", ".join(f"`{k}`" for k in missing) or "`plugins`"
        return _with(found, error=f"no {what}"), None
    types: list[str] = []
    for p in plugins:
        if not isinstance(p, dict) or not isinstance(p.get("type"), str):
            return _with(found, error="a plugin without `type`"), None
        types.append(p["type"])
    for p in plugins:
        ipam = p.get("ipam")
        if isinstance(ipam, dict) and isinstance(ipam.get("type"), str):
            types.append(ipam["type"])
    return (
        _with(found, name=raw["name"], cni_version=raw["cniVersion"], plugins=tuple(types)),
        raw | {"plugins": plugins},
    )


def _with(c: Conflist, **changes: Any) -> Conflist:
    import dataclasses  # noqa: PLC0415 - only here

    return dataclasses.replace(c, **changes)


def plugins(types: Iterable[str], cni_version: str, bin_dir: str) -> list[PluginAnswer]:
    """Each plugin type found in `bin_dir` (colon-separated, like CNI_PATH) and asked VERSION."""
    out = []
    for kind in dict.fromkeys(types):
        why = plugin_name_error(kind)
        if why is not None:  # a path, not a name: never run (see `plugin_name_error`)
            out.append(PluginAnswer(type=kind, path=None, error=why))
            continue
        candidates = (os.path.join(d, kind) for d in bin_dir.split(":") if d)
        path = next((p for p in candidates if _executable(p)), None)
        if path is None:
            out.append(PluginAnswer(type=kind, path=None))
            continue
        env = {"CNI_COMMAND": "VERSION", "CNI_PATH": bin_dir, "PATH": PATH}
        try:
            proc = _run([path], stdin=json.dumps({"cniVersion": cni_version}), env=env)
        except KernelError as exc:
            out.append(PluginAnswer(type=kind, path=path, error=str(exc)))
            continue
        try:
            answer = json.loads(proc.stdout)
            supported = tuple(str(v) for v in answer["supportedVersions"])
        except (ValueError, KeyError, TypeError):
            text = (proc.stderr or proc.stdout).strip()[:200] or f"exit {proc.returncode}"
            out.append(PluginAnswer(type=kind, path=path, error=f"no VERSION answer: {text}"))
            continue
        out.append(PluginAnswer(type=kind, path=path, supported=supported))
    return out


def _executable(path: str) -> bool:
    """A file (not a directory: those are "executable" too) the doctor may run."""
    return os.path.isfile(path) and os.access(path, os.X_OK)


def conflist_mtus(raw: dict[str, Any] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in (raw or {}).get("plugins", []):
        if p.get("type") == "bridge" and isinstance(p.get("mtu"), int):
            out[str(p.get("bridge", "cni0"))] = p["mtu"]
    return out


# ---------------------------------------------------------------- host-local


def host_local_dir(raw: dict[str, Any] | None) -> str | None:
    """host-local's directory for this network (its `dataDir`/<network>), or None: not used."""
    for p in (raw or {}).get("plugins", []):
        ipam = p.get("ipam")
        if isinstance(ipam, dict) and ipam.get("type") == "host-local":
            return os.path.join(str(ipam.get("dataDir") or HOST_LOCAL_DIR), str(raw["name"]))  # type: ignore[index]
    return None


def reservations(directory: str) -> list[Reservation]:
    """host-local keeps one file per address, named by it: the container ID, then the ifname."""
    out = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in sorted(names):
        ip = parse_ip(name.replace("_", ":"))  # host-local on Windows writes IPv6 with `_`
        if ip is None:
            continue  # lock, last_reserved_ip.N
        with contextlib.suppress(OSError), open(os.path.join(directory, name)) as stream:
            lines = [line.strip() for line in stream.read().splitlines()]
            out.append(
                Reservation(
                    ip=ip,
                    container_id=lines[0] if lines else "",
                    ifname=lines[1] if len(lines) > 1 else "",
                )
            )
    return out


# ---------------------------------------------------------------- pods behind the bridges


def pods(
    netns: str | None, links: list[dict[str, Any]], bridges: Iterable[str]
) -> tuple[frozenset[IPAddress], list[LinkMtu], list[LinkMtu], int]:
    """The pods on the node's bridges: addresses they hold, host and pod ends, unreadable ports.

    A pod is found through its veth: the host end is a port of one of the node's
    bridges, and its `link_netnsid` names the pod's namespace in this namespace's id
    table (`ip netns list-id`), which names it when it is pinned in /run/netns, as
    CNI runtimes (containerd, CRI-O) pin theirs.
    """
    wanted = set(bridges)
    ports = [
        link
        for link in links
        if link.get("master") in wanted and link.get("linkinfo", {}).get("info_kind") == "veth"
    ]
    names = {e["nsid"]: e.get("name") for e in ip_json(netns, "netns", "list-id")}
    held: set[IPAddress] = set()
    host_ends, pod_ends = [], []
    unreadable = 0
    for port in ports:
        host_ends.append(
            LinkMtu(name=port["ifname"], kind="veth", mtu=port.get("mtu"), master=port["master"])
        )
        pod_ns = names.get(port.get("link_netnsid", -1))
        if not pod_ns:
            unreadable += 1
            continue
        try:
            ifaces = ip_json(pod_ns, "addr", "show")
        except KernelError:
            unreadable += 1
            continue
        for iface in ifaces:
            for a in iface.get("addr_info", []):
                ip = parse_ip(str(a.get("local", "")))
                if ip is not None:
                    held.add(ip)
            if iface.get("ifindex") == port.get("link_index"):
                pod_ends.append(
                    LinkMtu(
                        name=f"{pod_ns}/{iface['ifname']}",
                        kind="veth",
                        mtu=iface.get("mtu"),
                        master=port["master"],
                    )
                )
    return frozenset(held), host_ends, pod_ends, unreadable


# ---------------------------------------------------------------- sysctls and nft


def sysctls(
    netns: str | None, names: Iterable[str], devices: Iterable[str]
) -> tuple[dict[str, str | None], dict[str, int]]:
    """Sysctl values by name, and the effective rp_filter of each device (max of all, dev)."""
    from netwright.kernel import Target, open_session  # noqa: PLC0415

    def path(name: str) -> str:
        return "/proc/sys/" + name.replace(".", "/")

    with open_session(Target(netns=netns)) as session:
        found = {n: session.read_sysctl(path(n)) for n in names}
        every = session.read_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter")
        rp: dict[str, int] = {}
        for dev in devices:
            own = session.read_sysctl(f"/proc/sys/net/ipv4/conf/{dev}/rp_filter")
            if own is not None and every is not None:
                rp[dev] = max(int(own), int(every))
    return found, rp


def nft_table(netns: str | None, family: str, name: str) -> str | None:
    """`nft list table FAMILY NAME` in the node's namespace; None when there is no such table."""
    argv = [
        *(["ip", "netns", "exec", netns] if netns else []),
        "nft",
        "list",
        "table",
        family,
        name,
    ]
    proc = _run(argv)
    return str(proc.stdout) if proc.returncode == 0 else None


def forward_drop(netns: str | None) -> tuple[str, ...]:
    """Chains on the forward hook whose policy is drop (iptables-nft's FORWARD among them)."""
    argv = [*(["ip", "netns", "exec", netns] if netns else []), "nft", "list", "chains"]
    proc = _run(argv)
    if proc.returncode != 0:
        return ()
    found, table, chain = [], "", ""
    for line in str(proc.stdout).splitlines():
        words = line.split()
        if words[:1] == ["table"] and len(words) >= 3:
            table = f"table {words[1]} {words[2]}"
        elif words[:1] == ["chain"] and len(words) >= 2:
            chain = words[1]
        elif "hook forward" in line and "policy drop" in line:
            found.append(f"{table} chain {chain}")
    return tuple(found)


# ---------------------------------------------------------------- BIRD


def bgp_protocols(config: str) -> tuple[str, ...]:
    return tuple(_BGP_PROTOCOL.findall(config))


def bird(
    control: BirdControl, expected: tuple[str, ...], netns: str | None, remote: frozenset[str]
) -> Bird:
    """BIRD behind the node's socket (`show` commands only), and its routes in the kernel."""
    found = frozenset(r["dst"] for r in ip_json(netns, "route", "show", "proto", "bird"))
    socket = control.socket
    base = Bird(
        socket=socket,
        config=control.config,
        status=None,
        expected=expected,
        routes_expected=remote,
        routes_found=found,
    )
    if not os.path.exists(socket):
        return _bird(base, error="the control socket does not exist (BIRD is not running)")
    try:
        code, lines = birdctl.command(socket, "show status", timeout=10)
        if code != "0013" or not any(line.startswith("Daemon is") for line in lines):
            said = "; ".join(line.strip() for line in lines if line.strip())
            return _bird(base, error=f"{code} {said}"[:200])
        sessions = birdctl.sessions(socket, timeout=10)
    except OSError as exc:
        return _bird(base, error=f"BIRD is not answering: {exc}")
    daemon = next(line for line in lines if line.startswith("Daemon is"))
    version = next((ln for ln in lines if ln.startswith("BIRD ")), "BIRD")
    return _bird(base, status=f"{version}: {daemon}", sessions=tuple(sessions))


def _bird(b: Bird, **changes: Any) -> Bird:
    import dataclasses  # noqa: PLC0415 - only here

    return dataclasses.replace(b, **changes)


# ---------------------------------------------------------------- the plan


def plan_diff(report: Report, apply: str) -> PlanDiff:
    delta = report.delta
    return PlanDiff(
        items=tuple(
            PlanItem(kind=c.kind, op=str(c.op), text=str(c), count=c.count) for c in delta.changes
        ),
        conflicts=tuple((c.kind, str(c)) for c in delta.conflicts),
        apply=apply,
    )
