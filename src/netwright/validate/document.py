"""A YAML document of a spec directory that remembers where it came from.

A problem found late (by the schema, or by a cross-object check) is reported at
the line of the very field: each `Document` keeps its composed YAML node and
finds the line of a field path in it. Also the two helpers every problem line
goes through (`one_line`, `clip`): input is untrusted, so what is printed of it
is one line and bounded. `Located` finds the document of a named object, for
the cross-object checks; `LoadedSpec` is what a valid directory loads into.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from netwright.errors import Issue

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from netwright.model.spec import ClusterSpec

#: The longest name, kind or field path printed in a problem line.
_MAX_SHOWN = 300

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char.isprintable():
        return char
    code = ord(char)
    if char in _ESCAPES:
        return _ESCAPES[char]
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def one_line(text: str) -> str:
    """`text` with line breaks and other unprintable characters escaped: one problem, one line."""
    return text if text.isprintable() else "".join(map(_escape, text))


def clip(text: str, limit: int = _MAX_SHOWN) -> str:
    """`text`, shortened to about `limit` characters with its length said."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(text)} characters)"


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
#: Maps with more keys than this are indexed for `Document.line_of`, not scanned.
_SCAN = 16


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document of a spec directory."""

    file: str  # as the user named it: the directory argument joined with the relative path
    relpath: str  # relative to the spec directory
    line: int  # 1-based line where the document starts
    data: Any
    node: yaml.Node | None = None
    #: Problems found while parsing (path, message, line): duplicate keys, alias bombs.
    problems: tuple[tuple[str, str, int], ...] = ()
    #: Large maps' keys, indexed on first lookup: a document with many problems
    #: in one map must not cost a scan of the map per problem.
    _keys: dict[int, dict[str, tuple[yaml.Node, int]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", "")) if isinstance(self.data, dict) else ""

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", "")) if isinstance(self.data, dict) else ""

    @property
    def name(self) -> str:
        if not isinstance(self.data, dict):
            return ""
        meta = self.data.get("metadata")
        return str(meta.get("name", "")) if isinstance(meta, dict) else ""

    def line_of(self, path: str) -> int:
        """The line of the field at `path` (`spec.reserved[1]`), or of its closest parent."""
        node = self.node
        line = self.line
        if node is None:
            return line
        for name, index in _PATH_PART.findall(path):
            child: yaml.Node | None = None
            if name and isinstance(node, yaml.MappingNode):
                if len(node.value) > _SCAN:
                    child, line = self._keys_of(node).get(name, (None, line))
                else:
                    for key, value in node.value:
                        if isinstance(key, yaml.ScalarNode) and key.value == name:
                            child, line = value, key.start_mark.line + 1
                            break
            elif index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
                child = node.value[int(index)]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line

    def _keys_of(self, node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, int]]:
        keys = self._keys.get(id(node))
        if keys is None:
            keys = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    keys.setdefault(key.value, (value, key.start_mark.line + 1))
            self._keys[id(node)] = keys
        return keys

    def issue(
        self, path: str, message: str, *, kind: str | None = None, line: int | None = None
    ) -> Issue:
        """An issue at `path` of this document, on one line (docs/api.md#error-format)."""
        if line is None:
            line = self.line_of(path) if path else self.line
        return Issue(
            file=one_line(self.file),
            line=line,
            kind=one_line(clip(kind if kind is not None else self.kind)),
            name=one_line(clip(self.name)),
            path=one_line(clip(path, 4 * _MAX_SHOWN)),
            message=one_line(clip(message, 16 * _MAX_SHOWN)),
        )


@dataclass(frozen=True, slots=True)
class Located:
    """The document of every named object, to report issues at its fields."""

    docs: Mapping[tuple[str, str], Document]
    #: Objects that were reported already: a reference to one is not a second problem.
    invalid: frozenset[tuple[str, str]] = frozenset()

    def issue(self, kind: str, name: str, path: str, message: str) -> Issue:
        return self.docs[(kind, name)].issue(path, message, kind=kind)

    def dangling(
        self,
        referrer: tuple[str, str, str],
        target: tuple[str, str],
        defined: Iterable[str],
        issues: list[Issue],
    ) -> None:
        """`referrer` (Kind, name, path) names `target` (Kind, name), which does not exist.

        That is an issue at the referrer, unless the target's own document was
        reported already.
        """
        if target not in self.invalid:
            kind, name = target
            issues.append(
                self.issue(*referrer, f"{kind}/{name} does not exist; defined: {listing(defined)}")
            )


def listing(items: Iterable[str]) -> str:
    listed = sorted(items)
    return ", ".join(listed) if listed else "none"


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadedSpec:
    """A valid cluster, and the documents of other API groups that were skipped."""

    cluster: ClusterSpec
    ignored: tuple[Document, ...] = ()
    #: The files that hold Secret documents (relative paths): the cache re-reads them.
    secret_files: tuple[str, ...] = ()
