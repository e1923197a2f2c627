"""What a target's links hold: the addresses provisioning needs to know whose node it is.

Why it exists: before anything is planned, `netwright.provisioning` must find the
underlay (the link holding the node's address, with its MTU and subnet) and refuse a
target that is plainly another node (it holds another node's address). Both answers
come from one dump of the target's links and addresses, made here. Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from netwright.engine.ownership import Ownership
from netwright.kernel import open_session

if TYPE_CHECKING:
    from netwright._types import IPInterface
    from netwright.kernel import Target


@dataclass(frozen=True, kw_only=True, slots=True)
class HeldAddress:
    """One address on one of the target's links."""

    dev: str
    address: IPInterface
    mtu: int
    index: int
    #: The link is netwright's own (a bridge or VTEP): never the underlay.
    owned: bool


def observe_addresses(target: Target) -> tuple[HeldAddress, ...]:
    """Every address on every link of `target`, with its link's MTU and ownership."""
    own = Ownership()
    with open_session(target) as session:
        links = session.links()
        records = session.addresses(sorted(links))
    return tuple(
        HeldAddress(
            dev=a.dev,
            address=a.address,
            mtu=links[a.dev].link.mtu or 1500,
            index=links[a.dev].index,
            owned=own.link(links[a.dev]),
        )
        for a in records
    )
