"""The bulk kinds (nexthops, routes, neighbours, fdb): a row of them, one batch.

Why it exists: thousands of peers are thousands of objects; a row of them in the
delta goes out as one netlink batch with one ack barrier, errors coming back per
message, mapped to their change. "Already gone" (ENOENT, ESRCH, ENODEV) on a delete
is success. A summary change (`RouteSet`, `NexthopSet`, `EntrySet`) goes out as one
message per object in the same batch, and is done when every object is deleted or
already gone, failed (with the first refusal) otherwise.
"""

from __future__ import annotations

import dataclasses
import errno
from typing import TYPE_CHECKING, Any

from netwright.engine import _text
from netwright.errors import KernelError
from netwright.kernel.records import EntrySet, Nexthop, NexthopSet, RouteSet
from netwright.model.state import RT_PROTO_NETWRIGHT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from netwright.engine.applying._ledger import Ledger
    from netwright.engine.changes import Change
    from netwright.kernel.session import KernelWriter

#: The kinds sent in bulk.
BULK = frozenset({"nexthop", "route", "neighbour", "fdb"})
#: Summary changes that stand for many objects, sent as one message per object.
_SETS = (RouteSet, NexthopSet, EntrySet)
_GONE = frozenset({errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.EADDRNOTAVAIL})


def _message(session: KernelWriter, c: Change) -> Any:
    op = c.op  # a StrEnum: compares as its string
    if c.kind == "nexthop":
        nh: Nexthop = c.after if op == "add" else c.before
        return session.nexthop_message(nh, delete=op == "delete", protocol=RT_PROTO_NETWRIGHT)
    if c.kind == "route":
        if op == "delete":
            return session.route_message(c.before, op="delete", protocol=RT_PROTO_NETWRIGHT)
        return session.route_message(
            c.after,
            op="add" if op == "add" else "replace",
            nhid=c.nhid,
            protocol=RT_PROTO_NETWRIGHT,
        )
    if c.kind == "neighbour":
        return session.neighbour_message(
            c.after if op != "delete" else c.before, delete=op == "delete"
        )
    return session.fdb_message(
        c.after if op != "delete" else c.before,
        delete=op == "delete",
        replace=op == "change",
    )


def _set_messages(session: KernelWriter, objects: RouteSet | NexthopSet | EntrySet) -> list[Any]:
    if isinstance(objects, RouteSet):
        return session.route_set_messages(objects, protocol=RT_PROTO_NETWRIGHT)
    if isinstance(objects, NexthopSet):
        return session.nexthop_set_messages(objects)
    return session.entry_set_messages(objects)


def send_bulk(session: KernelWriter, ledger: Ledger, changes: Sequence[Change]) -> None:
    """Send a row of bulk changes as one batch; record each outcome in `ledger`."""
    sent: dict[int, Change] = {}  # by the index of its message
    spans: list[tuple[Change, int, int]] = []  # a summary: messages[start:end]
    messages: list[Any] = []
    for c in changes:
        if c.implied:
            ledger.implied.append(c)
            continue
        if ledger.failed_links and ledger.blocked(c):
            continue
        if isinstance(c.before, _SETS):  # one message per object
            try:
                batch = _set_messages(session, c.before)
            except KernelError as exc:
                ledger.fail(c, f"{_text.change_line(c)}: {exc}")
                continue
            spans.append((c, len(messages), len(messages) + len(batch)))
            messages.extend(batch)
            continue
        try:
            message = _message(session, c)
        except KernelError as exc:
            ledger.fail(c, f"{_text.text(c.kind, c.after or c.before, c.nhid)}: {exc}")
            continue
        sent[len(messages)] = c
        messages.append(message)
    failures = {f.index: f for f in session.transact(messages)}
    # A nexthop object needs its device's carrier up (ENETDOWN, "Carrier for
    # nexthop device is down", `rtm_to_nh_config`), where a plain route does not:
    # routes through such a nexthop are sent again as plain routes, which the
    # next diff accepts as equal.
    down = {
        c.after.id
        for i, c in sent.items()
        if c.kind == "nexthop" and i in failures and failures[i].errno == errno.ENETDOWN
    }
    retry = [
        i
        for i, c in sent.items()
        if c.kind == "route" and str(c.op) != "delete" and c.nhid in down and i in failures
    ]
    if retry:
        plain = [dataclasses.replace(sent[i], nhid=0) for i in retry]
        again = {f.index: f for f in session.transact([_message(session, c) for c in plain])}
        for n, i in enumerate(retry):
            sent[i] = plain[n]
            if n in again:
                failures[i] = again[n]
            else:
                del failures[i]
    for index, c in sent.items():
        failure = failures.get(index)
        if failure is None or (str(c.op) == "delete" and failure.errno in _GONE):
            ledger.done.append(c)
        elif (
            c.kind == "nexthop"
            and c.after is not None
            and c.after.id in down
            and not any(s.nhid == c.after.id for s in sent.values())
        ):
            ledger.notes.append(
                f"{_text.text(c.kind, c.after)}: not created, {c.after.dev} has no carrier;"
                " its routes were installed as plain routes"
            )
        else:
            what = _text.text(c.kind, c.after if c.after is not None else c.before, c.nhid)
            ledger.fail(c, f"{what}: {failure}")
    for c, start, end in spans:
        bad = [
            failures[i]
            for i in (range(start, end) if failures else ())
            if i in failures and failures[i].errno not in _GONE
        ]
        if bad:
            what = _text.change_line(c)
            ledger.fail(c, f"{what}: {len(bad)} refused, the first: {bad[0]}")
        else:
            ledger.done.append(c)
