"""Parse spec files into `Document`s: libyaml composes, PyYAML constructs, safely.

Speed matters here: at 10,000 nodes, parsing is most of a CLI run. libyaml
(`CSafeLoader`) composes the nodes; construction is PyYAML's Python code, with
what hostile input needs on top: duplicate keys recorded as problems, scalars
whose conversion could take unbounded time or fail refused, and the bounds of
`bounds` checked before a document is constructed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from netwright.errors import Issue
from netwright.validate.bounds import TOO_DEEP, AliasBudget, Loader, alias_problem, too_deep
from netwright.validate.document import Document, clip, one_line

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from netwright.validate.reading import SpecFile


#: The longest integer scalar converted; a 64-bit integer takes at most 20 digits.
MAX_INT_CHARS = 1000


class _SpecLoader(Loader):  # type: ignore[misc, valid-type]
    """libyaml's loader, plus what hostile input needs: duplicate keys are recorded,
    and scalars whose conversion could take unbounded time or fail are refused."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        #: (mapping node, duplicate key node) found while constructing the current document.
        self.duplicates: list[tuple[yaml.MappingNode, yaml.Node]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        explicit = node.value  # flatten_mapping edits this list in place, then replaces it
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        if len(mapping) != len(node.value):  # rare: a duplicate, or a merge key overridden
            seen: set[Any] = set()
            for key_node, _ in explicit:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    self.duplicates.append((node, key_node))
                seen.add(key)
        return mapping


def _guarded(construct: Any) -> Any:
    """A scalar constructor that refuses what it cannot convert with a YAML error.

    PyYAML's own raise AttributeError, IndexError or KeyError on explicitly
    tagged values they do not expect (`!!int ""`, `!!bool maybe`).
    """

    def guarded(loader: _SpecLoader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError) as exc:
            what = str(node.tag).rpartition(":")[2]
            shown = clip(str(node.value), 40)
            raise yaml.constructor.ConstructorError(
                None, None, f"`{shown}` is not a valid {what}", node.start_mark
            ) from exc

    return guarded


def _construct_int(loader: _SpecLoader, node: yaml.ScalarNode) -> Any:
    # Python refuses to convert more than 4300 digits, and base-60 integers
    # (1:2:3) cost quadratic time in their length.
    if len(node.value) > MAX_INT_CHARS:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"an integer of {len(node.value)} characters; netwright reads integers of at most "
            f"{MAX_INT_CHARS} characters",
            node.start_mark,
        )
    return yaml.SafeLoader.construct_yaml_int(loader, node)


def _construct_timestamp(loader: _SpecLoader, node: yaml.ScalarNode) -> Any:
    value = str(node.value)
    if not yaml.SafeLoader.timestamp_regexp.match(value):  # only with an explicit !!timestamp
        raise ValueError(value)
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError):  # 2020-02-30 looks like a date and is not: a string
        return value


for _tag, _construct in (
    ("int", _construct_int),
    ("timestamp", _construct_timestamp),
    ("float", yaml.SafeLoader.construct_yaml_float),
    ("bool", yaml.SafeLoader.construct_yaml_bool),
    ("binary", yaml.SafeLoader.construct_yaml_binary),
):
    _SpecLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _guarded(_construct))


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v  # type: ignore[no-any-return]
    return None


def _envelope(node: yaml.Node) -> Any:
    """apiVersion, kind and name of a document that is not constructed, from its nodes."""
    if not isinstance(node, yaml.MappingNode):
        return []
    data: dict[str, Any] = {}
    for key in ("apiVersion", "kind"):
        value = _scalar(_get(node, key))
        if value is not None:
            data[key] = value
    name = _scalar(_get(_get(node, "metadata"), "name"))
    if name is not None:
        data["metadata"] = {"name": name}
    return data


def _paths_to(root: yaml.Node, targets: set[int]) -> dict[int, str]:
    """The field paths (`spec.reserved[1]`) from a document's root node to the
    nodes whose ids are `targets`, in one walk."""
    found: dict[int, str] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack and len(found) < len(targets):
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if id(node) in targets:
            found[id(node)] = path
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                stack.append((value, f"{path}.{name}" if path else str(name)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
    return found


def _duplicate_problems(
    root: yaml.Node, duplicates: Sequence[tuple[yaml.MappingNode, yaml.Node]]
) -> tuple[tuple[str, str, int], ...]:
    """One problem per duplicate key, at its line; linear in the document, however many."""
    paths = _paths_to(root, {id(mapping) for mapping, _ in duplicates})
    first_lines: dict[int, dict[str, int]] = {}
    problems: list[tuple[str, str, int]] = []
    for mapping, key_node in duplicates:
        lines = first_lines.get(id(mapping))
        if lines is None:
            lines = {}
            for k, _ in mapping.value:
                if isinstance(k, yaml.ScalarNode):
                    lines.setdefault(k.value, k.start_mark.line + 1)
            first_lines[id(mapping)] = lines
        base = paths.get(id(mapping), "")
        name = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
        first = lines.get(name)
        where = f" (first at line {first})" if first is not None else ""
        problems.append(
            (
                f"{base}.{name}" if base else str(name),
                (
                    f"duplicate key{where}; a key may appear only once in a map "
                    "(the Kubernetes API refuses duplicates)"
                ),
                key_node.start_mark.line + 1,
            )
        )
    return tuple(problems)


def parse_documents(
    text: str, file: str, relpath: str, aliases: AliasBudget | None = None
) -> tuple[list[Document], list[Issue]]:
    """All documents of one YAML stream, each with its composed node for line lookup.

    Hostile input is refused, never crashes or exhausts memory: collections
    nested too deep (the whole file), aliases that would expand a document
    too much or contain themselves, and duplicate keys (on the document, for
    `validating` to report where netwright reads it).
    """
    deep_line = too_deep(text)
    if deep_line is not None:
        return [], [Issue(file=one_line(file), line=deep_line, message=TOO_DEEP)]
    documents: list[Document] = []
    check_aliases = "*" in text
    aliases = aliases if aliases is not None else AliasBudget()
    loader = _SpecLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                continue
            line = node.start_mark.line + 1
            problem = alias_problem(node, aliases) if check_aliases else None
            if problem is not None:
                stub = _envelope(node)
                documents.append(Document(file, relpath, line, stub, node, (("", problem, line),)))
                continue
            data = loader.construct_document(node)
            problems: tuple[tuple[str, str, int], ...] = ()
            if loader.duplicates:
                problems = _duplicate_problems(node, loader.duplicates)
                loader.duplicates = []
            if data is None:
                continue
            documents.append(Document(file, relpath, line, data, node, problems))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        message = f"not valid YAML: {one_line(clip(str(problem), 500))}"
        return documents, [Issue(file=one_line(file), line=line, message=message)]
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, RecursionError) as exc:
        # A constructor failing in a way not foreseen above: still a problem, never a crash.
        message = f"not valid YAML: {type(exc).__name__}: {one_line(clip(str(exc), 500))}"
        return documents, [Issue(file=one_line(file), message=message)]
    finally:
        loader.dispose()
    return documents, []


def parse_files(files: Iterable[SpecFile]) -> tuple[list[Document], list[Issue]]:
    """Every document of the files, in order, plus the files that are not valid YAML."""
    documents: list[Document] = []
    issues: list[Issue] = []
    aliases = AliasBudget()
    for f in files:
        docs, problems = parse_documents(f.text, f.file, f.relpath, aliases)
        documents.extend(docs)
        issues.extend(problems)
    return documents, issues
