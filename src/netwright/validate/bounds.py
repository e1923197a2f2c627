"""What a hostile YAML stream may cost before it is refused: nesting and aliases.

libyaml composes recursively in C, so collections nested a few hundred
thousand deep crash the process: `too_deep` finds them first, mostly from a
cheap bound computed at C speed. Composing shares an anchored node among its
aliases, so a "billion laughs" costs nothing until the data is walked:
`alias_problem` measures each document's expanded size against a budget shared
by the whole directory (`AliasBudget`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import yaml

try:
    Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml: slower, same results
    Loader = yaml.SafeLoader


#: The deepest nesting of collections in a document; netwright's kinds need fewer than 10.
MAX_DEPTH = 100
#: How many nodes expanding aliases may add, the whole directory's documents together
#: ("billion laughs": composing shares an anchored node, but every walk of the data
#: visits it once per alias).
MAX_ALIAS_NODES = 100_000


def _children(node: yaml.Node) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


#: Expanded sizes are capped here: aliases of aliases grow exponentially.
_SIZE_CAP = 1 << 40


@dataclass(slots=True)
class AliasBudget:
    """What expanding aliases may still add, shared by every document of a directory."""

    left: int = MAX_ALIAS_NODES


def alias_problem(root: yaml.Node, budget: AliasBudget) -> str | None:
    """Why a document's aliases cannot be expanded safely, or None.

    Composing shares an anchored node among its aliases, so the node tree is a
    graph; this measures, once per distinct node, how large and how deep the
    tree would be with every alias expanded, and finds aliases that contain
    themselves.
    """
    measured: dict[int, tuple[int, int]] = {}  # id -> (expanded nodes, collection depth)
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finish = stack.pop()
        key = id(node)
        if finish:
            size, depth = 1, 0
            for child in _children(node):
                child_size, child_depth = measured[id(child)]
                size, depth = min(size + child_size, _SIZE_CAP), max(depth, child_depth)
            if depth + 1 > MAX_DEPTH:
                return TOO_DEEP
            measured[key] = (size, depth + 1)
            active.discard(key)
            continue
        if key in measured:
            continue
        if key in active:
            return "an alias refers to a collection that contains it (a recursive alias)"
        if isinstance(node, yaml.ScalarNode):
            measured[key] = (1, 0)
            continue
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    expanded = measured[id(root)][0]
    growth = expanded - len(measured)
    if growth > budget.left:
        return (
            f"aliases expand this document by more than {budget.left} nodes "
            f"(to {expanded if expanded < _SIZE_CAP else 'more than 2^40'}); netwright "
            f"lets aliases add at most {MAX_ALIAS_NODES} nodes to a spec directory's "
            'documents in all (a "billion laughs")'
        )
    budget.left -= growth
    return None


TOO_DEEP = (
    f"collections nest more than {MAX_DEPTH} levels deep; netwright reads documents "
    f"nested at most {MAX_DEPTH} levels"
)
#: A `-` or `?` followed by a blank is a block indicator, which may open a collection.
_INDICATORS = ("- ", "-\n", "? ", "?\n")
_MORE_INDICATORS = (*_INDICATORS, "-\t", "-\r", "?\t", "?\r")
_ODD_BREAKS = ("\x85", "\u2028", "\u2029")
#: Where a document surely ends: `---` then a blank at the start of a line (`---x` is a scalar).
_DOCUMENT_START = re.compile(r"\n---(?=[ \t\r\n]|\Z)")
#: Documents whose depth bound is taken together, then one by one if that is too high.
_GROUP = 8
#: A file this small may be cleared as a whole.
_SMALL = 64 * 1024


@functools.lru_cache(maxsize=MAX_DEPTH + 2)
def _indented(spaces: int) -> re.Pattern[str]:
    return re.compile(rf"(?:^|[\n\r])[ \t]{{{spaces}}}")


def _may_nest_too_deep(chunk: str, indicators: tuple[str, ...]) -> bool:
    """An upper bound on the nesting depth of `chunk`, computed at C speed, is too high.

    Every collection in a chain of nested ones starts at a flow indicator
    (`[`, `{`), at a block indicator (`- `, `? `), or at a key on its own line
    indented deeper than its parent's; so the depth is at most the number of
    flow indicators, twice the block indicators, plus the deepest indentation.
    The bound of several documents joined is at least that of each.
    """
    room = MAX_DEPTH - 4 - chunk.count("[") - chunk.count("{")
    room -= 2 * (sum(chunk.count(i) for i in indicators) + chunk.endswith(("-", "?")))
    if room < 0:
        return True
    if indicators is _INDICATORS:  # no tab, no carriage return: str.find is much faster
        margin = " " * (room + 1)
        return chunk.startswith(margin) or ("\n" + margin) in chunk
    return _indented(room + 1).search(chunk) is not None


def too_deep(text: str) -> int | None:
    """The line where collections first nest deeper than `MAX_DEPTH`, or None.

    libyaml composes recursively in C: a few hundred KB of `[` overflow its
    stack and crash the process, so this runs before composing. The cheap
    bound of `_may_nest_too_deep` clears normal files, a few documents at a
    time (a line `---` always ends a document); only the others are
    parsed event by event.
    """
    if not any(b in text for b in _ODD_BREAKS):
        indicators = _MORE_INDICATORS if "\t" in text or "\r" in text else _INDICATORS
        if len(text) <= _SMALL and not _may_nest_too_deep(text, indicators):
            return None  # a large file's bound is always too high: skip to its documents
        chunks = _DOCUMENT_START.split(text)
        for i in range(0, len(chunks), _GROUP):
            group = chunks[i : i + _GROUP]
            if _may_nest_too_deep("\n".join(group), indicators) and any(
                _may_nest_too_deep(chunk, indicators) for chunk in group
            ):
                break
        else:
            return None
    loader = Loader(text)
    depth = 0
    try:
        while loader.check_event():
            event: Any = loader.get_event()  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark: Any = event.start_mark
                    return int(mark.line) + 1
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None  # composing meets the same error no deeper than here, and reports it
    finally:
        loader.dispose()
    return None
