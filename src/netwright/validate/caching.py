"""Remember a spec directory that validated, so an unchanged one is not validated again.

At 5,000 nodes, parsing and validating a spec directory costs about a second,
most of a `netwright plan` or `apply` (and of every Ansible module run), while
the directory rarely changes between runs. The key is the SHA-256 of
everything the result depends on: the directory as the user named it (it is
part of every file:line), each file's path and text, netwright's version, and
the source of the code that validates (validate/, model/, the CRDs), so an
edited file or an upgraded netwright can never see a stale result.

Only valid specs are stored, and never their secrets: on a hit, the few files
that hold Secret documents are parsed again, every time. Problems are always
found on the slow path, which knows the lines of fields.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pickle
import sys
from typing import TYPE_CHECKING, Any

from netwright import _cache
from netwright._version import __version__
from netwright.validate import building
from netwright.validate.document import Document, LoadedSpec
from netwright.validate.parsing import parse_documents
from netwright.validate.reading import read_directory

if TYPE_CHECKING:
    from collections.abc import Sequence

    from netwright.validate.reading import SpecFile

_FORMAT = b"netwright-spec-cache/1"
#: How many spec directories (versions of them) are remembered; each is ~0.2 KB per node.
KEEP = 16


@functools.cache
def _code_fingerprint() -> bytes:
    """A digest of the code and schemas that decide what a spec directory validates to."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256(_FORMAT + __version__.encode() + sys.version.encode())
    for sub in ("validate", "model", os.path.join("data", "crds")):
        folder = os.path.join(package, sub)
        for name in sorted(os.listdir(folder)):
            if name.endswith((".py", ".yaml")):
                with open(os.path.join(folder, name), "rb") as stream:
                    digest.update(name.encode() + b"\0" + stream.read())
    return digest.digest()


def enabled() -> bool:
    """Whether there is a usable cache (else the key is not worth hashing)."""
    return _cache.directory() is not None


def key(directory: str, files: Sequence[SpecFile]) -> str:
    digest = hashlib.sha256(_code_fingerprint())
    digest.update(directory.encode() + b"\0")
    for f in files:
        text = f.text.encode()
        digest.update(f"{f.relpath}\0{len(text)}\0".encode() + text)
    return "spec-" + digest.hexdigest()


def _holds_secret(doc: Document) -> bool:
    return doc.api_version == "v1" and doc.kind == "Secret"


def store(cache_key: str, spec: LoadedSpec) -> None:
    """Cache a valid spec, without its secrets and without YAML nodes."""
    entry = {
        "cluster": dataclasses.replace(spec.cluster, secrets={}),
        "ignored": [
            (d.file, d.relpath, d.line, d.api_version, d.kind, d.name) for d in spec.ignored
        ],
        "secret_files": spec.secret_files,
    }
    _cache.write(cache_key, pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))
    _cache.prune("spec-", KEEP)


def load(cache_key: str, files: Sequence[SpecFile]) -> LoadedSpec | None:
    """The cached spec for exactly these files, with its secrets read afresh; None on a miss."""
    raw = _cache.read(cache_key)
    if raw is None:
        return None
    try:
        entry: dict[str, Any] = pickle.loads(raw)  # noqa: S301 - our own file, checked by _cache
    except Exception:  # noqa: BLE001 - a damaged entry is a miss, never a failure
        return None
    by_path = {f.relpath: f for f in files}
    secrets: dict[Any, Any] = {}
    for relpath in entry["secret_files"]:
        f = by_path[relpath]
        documents, problems = parse_documents(f.text, f.file, f.relpath)
        found: list[Any] = []
        for doc in documents:
            if isinstance(doc.data, dict) and _holds_secret(doc):
                secrets.update(building.build_secret(doc, found))
        if problems or found:
            return None  # cannot happen for the same text; take the slow path to be sure
    ignored = tuple(
        Document(file, relpath, line, {"apiVersion": api, "kind": kind, "metadata": {"name": name}})
        for file, relpath, line, api, kind, name in entry["ignored"]
    )
    cluster = dataclasses.replace(entry["cluster"], secrets=secrets)
    return LoadedSpec(cluster=cluster, ignored=ignored, secret_files=tuple(entry["secret_files"]))


def remember(directory: str, spec: LoadedSpec) -> None:
    """Cache `spec` as what `directory` now validates to.

    For a writer that just produced the directory's content from a valid spec
    (`allocate --write`: new blocks come from the allocator, so they are valid
    by construction); the next plan or apply then starts warm.
    """
    files, issues = read_directory(directory)
    if not issues:
        store(key(directory, files), spec)
