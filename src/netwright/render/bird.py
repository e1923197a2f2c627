"""A node's BIRD 2 configuration: its BGP sessions, and the text BIRD reads.

A node that takes part in a bgp Backend speaks BGP: with every other member
(a full mesh), or with the route reflectors, and with the external or
in-cluster BGPPeers that select it. Sessions are symmetric because every node
derives them by the same rules from the same `ClusterIndex`. BIRD passwords
never appear in the text: it holds `SecretValue.placeholder`s, and the values
ride beside it for the file writer alone.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from dataclasses import dataclass, replace
from importlib import resources
from typing import TYPE_CHECKING, Any

from netwright.model.config import BirdConfig, NodeFacts
from netwright.render.index import net_order
from netwright.render.paths import BIRD_LOG, BIRD_SOCKET, under

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import jinja2

    from netwright._types import IPAddress, IPNetwork
    from netwright.model.spec import BGPPeer, IPBlock, Node, SecretRef
    from netwright.render.index import BgpFamily, ClusterIndex, PeerSelection


#: Kernel metric of the routes BIRD installs: distinct from netwright's own
#: (metric 0, proto 211), so the two never share a kernel route key, even while
#: a pool moves between a routed backend and bgp.
BIRD_KERNEL_METRIC = 32

# BIRD's SYM_MAX_LEN: longer symbols are a parse error.
_BIRD_SYMBOL_MAX = 64
_BIRD_BAD = re.compile(r"[^A-Za-z0-9_]")


def bird_ident(*parts: str, suffix: str = "") -> str:
    """A valid, unique BIRD symbol from Kubernetes names.

    Names may hold `-` and `.`, which BIRD symbols may not; replacing them could
    make two names collide (`a-b`, `a.b`), so a name that needed changing (or
    is too long) carries a short hash of the original parts.
    """
    clean = [_BIRD_BAD.sub("_", p) for p in parts]
    head = "_".join(clean)
    if clean == list(parts) and len(head) + len(suffix) <= _BIRD_SYMBOL_MAX and head[:1].isalpha():
        return head + suffix
    tag = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]
    if not head[:1].isalpha():
        head = "n" + head
    keep = _BIRD_SYMBOL_MAX - len(suffix) - len(tag) - 1
    return f"{head[:keep]}_{tag}{suffix}"


def router_id(node: Node) -> str:
    """The node's IPv4 address, or a stable non-zero 32-bit id derived from its name."""
    v4 = node.address(4)
    if v4 is not None:
        return str(v4)
    raw = int.from_bytes(hashlib.sha256(node.name.encode()).digest()[:4], "big") or 1
    return str(ipaddress.IPv4Address(raw))


@dataclass(frozen=True, kw_only=True, slots=True)
class _Session:
    """One `protocol bgp` as the template needs it."""

    name: str
    description: str
    version: int
    neighbor: IPAddress
    asn: int
    mesh: bool  # from the family's mesh template (in-cluster); else an external peer
    rr_client: bool = False
    password_ref: SecretRef | None = None
    hold_time: int | None = None
    keepalive_time: int | None = None
    graceful_restart: bool | None = None
    restart_time: int | None = None

    @property
    def password(self) -> str | None:
        """The placeholder `SecretValue.placeholder` shows; the file writer swaps in the value."""
        return None if self.password_ref is None else f"<secret {self.password_ref}>"


@dataclass(frozen=True, kw_only=True, slots=True)
class _Family:
    version: int
    channel: str
    local: IPAddress
    blocks: tuple[IPNetwork, ...]
    pools: tuple[str, ...]  # prefix-set entries: `cidr+`


