"""`KernelSession`: what the engine may ask of one target's kernel, as a `Protocol`.

Why it exists: the engine and `kernel.host` are written against this, not against
`rtnl.Session`, so a test or a front end can stand in its own session (a recording
fake, a dry run) and the type checker still checks it. `rtnl.Session` is the one
real implementation; `open_session(target, memo=...)` opens it. What a session
keeps for the next one (its `Memo`) is given when it is opened, so nothing here
asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Collection, Sequence

    from netwright.kernel._netlink import Failure, Message
    from netwright.kernel.records import (
        AddressRecord,
        EntrySet,
        FdbRecord,
        LinkRecord,
        NeighbourRecord,
        Nexthop,
        NexthopSet,
        RouteSet,
        RouteView,
        Target,
    )
    from netwright.model.state import Address, FdbEntry, Link, Neighbour, Route

#: A neighbour or fdb entry in wire form: (family, destination, link-layer address).
WireEntry = tuple[int, bytes, bytes]


class KernelReader(Protocol):
    """The reads: links, addresses, routes and nexthops, entries, sysctls."""

    @property
    def target(self) -> Target: ...

    def links(self) -> dict[str, LinkRecord]: ...

    def refresh_links(self) -> None: ...

    def addresses(self, devs: Collection[str]) -> list[AddressRecord]: ...

    def routes(
        self, *, protocol: int, desired: Sequence[Route], vanishing: Collection[str] = ()
    ) -> RouteView: ...

    def neighbours(
        self,
        devs: Collection[str],
        *,
        desired: Sequence[Neighbour] = (),
        vanishing: dict[str, list[WireEntry]] | None = None,
        departing: dict[str, list[WireEntry]] | None = None,
    ) -> tuple[list[NeighbourRecord], frozenset[int]]: ...

    def fdb(
        self,
        devs: Collection[str],
        *,
        desired: Sequence[FdbEntry] = (),
        vanishing: dict[str, list[WireEntry]] | None = None,
        departing: dict[str, list[WireEntry]] | None = None,
    ) -> tuple[list[FdbRecord], frozenset[int]]: ...

    def read_sysctl(self, path: str) -> str | None: ...

    def nft(self, script: str) -> tuple[bool, str, str]: ...


class KernelWriter(Protocol):
    """The writes: links and addresses one request each, the bulk kinds as messages
    sent in one batch (`transact`), sysctls, nft scripts."""

    @property
    def target(self) -> Target: ...

    def supports_kind(self, kind: str) -> bool: ...

    def create_link(self, link: Link, *, alias: str) -> None: ...

    def set_link(
        self,
        name: str,
        *,
        mtu: int | None = None,
        mac: str | None = None,
        up: bool | None = None,
        alias: str | None = None,
    ) -> None: ...

    def delete_link(self, name: str) -> None: ...

    def add_address(self, addr: Address) -> None: ...

    def delete_address(self, addr: Address) -> None: ...

    def route_message(self, route: Route, *, op: str, nhid: int = 0, protocol: int) -> Message: ...

    def route_set_messages(self, routes: RouteSet, *, protocol: int) -> list[Message]: ...

    def nexthop_set_messages(self, nexthops: NexthopSet) -> list[Message]: ...

    def entry_set_messages(self, entries: EntrySet) -> list[Message]: ...

    def nexthop_message(self, nh: Nexthop, *, delete: bool, protocol: int) -> Message: ...

    def neighbour_message(self, n: Neighbour, *, delete: bool) -> Message: ...

    def fdb_message(self, f: FdbEntry, *, delete: bool, replace: bool = False) -> Message: ...

    def transact(self, messages: Sequence[Message]) -> list[Failure]: ...

    def write_sysctl(self, path: str, value: str) -> None: ...

    def nft(self, script: str) -> tuple[bool, str, str]: ...

    def run(
        self, argv: Sequence[str], *, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]: ...


class KernelSession(KernelReader, KernelWriter, Protocol):
    """An open session to one target's kernel: everything the engine asks of it."""
