"""Plan: a node's rendered config plus its peers → the kernel and file state it must have.

This is where routes to other nodes come from: each node computes them itself
from the peers' data (name, underlay address, blocks), as flannel and Felix
do, so the rendered config of one node never lists the others' routes. VTEP
MACs are derived from the peers' addresses (`state.vtep_mac`), never looked up.

It is pure and linear in the number of peers: a node with 5,000 peers plans in
a few tens of milliseconds. It must not read the kernel or files (the engine
observes and diffs), and must not reveal a secret: BIRD's file carries the
`SecretValue`s for `File.materialize()` alone.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from netwright.errors import Issue, ValidationError
from netwright.model.spec import BackendType
from netwright.model.state import (
    Address,
    BirdControl,
    FdbEntry,
    File,
    Link,
    Neighbour,
    NftTable,
    NodeState,
    Route,
    Sysctl,
    VxlanLink,
    bridge_mac,
    vtep_mac,
)
from netwright.render import BIRD_CONFIG, BIRD_SOCKET, CNI_DIR, under
from netwright.validate.names import file_name_problem

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from netwright._types import IPNetwork
    from netwright.model.config import NatOutgoing, NodeConfig, NodeFacts, Peer, PoolRouting, Tunnel

#: Mode, owner and group of BIRD's configuration: it may hold BGP passwords, and
#: Debian's bird runs as user `bird` (docs/architecture.md#secrets).
BIRD_MODE = 0o640
BIRD_GROUP = "bird"
CONFLIST_MODE = 0o644


def plan_node(config: NodeConfig, peers: Sequence[Peer], facts: NodeFacts) -> NodeState:
    """The desired state of `config.node`, given what it knows of the other nodes.

    `config` must be a full rendering: a node-local one (`render_node(..., local=True)`)
    has no BIRD text to write.
    """
    if config.bird is not None and config.bird.config is None:
        msg = f"node {config.node}: a node-local rendering has no BIRD text to plan with"
        raise ValueError(msg)
    links, addresses = _devices(config)
    routes, neighbours, fdb = _remote_blocks(config, peers, facts)
    return NodeState(
        node=config.node,
        links=links,
        addresses=addresses,
        routes=routes,
        neighbours=neighbours,
        fdb=fdb,
        sysctls=_sysctls(config),
        nft=nat_table(config.nat) if config.nat is not None else None,
        files=_files(config, facts),
        bird=(
            BirdControl(
                config=under(facts.root, BIRD_CONFIG), socket=under(facts.root, BIRD_SOCKET)
            )
            if config.bird is not None
            else None
        ),
    )


def _devices(config: NodeConfig) -> tuple[tuple[Link, ...], tuple[Address, ...]]:
    links: list[Link] = []
    addresses: list[Address] = []
    for bridge in config.bridges:
        links.append(
            Link(
                name=bridge.name,
                kind="bridge",
                mtu=bridge.mtu,
                mac=bridge_mac(config.node_ip, bridge.name),
            )
        )
        addresses.extend(Address(dev=bridge.name, address=a) for a in bridge.addresses)
    for tunnel in config.tunnels:
        links.append(_tunnel_link(tunnel))
        addresses.extend(Address(dev=tunnel.name, address=a) for a in tunnel.addresses)
    return tuple(links), tuple(addresses)


def _tunnel_link(tunnel: Tunnel) -> Link:
    if tunnel.type is BackendType.VXLAN:
        return Link(
            name=tunnel.name,
            kind="vxlan",
            mtu=tunnel.mtu,
            mac=tunnel.mac,
            vxlan=VxlanLink(
                vni=tunnel.vni if tunnel.vni is not None else 1,
                port=tunnel.port if tunnel.port is not None else 8472,
                local=tunnel.local,
                dev=tunnel.dev,
                learning=False,
            ),
        )
    # ipip and wireguard: the engine refuses them where the kernel lacks the link type
    return Link(name=tunnel.name, kind=str(tunnel.type), mtu=tunnel.mtu)


def _remote_blocks(
    config: NodeConfig, peers: Sequence[Peer], facts: NodeFacts
) -> tuple[tuple[Route, ...], tuple[Neighbour, ...], tuple[FdbEntry, ...]]:
    """Routes (and for vxlan, neighbour and fdb entries) to every other node's blocks.

    The cases, per remote block of a pool this node routes:

    - vxlan: route to the block via its network address on the VTEP, `onlink`
      (the VTEP holds only a /32), a permanent neighbour for that address with
      the peer's VTEP MAC, and one fdb entry per peer and VTEP sending that MAC
      to the peer's underlay address (flannel's scheme; docs/troubleshooting.md#vxlan-vtep-details).
    - vxlan with `directRouting`, when the peer sits in this node's underlay
      subnet and has an address of the block's family: a host-gw route instead.
    - host-gw: route via the peer's address of the block's family on the
      underlay device.
    - ipip / wireguard: route over the tunnel (the engine refuses these links
      where the kernel lacks them).
    - bgp: nothing; BIRD installs those routes.
    """
    pools: Mapping[str, PoolRouting] = {r.pool: r for r in config.routing}
    underlay_prefix: IPNetwork | None = facts.underlay_prefix
    routes: list[Route] = []
    neighbours: list[Neighbour] = []
    fdb: list[FdbEntry] = []
    vxlan = BackendType.VXLAN
    host_gw = BackendType.HOST_GW
    bgp = BackendType.BGP
    for peer in peers:
        if peer.name == config.node:
            continue
        mac: str | None = None
        fdb_done: set[str] = set()
        near = underlay_prefix is not None and peer.ip in underlay_prefix
        for block in peer.blocks:
            routing = pools.get(block.pool)
            if routing is None or routing.type is bgp:
                continue
            dst = block.cidr
            kind = routing.type
            if kind is vxlan and routing.direct_routing and near:
                direct = peer.address(dst.version)
                if direct is not None:
                    routes.append(Route(dst=dst, gateway=direct, dev=facts.underlay_dev))
                    continue
            if kind is vxlan:
                vtep = routing.device
                if mac is None:
                    mac = vtep_mac(peer.ip)
                gateway = dst.network_address
                routes.append(Route(dst=dst, gateway=gateway, dev=vtep, onlink=True))
                neighbours.append(Neighbour(dev=vtep, ip=gateway, mac=mac))
                if vtep not in fdb_done:
                    fdb_done.add(vtep)
                    fdb.append(FdbEntry(dev=vtep, mac=mac, dst=peer.ip))
            elif kind is host_gw:
                via = peer.address(dst.version)
                if via is not None:
                    routes.append(Route(dst=dst, gateway=via, dev=facts.underlay_dev))
            elif kind is BackendType.IPIP:
                via = peer.address(4)
                routes.append(Route(dst=dst, gateway=via, dev=routing.device, onlink=True))
            else:  # wireguard: the peer's allowed-ips decide; the route only picks the device
                routes.append(Route(dst=dst, dev=routing.device))
    return tuple(routes), tuple(neighbours), tuple(fdb)


def _sysctls(config: NodeConfig) -> tuple[Sysctl, ...]:
    # Set explicitly: a new namespace inherits these from the root namespace
    # (docs/troubleshooting.md#sysctls-inherited-from-the-root-namespace), and a
    # node without pods must still forward.
    out = [
        Sysctl(name="net.ipv4.ip_forward", value="1"),
        Sysctl(name="net.ipv4.conf.all.rp_filter", value="1"),
    ]
    if any(b.cidr.version == 6 for b in config.blocks):
        out.append(Sysctl(name="net.ipv6.conf.all.forwarding", value="1"))
    if config.bridges:
        # Pod traffic across the bridge passes iptables (portmap hairpin, policies);
        # optional: absent where br_netfilter is not loaded.
        out.append(Sysctl(name="net.bridge.bridge-nf-call-iptables", value="1", optional=True))
        out.append(Sysctl(name="net.bridge.bridge-nf-call-ip6tables", value="1", optional=True))
    return tuple(out)


def _set(name: str, kind: str, nets: Sequence[IPNetwork]) -> str:
    lines = [f"\tset {name} {{", f"\t\ttype {kind}", "\t\tflags interval"]
    if nets:
        lines.append("\t\telements = { " + ", ".join(str(n) for n in nets) + " }")
    lines.append("\t}")
    return "\n".join(lines) + "\n"


def nat_table(nat: NatOutgoing) -> NftTable:
    """netwright's nft table masquerading pod traffic that leaves every pool.

    One interval set per family for the sources and one for every pool CIDR;
    a family without sources gets no sets and no rule.
    """
    body = ""
    rules: list[str] = []
    for version, kind, proto in ((4, "ipv4_addr", "ip"), (6, "ipv6_addr", "ip6")):
        sources = [n for n in nat.sources if n.version == version]
        if not sources:
            continue
        exclude = [n for n in nat.exclude if n.version == version]
        body += _set(f"src{version}", kind, sources)
        body += _set(f"all{version}", kind, exclude)
        rules.append(f"\t\t{proto} saddr @src{version} {proto} daddr != @all{version} masquerade\n")
    body += (
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n" + "".join(rules) + "\t}\n"
    )
    return NftTable(body=body)


def _files(config: NodeConfig, facts: NodeFacts) -> tuple[File, ...]:
    for c in config.conflists:
        # validate refuses a Network name that is no plain file name; checked again here,
        # where the path is made, so that no conflist can land outside the node's root
        problem = file_name_problem(c.file)
        if problem is not None:
            raise ValidationError(
                [Issue(kind="Network", name=c.network, path="metadata.name", message=problem)]
            )
    files = [
        File(
            path=under(facts.root, f"{CNI_DIR}/{c.file}"),
            content=json.dumps(c.config, indent=2) + "\n",
            mode=CONFLIST_MODE,
        )
        for c in config.conflists
    ]
    if config.bird is not None:
        missing = config.bird.missing
        if missing:
            raise ValidationError(
                [
                    Issue(
                        kind="Secret",
                        name=f"{r.namespace}/{r.name}",
                        path=f"data.{r.key}",
                        message="not found: the BIRD configuration needs this BGP password",
                    )
                    for r in missing
                ]
            )
        files.append(
            File(
                path=under(facts.root, BIRD_CONFIG),
                content=config.bird.config or "",
                mode=BIRD_MODE,
                owner="root",
                group=BIRD_GROUP,
                secrets=config.bird.secrets,
            )
        )
    return tuple(files)