def bird_config(
    ix: ClusterIndex, node: Node, own: Sequence[IPBlock], facts: NodeFacts, *, settings_only: bool
) -> BirdConfig | None:
    """BIRD 2 configuration for a node that takes part in a bgp Backend, else None.

    `settings_only`: the settings and secret references only, without the text, whose
    in-cluster sessions name other nodes. It skips the mesh (O(nodes) per node), and
    its `secret_refs` name the Secret of every BGPPeer that gives the node a session,
    a superset of what the text uses where the mesh already has that neighbour.

    "next hop self" for the node's own blocks only is an export filter setting
    `bgp_next_hop` on them: BIRD keeps a next hop set by the filter, and keeps a
    reflected iBGP route's own (`bgp_use_next_hop` in BIRD's proto/bgp/attrs.c),
    whereas the channel option `next hop self` would rewrite reflected routes
    too. Checked with BIRD 2.0.12 in a three-namespace lab: a full mesh, and a
    reflector whose clients install each other's blocks via the owner's address.
    """
    versions = [v for v, fam in sorted(ix.bgp.items()) if node.name in fam.member_names]
    if not versions:
        return None
    asn = ix.bgp[versions[0]].settings.as_number
    families: list[_Family] = []
    sessions: dict[str, _Session] = {}
    for version in versions:
        fam = ix.bgp[version]
        local = node.address(version)
        assert local is not None  # members have an address of their family
        pool_names = {p.name for p in fam.pools}
        families.append(
            _Family(
                version=version,
                channel=f"ipv{version}",
                local=local,
                blocks=tuple(b.cidr for b in own if b.pool in pool_names),
                pools=tuple(f"{c}+" for c in sorted({p.cidr for p in fam.pools}, key=net_order)),
            )
        )
        in_cluster: set[IPAddress] = set()
        for s in () if settings_only else _mesh_sessions(fam, node, asn):
            sessions.setdefault(s.name, s)
            in_cluster.add(s.neighbor)
        for peer, sel in ix.bgp_peers:
            for s in _peer_sessions(peer, sel, fam, node, asn):
                if s.mesh and s.neighbor in in_cluster:
                    continue  # BIRD takes one session per neighbour: the mesh already has it
                sessions.setdefault(s.name, s)
                if s.mesh:
                    in_cluster.add(s.neighbor)
    ordered = [sessions[k] for k in sorted(sessions)]
    refs = sorted({s.password_ref for s in ordered if s.password_ref is not None}, key=str)
    secrets = ix.cluster.secrets
    settings = BirdConfig(
        as_number=asn,
        router_id=router_id(node),
        secret_refs=tuple(refs),
        secrets=tuple(secrets[r] for r in refs if r in secrets),
    )
    if settings_only:
        return settings
    text = _bird_template().render(
        node=node.name,
        log_file=None if facts.root.rstrip("/") == "" else under(facts.root, BIRD_LOG),
        socket=under(facts.root, BIRD_SOCKET),
        router_id=router_id(node),
        kernel_metric=BIRD_KERNEL_METRIC,
        asn=asn,
        families=families,
        sessions=ordered,
    )
    return replace(settings, config=text)


def _mesh_sessions(fam: BgpFamily, node: Node, asn: int) -> list[_Session]:
    """In-cluster iBGP sessions (docs/api.md, "BGP topology")."""
    version = fam.version
    suffix = f"_v{version}"

    def to(other: Node, *, client: bool) -> _Session:
        addr = other.address(version)
        assert addr is not None
        return _Session(
            name=bird_ident("node", other.name, suffix=suffix),
            description=f"node {other.name}" + (" (route-reflector client)" if client else ""),
            version=version,
            neighbor=addr,
            asn=asn,
            mesh=True,
            rr_client=client,
        )

    if fam.settings.route_reflectors is not None:
        if node.name in fam.reflector_names:
            return [
                to(o, client=o.name not in fam.reflector_names)
                for o in fam.members
                if o.name != node.name
            ]
        return [to(o, client=False) for o in fam.reflectors]
    if fam.settings.node_to_node_mesh:
        return [to(o, client=False) for o in fam.members if o.name != node.name]
    return []


def _peer_sessions(
    peer: BGPPeer, sel: PeerSelection, fam: BgpFamily, node: Node, asn: int
) -> Iterable[_Session]:
    """Sessions a BGPPeer asks of this node: to its `peerIP`, or with the nodes it selects."""
    version = fam.version
    suffix = f"_v{version}"
    common: dict[str, Any] = {
        "version": version,
        "password_ref": peer.password_ref,
        "hold_time": peer.hold_time,
        "keepalive_time": peer.keepalive_time if peer.keepalive_time and peer.hold_time else None,
        "graceful_restart": peer.graceful_restart.enabled,
        "restart_time": peer.graceful_restart.restart_time
        if peer.graceful_restart.enabled
        else None,
    }
    if peer.peer_ip is not None:
        if peer.peer_ip.version == version and node.name in sel.opening:
            yield _Session(
                name=bird_ident("peer", peer.name, suffix=suffix),
                description=f"BGPPeer {peer.name}",
                neighbor=peer.peer_ip,
                asn=peer.as_number,
                mesh=False,
                **common,
            )
        return
    # in-cluster: the opening nodes peer with the targets, and the targets answer
    others: Iterable[tuple[Node, int]] = ()
    if node.name in sel.opening:
        others = [(t, peer.as_number) for t in sel.targets]
    if node.name in sel.target_names:
        opening = sorted((n for n in fam.members if n.name in sel.opening), key=lambda n: n.name)
        others = [*others, *((o, asn) for o in opening)]
    seen: set[str] = set()
    for other, remote_as in others:
        addr = other.address(version)
        if other.name == node.name or other.name in seen or addr is None:
            continue
        if other.name not in fam.member_names:
            continue
        seen.add(other.name)
        yield _Session(
            name=bird_ident("peer", peer.name, other.name, suffix=suffix),
            description=f"BGPPeer {peer.name}: node {other.name}",
            neighbor=addr,
            asn=remote_as,
            mesh=True,
            **common,
        )


@functools.cache
def _bird_template() -> jinja2.Template:
    # jinja2 is imported here, not at module level: a CLI run that renders no
    # BIRD configuration should not pay for it.
    import jinja2  # noqa: PLC0415

    text = resources.files("netwright.render").joinpath("templates/bird.conf.j2").read_text()
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - BIRD configuration, not HTML: escaping would corrupt it
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.from_string(text)
