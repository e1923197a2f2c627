"""The changes sent one request each: links, addresses, sysctls, nft, files, BIRD.

Why it exists: these are few per node and each has its own request (and its own
crash point: each link and file is recorded ahead in netwright's state file), unlike
the bulk kinds, which `_bulk` sends in one batch.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from netwright.errors import KernelError
from netwright.kernel import _crash, host
from netwright.kernel.records import NetlinkRequestError
from netwright.model.state import LINK_ALIAS, NFT_FAMILY, NFT_TABLE

if TYPE_CHECKING:
    from netwright.engine.applying._record import StateRecord
    from netwright.engine.changes import Change
    from netwright.kernel.session import KernelWriter
    from netwright.model.state import File


def apply_one(
    session: KernelWriter, record: StateRecord, c: Change, failed_files: set[str]
) -> None:
    """Carry out one change; a refusal raises (`KernelError`, `OSError`)."""
    op = str(c.op)
    if c.kind == "link":
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
    elif c.kind == "address":
        if op == "add":
            try:
                session.add_address(c.after)
            except NetlinkRequestError as exc:
                if exc.errno != errno.EEXIST:
                    raise
        else:
            session.delete_address(c.before)
    elif c.kind == "sysctl":
        session.write_sysctl(c.after.path, c.after.value)
    elif c.kind == "nft":
        host.nft_replace(
            session,
            c.after if op != "delete" else None,
            family=NFT_FAMILY,
            name=NFT_TABLE,
            exists=op != "add",
        )
    elif c.kind == "file":
        if op == "delete":
            host.remove_file(str(c.key))
            record.files_removed.add(str(c.key))
            _crash.point("file-removed")
        else:
            f: File = c.after
            record.ahead()
            _crash.point("file-recorded")
            if op == "add" or c.fields:  # none: adopted as it is, recording is all
                host.write_file(f, group=f.group or "root")
            record.files_written.add(f.path)
            _crash.point("file-written")
    elif c.kind == "bird":
        if c.after.config in failed_files:
            raise KernelError(
                f"bird {c.after.socket}: not reloaded, writing {c.after.config} failed"
            )
        record.ahead()
        host.bird_configure(c.after.socket, c.after.config)
        record.bird_loaded.add(c.after.config)
        _crash.point("bird-loaded")
    else:
        raise KernelError(f"{c.kind}: unknown kind of change")
