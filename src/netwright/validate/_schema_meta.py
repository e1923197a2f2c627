"""The envelope of a document, checked the way the API server checks it.

`metadata` is ObjectMeta, not part of any CRD's schema: names, namespaces,
label and annotation keys and values follow Kubernetes' own rules, which are
restated here. `apiVersion` and `kind` must be the schema's own.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from netwright.validate._cel import show
from netwright.validate._schema_issues import Ctx, child, describe, json_value, suggest, type_error
from netwright.validate._schema_values import DNS_LABEL, DNS_SUBDOMAIN

if TYPE_CHECKING:
    from collections.abc import Callable


_NAME = re.compile(DNS_SUBDOMAIN)
_LABEL_NAME = re.compile(DNS_LABEL)
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_META_FIELDS: Final = frozenset(
    {
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
        "annotations", "ownerReferences", "finalizers", "managedFields",
    }
)  # fmt: skip


def _key_problem(key: str) -> str | None:
    """Kubernetes' qualified-name rule for label and annotation keys."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _NAME.fullmatch(prefix)):
        return f"the prefix of `{key}` must be a lowercase DNS subdomain"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return (
            f"`{key}` is not a valid key: the name part must be 1 to 63 letters, digits, "
            "`-`, `_` or `.`, starting and ending with a letter or digit"
        )
    return None


def _string_map(value: Any, path: str, ctx: Ctx, *, labels: bool) -> dict[str, str] | Any:
    if not isinstance(value, dict):
        ctx.add_broken(path, type_error("a map of strings", value))
        return value
    out: dict[str, str] = {}
    for key, item in value.items():
        where = f"{path}[{key}]"
        if not isinstance(key, str):
            ctx.add(where, f"keys must be strings, got {describe(key)}")
            continue
        problem = _key_problem(key)
        if problem is not None:
            ctx.add(where, problem)
        if not isinstance(item, str):
            ctx.add_broken(where, type_error("a string", item))
            continue
        if labels and (len(item) > 63 or not _LABEL_VALUE.fullmatch(item)):
            ctx.add(
                where,
                f"{show(item)} is not a valid label value: at most 63 letters, digits, "
                "`-`, `_` or `.`, starting and ending with a letter or digit",
            )
        out[key] = item
    return out


def check_metadata(value: Any, path: str, ctx: Ctx) -> Any:
    if not isinstance(value, dict):
        ctx.add_broken(path, type_error("a map", value))
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        where = child(path, str(key))
        if key == "name":
            if not isinstance(item, str):
                ctx.add_broken(where, type_error("a string", item))
            elif len(item) > 253 or not _NAME.fullmatch(item):
                ctx.add(
                    where,
                    f"{show(item)} is not a valid name: a lowercase DNS subdomain of at most "
                    "253 characters (a-z, 0-9, `-` and `.`, starting and ending with a "
                    "letter or digit)",
                )
            out[key] = item
        elif key in {"labels", "annotations"}:
            if item is not None:
                out[key] = _string_map(item, where, ctx, labels=key == "labels")
        elif key == "namespace":
            if not isinstance(item, str):
                ctx.add_broken(where, type_error("a string", item))
            elif len(item) > 63 or not _LABEL_NAME.fullmatch(item):
                ctx.add(
                    where,
                    f"{show(item)} is not a valid namespace: a lowercase DNS label of at most "
                    "63 characters (a-z, 0-9 and `-`, starting and ending with a letter or digit)",
                )
            out[key] = item
        elif key in _META_FIELDS:
            out[key] = json_value(item, where, ctx)
        else:
            ctx.add(where, suggest(str(key), _META_FIELDS))
    if "name" not in out:
        ctx.add(child(path, "name"), "required field `name` is missing; expected a string")
    return out


def constant_check(expected: str, what: str) -> Callable[[Any, str, Ctx], Any]:
    def check(value: Any, path: str, ctx: Ctx) -> Any:
        if value != expected:
            ctx.add(path, f"{show(value)} is not the {what}; expected `{expected}`")
        return value

    return check
