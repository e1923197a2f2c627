"""Read a spec directory into documents that remember where they came from.

This is the only module of the pure core that reads files, and it reads nothing
but the YAML under the directory it is given. Each document keeps its composed
YAML node so that a problem found later (by the schema or a cross-object
check) can be reported at the line of the very field, not just the document.

Speed matters here: at 10,000 nodes, loading is most of a CLI run. libyaml
(`CSafeLoader`) composes the nodes; construction is PyYAML's Python code.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from netwright.errors import Issue

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

try:
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml: slower, same results
    _Loader = yaml.SafeLoader

#: The one file `allocate --write` owns, at the top of a spec directory (`API.md`).
IPBLOCKS_FILE = "ipblocks.yaml"

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document of a spec directory."""

    file: str  # as the user named it: the directory argument joined with the relative path
    relpath: str  # relative to the spec directory
    line: int  # 1-based line where the document starts
    data: Any
    node: yaml.Node | None = None

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

    def issue(self, path: str, message: str, *, kind: str | None = None) -> Issue:
        """An issue at `path` of this document, in the `API.md` format."""
        return Issue(
            file=self.file,
            line=self.line_of(path) if path else self.line,
            kind=kind if kind is not None else self.kind,
            name=self.name,
            path=path,
            message=message,
        )


def iter_spec_files(directory: str) -> Iterator[tuple[str, str]]:
    """Every `*.yaml`/`*.yml` under `directory`, sorted, skipping dot-directories.

    Yields (path as the user would name it, path relative to the directory).
    """
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if filename.endswith((".yaml", ".yml")):
                full = os.path.join(dirpath, filename)
                yield full, os.path.relpath(full, directory)


def parse_documents(text: str, file: str, relpath: str) -> tuple[list[Document], list[Issue]]:
    """All documents of one YAML stream, each with its composed node for line lookup."""
    documents: list[Document] = []
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                continue
            data = loader.construct_document(node)
            if data is None:
                continue
            documents.append(Document(file, relpath, node.start_mark.line + 1, data, node))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return documents, [Issue(file=file, line=line, message=f"not valid YAML: {problem}")]
    finally:
        loader.dispose()
    return documents, []


@dataclass(frozen=True, slots=True)
class SpecFile:
    """One YAML file of a spec directory, read but not parsed."""

    file: str  # as the user would name it
    relpath: str
    text: str


def read_directory(directory: str) -> tuple[list[SpecFile], list[Issue]]:
    """The text of every spec file under `directory`, plus the files that could not be read."""
    if not os.path.isdir(directory):
        return [], [Issue(file=directory, message="not a directory (a spec directory is expected)")]
    files: list[SpecFile] = []
    issues: list[Issue] = []
    for full, relpath in iter_spec_files(directory):
        try:
            with open(full, encoding="utf-8") as stream:
                files.append(SpecFile(full, relpath, stream.read()))
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(Issue(file=full, message=f"cannot read: {exc}"))
    return files, issues


def parse_files(files: Iterable[SpecFile]) -> tuple[list[Document], list[Issue]]:
    """Every document of the files, in order, plus the files that are not valid YAML."""
    documents: list[Document] = []
    issues: list[Issue] = []
    for f in files:
        docs, problems = parse_documents(f.text, f.file, f.relpath)
        documents.extend(docs)
        issues.extend(problems)
    return documents, issues


def load_directory(directory: str) -> tuple[list[Document], list[Issue]]:
    """Every document under a spec directory, plus the files that could not be read."""
    files, issues = read_directory(directory)
    documents, problems = parse_files(files)
    return documents, issues + problems
