"""Apply: carry out a `Delta` on a target, in its order, and report every outcome.

Why it exists: the diff decided; this module only acts, and says what happened to
each change (`ApplyResult.done` / `.failed`), so that every front end can report
it and a second run can converge.

What it must not do: decide anything the delta does not say, stop at the first
failure (independent changes go on; changes that depend on a failed link are
reported as not attempted), leave a link half-made, or start at all when the delta
needs a link type the kernel lacks.

The hard cases:

- Unsupported link types must be found before anything changes: each kind the
  delta creates is checked first (`Session.supports_kind`); a kind the kernel lacks
  raises `UnsupportedKernelError` ("kernel lacks ipip support"). Asking the kernel,
  not a list of kinds, because modules, built-ins and autoloading differ per host
  and only the kernel knows. The question writes nothing: a kind already on the
  target is proof, and otherwise the kernel is sent a create it must refuse, whose
  errno says whether it knows the kind (once per kind per process). So check mode
  could ask too, but never needs to. Why not let the real create answer and roll
  back? Links are created after deletes, sysctls and more in delta order, so a late
  "Unknown device type" would leave a half-applied node; reordering creates first
  would break re-created links (delete, then create under the same name). The
  refused create answers the same question for one round trip, without either.
- Bulk objects (nexthops, routes, neighbours, fdb) in a row go out as one netlink
  batch with one ack barrier; errors come back per message and are mapped to their
  change. "Already gone" (ENOENT, ESRCH, ENODEV) on a delete is success, as is an
  address that is already there (Calico `deleteRoute`, pyroute2 `ensure()`).
- Routes deleted before their nexthops come as one change (`RouteSet`), those
  nexthops as one more (`NexthopSet`, last, like every nexthop delete), and so do
  the neighbour or fdb entries of peers that left, per VTEP (`EntrySet`); each
  goes out as one message per object in the same batch, and is done when every
  object is deleted or already gone, failed (with the first refusal) otherwise.
- Changes marked `implied` are not sent: they vanished with their link or nexthop.
  They are reported done only if that link or nexthop delete succeeded. What goes
  with a deleted link comes as one summary per kind and link (`Change.count`; its
  `before` a `RouteSet`, `NexthopSet` or `EntrySet`, never sent, checked as
  `implied` before its type), accounted by the link's name (`_dev`).
- BIRD is reloaded only after its config file was written successfully.
- A crash (SIGKILL) at any point leaves everything netwright made recognisably
  netwright's, through its state file (`host.State`), each record durable before
  what it records: a file is recorded before it is written and dropped only after it
  is removed; a link is recorded as being created before its create and dropped
  once its alias is set (the kernel drops IFLA_IFALIAS from a create, so the alias
  takes a second request); a BIRD config is recorded as pending before it is
  written and dropped only after BIRD reloaded it, so that a reload that failed or
  never happened is tried again by the next run. Routes and nexthops carry protocol
  211 in their create, the nft table its marker comment: nothing to record.
  One state write before the first link created or file written (for all of
  them), one at the end; none in a run that creates no link and changes no file
  or BIRD config (a no-op reads the state file once, in observe, and that is all).
"""

from __future__ import annotations

import dataclasses
import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netwright.engine import _render
from netwright.errors import KernelError, UnsupportedKernelError
from netwright.kernel import _crash, host, open_session
from netwright.kernel.records import (
    EntrySet,
    NetlinkRequestError,
    Nexthop,
    NexthopSet,
    RouteSet,
)
from netwright.model.state import LINK_ALIAS, NFT_FAMILY, NFT_TABLE, RT_PROTO_NETWRIGHT, File

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from netwright.engine.diffing import Change, Conflict, Delta
    from netwright.kernel import Session, Target

_BULK = frozenset({"nexthop", "route", "neighbour", "fdb"})
#: Summary changes that stand for many objects, sent as one message per object.
_SETS = (RouteSet, NexthopSet, EntrySet)
_GONE = frozenset({errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.EADDRNOTAVAIL})


