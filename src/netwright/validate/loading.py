"""Read a spec directory into documents that remember where they came from.

The one call (`load_directory`) that reads and parses a whole spec directory,
in two steps that can also be taken apart (the spec cache hashes the text
before anything is parsed): `reading` reads the files, `parsing` composes and
constructs their YAML documents (`document.Document`, which keeps its composed
node to find the line of any field).

A spec directory is untrusted input (it comes from a Git repository), so every
read and parse is bounded: only regular files inside the directory, at most
`MAX_FILE_BYTES` each, at most `MAX_YAML_NODES` YAML nodes in all (counted from
the punctuation before anything is parsed: memory follows the node count, about
330 bytes each, not the byte count), collections nested at most `MAX_DEPTH` deep,
aliases that add at most `MAX_ALIAS_NODES` nodes to the whole directory
(`bounds`). What exceeds a limit is reported as a problem like any other, never
raised, never half-read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netwright.validate.parsing import parse_files
from netwright.validate.reading import read_directory

if TYPE_CHECKING:
    from netwright.errors import Issue
    from netwright.validate.document import Document


def load_directory(directory: str) -> tuple[list[Document], list[Issue]]:
    """Every document under a spec directory, plus the files that could not be read."""
    files, issues = read_directory(directory)
    documents, problems = parse_files(files)
    return documents, issues + problems
