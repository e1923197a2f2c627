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

How, one module each: `result` (what a run reports), `_ledger` (the outcome of
each change so far), `_record` (netwright's state file, written ahead of what it
records), `_single` (the changes sent one request each), `_bulk` (the bulk kinds,
one batch), `runner` (the loop that hands each change to one of those).
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

from typing import TYPE_CHECKING

from netwright.engine.applying.result import ApplyResult, Progress
from netwright.engine.applying.runner import Applier, check_kinds
from netwright.kernel import open_session

if TYPE_CHECKING:
    from netwright.engine.changes import Delta
    from netwright.kernel import Target
    from netwright.kernel.session import KernelSession

__all__ = ["ApplyResult", "Progress", "apply", "apply_with", "check_kinds"]


def apply_with(
    session: KernelSession, delta: Delta, progress: Progress | None = None
) -> ApplyResult:
    """Apply through an open session (the engine's `run` shares one with observe)."""
    check_kinds(session, delta)
    applier = Applier(session, delta)
    if progress is None:
        return applier.run()
    progress.total = sum(c.count for c in delta.changes)
    progress.applying = True
    if progress.started is not None:
        progress.started(progress.total)
    try:
        result = applier.run()
    finally:
        progress.done = sum(c.count for c in applier.ledger.done)
    progress.applying = False
    return result


def apply(target: Target, delta: Delta) -> ApplyResult:
    """Make the changes of `delta` on `target`; raises `UnsupportedKernelError` before any."""
    with open_session(target) as session:
        return apply_with(session, delta)