@dataclass(kw_only=True, slots=True)
class Progress:
    """How far an apply got, for a front end that must say so if it is interrupted.

    `total` is set when the apply starts (objects: a summary counts as many as it
    stands for), `done` when it ends, however it ends: an exception (Ctrl-C, SIGTERM)
    leaves `applying` set and `done` counting the changes confirmed so far. `started`,
    if given, is told the total first (progress output for a long apply).
    """

    total: int = 0
    done: int = 0
    applying: bool = False
    started: Callable[[int], None] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ApplyResult:
    done: tuple[Change, ...] = ()
    #: (change, error text naming the object and the errno)
    failed: tuple[tuple[Change, str], ...] = ()
    #: Not applied: a foreign object holds the place (from the delta).
    conflicts: tuple[Conflict, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed and not self.conflicts

    def lines(self) -> list[str]:
        counts = f"failed: {len(self.failed)}, conflicts: {len(self.conflicts)}"
        out = [f"done: {len(self.done)} change(s), {counts}"]
        out.extend(f"failed: {error}" for _c, error in self.failed)
        out.extend(f"conflict: {c}" for c in self.conflicts)
        out.extend(f"note: {n}" for n in self.notes)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "done": len(self.done),
            "failed": [{"change": _render.change_json(c), "error": e} for c, e in self.failed],
            "conflicts": [str(c) for c in self.conflicts],
            "notes": list(self.notes),
        }


def _dev(change: Change) -> str | None:
    if change.implied and change.summary:  # what goes with link `key` (a set or a count)
        return str(change.key)
    obj = change.after if change.after is not None else change.before
    dev = getattr(obj, "dev", None)
    return dev if isinstance(dev, str) else None


def check_kinds(session: Session, delta: Delta) -> None:
    """Raise `UnsupportedKernelError` if the delta creates a link of a kind the kernel lacks."""
    seen: set[str] = set()
    for c in delta.changes:
        if c.kind == "link" and str(c.op) == "add" and c.after.kind not in seen:
            seen.add(c.after.kind)
            if not session.supports_kind(c.after.kind):
                raise UnsupportedKernelError(
                    f"link {c.after.name}: kernel lacks {c.after.kind} support; nothing was applied"
                )


