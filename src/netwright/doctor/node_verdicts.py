"""The doctor's verdicts on the node side: the plan's diff, the MTU chain, sysctls, BIRD, NAT.

Why it exists apart from the measuring: as in `verdicts`, each verdict is decided
from plain values (what `gathering` measured, what the plan wants), so each
threshold and each piece of advice is tested without a kernel.

What it must not do: read anything (no files, no kernel, no clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netwright.doctor.verdicts import Check, Status, plural
from netwright.kernel.birdctl import Session  # noqa: TC001 - the sessions as birdctl reads them, re-exported

if TYPE_CHECKING:
    from collections.abc import Mapping


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanItem:
    kind: str
    op: str  # add | change | delete
    text: str
    count: int = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanDiff:
    """`netwright plan` against the node: its changes, conflicts and notes."""

    items: tuple[PlanItem, ...] = ()
    conflicts: tuple[tuple[str, str], ...] = ()  # (kind, message)
    apply: str = "netwright apply"  # the command that would fix it


#: Which plan kinds each check covers; sysctls and nft have their own checks too.
PLAN_GROUPS: Mapping[str, tuple[str, ...]] = {
    "routes": ("route", "nexthop"),
    "fdb": ("fdb", "neighbour"),
    "devices": ("link", "address"),
    "files": ("file", "bird"),
}
_OPS = {"add": "missing", "delete": "extra", "change": "different"}


def judge_plan(d: PlanDiff) -> list[Check]:
    """One check per group: missing or foreign in the way FAIL, extra or different WARN."""
    out = []
    for group, kinds in PLAN_GROUPS.items():
        items = [i for i in d.items if i.kind in kinds]
        conflicts = [m for k, m in d.conflicts if k in kinds]
        counts = {op: sum(i.count for i in items if i.op == op) for op in _OPS}
        parts = [f"{n} {_OPS[op]}" for op, n in counts.items() if n]
        if conflicts:
            parts.append(f"{len(conflicts)} foreign in the way")
        details = tuple([i.text for i in items] + [f"! {m}" for m in conflicts])
        if not parts:
            out.append(
                Check(
                    name=group, status=Status.PASS, measured="as planned (" + "/".join(kinds) + ")"
                )
            )
            continue
        status = Status.FAIL if conflicts or counts["add"] or counts["change"] else Status.WARN
        todo = f"`{d.apply}` makes it so"
        if conflicts:
            todo = "remove or move the foreign objects netwright does not own, then " + todo
        out.append(
            Check(
                name=group,
                status=status,
                measured="against the plan: " + ", ".join(parts),
                todo=todo,
                details=details,
            )
        )
    return out


# ---------------------------------------------------------------- MTU chain


#: Encapsulation overhead by tunnel kind and underlay family (bytes).
OVERHEAD: Mapping[tuple[str, int], int] = {
    ("vxlan", 4): 50,
    ("vxlan", 6): 70,
    ("ipip", 4): 20,
    ("wireguard", 4): 60,
    ("wireguard", 6): 80,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkMtu:
    name: str
    kind: str
    mtu: int | None  # None: the link is absent
    expected: int | None = None
    master: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Mtus:
    underlay: str
    underlay_mtu: int | None
    underlay_family: int = 4
    #: The node's tunnels and bridges, as planned and as found.
    devices: tuple[LinkMtu, ...] = ()
    #: `mtu` of the bridge plugin in the conflist, by bridge name.
    conflist: Mapping[str, int] = field(default_factory=dict)
    #: The host ends of the pods' veths (master = their bridge) and the pods' own ends.
    veths: tuple[LinkMtu, ...] = ()
    pods: tuple[LinkMtu, ...] = ()


def judge_mtu(m: Mtus) -> Check:
    name = "mtu"
    problems: list[str] = []
    chain = [f"underlay {m.underlay} {m.underlay_mtu if m.underlay_mtu is not None else '?'}"]
    bridges: dict[str, int] = {}
    for d in m.devices:
        chain.append(f"{d.kind} {d.name} {d.mtu if d.mtu is not None else 'absent'}")
        if d.mtu is None:
            problems.append(f"{d.kind} {d.name} is missing")
            continue
        if d.kind == "bridge":  # what its pods must match: the plan's MTU, else the live one
            bridges[d.name] = d.expected if d.expected is not None else d.mtu
        if d.expected is not None and d.mtu != d.expected:
            problems.append(f"{d.kind} {d.name} has MTU {d.mtu}, the plan says {d.expected}")
        overhead = OVERHEAD.get((d.kind, m.underlay_family))
        underlay = m.underlay_mtu
        if overhead is not None and underlay is not None and d.mtu + overhead > underlay:
            problems.append(
                f"{d.kind} {d.name}: {d.mtu} + {overhead} bytes of {d.kind} > underlay "
                f"{underlay}: full-size packets are dropped"
            )
    for bridge, mtu in sorted(m.conflist.items()):
        chain.append(f"conflist mtu {mtu}")
        have = bridges.get(bridge)
        if have is not None and have != mtu:
            problems.append(f"conflist gives pods MTU {mtu}, bridge {bridge} is for {have}")
    for group, what in ((m.veths, "veth"), (m.pods, "pod interface")):
        for v in group:
            want = bridges.get(v.master or "")
            if want is not None and v.mtu is not None and v.mtu != want:
                problems.append(f"{what} {v.name} has MTU {v.mtu}, bridge {v.master} is for {want}")
    if m.veths:
        chain.append(f"{plural(len(m.veths), 'pod veth')}")
    measured = " -> ".join(chain)
    if problems:
        return Check(
            name=name,
            status=Status.FAIL,
            measured=measured,
            todo="MTUs along the path must agree (large packets are dropped or black-holed): "
            "`netwright apply` restores the bridge and tunnel; a pod's veth keeps the MTU it "
            "was created with, so fix it with `ip link set DEV mtu N` or recreate the pod",
            details=tuple(problems),
        )
    return Check(name=name, status=Status.PASS, measured=measured + ": consistent")


# ---------------------------------------------------------------- sysctls


@dataclass(frozen=True, kw_only=True, slots=True)
class Sysctls:
    #: What the plan sets, by name.
    wanted: Mapping[str, str]
    #: What the kernel has, by name (None: the kernel has no such sysctl).
    found: Mapping[str, str | None]
    #: Effective rp_filter (max of conf.all and conf.<dev>) per device that matters.
    rp_filter: Mapping[str, int] = field(default_factory=dict)
    #: Forward-hook chains whose policy is drop (`table ip filter chain FORWARD`).
    forward_drop: tuple[str, ...] = ()


def judge_forwarding(s: Sysctls) -> Check:
    names = [n for n in s.wanted if n.endswith(("ip_forward", ".forwarding"))]
    found = {n: s.found.get(n) for n in names}
    measured = ", ".join(f"{n}={v if v is not None else 'absent'}" for n, v in found.items())
    off = [n for n, v in found.items() if v != s.wanted[n]]
    if off:
        return Check(
            name="forwarding",
            status=Status.FAIL,
            measured=measured,
            todo="the node does not route pod traffic: "
            + "; ".join(f"sysctl -w {n}={s.wanted[n]}" for n in off)
            + " (or `netwright apply`)",
        )
    measured = measured or "nothing to forward"
    if s.forward_drop:
        return Check(
            name="forwarding",
            status=Status.WARN,
            measured=f"{measured}; policy drop in {', '.join(s.forward_drop)}",
            todo="forwarded (and, with bridge-nf, bridged) pod traffic is dropped unless a rule"
            " there accepts it (Docker sets FORWARD to DROP): accept the pools' CIDRs",
        )
    return Check(name="forwarding", status=Status.PASS, measured=measured)


def judge_rp_filter(s: Sysctls) -> Check:
    name = "net.ipv4.conf.all.rp_filter"
    want, have = s.wanted.get(name), s.found.get(name)
    effective = ", ".join(f"{dev} {v}" for dev, v in sorted(s.rp_filter.items()))
    measured = f"all={have}; effective per device: {effective or '-'}"
    if want is not None and have != want:
        return Check(
            name="rp_filter",
            status=Status.WARN,
            measured=measured,
            todo=f"netwright sets {name}={want}; `netwright apply` restores it"
            " (strict and loose both pass symmetric pod routes)",
        )
    return Check(name="rp_filter", status=Status.PASS, measured=measured)


def judge_bridge_nf(s: Sysctls) -> Check:
    names = [n for n in s.wanted if n.startswith("net.bridge.")]
    if not names:
        return Check(name="bridge-nf", status=Status.PASS, measured="no bridge on this node")
    found = {n: s.found.get(n) for n in names}
    measured = ", ".join(f"{n}={v if v is not None else 'absent'}" for n, v in found.items())
    if any(v is None for v in found.values()):
        return Check(
            name="bridge-nf",
            status=Status.WARN,
            measured=measured + " (br_netfilter not loaded)",
            todo="bridged pod traffic skips iptables (portmap hairpin, network policy):"
            " modprobe br_netfilter, then `netwright apply`",
        )
    off = [n for n, v in found.items() if v != s.wanted[n]]
    if off:
        return Check(
            name="bridge-nf",
            status=Status.WARN,
            measured=measured,
            todo="bridged pod traffic skips iptables: "
            + "; ".join(f"sysctl -w {n}={s.wanted[n]}" for n in off),
        )
    return Check(
        name="bridge-nf",
        status=Status.PASS,
        measured=measured
        + " (bridged pod traffic passes iptables: a FORWARD policy DROP drops it)",
    )


# ---------------------------------------------------------------- BIRD and NAT


@dataclass(frozen=True, kw_only=True, slots=True)
class Bird:
    socket: str
    config: str = "bird.conf"
    #: None: nothing answered on the socket; else BIRD's status line.
    status: str | None
    error: str = ""
    #: The BGP protocols the node's rendered config declares.
    expected: tuple[str, ...] = ()
    sessions: tuple[Session, ...] = ()
    #: Remote blocks a bgp pool expects as `proto bird` routes, and those in the kernel.
    routes_expected: frozenset[str] = frozenset()
    routes_found: frozenset[str] = frozenset()


def judge_bird(b: Bird) -> Check:
    name = "bird"
    if b.status is None:
        return Check(
            name=name,
            status=Status.FAIL,
            measured=f"no BIRD answers on {b.socket}: {b.error or 'not running'}",
            todo=f"start BIRD with the node's config (bird -c {b.config} -s {b.socket});"
            " without it the routes to other nodes' blocks are withdrawn",
        )
    by_name = {s.name: s for s in b.sessions}
    down = [
        f"{n}: {by_name[n].state} {by_name[n].info}".strip()
        if n in by_name
        else f"{n}: not configured in the running BIRD"
        for n in b.expected
        if n not in by_name or by_name[n].info.split()[:1] != ["Established"]
    ]
    missing = sorted(b.routes_expected - b.routes_found)
    measured = (
        f"{b.status}; {len(b.expected) - len(down)} of {len(b.expected)} BGP sessions Established"
    )
    if b.routes_expected:
        got = len(b.routes_expected) - len(missing)
        measured += f"; {got} of {len(b.routes_expected)} remote blocks as proto bird routes"
    details = tuple(down + [f"no proto bird route to {r}" for r in missing])
    if down or missing:
        return Check(
            name=name,
            status=Status.FAIL,
            measured=measured,
            todo=f"birdc -s {b.socket} show protocols all NAME says why; check the peer's"
            " BIRD, TCP 179 on the underlay, and that `netwright apply` loaded the config;"
            " a session with a password that stays in Active or Connect may have the wrong"
            " one (a rising TcpExt TCPMD5Failure in /proc/net/netstat says so; see"
            " docs/troubleshooting.md#a-wrong-bgp-password-is-silent)",
            details=details,
        )
    return Check(name=name, status=Status.PASS, measured=measured)


@dataclass(frozen=True, kw_only=True, slots=True)
class Nat:
    table: str  # "inet netwright"
    text: str | None  # `nft list table`, None: absent
    sources: tuple[str, ...] = ()


def judge_nat(n: Nat) -> Check:
    name = "nat"
    if n.text is None:
        return Check(
            name=name,
            status=Status.FAIL,
            measured=f"nft table {n.table} is absent",
            todo="pods cannot reach outside the pools (natOutgoing): `netwright apply` loads it",
        )
    if "masquerade" not in n.text:
        return Check(
            name=name,
            status=Status.FAIL,
            measured=f"nft table {n.table} has no masquerade rule",
            todo="`netwright apply` replaces the table with the planned one",
        )
    return Check(
        name=name,
        status=Status.PASS,
        measured=f"nft table {n.table} masquerades {', '.join(n.sources) or 'pod traffic'}",
    )
