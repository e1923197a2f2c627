"""Strict validation and defaulting of documents against the CRDs' schemas.

`netwright validate` must accept exactly what `kubectl apply --validate=strict`
accepts (less the cross-object checks only `validate` can make), so the schema
is not restated here: it is read from the CRD YAMLs in `crds/` (or the copy
shipped as package data) and compiled, once per kind, into a tree of small
closures. Validating a document walks that tree once and returns what the API
server would store: a deep copy with nulls pruned and schema defaults applied.
Then the CRDs' CEL rules run on that defaulted copy (`_cel`).

It supports the structural-schema subset our CRDs use, and refuses to compile
a schema keyword it does not know, so that a CRD can never silently mean more
to the API server than to us. Unknown fields are errors (strict), with a near
miss suggested; every message says what is wrong and what is allowed.

What it must not do: read files anywhere but the explicit loaders
(`CrdSchemas.from_directory` / `from_package`); know anything about a kind
beyond its CRD (cross-object and semantic checks live in the rest of
`netwright.validate`); stop at the first problem.

This module reads the CRDs and runs a document through its kind's tree; the
tree is compiled by `_schema_nodes`, with the value checks of `_schema_values`,
the envelope and ObjectMeta of `_schema_meta`, and the messages of
`_schema_issues`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from netwright.model.spec import GROUP_VERSION
from netwright.validate import _cel
from netwright.validate._schema_issues import CrdSchemaError, Ctx, SchemaIssue, type_error
from netwright.validate._schema_meta import check_metadata, constant_check
from netwright.validate._schema_nodes import compile_node

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Mapping
    from importlib.resources.abc import Traversable

__all__ = ["CrdSchemaError", "CrdSchemas", "SchemaIssue"]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _served_version(crd: Mapping[str, Any]) -> Mapping[str, Any]:
    version = GROUP_VERSION.partition("/")[2]
    for v in crd.get("spec", {}).get("versions", ()):
        if v.get("name") == version:
            return dict(v)
    raise CrdSchemaError(f"CRD {crd.get('metadata', {}).get('name')}: no version {version}")


def _compile_kind(crd: Mapping[str, Any]) -> tuple[str, Callable[[Any, str, Ctx], Any]]:
    spec = crd.get("spec", {})
    kind = str(spec.get("names", {}).get("kind", ""))
    if not kind or spec.get("group") != GROUP_VERSION.partition("/")[0]:
        name = crd.get("metadata", {}).get("name")
        raise CrdSchemaError(f"CRD {name}: not a {GROUP_VERSION} kind")
    schema = _served_version(crd).get("schema", {}).get("openAPIV3Schema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise CrdSchemaError(f"CRD for {kind}: openAPIV3Schema must be an object schema")
    # The root is an object like any other, except that apiVersion, kind and
    # metadata are checked the way the API server checks them.
    root_schema = dict(schema)
    properties = {
        k: v
        for k, v in (schema.get("properties") or {}).items()
        if k not in {"apiVersion", "kind", "metadata"}
    }
    root_schema["properties"] = properties
    root_schema["required"] = [
        r for r in schema.get("required", ()) if r not in {"apiVersion", "kind", "metadata"}
    ]
    return kind, _compile_root(root_schema, GROUP_VERSION, kind)


def _compile_root(
    root_schema: Mapping[str, Any], group_version: str, kind: str
) -> Callable[[Any, str, Ctx], Any]:
    """A document's check: `root_schema` for its body, and the envelope as the API server
    checks it (apiVersion, kind, ObjectMeta)."""
    body = compile_node(root_schema, "")
    api_version = constant_check(group_version, "served apiVersion")
    kind_check = constant_check(kind, "kind of this schema")
    envelope = {"apiVersion": api_version, "kind": kind_check, "metadata": check_metadata}

    def root(value: Any, path: str, ctx: Ctx) -> Any:
        if not isinstance(value, dict):
            ctx.add_broken(path, type_error("a map", value))
            return value
        head: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for key, item in value.items():
            if key in envelope:
                head[key] = envelope[key](item, key, ctx)
            else:
                rest[key] = item
        for key in envelope:
            if key not in head:
                ctx.add(key, f"required field `{key}` is missing")
        head.update(body.check(rest, path, ctx))
        return head

    return root


# The two core/v1 kinds a spec directory holds, with the fields netwright reads typed
# (docs/api.md#node-v1, docs/api.md#secret-v1); the rest is preserved as the API
# server would, but must be JSON.
_STRING: Final = {"type": "string"}
_V1_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "Node": {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "status": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "addresses": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["type", "address"],
                            "properties": {"type": _STRING, "address": _STRING},
                        },
                    }
                },
            },
        },
    },
    "Secret": {
        "type": "object",
        "properties": {
            "type": _STRING,
            "immutable": {"type": "boolean"},
            "data": {"type": "object", "additionalProperties": _STRING},
            "stringData": {"type": "object", "additionalProperties": _STRING},
        },
    },
}


class CrdSchemas:
    """The compiled schemas of netwright's kinds, read from the CRD YAMLs."""

    def __init__(self, crds: Iterable[Mapping[str, Any]]) -> None:
        self._kinds: dict[str, Callable[[Any, str, Ctx], Any]] = {}
        self._core = {
            kind: _compile_root(schema, "v1", kind) for kind, schema in _V1_SCHEMAS.items()
        }
        for crd in crds:
            kind, compiled = _compile_kind(crd)
            if kind in self._kinds:
                raise CrdSchemaError(f"two CRDs define kind {kind}")
            self._kinds[kind] = compiled

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> CrdSchemas:
        """From YAML texts; documents other than CustomResourceDefinitions are skipped."""
        crds = [
            doc
            for text in texts
            for doc in yaml.load_all(text, Loader=_Loader)
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
        ]
        return cls(crds)

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> CrdSchemas:
        """From `*.yaml` in a directory, such as the checkout's `crds/`."""
        return cls.from_texts(
            p.read_text(encoding="utf-8") for p in sorted(Path(path).glob("*.yaml"))
        )

    @classmethod
    def from_package(cls) -> CrdSchemas:
        """From the copy shipped as package data (`netwright/data/crds/`)."""
        folder: Traversable = resources.files("netwright").joinpath("data", "crds")
        files = sorted(
            (f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name
        )
        return cls.from_texts(f.read_text(encoding="utf-8") for f in files)

    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(self._kinds))

    def validate(self, kind: str, document: Any) -> tuple[dict[str, Any], list[SchemaIssue]]:
        """Check one document of `kind`; return it defaulted, and every problem found.

        The CEL rules run on the defaulted document, on each subtree that has
        the shape its schema promises (see `Ctx`).
        """
        try:
            root = self._kinds[kind]
        except KeyError:
            raise KeyError(f"no CRD for kind {kind!r}; known: {', '.join(self.kinds())}") from None
        return self._run(root, document)

    def validate_core(self, kind: str, document: Any) -> tuple[dict[str, Any], list[SchemaIssue]]:
        """Check a core/v1 Node or Secret: its envelope, ObjectMeta, the fields netwright reads."""
        return self._run(self._core[kind], document)

    @staticmethod
    def _run(
        root: Callable[[Any, str, Ctx], Any], document: Any
    ) -> tuple[dict[str, Any], list[SchemaIssue]]:
        ctx = Ctx()
        out = root(document, "", ctx)
        for rules, value, path in ctx.pending:
            ctx.issues.extend(
                SchemaIssue(v.path, v.message) for v in _cel.evaluate(rules, value, path)
            )
        return (out if isinstance(out, dict) else {}), ctx.issues
