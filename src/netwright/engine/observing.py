"""Observe: read what a node has now, as far as the desired state needs to know.

Why it exists: the diff is pure and compares two values; this module produces the
second one, `ObservedState`, from a live target through `netwright.kernel`.

What it must not do: write anything, anywhere (no link, no sysctl, no file, not even
netwright's state file), or read the spec. It reads netwright's own objects
(protocol 211 routes and nexthops, links with the alias marker or recorded as being
created, entries on its VTEPs, its nft table, the files its state file lists) plus the
foreign objects that sit where a desired one must go, so that the diff can report conflicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netwright.engine.ownership import Ownership, vanishing_links
from netwright.kernel import EntrySet, host, open_session
from netwright.model.config import NodeFacts

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright._types import IPAddress
    from netwright.kernel import (
        AddressRecord,
        FdbRecord,
        LinkRecord,
        NeighbourRecord,
        NexthopRecord,
        NexthopSet,
        RouteRecord,
        RouteSet,
        Target,
    )
    from netwright.kernel.records import LeftoverRoutes
    from netwright.kernel.session import KernelSession
    from netwright.model.state import NodeState


@dataclass(frozen=True, kw_only=True, slots=True)
class Unrecorded:
    """What the observer found of netwright's objects but kept no record of.

    Why apart: everything else in `ObservedState` says what the target has; these
    say how it stands against the desired state the observer was given (`basis`),
    by index into it or by kernel key only, so that thousands of peers in place, or
    going, cost no objects. The diff takes them as found (and refuses them for any
    other desired state).
    """

    #: The desired state the indices below refer to.
    basis: NodeState | None = None
    #: Desired objects found in place and equal, by their index in `basis` (routes:
    #: with the nexthop id they use, 0 for a plain route).
    synced_routes: Mapping[int, int] = field(default_factory=dict)
    synced_neighbours: frozenset[int] = frozenset()
    synced_fdb: frozenset[int] = frozenset()
    #: Objects of netwright's on links that go (`ownership.vanishing_links`), at no
    #: desired key, by (link, kind), by key only: they go with their link. Routes a
    #: `RouteSet`, nexthops a `NexthopSet`, neighbour and fdb entries an `EntrySet`;
    #: a bare count (hand-built) gives a summary that names none.
    vanishing: Mapping[tuple[str, str], RouteSet | NexthopSet | EntrySet | int] = field(
        default_factory=dict
    )
    #: netwright's routes at no desired key through netwright's nexthops, by wire
    #: key (the diff decides which go in one batch before their nexthops).
    leftover_routes: LeftoverRoutes | None = None
    #: netwright's permanent neighbour and fdb entries at no desired key on VTEPs
    #: that stay, as wire forms per (kind, link): deleted in one batch each.
    departing_entries: tuple[EntrySet, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.synced_routes
            or self.synced_neighbours
            or self.synced_fdb
            or self.vanishing
            or self.leftover_routes
            or self.departing_entries
        )


_NOTHING_UNRECORDED = Unrecorded()

#: Stands for "the ownership `ObservedState`'s own fields give" (compared by identity).
_FROM_STATE = Ownership()


@dataclass(frozen=True, kw_only=True, slots=True)
class ObservedState:
    """What the target has now; every collection is as the kernel reported it.

    Records for what the diff must look at; what it needs no record of (in place,
    or going with a link or a nexthop) is in `unrecorded`.
    """

    links: Mapping[str, LinkRecord] = field(default_factory=dict)
    addresses: tuple[AddressRecord, ...] = ()
    #: Routes of protocol 211 plus foreign routes at desired keys (not the synced ones).
    routes: tuple[RouteRecord, ...] = ()
    #: Nexthop objects (netwright's that no synced route uses, at least);
    #: None when the kernel has no nexthop objects.
    nexthops: tuple[NexthopRecord, ...] | None = ()
    #: Every nexthop id in use (new ones avoid them); None: the ids in `nexthops`.
    nexthop_ids: frozenset[int] | None = None
    #: Nexthop ids that routes of other protocols use.
    foreign_nexthop_users: frozenset[int] = frozenset()
    neighbours: tuple[NeighbourRecord, ...] = ()
    fdb: tuple[FdbRecord, ...] = ()
    #: What the observer found of netwright's but did not record (see `Unrecorded`).
    unrecorded: Unrecorded = _NOTHING_UNRECORDED
    #: Desired sysctls' current values; None where the kernel lacks one.
    sysctls: Mapping[str, str | None] = field(default_factory=dict)
    nft: host.NftRecord | None = None
    #: Desired and owned files as found on disk; None where absent.
    files: Mapping[str, host.FileRecord | None] = field(default_factory=dict)
    #: Files netwright's state file lists as written by netwright.
    owned_files: frozenset[str] = frozenset()
    #: Links the state file lists as being created (name -> kind): one found without
    #: an alias is netwright's, left so by a run killed between create and alias.
    pending_links: Mapping[str, str] = field(default_factory=dict)
    #: BIRD configs the state file lists as written but not loaded yet.
    bird_pending: frozenset[str] = frozenset()
    #: Owners named by desired files, as the host knows them.
    users: Mapping[str, host.Account] = field(default_factory=dict)
    #: Groups named by desired files that exist on this host.
    groups: frozenset[str] = frozenset()
    #: The ownership policy the observer read, from netwright's state file; by
    #: default the one `owned_files` and `pending_links` give (a hand-built value).
    ownership: Ownership = _FROM_STATE

    def __post_init__(self) -> None:
        if self.ownership is _FROM_STATE:
            own = Ownership(files=self.owned_files, links=self.pending_links)
            object.__setattr__(self, "ownership", own)


def observe_with(
    session: KernelSession,
    desired: NodeState,
    *,
    state: host.State | None = None,
    own: Ownership | None = None,
) -> ObservedState:
    """Observe through an open session (the engine's `run` shares one with apply).

    `state`: netwright's state file, if the caller read it already; `own`: the
    ownership policy, if the caller built it already (from that state file). The
    observed state carries the policy, for the diff to apply.
    """
    if state is None:
        # One read of netwright's state file: its files, and what a killed or failed
        # run left pending (links without their alias yet, BIRD reloads).
        state = host.load_state(session.target.root)
    if own is None:
        own = Ownership.from_state(state)
    session.refresh_links()
    links = dict(session.links())
    owned = [n for n, r in links.items() if own.link(r)]
    addr_devs = set(owned) | {lk.name for lk in desired.links} | {a.dev for a in desired.addresses}
    # What goes with a link the diff will delete is kept by key, not recorded (removing
    # a VTEP at 5,000 peers would otherwise build 15,000 records nobody acts on).
    gone = vanishing_links(desired, links, own)
    routes = session.routes(protocol=own.protocol, desired=desired.routes, vanishing=sorted(gone))
    vteps = [n for n, r in links.items() if own.vtep(r)]
    on_gone_n: dict[str, list[tuple[int, bytes, bytes]]] = {d: [] for d in gone}
    on_gone_f: dict[str, list[tuple[int, bytes, bytes]]] = {d: [] for d in gone}
    # So are the entries of peers that left (at no desired key on a VTEP that stays).
    left_n: dict[str, list[tuple[int, bytes, bytes]]] = {}
    left_f: dict[str, list[tuple[int, bytes, bytes]]] = {}
    neighbours, synced_neighbours = session.neighbours(
        vteps, desired=desired.neighbours, vanishing=on_gone_n, departing=left_n
    )
    fdb, synced_fdb = session.fdb(vteps, desired=desired.fdb, vanishing=on_gone_f, departing=left_f)
    departing = tuple(
        EntrySet(kind=kind, dev=dev, entries=tuple(entries))
        for kind, left in (("neighbour", left_n), ("fdb", left_f))
        for dev, entries in sorted(left.items())
    )
    vanishing: dict[tuple[str, str], RouteSet | NexthopSet | EntrySet | int] = dict(
        routes.vanishing
    )
    for kind, on_gone in (("neighbour", on_gone_n), ("fdb", on_gone_f)):
        for dev, entries in on_gone.items():
            if entries:
                vanishing[dev, kind] = EntrySet(kind=kind, dev=dev, entries=tuple(entries))
    sysctls = {s.name: session.read_sysctl(s.path) for s in desired.sysctls}
    nft = host.nft_read(session, *own.nft_table)
    owned_files = state.files
    paths = {f.path for f in desired.files} | set(owned_files)
    files = {p: host.read_file(p) for p in sorted(paths)}
    users = {f.owner: host.lookup_user(f.owner) for f in desired.files}
    named = {f.group for f in desired.files} | {u.group for u in users.values()}
    groups = frozenset(g for g in named if g is not None and host.group_exists(g))
    return ObservedState(
        links=links,
        addresses=tuple(session.addresses(sorted(addr_devs))),
        routes=routes.records,
        nexthops=routes.nexthops,
        nexthop_ids=routes.nexthop_ids,
        foreign_nexthop_users=routes.foreign_nexthop_users,
        neighbours=tuple(neighbours),
        fdb=tuple(fdb),
        unrecorded=Unrecorded(
            basis=desired,
            synced_routes=routes.synced,
            synced_neighbours=synced_neighbours,
            synced_fdb=synced_fdb,
            vanishing=vanishing,
            leftover_routes=routes.leftover,
            departing_entries=departing,
        ),
        sysctls=sysctls,
        nft=nft,
        files=files,
        owned_files=owned_files,
        pending_links=state.links,
        bird_pending=state.bird,
        users=users,
        groups=groups,
        ownership=own,
    )


def observe(target: Target, desired: NodeState) -> ObservedState:
    """Read the target's current state: everything `diff(desired, ...)` needs, nothing more."""
    with open_session(target) as session:
        return observe_with(session, desired)


def observe_facts(target: Target, node_ip: IPAddress, *, root: str) -> NodeFacts | None:
    """What only the live node knows: the underlay interface holding `node_ip`.

    The underlay is the link that holds the node's address; its MTU and the
    address's prefix (the subnet for vxlan `directRouting`) come with it. None
    when no link in the target holds that address (not this node, or not yet
    configured): the caller then stands in defaults and says so. If several links
    hold it, a link netwright does not own wins (the underlay is never netwright's),
    then the lowest ifindex. Reads only.
    """
    with open_session(target) as session:
        links = session.links()
        held = [a for a in session.addresses(sorted(links)) if a.address.ip == node_ip]
    if not held:
        return None
    own = Ownership()
    best = min(held, key=lambda a: (own.link(links[a.dev]), links[a.dev].index))
    return NodeFacts(
        underlay_dev=best.dev,
        underlay_mtu=links[best.dev].link.mtu or 1500,
        underlay_prefix=best.address.network,
        root=root,
    )
