"""Read the files of a spec directory, and nothing else, within bounds.

The only module of the pure core that touches the file system. A spec
directory is untrusted (it comes from a Git repository): only regular files
inside it are read, never a FIFO or device, never through a symlink that leads
out; each file at most `MAX_FILE_BYTES`, all together at most `MAX_TOTAL_BYTES`
and `MAX_YAML_NODES` (bounded from the punctuation before anything is parsed).
What cannot be read is a problem to report, never an exception.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from netwright.errors import Issue
from netwright.validate.document import one_line

#: The one file `allocate --write` owns, at the top of a spec directory
#: (docs/api.md#spec-directory).
IPBLOCKS_FILE = "ipblocks.yaml"

#: The largest spec file read; a spec of 10,000 nodes takes about 4 MiB.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: The most YAML read from one spec directory, all files together (memory: `MAX_YAML_NODES`).
MAX_TOTAL_BYTES = 64 * 1024 * 1024
#: The most YAML nodes read from one spec directory, all files together: about 1.3 GB
#: of composed nodes at worst (a flow list of one-digit scalars); a spec of 10,000
#: nodes and their blocks holds about 550,000.
MAX_YAML_NODES = 4_000_000
#: Every YAML node but a document's first starts at a line break or after one of these.
_NODE_STARTS = (",", ":", "-", "?", "[", "{")


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
