"""Validate a spec directory into a `ClusterSpec`, or list every problem in it.

The order is fixed: read every file, sort documents by kind, check each
netwright document against its CRD's own schema and CEL rules (defaults
applied, strictly: unknown fields are errors), build the model, then run the
cross-object checks. Problems from every stage are collected, never raised one
by one, and a document that failed its schema is left out of the later checks
so one mistake is not reported three times.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netwright.errors import Issue, ValidationError
from netwright.model.spec import API_GROUP, API_VERSION, GROUP_VERSION, ClusterSpec
from netwright.validate import building, caching
from netwright.validate.checks import check_cluster
from netwright.validate.document import Document, LoadedSpec, Located
from netwright.validate.parsing import parse_files
from netwright.validate.reading import read_directory

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from netwright.validate._schema import CrdSchemas

#: Kinds a spec directory describes, and how each becomes a model value.
_BUILDERS: dict[str, Callable[[Document, list[Issue]], Any]] = {
    "Backend": building.build_backend,
    "IPPool": building.build_pool,
    "Network": building.build_network,
    "BGPPeer": building.build_peer,
    "IPBlock": building.build_block,
}
#: Managed kinds that only the operator writes; a spec directory may carry them (an export).
_MANAGED_ONLY = frozenset({"NodeNetworkConfig"})


@dataclass(slots=True)
class _Collected:
    objects: dict[str, list[Any]] = field(default_factory=dict)
    docs: dict[tuple[str, str], Document] = field(default_factory=dict)
    ignored: list[Document] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    #: Kind/name of documents that failed on their own: references to them are not new problems.
    invalid: set[tuple[str, str]] = field(default_factory=set)
    #: Relative paths of the files that hold Secret documents.
    secret_files: set[str] = field(default_factory=set)


def _schemas() -> CrdSchemas:
    from netwright.validate._schema import CrdSchemas  # noqa: PLC0415 - loaded once, at the edge

    return CrdSchemas.from_package()


def _claim_name(found: _Collected, kind: str, doc: Document) -> bool:
    """Record `Kind/name`; a second document with the same name is an issue."""
    key = (kind, doc.name)
    first = found.docs.setdefault(key, doc)
    if first is doc:
        return True
    found.issues.append(
        doc.issue(
            "metadata.name",
            f"{kind}/{doc.name} is defined twice; first at {first.file}:{first.line}",
            kind=kind,
        )
    )
    return False


_CORE_KINDS = ("Node", "Secret")


def _reads(doc: Document, crd_kinds: set[str]) -> bool:
    """Whether netwright reads this document (else it belongs to another API group)."""
    api_version, kind = doc.api_version, doc.kind
    if api_version == "v1" and kind in _CORE_KINDS:
        return True
    if api_version.split("/")[0] == API_GROUP:
        return True
    return not api_version and kind in crd_kinds


def _parse_problems(found: _Collected, doc: Document, crd_kinds: set[str]) -> bool:
    """Report what parsing found wrong with the document; True when it must be left out.

    Alias bombs (document-wide, no path) are reported in every document; duplicate
    keys only where netwright reads the document, as other tools may allow them.
    """
    reads = not isinstance(doc.data, dict) or _reads(doc, crd_kinds)
    problems = [p for p in doc.problems if reads or not p[0]]
    if not problems:
        return False
    found.issues.extend(doc.issue(path, message, line=line) for path, message, line in problems)
    found.invalid.add((doc.kind, doc.name))
    return True


def _missing_api_version(doc: Document, crd_kinds: set[str]) -> Issue | None:
    """A document of a netwright or core kind without a usable apiVersion."""
    raw = doc.data.get("apiVersion")
    if isinstance(raw, str) and raw:
        return None
    kind = doc.kind
    if kind in crd_kinds:
        expected = GROUP_VERSION
    elif kind in _CORE_KINDS:
        expected = "v1"
    else:
        return None
    if raw is None or raw == "":
        return doc.issue(
            "apiVersion", f"required field `apiVersion` is missing; kind {kind} is `{expected}`"
        )
    return doc.issue(
        "apiVersion", f"expected a string, got a {type(raw).__name__}; kind {kind} is `{expected}`"
    )


def _collect_core(found: _Collected, doc: Document, schemas: CrdSchemas) -> None:
    """A v1 Node or Secret, checked as the API server checks it, then built."""
    kind = doc.kind
    checked, problems = schemas.validate_core(kind, doc.data)
    if problems:
        found.issues.extend(doc.issue(p.path, p.message) for p in problems)
        found.invalid.add((kind, doc.name))
        return
    if not _claim_name(found, kind, doc):
        return
    clean = Document(doc.file, doc.relpath, doc.line, checked, doc.node)
    if kind == "Node":
        node = building.build_node(clean, found.issues)
        if node is not None:
            found.objects["Node"].append(node)
        else:
            found.invalid.add((kind, doc.name))
    else:
        before = len(found.issues)
        secrets = building.build_secret(clean, found.issues)
        if len(found.issues) != before:
            found.invalid.add((kind, doc.name))
        found.objects["Secret"].extend(secrets)
        found.secret_files.add(doc.relpath)


def _collect(documents: Sequence[Document], schemas: CrdSchemas) -> _Collected:
    found = _Collected(objects={k: [] for k in (*_BUILDERS, *_CORE_KINDS)})
    crd_kinds = set(schemas.kinds())
    for doc in documents:
        if doc.problems and _parse_problems(found, doc, crd_kinds):
            continue
        if not isinstance(doc.data, dict):
            found.issues.append(
                doc.issue("", f"a document must be a mapping, not {type(doc.data).__name__}")
            )
            continue
        missing = _missing_api_version(doc, crd_kinds)
        if missing is not None:
            found.issues.append(missing)
            found.invalid.add((doc.kind, doc.name))
            continue
        api_version, kind = doc.api_version, doc.kind
        if api_version == "v1" and kind in _CORE_KINDS:
            _collect_core(found, doc, schemas)
            continue
        if api_version.split("/")[0] != API_GROUP:
            found.ignored.append(doc)
            continue
        if api_version != GROUP_VERSION:
            found.issues.append(
                doc.issue(
                    "apiVersion",
                    f"{api_version} is not served; netwright speaks {API_GROUP}/{API_VERSION}",
                )
            )
            continue
        if kind not in crd_kinds:
            found.issues.append(
                doc.issue(
                    "kind",
                    f"{kind!r} is not a netwright kind; known: {', '.join(sorted(crd_kinds))}",
                )
            )
            continue
        defaulted, problems = schemas.validate(kind, doc.data)
        if problems:
            found.issues.extend(doc.issue(p.path, p.message) for p in problems)
            found.invalid.add((kind, doc.name))
            continue
        if kind in _MANAGED_ONLY:
            found.ignored.append(doc)
            continue
        if not _claim_name(found, kind, doc):
            continue
        built = _BUILDERS[kind](
            Document(doc.file, doc.relpath, doc.line, defaulted, doc.node), found.issues
        )
        if built is not None:
            found.objects[kind].append(built)
        else:
            found.invalid.add((kind, doc.name))
    return found


def validate_documents(
    documents: Sequence[Document], schemas: CrdSchemas | None = None
) -> tuple[LoadedSpec | None, list[Issue]]:
    """The cluster the documents describe, or every problem with them."""
    found = _collect(documents, schemas or _schemas())
    cluster = ClusterSpec(
        nodes=tuple(found.objects["Node"]),
        backends=tuple(found.objects["Backend"]),
        pools=tuple(found.objects["IPPool"]),
        networks=tuple(found.objects["Network"]),
        peers=tuple(found.objects["BGPPeer"]),
        blocks=tuple(found.objects["IPBlock"]),
        secrets=dict(found.objects["Secret"]),
    )
    located = Located(found.docs, frozenset(found.invalid))
    issues = found.issues + check_cluster(cluster, located)
    if issues:
        # Files in directory order, lines in file order: the way a reader fixes them.
        order = {doc.file: i for i, doc in enumerate(documents)}
        issues.sort(key=lambda i: (order.get(i.file, -1), i.line))
        return None, issues
    return LoadedSpec(
        cluster=cluster,
        ignored=tuple(found.ignored),
        secret_files=tuple(sorted(found.secret_files)),
    ), []


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many long-lived objects.

    Loading keeps every document's YAML node tree (for field lines): at 10,000
    nodes that is millions of live containers, and each generation-2 collection
    walks them all, which made loading 2.7x slower and superlinear (measured
    with benchmarks/bench_core.py). Nothing built here is garbage until the
    load ends, so collecting during it only costs time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_spec(directory: str, schemas: CrdSchemas | None = None) -> LoadedSpec:
    """Load and validate a spec directory; raise `ValidationError` listing every problem.

    An unchanged directory that validated before comes from the cache
    (`validate.caching`); custom `schemas` bypass it.
    """
    files, issues = read_directory(directory)
    usable = schemas is None and not issues and caching.enabled()
    cache_key = caching.key(directory, files) if usable else None
    if cache_key is not None:
        cached = caching.load(cache_key, files)
        if cached is not None:
            return cached
    with _gc_paused():
        documents, problems = parse_files(files)
        spec, invalid = validate_documents(documents, schemas)
        # Free the YAML node trees while the collector still sleeps: re-enabled
        # with them alive, its first full collection walks them all (1-2 s at
        # 10,000 nodes, measured), only to find nothing to collect.
        del documents
    issues += problems + invalid
    if issues or spec is None:
        raise ValidationError(issues)
    if cache_key is not None:
        caching.store(cache_key, spec)
    return spec
