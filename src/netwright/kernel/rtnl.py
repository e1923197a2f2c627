"""The engine's one door to a node's kernel: a session bound to a `Target`.

Why it exists: the engine must not know how netlink is spoken. A `Session` reads
and writes kernel objects in the model's own terms (`netwright.model.state`) and
reports refusals as `NetlinkRequestError` naming the object and the errno. It is the
only module, with its parts, `_netlink`, `_pyroute2.py` and `_nftables.py`, that talks to the
kernel's networking. Two encoders, one socket: link and address requests (rare, a
handful per node) are encoded by pyroute2 (`_pyroute2`, imported only when a session
first writes one: the import alone costs about 100 ms); the objects that come by the
thousand (routes, nexthop objects, neighbours, fdb) and every dump, links and
addresses included, go through the `struct` codec (`_netlink`), so a no-op run never
imports pyroute2. Whatever encoded it, every request goes out on the session's one
netlink socket, created in the target namespace, in order, with one ack barrier.

What it must not do: decide anything. Which objects are netwright's, what to
change and in what order is the engine's business; this module reads exactly what
it is asked to read, writes exactly what it is told to write, and never creates a
network namespace (a mistyped `--netns` is an error, not a new namespace).

The hard cases:

- The kernel ignores IFLA_IFALIAS in an RTM_NEWLINK that *creates* a link
  (`rtnl_create_link` never reads it; checked on 6.18). So a link is created, then
  given its alias and state in a second request, and deleted again if that second
  request fails: never half-made.
- A kind the kernel lacks (`ipip`, `wireguard` here) answers EOPNOTSUPP ("Unknown
  device type"). `supports_kind` asks with a create the kernel must refuse either
  way, and reads the answer from how it refuses (`_pyroute2.Requests.link_probe`),
  once per kind per session.
- Dumps of the bulk objects go through the `struct` codec and skip anything that is
  neither netwright's (protocol 211, a VTEP's entries) nor at a key netwright wants,
  before building Python objects for it (`_nexthops`, `_routes`, `_entries`).

A `Session` is assembled from those parts: `_base.SessionBase` (socket, links,
parsers), the reads of `_nexthops`, `_routes` and `_entries`, and the writes here.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import itertools
import secrets
import subprocess
from typing import TYPE_CHECKING

from netwright.errors import KernelError
from netwright.kernel import _crash, _nftables
from netwright.kernel import _netlink as nl
from netwright.kernel._entries import EntryReads
from netwright.kernel._netns import entered
from netwright.kernel._routes import RouteReads
from netwright.kernel._wire import mac_bytes
from netwright.kernel.records import (
    AddressRecord,
    EntrySet,
    NetlinkRequestError,
    Nexthop,
    NexthopSet,
    RouteSet,
    Target,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Sequence

    from netwright.kernel.memo import Memo
    from netwright.model.state import Address, FdbEntry, Link, Neighbour, Route


RT_SCOPE_LINK = 253


def prepare_link_writes() -> None:
    """Import what link and address writes need (pyroute2, about 100 ms) now.

    For a process that knows it will create links and would rather pay before a
    timed or latency-sensitive step (the lab before provisioning, a benchmark);
    otherwise the first session that writes a link or an address pays. Idempotent.
    """
    from netwright.kernel import _pyroute2  # noqa: F401, PLC0415 - the import is the point


class Session(RouteReads, EntryReads):
    """An open connection to one target's kernel: a netlink socket, sysctls, nft.

    Use `open_session(target)`. Link and address requests are encoded by pyroute2
    (`_requests()`, on first use), everything else by `_netlink`; all of them go out on
    one socket. Name-to-index lookups are cached and refreshed by `refresh_links()`
    (and after any link write). The dump parsers and the desired objects' wire forms
    are `memo`'s (`netwright.kernel.memo`), else a fresh memo's, gone with the session.
    """

    def __init__(self, target: Target, memo: Memo | None = None) -> None:
        super().__init__(target, memo)
        #: Link kinds this kernel is known to support or lack, asked once per session
        #: (modules load and unload: a long-lived process asks again next time).
        self._kinds: dict[str, bool] = {}

    def supports_kind(self, kind: str) -> bool:
        """Can this kernel create a link of `kind`? Asked once per kind per session.

        A kind already present on the target is proof. Otherwise the kernel is asked
        with a create it must refuse (`Requests.link_probe`): EOPNOTSUPP means it
        lacks the kind, any other answer that it has it. Nothing is created, so the
        question costs one round trip, where creating and deleting a throwaway link
        cost 40-57 ms (a link delete waits for RCU). Should a kernel ever accept the
        probe, the link is deleted again and the kind counts as supported.

        The probe is encoded by pyroute2 like any link request: it is only ever sent
        just before a link is created (`check_kinds` in apply), which needs pyroute2
        anyway, so it costs no import of its own.
        """
        if any(r.link.kind == kind for r in self.links().values()):
            self._kinds[kind] = True
        if kind not in self._kinds:
            name = "nwprobe" + secrets.token_hex(4)
            requests = self._requests()
            failures = self.transact([requests.link_probe(name=name, kind=kind)])
            if not failures:
                with contextlib.suppress(KernelError):
                    self._request(f"link {name}", requests.link_delete(name=name))
            self._kinds[kind] = not failures or failures[0].errno != errno.EOPNOTSUPP
        return self._kinds[kind]

    def create_link(self, link: Link, *, alias: str) -> None:
        """Create `link` with all its settings, or leave nothing behind.

        Two requests: the kernel drops IFLA_IFALIAS from a create (module docstring).
        A process killed between them leaves the link without its alias; the engine
        records the link in its state file before calling this (`engine.applying`).
        """
        what = f"link {link.name}"
        requests = self._requests()
        vx = link.vxlan
        message = requests.link_create(
            name=link.name,
            kind=link.kind,
            mtu=link.mtu,
            mac=link.mac,
            vxlan=vx,
            vxlan_link=self.index(vx.dev) if vx is not None and vx.dev else 0,
        )
        then = requests.link_set(name=link.name, alias=alias, up=link.up)
        try:
            self._request(what, message)
            _crash.point("link-created")
            try:
                self._request(what, then)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._request(what, requests.link_delete(name=link.name))
                raise
        finally:
            self._links = None

    def set_link(
        self,
        name: str,
        *,
        mtu: int | None = None,
        mac: str | None = None,
        up: bool | None = None,
        alias: str | None = None,
    ) -> None:
        message = self._requests().link_set(
            index=self.index(name), mtu=mtu, mac=mac, up=up, alias=alias
        )
        try:
            self._request(f"link {name}", message)
        finally:
            self._links = None

    def delete_link(self, name: str) -> None:
        try:
            message = self._requests().link_delete(index=self.index(name))
            self._request(f"link {name}", message)
        except NetlinkRequestError as exc:
            if exc.errno != errno.ENODEV:  # already gone is done
                raise
        finally:
            self._links = None

    # ------------------------------------------------------------------ addresses

    def addresses(self, devs: Collection[str]) -> list[AddressRecord]:
        links = self.links()
        wanted = {links[d].index: d for d in devs if d in links}
        if not wanted:
            return []
        out = []
        parse = nl.parse_address
        request = nl.IFADDRMSG.pack(0, 0, 0, 0, 0)
        for data, off, end in self._dump(nl.RTM_GETADDR, request, "dump addresses"):
            raw = parse(data, off, end)
            dev = wanted.get(raw.ifindex)
            if dev is None or raw.address is None or raw.family not in nl.INET:
                continue
            iface = ipaddress.ip_interface((raw.address, raw.prefixlen))
            out.append(
                AddressRecord(
                    dev=dev,
                    address=iface,
                    link_local=raw.scope == RT_SCOPE_LINK and iface.version == 6,
                )
            )
        return out

    def _address(self, addr: Address, *, delete: bool) -> nl.Message:
        return self._requests().address(
            delete=delete, index=self.index(addr.dev), address=addr.address
        )

    def add_address(self, addr: Address) -> None:
        self._request(f"address {addr.address} dev {addr.dev}", self._address(addr, delete=False))

    def delete_address(self, addr: Address) -> None:
        try:
            self._request(
                f"address {addr.address} dev {addr.dev}", self._address(addr, delete=True)
            )
        except NetlinkRequestError as exc:
            if exc.errno not in {errno.EADDRNOTAVAIL, errno.ENODEV}:
                raise

    # ------------------------------------------------------------------ bulk writes

    def route_message(self, route: Route, *, op: str, nhid: int = 0, protocol: int) -> nl.Message:
        """op: add (fails if the key is taken), replace (create or overwrite), delete."""
        dst = route.dst
        version = dst.version
        delete = op == "delete"
        oif = 0
        gateway = None
        if not delete and not nhid:  # else the kernel takes neither (nor the encoder)
            if route.dev is not None:
                oif = self.index(route.dev)
            if route.gateway is not None:
                gateway = route.gateway.packed
        metric = route.metric
        if version == 6 and not metric:
            metric = 1024  # as `Route.key` normalises it
        return nl.route_message(
            delete=delete,
            replace=op == "replace",
            family=nl.FAMILY[version],
            dst=dst.network_address.packed,
            dst_len=dst.prefixlen,
            table=route.table,
            metric=metric,
            protocol=protocol,
            gateway=gateway,
            oif=oif,
            onlink=route.onlink,
            nhid=nhid,
            src=route.src.packed if route.src is not None else None,
        )

    def route_set_messages(self, routes: RouteSet, *, protocol: int) -> list[nl.Message]:
        """RTM_DELROUTE for each route of `routes`, by key and `protocol` only.

        Sent interleaved, every fourth key at a time (offsets 0, 2, 1, 3), not in
        dump order: deleting a run of sibling prefixes in order makes the IPv4
        trie shrink and rebuild its nodes again and again. Measured on this
        kernel, 5,000 /24s: 10.4-11.4 ms in dump order, 6.1-7.1 ms interleaved;
        20,000: 58-60 ms against 38-42 ms.
        """
        keys = routes.keys
        spread = itertools.chain.from_iterable(keys[i::4] for i in (0, 2, 1, 3))
        return nl.route_delete_messages(spread, protocol=protocol)

    def nexthop_set_messages(self, nexthops: NexthopSet) -> list[nl.Message]:
        """A delete for each nexthop object of `nexthops`, by id."""
        return nl.nexthop_delete_messages(sorted(nexthops.ids))

    def entry_set_messages(self, entries: EntrySet) -> list[nl.Message]:
        """A delete for each neighbour or fdb entry of `entries`."""
        ifindex = self.index(entries.dev)
        if entries.kind == "fdb":
            return [
                nl.fdb_message(delete=True, ifindex=ifindex, lladdr=lladdr, dst=dst)
                for _family, dst, lladdr in entries.entries
            ]
        return [
            nl.neighbour_message(delete=True, family=family, ifindex=ifindex, dst=dst)
            for family, dst, _lladdr in entries.entries
        ]

    def nexthop_message(self, nh: Nexthop, *, delete: bool, protocol: int) -> nl.Message:
        if delete:
            return nl.nexthop_message(delete=True, nhid=nh.id)
        return nl.nexthop_message(
            delete=False,
            nhid=nh.id,
            family=nl.FAMILY[nh.gateway.version],
            protocol=protocol,
            gateway=nh.gateway.packed,
            oif=self.index(nh.dev),
            onlink=nh.onlink,
        )

    def neighbour_message(self, n: Neighbour, *, delete: bool) -> nl.Message:
        return nl.neighbour_message(
            delete=delete,
            family=nl.FAMILY[n.ip.version],
            ifindex=self.index(n.dev),
            dst=n.ip.packed,
            lladdr=None if delete else mac_bytes(n.mac),
        )

    def fdb_message(self, f: FdbEntry, *, delete: bool, replace: bool = False) -> nl.Message:
        return nl.fdb_message(
            delete=delete,
            ifindex=self.index(f.dev),
            lladdr=mac_bytes(f.mac),
            dst=f.dst.packed,
            replace=replace,
        )

    # ------------------------------------------------------------------ namespace-local files

    def _sysctl_file(self, path: str) -> str:
        """`/proc/sys/<name>` under the target's `proc_sys` (a mount of it, or itself)."""
        if self.target.proc_sys == "/proc/sys" or not path.startswith("/proc/sys/"):
            return path
        return self.target.proc_sys.rstrip("/") + "/" + path.removeprefix("/proc/sys/")

    def read_sysctl(self, path: str) -> str | None:
        with entered(self.target.netns):
            try:
                with open(self._sysctl_file(path), encoding="ascii") as f:
                    return f.read().strip()
            except FileNotFoundError:
                return None

    def write_sysctl(self, path: str, value: str) -> None:
        with entered(self.target.netns):
            try:
                with open(self._sysctl_file(path), "w", encoding="ascii") as f:
                    f.write(value)
            except OSError as exc:
                name = path.removeprefix("/proc/sys/").replace("/", ".")
                if exc.errno == errno.EROFS:
                    name += (
                        f" ({self.target.proc_sys} is read-only: give --proc-sys a writable mount)"
                    )
                raise NetlinkRequestError(f"sysctl {name}", exc.errno or 0) from exc

    def nft(self, script: str) -> tuple[bool, str, str]:
        """Run an nftables script in the target: (succeeded, output, error text).

        In-process through libnftables when it is installed, else the `nft` program
        (raises KernelError when neither is there).
        """
        with entered(self.target.netns):
            if self._nft is None:
                self._nft = _nftables.open_context() or False
            if self._nft:
                return self._nft.run(script)  # type: ignore[no-any-return]
            try:
                proc = subprocess.run(
                    ["nft", "-f", "-"],
                    input=script,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=60,
                )
            except FileNotFoundError:
                raise KernelError("nft table: the `nft` program is not installed") from None
            return proc.returncode == 0, proc.stdout, proc.stderr

    def run(
        self, argv: Sequence[str], *, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a program inside the target's network namespace (fork inherits it)."""
        with entered(self.target.netns):
            return subprocess.run(
                list(argv),
                input=stdin,
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )


@contextlib.contextmanager
def open_session(target: Target, *, memo: Memo | None = None) -> Iterator[Session]:
    """A `Session` to `target`, closed on leaving the block.

    `memo`: what earlier sessions learnt, to reuse and add to (a caller that opens
    session after session, the node agent, holds one and passes it each time);
    None, the default: a fresh one, so that nothing is carried over.
    """
    try:
        session = Session(target, memo)
    except OSError as exc:
        raise KernelError(f"{target}: cannot open netlink: {exc}") from exc
    try:
        yield session
    finally:
        session.close()
