"""The diff's address step: addresses on netwright's links, added or deleted.

Why it exists: an address is a kind of object like any other, so it has its step.
Only addresses on links netwright owns are ever deleted (link-local ones never,
the kernel makes them), and no address is ever scoped: a scoped run deletes only
those of the links it deletes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netwright.model.state import Address

if TYPE_CHECKING:
    from collections.abc import Hashable

    from netwright.engine.diffing._plan import Context


def diff_addresses(ctx: Context) -> None:
    """Desired addresses against those on netwright's links."""
    plan, own, links, gone = ctx.plan, ctx.own, ctx.links, ctx.gone
    have = {
        (a.dev, a.address): a
        for a in ctx.observed.addresses
        if a.dev in links and own.link(links[a.dev]) and not a.link_local
    }
    want: set[Hashable] = set()
    if ctx.scope is not None:  # no address is ever scoped: only those of deleted links go
        have = {k: r for k, r in have.items() if r.dev in gone}
    devs = ctx.devs()
    for a in ctx.desired.addresses:
        want.add(a.key)
        if ctx.dev_problem("address", a.key, a, a.dev, devs):
            continue
        if a.key in have and a.dev not in gone:
            continue
        plan.add("address", a.key, a)
    for key, rec in have.items():
        if key not in want:
            plan.delete(
                "address",
                key,
                Address(dev=rec.dev, address=rec.address),
                implied=rec.dev in gone,
            )
