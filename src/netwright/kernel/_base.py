"""A session's core: its socket, its target's links, its memo, its pyroute2 encoder.

Why it exists: `rtnl.Session` is built from parts, one module each (`_nexthops`,
`_routes`, `_entries` read the bulk objects; `rtnl` writes), and all of them need
this: the netlink socket bound to the target's namespace, the link table (names
to indices, refreshed after any link write), the dump parsers and the desired
objects' wire forms (`_wire`).

The parsers and the wire forms are the session's `Memo` (`netwright.kernel.memo`),
given to it or, if none was, its own. What a parser learns is the layout of the
kernel's messages by length, a property of the kernel, not of a target or a
desired state, so a caller that opens session after session to the same kernel
(the node agent, the benchmarks) holds one memo and passes it to each: learning
again per session cost 0.07 to 0.14 ms per no-op at 1,000 peers (four layouts
compiled), measured, which alone put the host-gw no-op of
`benchmarks/bench_engine.py` over its goal. Per memo and not per process, so that
only a caller that asked to share shares, and what is kept lives as long as that
caller keeps it. Bounded (three parsers, at most 64 layouts each, `FastParser`)
and cannot go stale: every message is checked against its layout, and one that
does not match takes the full parse.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
from typing import TYPE_CHECKING, Any

from netwright.kernel import _netlink as nl
from netwright.kernel._netns import entered
from netwright.kernel._wire import mac as _mac
from netwright.kernel.memo import Memo
from netwright.kernel.records import (
    LinkRecord,
    NetlinkRequestError,
    Target,
)
from netwright.model.state import Link, VxlanLink

if TYPE_CHECKING:
    from collections.abc import Sequence

    from netwright.kernel._pyroute2 import Requests
    from netwright.kernel._wire import WireForms


def _link_record(raw: nl.RawLink, names: dict[int, str]) -> LinkRecord:
    vxlan = None
    vx = raw.vxlan
    if vx is not None:
        vxlan = VxlanLink(
            vni=vx.vni,
            port=vx.port,
            local=ipaddress.ip_address(vx.local) if vx.local else ipaddress.IPv4Address(0),
            dev=names.get(vx.link) if vx.link else None,
            learning=vx.learning,
        )
    link = Link(
        name=raw.name,
        kind=raw.kind,
        mtu=raw.mtu,
        mac=_mac(raw.address),
        up=bool(raw.flags & nl.IFF_UP),
        vxlan=vxlan,
    )
    return LinkRecord(index=raw.ifindex, alias=raw.alias, link=link, master=raw.master)


class SessionBase:
    """An open connection to one target's kernel: a netlink socket, sysctls, nft.

    Use `open_session(target)`. Link and address requests are encoded by pyroute2
    (`_requests()`, on first use), everything else by `_netlink`; all of them go out on
    one socket. Name-to-index lookups are cached and refreshed by `refresh_links()`
    (and after any link write). Parsers and wire forms come from `memo`, else from a
    `Memo` of the session's own.
    """

    def __init__(self, target: Target, memo: Memo | None = None) -> None:
        self.target = target
        self._memo = memo if memo is not None else Memo()
        #: The desired objects' wire forms, kept in the memo (`_wire`).
        self._wire: WireForms = self._memo.wire
        with entered(target.netns):
            # Created inside the namespace, the socket stays bound to it.
            self._nl = nl.Socket()
        self._links: dict[str, LinkRecord] | None = None
        self._names: dict[int, str] = {}
        self._nft: Any = None
        self._compiler: Requests | None = None

    @property
    def memo(self) -> Memo:
        """The memo this session reads and adds to (given, or its own)."""
        return self._memo

    def close(self) -> None:
        if self._nft is not None:
            with contextlib.suppress(Exception):
                self._nft.close()
        if self._compiler is not None:
            with contextlib.suppress(Exception):
                self._compiler.close()
        self._nl.close()

    def _requests(self) -> Requests:
        """pyroute2's encoder for link and address requests, imported on first use."""
        if self._compiler is None:
            from netwright.kernel._pyroute2 import Requests  # noqa: PLC0415 - pyroute2: ~100 ms

            self._compiler = Requests()
        return self._compiler

    def _request(self, what: str, message: nl.Message) -> None:
        """Send one request and wait for its answer; a refusal raises NetlinkRequestError."""
        for failure in self.transact([message]):
            raise NetlinkRequestError(what, failure.errno, failure.message)

    def _dump(self, kind: int, payload: bytes, what: str) -> list[tuple[bytes, int, int]]:
        try:
            return self._nl.dump(kind, payload, what=what)
        except OSError as exc:
            raise NetlinkRequestError(what, exc.errno or 0) from exc

    # ------------------------------------------------------------------ links

    def links(self) -> dict[str, LinkRecord]:
        if self._links is None:
            self.refresh_links()
        assert self._links is not None
        return self._links

    def refresh_links(self) -> None:
        parse = nl.parse_link
        raw = [
            parse(d, o, e)
            for d, o, e in self._dump(nl.RTM_GETLINK, nl.link_dump_request(), "dump links")
        ]
        names = {r.ifindex: r.name for r in raw}
        self._links = {r.name: _link_record(r, names) for r in raw}
        self._names = names

    def index(self, dev: str) -> int:
        rec = self.links().get(dev)
        if rec is None:
            raise NetlinkRequestError(f"link {dev}", errno.ENODEV)
        return rec.index

    def _parser(self, kind: str) -> nl.FastParser:
        """The parser for `kind` ("route", "nexthop", "neighbour"): the memo's."""
        return self._memo.parsers[kind]

    def transact(self, messages: Sequence[nl.Message]) -> list[nl.Failure]:
        try:
            return self._nl.transact(messages)
        except OSError as exc:
            raise NetlinkRequestError("netlink batch", exc.errno or 0) from exc
