"""Load and validate a spec directory: CRD schema and CEL rules, then cross-object checks."""

from __future__ import annotations

from netwright.validate.document import Document, LoadedSpec
from netwright.validate.loading import load_directory
from netwright.validate.reading import IPBLOCKS_FILE
from netwright.validate.validating import load_spec, validate_documents

__all__ = [
    "IPBLOCKS_FILE",
    "Document",
    "LoadedSpec",
    "load_directory",
    "load_spec",
    "validate_documents",
]
