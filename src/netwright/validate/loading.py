"""Read a spec directory into documents that remember where they came from.

This is the only module of the pure core that reads files, and it reads nothing
but the YAML under the directory it is given. Each document keeps its composed
YAML node so that a problem found later (by the schema or a cross-object
check) can be reported at the line of the very field, not just the document.

Speed matters here: at 10,000 nodes, loading is most of a CLI run. libyaml
(`CSafeLoader`) composes the nodes; construction is PyYAML's Python code.

A spec directory is untrusted input (it comes from a Git repository), so every
read and parse is bounded: only regular files inside the directory, at most
`MAX_FILE_BYTES` each, at most `MAX_YAML_NODES` YAML nodes in all (counted from
the punctuation before anything is parsed: memory follows the node count, about
330 bytes each, not the byte count), collections nested at most `MAX_DEPTH` deep,
aliases that add at most `MAX_ALIAS_NODES` nodes to the whole directory. What
exceeds a limit is reported as a problem like any other, never raised, never
half-read.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from netwright.errors import Issue

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

try:
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml: slower, same results
    _Loader = yaml.SafeLoader

#: The one file `allocate --write` owns, at the top of a spec directory (`API.md`).
IPBLOCKS_FILE = "ipblocks.yaml"

#: The largest spec file read; a spec of 10,000 nodes takes about 4 MiB.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: The most YAML read from one spec directory, all files together (memory: `MAX_YAML_NODES`).
MAX_TOTAL_BYTES = 64 * 1024 * 1024
#: The deepest nesting of collections in a document; netwright's kinds need fewer than 10.
MAX_DEPTH = 100
#: How many nodes expanding aliases may add, the whole directory's documents together
#: ("billion laughs": composing shares an anchored node, but every walk of the data
#: visits it once per alias).
MAX_ALIAS_NODES = 100_000
#: The most YAML nodes read from one spec directory, all files together: about 1.3 GB
#: of composed nodes at worst (a flow list of one-digit scalars); a spec of 10,000
#: nodes and their blocks holds about 550,000.
MAX_YAML_NODES = 4_000_000
#: Every YAML node but a document's first starts at a line break or after one of these.
_NODE_STARTS = (",", ":", "-", "?", "[", "{")
#: The longest integer scalar converted; a 64-bit integer takes at most 20 digits.
MAX_INT_CHARS = 1000
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
        """An issue at `path` of this document, in the `API.md` format, on one line."""
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


def _spec_name(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath((path, root)) == root


def walk_spec_files(directory: str) -> list[tuple[str, str, str | None]]:
    """Every `*.yaml`/`*.yml` under `directory`, sorted, skipping dot-directories,
    and every path that cannot be walked or would lead elsewhere.

    Returns (path as the user would name it, path relative to the directory,
    None or why the path is not read), in the order `os.walk` gives (a
    directory's files, then its subdirectories, depth first). Directories that
    cannot be listed and symlinks that leave the directory are reported, never
    skipped silently; symlinked directories are not followed (their files
    would be read twice, or forever).
    """
    root = os.path.realpath(directory)
    found: list[tuple[str, str, str | None]] = []
    pending = [directory]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            found.append(
                (current, os.path.relpath(current, directory), f"cannot read: {_reason(exc)}")
            )
            continue
        subdirs: list[str] = []
        for entry in entries:
            full = os.path.join(current, entry.name)
            try:
                if entry.is_symlink():
                    problem = _symlink_problem(full, entry.name, root)
                    if problem is not None:
                        found.append((full, os.path.relpath(full, directory), problem or None))
                elif entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):
                        subdirs.append(full)
                elif _spec_name(entry.name):
                    found.append((full, os.path.relpath(full, directory), None))
            except OSError as exc:  # pragma: no cover - lstat failing after scandir listed it
                problem = f"cannot read: {_reason(exc)}"
                found.append((full, os.path.relpath(full, directory), problem))
        pending.extend(reversed(subdirs))
    return found


def _symlink_problem(full: str, name: str, root: str) -> str | None:
    """Why a symlink is not read: "" when it is a spec file to read, None when it is no concern."""
    try:
        is_dir = stat.S_ISDIR(os.stat(full).st_mode)
    except OSError as exc:
        return f"cannot read: {_reason(exc)}" if _spec_name(name) else None
    if name.startswith(".") and is_dir:
        return None
    if not _inside(os.path.realpath(full), root):
        if is_dir or _spec_name(name):
            return (
                "is a symlink that leads out of the spec directory; netwright reads only "
                "files inside it and does not follow such links"
            )
        return None
    if is_dir:
        return (
            "is a symlink to a directory; netwright does not follow directory symlinks "
            "(the files they lead to are read where they are)"
        )
    return "" if _spec_name(name) else None


def iter_spec_files(directory: str) -> Iterator[tuple[str, str]]:
    """Every `*.yaml`/`*.yml` under `directory`, sorted, skipping dot-directories.

    Yields (path as the user would name it, path relative to the directory);
    paths that cannot be walked are left out (`walk_spec_files` reports them).
    """
    for full, relpath, problem in walk_spec_files(directory):
        if problem is None:
            yield full, relpath


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


_FILE_TYPES = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    what = next((name for test, name in _FILE_TYPES if test(mode)), "not a file")
    return f"is {what}, not a regular file; netwright reads only regular files"


_OVER_BUDGET = (
    f"is beyond the {MAX_TOTAL_BYTES // (1024 * 1024)} MiB of YAML netwright reads from a "
    "spec directory in all"
)
_TOO_BIG = (
    f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, the largest spec file "
    "netwright reads; split it into several files"
)


def read_spec_file(full: str, budget: int = MAX_TOTAL_BYTES) -> tuple[str | None, str | None]:
    """The text of one spec file, or why it cannot be read (never blocks, never reads
    more than `MAX_FILE_BYTES` + 1 bytes, nor more than `budget` + 1)."""
    try:
        if (problem := _not_regular(os.stat(full).st_mode)) is not None:
            return None, problem  # a FIFO or device is never opened: opening may block or act
        fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as stream:
            st = os.fstat(stream.fileno())
            if (problem := _not_regular(st.st_mode)) is not None:
                return None, problem  # replaced since the check above
            if st.st_size > MAX_FILE_BYTES:
                return None, _TOO_BIG
            if st.st_size > budget:
                return None, _OVER_BUDGET
            data = stream.read(min(MAX_FILE_BYTES, budget) + 1)
    except OSError as exc:
        return None, f"cannot read: {_reason(exc)}"
    if len(data) > MAX_FILE_BYTES:
        return None, _TOO_BIG
    if len(data) > budget:
        return None, _OVER_BUDGET
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, (
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "spec files are UTF-8 YAML"
        )


# --- parsing, with limits -------------------------------------------------------------------------


class _SpecLoader(_Loader):  # type: ignore[misc, valid-type]
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


def _alias_problem(root: yaml.Node, budget: AliasBudget) -> str | None:
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
                return _DEEP
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


_DEEP = (
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


def _too_deep(text: str) -> int | None:
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
    loader = _Loader(text)
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
    deep_line = _too_deep(text)
    if deep_line is not None:
        return [], [Issue(file=one_line(file), line=deep_line, message=_DEEP)]
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
            problem = _alias_problem(node, aliases) if check_aliases else None
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


@dataclass(frozen=True, slots=True)
class SpecFile:
    """One YAML file of a spec directory, read but not parsed."""

    file: str  # as the user would name it
    relpath: str
    text: str


def node_bound(text: str) -> int:
    """An upper bound on the YAML nodes `text` composes into (aliases aside), counted fast.

    A node starts a document, a line, or follows one of `_NODE_STARTS`; counting
    those characters (C speed, no parsing) bounds the count from above.
    """
    return 1 + text.count("\n") + sum(text.count(c) for c in _NODE_STARTS)


_TOO_MANY_NODES = (
    f"holds more YAML nodes than netwright reads from a spec directory in all "
    f"({MAX_YAML_NODES:,}, together with the files read before it); split the spec, "
    "or remove what netwright does not read"
)


def read_directory(directory: str) -> tuple[list[SpecFile], list[Issue]]:
    """The text of every spec file under `directory`, plus the paths that could not be read."""
    if not os.path.isdir(directory):
        return [], [
            Issue(
                file=one_line(directory), message="not a directory (a spec directory is expected)"
            )
        ]
    files: list[SpecFile] = []
    issues: list[Issue] = []
    budget = MAX_TOTAL_BYTES
    nodes = MAX_YAML_NODES
    for full, relpath, not_read in walk_spec_files(directory):
        text, problem = (None, not_read) if not_read is not None else read_spec_file(full, budget)
        if text is not None:
            nodes -= node_bound(text)
            if nodes < 0:
                text, problem = None, _TOO_MANY_NODES
        if text is None:
            issues.append(Issue(file=one_line(full), message=str(problem)))
        else:
            budget -= len(text)  # characters: at most the bytes read
            files.append(SpecFile(full, relpath, text))
    return files, issues


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


def load_directory(directory: str) -> tuple[list[Document], list[Issue]]:
    """Every document under a spec directory, plus the files that could not be read."""
    files, issues = read_directory(directory)
    documents, problems = parse_files(files)
    return documents, issues + problems
