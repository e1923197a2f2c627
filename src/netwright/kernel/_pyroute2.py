"""Link and address requests, encoded by pyroute2; the session sends them.

Why it exists: netwright keeps pyroute2 for links, addresses and everything rare, and
the `struct` codec (`_netlink`) for the objects that come by the thousand. Here
pyroute2's request compiler, `IPBatch` (its documented way to get a request's
bytes without sending it), turns `link("add", ...)`, `link("set", ...)`,
`addr("del", ...)` into netlink messages exactly as `IPRoute` would send them, its
request filters included (vxlan attributes, `state`, IFA_LOCAL for IPv4). The
bytes are handed to the session's own socket (`Session.transact`): link and
address requests go out in the delta's order, on the socket that lives in the
target namespace, under the same acknowledgement barrier as the bulk batches, and
a refusal comes back as the same `Failure`, with the kernel's extended ack text.
Compiling sends and reads nothing, so it needs no namespace (pyroute2's own
`netns=`, which forks a helper per socket, is never used).

Why it is imported lazily: `import pyroute2` costs about 100 ms per process, more
than a lab node's whole provisioning. Every run reads links and addresses, through
the codec; only a session that writes a link or an address imports this module
(`rtnl.Session._requests`), so a no-op `plan` or `apply` never pays for pyroute2.
A process that knows it will write links can pay early (`prepare_link_writes`).

What it must not do: send, read or decide anything; be imported at module level
anywhere in netwright (only `netwright.kernel` may import pyroute2, and only when a
write needs it: docs/architecture.md, "The import contracts"); hide a request
pyroute2 cannot encode (that is a `KernelError` naming the object).

The hard case: pyroute2's synchronous API drives an event loop of its own, which
cannot run inside a thread whose loop is already running (an async handler, say):
there the request is compiled in a short-lived worker thread instead.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pyroute2 import IPBatch

from netwright.errors import KernelError
from netwright.kernel._netlink import HDR, NLM_F_ACK, NLM_F_REQUEST

if TYPE_CHECKING:
    from netwright._types import IPInterface
    from netwright.kernel._netlink import Message
    from netwright.model.state import VxlanLink

#: MTU 0xFFFFFFFF is -1 to `dev_validate_mtu` (and out of range for the kinds that
#: check it earlier): a create with it is refused whatever the kind (`link_probe`).
PROBE_MTU = 0xFFFFFFFF
#: linux/if_addr.h: add without duplicate address detection.
IFA_F_NODAD = 0x02


def messages(data: bytes) -> list[Message]:
    """pyroute2's compiled buffer as (type, flags, payload) for `Socket.transact`.

    Sequence number and port are the socket's business, so they are dropped, and so
    are NLM_F_REQUEST (the socket adds it) and NLM_F_ACK: every request in a batch
    is answered by the one barrier, errors by their own NLMSG_ERROR.
    """
    out: list[Message] = []
    off = 0
    while off + HDR.size <= len(data):
        length, kind, flags, _seq, _port = HDR.unpack_from(data, off)
        if length < HDR.size or off + length > len(data):
            raise KernelError(f"pyroute2 compiled a malformed netlink message ({length} bytes)")
        out.append(
            (kind, flags & ~(NLM_F_REQUEST | NLM_F_ACK), data[off + HDR.size : off + length])
        )
        off += (length + 3) & ~3
    return out


def _compile_once(call: str, command: str, kwargs: dict[str, Any]) -> bytes:
    batch = IPBatch()
    try:
        getattr(batch, call)(command, **kwargs)
        return bytes(batch.batch)
    finally:
        batch.close()


class Requests:
    """Compiles link and address requests; one per session, closed with it."""

    def __init__(self) -> None:
        self._batch: Any = None

    def close(self) -> None:
        if self._batch is not None:
            self._batch.close()
            self._batch = None

    def _one(self, what: str, call: str, command: str, **kwargs: Any) -> Message:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            running = False
        else:
            running = True
        try:
            if running:
                with ThreadPoolExecutor(1, thread_name_prefix="netwright-pyroute2") as pool:
                    data = pool.submit(_compile_once, call, command, kwargs).result()
            else:
                if self._batch is None:
                    self._batch = IPBatch()
                self._batch.reset()
                getattr(self._batch, call)(command, **kwargs)
                data = bytes(self._batch.batch)
        except Exception as exc:
            raise KernelError(f"{what}: pyroute2 cannot encode the request: {exc}") from exc
        found = messages(data)
        if len(found) != 1:
            raise KernelError(f"{what}: pyroute2 compiled {len(found)} messages, not one")
        return found[0]

    # ------------------------------------------------------------ links

    def link_create(
        self,
        *,
        name: str,
        kind: str,
        mtu: int | None = None,
        mac: str | None = None,
        vxlan: VxlanLink | None = None,
        vxlan_link: int = 0,
    ) -> Message:
        """RTM_NEWLINK that creates `name` (NLM_F_EXCL: never modifies an existing link).

        `vxlan_link` is the index of the underlay device `vxlan.dev` (0: none).
        """
        kwargs: dict[str, Any] = {"ifname": name, "kind": kind}
        if mtu is not None:
            kwargs["mtu"] = mtu
        if mac is not None:
            kwargs["address"] = mac
        if vxlan is not None:
            kwargs["vxlan_id"] = vxlan.vni
            kwargs["vxlan_port"] = vxlan.port
            kwargs["vxlan_learning"] = 1 if vxlan.learning else 0
            local = "vxlan_local" if vxlan.local.version == 4 else "vxlan_local6"
            kwargs[local] = str(vxlan.local)
            if vxlan_link:
                kwargs["vxlan_link"] = vxlan_link
        return self._one(f"link {name}", "link", "add", **kwargs)

    def link_probe(self, *, name: str, kind: str) -> Message:
        """A create the kernel must refuse, and whose refusal says whether it knows `kind`.

        A known kind answers EINVAL from the MTU check before anything is registered,
        an unknown one EOPNOTSUPP "Unknown device type" (after the same module
        autoloading a real create gets). Checked on 6.18 for bridge, vxlan, veth,
        macvlan (EINVAL) and ipip, wireguard, dummy, gre, geneve (EOPNOTSUPP); no link
        was left behind.
        """
        return self._one(f"link {name}", "link", "add", ifname=name, kind=kind, mtu=PROBE_MTU)

    def link_set(
        self,
        *,
        index: int = 0,
        name: str | None = None,
        mtu: int | None = None,
        mac: str | None = None,
        up: bool | None = None,
        alias: str | None = None,
    ) -> Message:
        """RTM_NEWLINK changing an existing link, by index (or by name with index 0)."""
        kwargs: dict[str, Any] = {"index": index}
        if name is not None:
            kwargs["ifname"] = name
        if mtu is not None:
            kwargs["mtu"] = mtu
        if mac is not None:
            kwargs["address"] = mac
        if up is not None:
            kwargs["state"] = "up" if up else "down"
        if alias is not None:
            kwargs["ifalias"] = alias
        return self._one(f"link {name or index}", "link", "set", **kwargs)

    def link_delete(self, *, index: int = 0, name: str | None = None) -> Message:
        kwargs: dict[str, Any] = {"index": index}
        if name is not None:
            kwargs["ifname"] = name
        return self._one(f"link {name or index}", "link", "del", **kwargs)

    # ------------------------------------------------------------ addresses

    def address(self, *, delete: bool, index: int, address: IPInterface) -> Message:
        """RTM_NEWADDR (NLM_F_CREATE | NLM_F_EXCL) or RTM_DELADDR for `address` on `index`.

        IPv6 addresses are added with IFA_F_NODAD: they are gateway and VTEP addresses
        that allocation already made unique, and a tentative one answers no neighbour
        solicitation, so the pods behind a new bridge could not reach their gateway for
        the 1-2 s of duplicate address detection (seen in the dual-stack lab: every
        cross-node IPv6 ping right after `lab up` failed).
        """
        extra: dict[str, Any] = {}
        if not delete and address.version == 6:
            extra["flags"] = IFA_F_NODAD
        return self._one(
            f"address {address}",
            "addr",
            "del" if delete else "add",
            index=index,
            address=str(address.ip),
            prefixlen=address.network.prefixlen,
            **extra,
        )