class _Applier:
    def __init__(self, session: Session, delta: Delta) -> None:
        self.s = session
        self.delta = delta
        self.done: list[Change] = []
        self.failed: list[tuple[Change, str]] = []
        self.failed_links: set[str] = set()
        self.failed_nexthops: set[int] = set()
        self.failed_files: set[str] = set()
        self.implied: list[Change] = []
        self.files_written: set[str] = set()
        self.files_removed: set[str] = set()
        self.notes: list[str] = list(delta.notes)
        #: netwright's state file as this run last wrote it (read when first needed).
        self.state: host.State | None = None
        self.recorded_ahead = False
        self.links_settled: set[str] = set()  # created and marked, or never created
        self.bird_loaded: set[str] = set()

    def fail(self, change: Change, error: str) -> None:
        self.failed.append((change, error))
        if change.kind == "link":
            self.failed_links.add(str(change.key))
        elif change.kind == "nexthop":
            self.failed_nexthops.add(int(change.key))  # type: ignore[call-overload]
        elif change.kind == "file":
            self.failed_files.add(str(change.key))

    def blocked(self, change: Change) -> bool:
        dev = _dev(change)
        if dev is not None and dev in self.failed_links and str(change.op) != "delete":
            self.failed.append(
                (
                    change,
                    f"{_render.text(change.kind, change.after)}: not attempted, link {dev} failed",
                )
            )
            return True
        return False

    def run(self) -> ApplyResult:
        changes = self.delta.changes
        i = 0
        while i < len(changes):
            c = changes[i]
            if c.kind in _BULK:
                j = i
                while j < len(changes) and changes[j].kind in _BULK:
                    j += 1
                self.bulk(changes[i:j])
                i = j
                continue
            if c.implied:
                self.implied.append(c)
            elif not self.blocked(c):
                try:
                    self.one(c)
                except KernelError as exc:
                    self.fail(c, str(exc))
                except OSError as exc:
                    self.fail(c, f"{_render.text(c.kind, c.after or c.before)}: {exc}")
                else:
                    self.done.append(c)
            i += 1
        self.finish_state()
        for c in self.implied:
            dev = _dev(c)
            if (dev is not None and dev in self.failed_links) or (
                c.nhid and c.nhid in self.failed_nexthops
            ):
                what = str(c) if c.summary else _render.text(c.kind, c.before, c.nhid)
                self.failed.append((c, f"{what}: still there, its link or nexthop was not removed"))
            else:
                self.done.append(c)
        return ApplyResult(
            done=tuple(self.done),
            failed=tuple(self.failed),
            conflicts=self.delta.conflicts,
            notes=tuple(self.notes),
        )

    # ------------------------------------------------------------ one at a time

    def one(self, c: Change) -> None:
        op = str(c.op)
        if c.kind == "link":
            if op == "add":
                self.record_ahead()
                _crash.point("link-recorded")
                # Made and marked: settled. On a failure the record stays: the link
                # was deleted again or never made (the next run settles the record),
                # or is left without its alias (the next run marks it).
                self.s.create_link(c.after, alias=LINK_ALIAS)
                self.links_settled.add(c.after.name)
            elif op == "delete":
                self.s.delete_link(str(c.key))
                self.links_settled.add(str(c.key))
            else:
                self.s.set_link(
                    c.after.name,
                    mtu=c.after.mtu if "mtu" in c.fields else None,
                    mac=c.after.mac if "mac" in c.fields else None,
                    up=c.after.up if "up" in c.fields else None,
                    # Always: marks a link an interrupted run left without it (a
                    # change with no other field), and is a no-op on any other.
                    alias=LINK_ALIAS,
                )
                self.links_settled.add(c.after.name)
        elif c.kind == "address":
            if op == "add":
                try:
                    self.s.add_address(c.after)
                except NetlinkRequestError as exc:
                    if exc.errno != errno.EEXIST:
                        raise
            else:
                self.s.delete_address(c.before)
        elif c.kind == "sysctl":
            self.s.write_sysctl(c.after.path, c.after.value)
        elif c.kind == "nft":
            host.nft_replace(
                self.s,
                c.after if op != "delete" else None,
                family=NFT_FAMILY,
                name=NFT_TABLE,
                exists=op != "add",
            )
        elif c.kind == "file":
            if op == "delete":
                host.remove_file(str(c.key))
                self.files_removed.add(str(c.key))
                _crash.point("file-removed")
            else:
                f: File = c.after
                self.record_ahead()
                _crash.point("file-recorded")
                if op == "add" or c.fields:  # none: adopted as it is, recording is all
                    host.write_file(f, group=f.group or "root")
                self.files_written.add(f.path)
                _crash.point("file-written")
        elif c.kind == "bird":
            if c.after.config in self.failed_files:
                raise KernelError(
                    f"bird {c.after.socket}: not reloaded, writing {c.after.config} failed"
                )
            self.record_ahead()
            host.bird_configure(c.after.socket, c.after.config)
            self.bird_loaded.add(c.after.config)
            _crash.point("bird-loaded")
        else:
            raise KernelError(f"{c.kind}: unknown kind of change")

    # ------------------------------------------------------------ the state file

    def loaded(self) -> host.State:
        if self.state is None:
            self.state = host.load_state(self.s.target.root)
        return self.state

    def record(self, **changes: Any) -> None:
        """Write netwright's state file with `changes`, before what it records.

        Durably (fsync'd) when files or BIRD configs change: those outlive a machine
        crash. A change to the links being created alone is written without an
        fsync: links vanish with the machine, and the page cache already carries the
        record across a crash of this process (a first vxlan apply of 1,000 peers
        spent about 3 of its 27 ms in those fsyncs, measured).
        """
        old = self.loaded()
        new = dataclasses.replace(old, **changes)
        if new != self.state:
            durable = new.files != old.files or new.bird != old.bird
            host.write_state(self.s.target.root, new, durable=durable)
            self.state = new

    def record_ahead(self) -> None:
        """Before the first link is created or file written: every link this run
        creates is recorded as being created, every file it writes as netwright's,
        the BIRD config it reloads as pending (one write for all)."""
        if self.recorded_ahead:
            return
        links, files, configs = {}, set(), set()
        for c in self.delta.changes:
            if c.kind == "link" and str(c.op) == "add":
                links[c.after.name] = c.after.kind
            elif c.kind == "file" and str(c.op) != "delete" and isinstance(c.after, File):
                files.add(c.after.path)
            elif c.kind == "bird":
                configs.add(c.after.config)
        state = self.loaded()
        self.record(
            links={**state.links, **links},
            files=state.files | files,
            bird=state.bird | configs,
        )
        self.recorded_ahead = True

    def finish_state(self) -> None:
        """After the run: drop what was removed, created and marked, or reloaded."""
        if self.state is None and not self.files_removed and not self.delta.settled_links:
            return  # nothing recorded ahead, removed or settled: no read, no write
        state = self.loaded()
        # A file this run meant to add but could not write is not netwright's.
        unwritten = {p for p in self.failed_files - self.files_written if not os.path.lexists(p)}
        gone = self.files_removed | unwritten
        self.record(
            files=(state.files | self.files_written) - gone,
            links={
                k: v
                for k, v in state.links.items()
                if k not in self.links_settled and k not in self.delta.settled_links
            },
            bird=state.bird - self.bird_loaded - self.files_removed,
        )

    # ------------------------------------------------------------ in bulk

    def message(self, c: Change) -> Any:
        op = c.op  # a StrEnum: compares as its string
        if c.kind == "nexthop":
            nh: Nexthop = c.after if op == "add" else c.before
            return self.s.nexthop_message(nh, delete=op == "delete", protocol=RT_PROTO_NETWRIGHT)
        if c.kind == "route":
            if op == "delete":
                return self.s.route_message(c.before, op="delete", protocol=RT_PROTO_NETWRIGHT)
            return self.s.route_message(
                c.after,
                op="add" if op == "add" else "replace",
                nhid=c.nhid,
                protocol=RT_PROTO_NETWRIGHT,
            )
        if c.kind == "neighbour":
            return self.s.neighbour_message(
                c.after if op != "delete" else c.before, delete=op == "delete"
            )
        return self.s.fdb_message(
            c.after if op != "delete" else c.before,
            delete=op == "delete",
            replace=op == "change",
        )

    def set_messages(self, objects: RouteSet | NexthopSet | EntrySet) -> list[Any]:
        if isinstance(objects, RouteSet):
            return self.s.route_set_messages(objects, protocol=RT_PROTO_NETWRIGHT)
        if isinstance(objects, NexthopSet):
            return self.s.nexthop_set_messages(objects)
        return self.s.entry_set_messages(objects)

    def bulk(self, changes: Sequence[Change]) -> None:
        sent: dict[int, Change] = {}  # by the index of its message
        spans: list[tuple[Change, int, int]] = []  # a summary: messages[start:end]
        messages: list[Any] = []
        for c in changes:
            if c.implied:
                self.implied.append(c)
                continue
            if self.failed_links and self.blocked(c):
                continue
            if isinstance(c.before, _SETS):  # one message per object
                try:
                    batch = self.set_messages(c.before)
                except KernelError as exc:
                    self.fail(c, f"{_render.change_line(c)}: {exc}")
                    continue
                spans.append((c, len(messages), len(messages) + len(batch)))
                messages.extend(batch)
                continue
            try:
                message = self.message(c)
            except KernelError as exc:
                self.fail(c, f"{_render.text(c.kind, c.after or c.before, c.nhid)}: {exc}")
                continue
            sent[len(messages)] = c
            messages.append(message)
        failures = {f.index: f for f in self.s.transact(messages)}
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
            again = {f.index: f for f in self.s.transact([self.message(c) for c in plain])}
            for n, i in enumerate(retry):
                sent[i] = plain[n]
                if n in again:
                    failures[i] = again[n]
                else:
                    del failures[i]
        for index, c in sent.items():
            failure = failures.get(index)
            if failure is None or (str(c.op) == "delete" and failure.errno in _GONE):
                self.done.append(c)
            elif (
                c.kind == "nexthop"
                and c.after is not None
                and c.after.id in down
                and not any(s.nhid == c.after.id for s in sent.values())
            ):
                self.notes.append(
                    f"{_render.text(c.kind, c.after)}: not created, {c.after.dev} has no carrier;"
                    " its routes were installed as plain routes"
                )
            else:
                what = _render.text(c.kind, c.after if c.after is not None else c.before, c.nhid)
                self.fail(c, f"{what}: {failure}")
        for c, start, end in spans:
            bad = [
                failures[i]
                for i in (range(start, end) if failures else ())
                if i in failures and failures[i].errno not in _GONE
            ]
            if bad:
                what = _render.change_line(c)
                self.fail(c, f"{what}: {len(bad)} refused, the first: {bad[0]}")
            else:
                self.done.append(c)


def apply_with(session: Session, delta: Delta, progress: Progress | None = None) -> ApplyResult:
    """Apply through an open session (the engine's `run` shares one with observe)."""
    check_kinds(session, delta)
    applier = _Applier(session, delta)
    if progress is None:
        return applier.run()
    progress.total = sum(c.count for c in delta.changes)
    progress.applying = True
    if progress.started is not None:
        progress.started(progress.total)
    try:
        result = applier.run()
    finally:
        progress.done = sum(c.count for c in applier.done)
    progress.applying = False
    return result


def apply(target: Target, delta: Delta) -> ApplyResult:
    """Make the changes of `delta` on `target`; raises `UnsupportedKernelError` before any."""
    with open_session(target) as session:
        return apply_with(session, delta)
