"""The diff's host steps: sysctls, netwright's nft table, files, BIRD's reload.

Why it exists: these are not netlink objects but are part of a node's desired
state all the same; each is one step of the table.

- Sysctls are never deleted, only set; a missing optional one is a note, not a change.
- Files compare by the digest of their materialised content (secrets in clear), and
  their old content is shown only when it cannot hold a secret.
- A group or owner that does not exist on the host: the file is written as root
  (so said in the notes), and compared as root, so that a second run is a no-op.
- BIRD is reloaded when its config changes, or when an earlier run wrote it and
  never got to reload it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from netwright.engine import _text
from netwright.kernel import host
from netwright.model.state import Sysctl

if TYPE_CHECKING:
    from netwright.engine.diffing._plan import Context, Plan
    from netwright.engine.observing import ObservedState
    from netwright.engine.ownership import Ownership
    from netwright.engine.scope import Scope
    from netwright.model.state import File, NodeState


def diff_sysctls(ctx: Context) -> None:
    """Desired sysctls against their current values (never deleted)."""
    scope, plan = ctx.scope, ctx.plan
    for s in ctx.desired.sysctls if scope is None or scope.present else ():
        current = ctx.observed.sysctls.get(s.name)
        if current is None:
            if s.optional:
                plan.notes.append(f"sysctl {s.name}: not in this kernel, skipped")
            else:
                plan.change("sysctl", s.key, None, s, fields=("value",))
        elif _norm_sysctl(current) != _norm_sysctl(s.value):
            plan.change("sysctl", s.key, Sysctl(name=s.name, value=current), s, fields=("value",))


def diff_nft(ctx: Context) -> None:
    """netwright's one nft table, compared by the digest of its rules."""
    scope, plan, own, desired = ctx.scope, ctx.plan, ctx.own, ctx.desired
    nft = ctx.observed.nft
    if scope is not None and (not scope.covers("nft") or scope.absent):
        if scope.covers("nft") and nft is not None and own.nft(nft.family, nft.name):
            plan.delete("nft", (nft.family, nft.name), nft)
    elif desired.nft is not None:
        if nft is None:
            plan.add("nft", desired.nft.key, desired.nft)
        elif nft.digest != host.nft_digest(desired.nft):
            plan.change("nft", desired.nft.key, nft, desired.nft, fields=("rules",))
    elif nft is not None and own.nft(nft.family, nft.name):
        plan.delete("nft", (nft.family, nft.name), nft)


def diff_file_step(ctx: Context) -> None:
    """Files: the desired ones written, netwright's unwanted ones removed."""
    scope = ctx.scope
    if scope is None:
        ctx.changed_files = _diff_files(ctx.desired, ctx.observed, ctx.own, ctx.plan)
    elif scope.covers("file") and scope.absent:
        _delete_files(ctx.desired, ctx.observed, ctx.own, ctx.plan)
    elif scope.covers("file"):
        ctx.changed_files = _diff_files(ctx.desired, ctx.observed, ctx.own, ctx.plan, scope=scope)


def diff_bird(ctx: Context) -> None:
    """BIRD reloads after its config changed, or when an earlier run left it pending."""
    bird = ctx.desired.bird if ctx.planned("bird") else None
    plan = ctx.plan
    if bird is not None and bird.config in ctx.changed_files:
        plan.change("bird", bird.socket, None, bird, fields=("config",))
    elif bird is not None and bird.config in ctx.observed.bird_pending:
        # Written by an earlier run, never loaded (BIRD down, or that run killed).
        plan.change("bird", bird.socket, None, bird, fields=("config",))
        plan.notes.append(f"bird {bird.socket}: reload of {bird.config} still pending")


def _diff_files(
    desired: NodeState,
    observed: ObservedState,
    own: Ownership,
    plan: Plan,
    *,
    scope: Scope | None = None,
) -> set[str]:
    changed: set[str] = set()
    wanted = set()
    for f in desired.files:
        wanted.add(f.path)
        target = _effective(f, observed, plan)
        rec = observed.files.get(f.path)
        if rec is not None and f.secrets:
            rec = dataclasses.replace(rec, text=None)
        if rec is None:
            plan.add("file", f.path, target)
            changed.add(f.path)
            continue
        if not rec.regular:
            plan.conflict(
                "file", f.path, _text.text("file", target), f"existing non-regular file {f.path}"
            )
            continue
        fields = tuple(
            name
            for name, differs in (
                ("content", rec.digest != host.content_digest(f)),
                ("mode", rec.mode != target.mode),
                ("owner", rec.owner != target.owner),
                ("group", rec.group != target.group),
            )
            if differs
        )
        if not fields:
            if not own.file(f.path):
                # Exactly what netwright would write (written before netwright recorded
                # its files ahead, or a copy put in place by hand): adopted, that is
                # recorded as netwright's; a change without fields, which writes nothing.
                plan.change("file", f.path, rec, target)
                plan.notes.append(f"file {f.path}: as netwright would write it; adopted")
            continue
        if not own.file(f.path):
            plan.conflict(
                "file",
                f.path,
                _text.text("file", target),
                f"existing file {f.path} ({', '.join(fields)} differ)",
            )
            continue
        plan.change("file", f.path, rec, target, fields=fields)
        changed.add(f.path)
    for path in sorted(observed.owned_files - wanted):
        if scope is None or (scope.purge and scope.under(path)):
            plan.delete("file", path, observed.files.get(path))
    return changed


def _delete_files(desired: NodeState, observed: ObservedState, own: Ownership, plan: Plan) -> None:
    """Scoped, absent: the listed files netwright wrote go; a foreign one is a conflict."""
    for f in desired.files:
        rec = observed.files.get(f.path)
        if rec is None:
            continue
        if own.file(f.path):
            plan.delete("file", f.path, rec)
        else:
            plan.conflict("file", f.path, f"delete file {f.path}", f"existing file {f.path}")


def _effective(f: File, observed: ObservedState, plan: Plan) -> File:
    """`f` with owner and group as this host can honour them (missing ones: root)."""
    account = observed.users.get(f.owner)
    owner = f.owner
    if account is None or account.uid is None:
        plan.notes.append(f"file {f.path}: user {f.owner} does not exist; owner root instead")
        owner = "root"
        primary: str | None = "root"
    else:
        primary = account.group
    group = f.group if f.group is not None else primary or "root"
    if group != "root" and group not in observed.groups:
        plan.notes.append(f"file {f.path}: group {group} does not exist; group root instead")
        group = "root"
    if owner == f.owner and group == f.group:
        return f
    return dataclasses.replace(f, owner=owner, group=group)


def _norm_sysctl(value: str) -> str:
    return " ".join(value.split())
