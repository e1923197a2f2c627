"""The changes sent one request each: links, addresses, sysctls, nft, files, BIRD.

Why it exists: these are few per node and each has its own request (and its own
crash point: each link and file is recorded ahead in netwright's state file), unlike
the bulk kinds, which `_bulk` sends in one batch. One function per kind, in one
table (`SENDERS`): a new kind of object sent one at a time is one more entry.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from netwright.errors import KernelError
from netwright.kernel import _crash, host
from netwright.kernel.records import NetlinkRequestError
from netwright.model.state import LINK_ALIAS, NFT_FAMILY, NFT_TABLE

if TYPE_CHECKING:
    from collections.abc import Callable

    from netwright.engine.applying._record import StateRecord
    from netwright.engine.changes import Change
    from netwright.kernel.session import KernelWriter
    from netwright.model.state import File


def _link(session: KernelWriter, record: StateRecord, c: Change, op: str) -> None:
    if op == "add":
        record.ahead()
        _crash.point("link-recorded")
        # Made and marked: settled. On a failure the record stays: the link
        # was deleted again or never made (the next run settles the record),
        # or is left without its alias (the next run marks it).
        session.create_link(c.after, alias=LINK_ALIAS)
        record.links_settled.add(c.after.name)
    elif op == "delete":
        session.delete_link(str(c.key))
        record.links_settled.add(str(c.key))
    else:
        session.set_link(
            c.after.name,
            mtu=c.after.mtu if "mtu" in c.fields else None,
            mac=c.after.mac if "mac" in c.fields else None,
            up=c.after.up if "up" in c.fields else None,
            # Always: marks a link an interrupted run left without it (a
            # change with no other field), and is a no-op on any other.
            alias=LINK_ALIAS,
        )
        record.links_settled.add(c.after.name)


def _address(session: KernelWriter, _record: StateRecord, c: Change, op: str) -> None:
    if op != "add":
        session.delete_address(c.before)
        return
    try:
        session.add_address(c.after)
    except NetlinkRequestError as exc:
        if exc.errno != errno.EEXIST:
            raise


def _sysctl(session: KernelWriter, _record: StateRecord, c: Change, _op: str) -> None:
    session.write_sysctl(c.after.path, c.after.value)


def _nft(session: KernelWriter, _record: StateRecord, c: Change, op: str) -> None:
    host.nft_replace(
        session,
        c.after if op != "delete" else None,
        family=NFT_FAMILY,
        name=NFT_TABLE,
        exists=op != "add",
    )


def _file(_session: KernelWriter, record: StateRecord, c: Change, op: str) -> None:
    if op == "delete":
        host.remove_file(str(c.key))
        record.files_removed.add(str(c.key))
        _crash.point("file-removed")
        return
    f: File = c.after
    record.ahead()
    _crash.point("file-recorded")
    if op == "add" or c.fields:  # none: adopted as it is, recording is all
        host.write_file(f, group=f.group or "root")
    record.files_written.add(f.path)
    _crash.point("file-written")


def _bird(_session: KernelWriter, record: StateRecord, c: Change, _op: str) -> None:
    record.ahead()
    host.bird_configure(c.after.socket, c.after.config)
    record.bird_loaded.add(c.after.config)
    _crash.point("bird-loaded")


#: The sender of each kind of change sent one request at a time.
SENDERS: dict[str, Callable[[KernelWriter, StateRecord, Change, str], None]] = {
    "link": _link,
    "address": _address,
    "sysctl": _sysctl,
    "nft": _nft,
    "file": _file,
    "bird": _bird,
}


def apply_one(
    session: KernelWriter, record: StateRecord, c: Change, failed_files: set[str]
) -> None:
    """Carry out one change; a refusal raises (`KernelError`, `OSError`)."""
    if c.kind == "bird" and c.after.config in failed_files:
        raise KernelError(f"bird {c.after.socket}: not reloaded, writing {c.after.config} failed")
    send = SENDERS.get(c.kind)
    if send is None:
        raise KernelError(f"{c.kind}: unknown kind of change")
    send(session, record, c, str(c.op))
