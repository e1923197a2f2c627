"""Ownership: what on a node is netwright's to change, and which of its links go.

Why it exists: the observer and the diff must agree on both questions, the observer
to know what to read (and what to keep by key only, because it goes with a link),
the diff to know what it may change. One `Ownership` answers the first; it is built
once per run, from netwright's state file (`Ownership.from_state`), and passed to
both. `vanishing_links` answers the second, for both, with the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netwright.model.state import LINK_ALIAS, NFT_FAMILY, NFT_TABLE, RT_PROTO_NETWRIGHT

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright.kernel.host import State
    from netwright.kernel.records import LinkRecord, NexthopRecord, RouteRecord
    from netwright.model.state import Link, NodeState


@dataclass(frozen=True, kw_only=True, slots=True)
class Ownership:
    """What netwright may change or delete on a node (docs/architecture.md,
    "Ownership on the host").

    Routes and nexthop objects of its protocol; links carrying its alias, and
    links without any alias that its state file lists as being created, by name and
    kind (`links`: a run killed between a link's create and its alias left them so,
    `host.State`); neighbour and fdb entries on its VTEPs; its own nft table; the
    files its state file lists. Everything else is read-only.
    """

    protocol: int = RT_PROTO_NETWRIGHT
    alias: str = LINK_ALIAS
    nft_table: tuple[str, str] = (NFT_FAMILY, NFT_TABLE)
    files: frozenset[str] = frozenset()
    #: Links being created, name -> kind, from netwright's state file.
    links: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_state(cls, state: State) -> Ownership:
        """The policy for a node whose netwright state file says `state`."""
        return cls(files=state.files, links=state.links)

    def link(self, rec: LinkRecord) -> bool:
        if rec.alias == self.alias:
            return True
        return not rec.alias and self.links.get(rec.link.name) == rec.link.kind

    def unmarked(self, rec: LinkRecord) -> bool:
        """netwright's link still without its alias (the diff gives it one)."""
        return rec.alias != self.alias and self.link(rec)

    def vtep(self, rec: LinkRecord) -> bool:
        return self.link(rec) and rec.link.kind == "vxlan"

    def route(self, rec: RouteRecord) -> bool:
        return rec.protocol == self.protocol

    def nexthop(self, rec: NexthopRecord) -> bool:
        return rec.protocol == self.protocol

    def nft(self, family: str, name: str) -> bool:
        return (family, name) == self.nft_table

    def file(self, path: str) -> bool:
        return path in self.files


def vanishing_links(
    desired: NodeState, links: Mapping[str, LinkRecord], own: Ownership | None = None
) -> set[str]:
    """The links `diff` deletes (owned, and undesired or to be re-created).

    What the kernel hangs on them goes with them. The observer asks, to keep those
    objects by key instead of recording them; `diff` decides with the same function.
    """
    own = own or Ownership()
    wanted = {lk.name: lk for lk in desired.links}
    out = set()
    for name, rec in links.items():
        if not own.link(rec):
            continue
        want = wanted.get(name)
        if want is None or link_recreate(want, rec.link):
            out.add(name)
    return out


def link_recreate(want: Link, have: Link) -> bool:
    if want.kind != have.kind:
        return True
    if want.vxlan is None:
        return False
    return want.vxlan != have.vxlan
