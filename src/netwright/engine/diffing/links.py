"""The diff's link step: links added, changed, re-created or deleted, and what goes
with the deleted ones.

Why it exists: every other step depends on its answers (which links go, taking
their addresses, routes, nexthops and entries along; which desired names a foreign
link holds), so it runs first and leaves them in the `Context`.

A link whose kind or vxlan settings differ cannot be changed in place (the kernel
refuses to change a VNI or port of a live VTEP): it is deleted and created again,
and what the kernel hangs on it vanishes with it: planned as adds if still desired,
listed as `implied` deletes if not, which apply does not send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netwright.engine import _text
from netwright.engine.diffing._plan import FIRST
from netwright.engine.ownership import link_recreate
from netwright.kernel.records import EntrySet, NexthopSet, RouteSet

if TYPE_CHECKING:
    from netwright.engine.diffing._plan import Context
    from netwright.model.state import Link


def diff_links(ctx: Context) -> None:
    """Links of the desired state against the live ones netwright owns."""
    plan, own, links = ctx.plan, ctx.own, ctx.links
    if ctx.planned("link"):
        _desired_links(ctx)
        wanted = {lk.name for lk in ctx.desired.links}
        for name, rec in sorted(links.items()):
            if own.link(rec) and name not in wanted:
                ctx.gone.add(name)
                plan.delete("link", name, rec.link)
    # What the observer kept by key only because it goes with a deleted link.
    for (dev, kind), going in sorted(ctx.observed.unrecorded.vanishing.items(), key=FIRST):
        if dev not in ctx.gone:
            raise ValueError(f"diff: `observed` gave {kind}s on link {dev} as vanishing")
        if isinstance(going, int):  # counted only: the summary names none
            plan.delete(kind, dev, None, implied=True, count=going)
        else:
            plan.delete(kind, dev, going, implied=True, count=_set_size(going))


def _desired_links(ctx: Context) -> None:
    plan, own, links = ctx.plan, ctx.own, ctx.links
    for link in ctx.desired.links:
        rec = links.get(link.name)
        if rec is None:
            plan.add("link", link.key, link)
        elif not own.link(rec):
            ctx.blocked.add(link.name)
            plan.conflict(
                "link",
                link.key,
                _text.text("link", link),
                "existing " + _text.text("link", rec.link),
            )
        elif link_recreate(link, rec.link):
            ctx.gone.add(link.name)
            plan.delete("link", link.key, rec.link, fields=("kind", "vxlan"))
            plan.add("link", link.key, link)
        elif own.unmarked(rec):
            # Created by a run killed before it set the alias: every link change sets
            # the alias, so this one may have no other field.
            fields = link_fields(link, rec.link)
            plan.change("link", link.key, rec.link, link, fields=fields)
            plan.notes.append(
                f"link {link.name}: left without netwright's alias by an interrupted run;"
                " apply gives it the alias"
            )
        elif fields := link_fields(link, rec.link):
            plan.change("link", link.key, rec.link, link, fields=fields)


def link_fields(want: Link, have: Link) -> tuple[str, ...]:
    """The fields of a live link that a change sets (never its kind or vxlan settings)."""
    fields = []
    if want.mtu is not None and want.mtu != have.mtu:
        fields.append("mtu")
    if want.mac is not None and want.mac.lower() != (have.mac or "").lower():
        fields.append("mac")
    if want.up != have.up:
        fields.append("up")
    return tuple(fields)


def _set_size(objects: RouteSet | NexthopSet | EntrySet) -> int:
    if isinstance(objects, RouteSet):
        return len(objects.keys)
    if isinstance(objects, NexthopSet):
        return len(objects.ids)
    return len(objects.entries)
