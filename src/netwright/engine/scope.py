"""Scope: a partial desired state, as the fine-grained Ansible modules state one.

Why it exists: a scoped run plans changes for some kinds of object only, and must
complete the partial state's links from the live ones first (the observer and the
diff decide from the desired links what goes); `Scope` says which kinds and how,
`scoped_basis` does the completing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netwright.engine import _text
from netwright.engine.changes import Conflict
from netwright.engine.ownership import Ownership

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright.kernel.records import LinkRecord
    from netwright.model.state import NodeState


#: The kinds a `Scope` may name (a route scope covers its nexthop objects too).
SCOPE_KINDS = frozenset({"link", "route", "neighbour", "fdb", "sysctl", "nft", "file", "bird"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Scope:
    """A partial desired state: only objects of `kinds` are planned, as listed.

    Why it exists: the fine-grained Ansible modules (`link`, `route`, ...) each state
    some objects of one kind, not a whole node. With a scope, the diff plans changes
    for the scoped kinds only, and nothing for the others: no implied deletion of a
    link, route, file or table merely because the partial state does not list it.

    - present (`absent` False): the listed objects are made to exist as given;
      netwright's objects of the kind that are not listed stay, unless `purge`.
    - `purge`: netwright's objects of the kind that are not listed are deleted too
      (files only under `file_dirs`: a conflist purge must not take BIRD's file).
    - `absent`: the listed objects are deleted where they are netwright's; a foreign
      one at a listed key is a conflict, and stays.

    Sysctls are never deleted (`absent` and `purge` do nothing to them); a link that
    must be re-created (another kind, another VNI) still takes what hangs on it along.
    """

    kinds: frozenset[str]
    purge: bool = False
    absent: bool = False
    #: For `purge` of files: the directories whose netwright files may be removed.
    file_dirs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kinds))  # a set given is fine
        unknown = sorted(set(self.kinds) - SCOPE_KINDS)
        if unknown or not self.kinds:
            raise ValueError(
                f"Scope: unknown kinds {unknown}; allowed {sorted(SCOPE_KINDS)}"
                if unknown
                else "Scope: no kinds"
            )
        if self.purge and self.absent:
            raise ValueError("Scope: `purge` goes with present, not with `absent`")

    def covers(self, kind: str) -> bool:
        return kind in self.kinds

    @property
    def present(self) -> bool:
        return not self.absent

    def purges(self, kind: str) -> bool:
        """Unlisted objects of `kind` are deleted (the default, unscoped, behaviour)."""
        return self.purge and kind in self.kinds

    def under(self, path: str) -> bool:
        return any(path.startswith(d.rstrip("/") + "/") for d in self.file_dirs)


def scoped_basis(
    partial: NodeState,
    links: Mapping[str, LinkRecord],
    scope: Scope,
    own: Ownership | None = None,
) -> tuple[NodeState, tuple[Conflict, ...]]:
    """The desired state a scoped run observes and diffs, from the listed objects.

    The observer and the diff decide from the desired links which links go (and take
    their routes and entries along), so the links are completed from the live ones
    netwright owns: kept as they are unless the scope is links' own and says
    otherwise (`purge` drops the unlisted, `absent` the listed). A listed link that
    is foreign is a conflict in absent mode (present mode finds it in the diff).
    Everything else is as listed.
    """
    own = own or Ownership()
    owned = {name: rec.link for name, rec in links.items() if own.link(rec)}
    conflicts: list[Conflict] = []
    if not scope.covers("link"):
        keep = dict(owned)
    elif scope.absent:
        listed = {lk.name for lk in partial.links}
        keep = {n: lk for n, lk in owned.items() if n not in listed}
        for lk in partial.links:
            rec = links.get(lk.name)
            if rec is not None and not own.link(rec):
                conflicts.append(
                    Conflict(
                        kind="link",
                        key=lk.key,
                        ours=f"delete {_text.text('link', lk)}",
                        theirs="existing " + _text.text("link", rec.link),
                    )
                )
    else:
        keep = {lk.name: lk for lk in partial.links}
        if not scope.purge:
            keep = {n: lk for n, lk in owned.items() if n not in keep} | keep
    return dataclasses.replace(partial, links=tuple(keep.values())), tuple(conflicts)
