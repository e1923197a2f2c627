"""Compile one CRD schema into a tree of small closures.

Each schema node becomes a `SchemaNode` whose `check` takes a value and its
path, records problems, and returns the value as the API server would store it
(nulls pruned, defaults applied). A keyword this compiler does not know is a
`CrdSchemaError` at compile time, never a silently ignored rule. CEL rules are
queued on the run (`Ctx.pending`) and evaluated later, on the defaulted value.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from netwright.validate import _cel
from netwright.validate._cel import show
from netwright.validate._schema_issues import (
    INT64_MAX,
    INT64_MIN,
    CrdSchemaError,
    Ctx,
    beyond_int64,
    child,
    describe,
    json_key,
    json_value,
    suggest,
    type_error,
    yaml_time_text,
)
from netwright.validate._schema_values import ValueCheck, value_checks

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence


MISSING: Final = object()


@dataclass(frozen=True, slots=True)
class SchemaNode:
    """One compiled schema node. `check` takes a value and its path, records
    issues, and returns the value as the API server would store it (a new
    container, nulls pruned, defaults applied)."""

    check: Callable[[Any, str, Ctx], Any]
    expected: str  # "a string", for messages
    nullable: bool
    default: Any  # MISSING when there is none


_KNOWN_KEYWORDS: Final = frozenset(
    {
        "type", "description", "title", "example", "properties", "required", "items", "enum",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
        "minItems", "maxItems", "pattern", "format", "nullable", "default",
        "additionalProperties", "anyOf", "x-kubernetes-int-or-string",
        "x-kubernetes-preserve-unknown-fields", "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "x-kubernetes-validations",
    }
)  # fmt: skip


_EXPECTED: Final = {
    "object": "a map",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
}


def _with_checks(
    type_check: Callable[[Any, str, Ctx], tuple[bool, Any]],
    checks: Sequence[ValueCheck],
) -> Callable[[Any, str, Ctx], Any]:
    if not checks:

        def plain(value: Any, path: str, ctx: Ctx) -> Any:
            return type_check(value, path, ctx)[1]

        return plain

    def checked(value: Any, path: str, ctx: Ctx) -> Any:
        ok, value = type_check(value, path, ctx)
        if ok:
            for test, breaks in checks:
                message = test(value)
                if message is not None:
                    if breaks:
                        ctx.add_broken(path, message)
                    else:
                        ctx.add(path, message)
        return value

    return checked


def _string_type(value: Any, path: str, ctx: Ctx) -> tuple[bool, Any]:
    if isinstance(value, str):
        return True, value
    if isinstance(value, dt.date):
        return True, yaml_time_text(value)
    ctx.add_broken(path, type_error("a string", value))
    return False, value


def _integer_type(value: Any, path: str, ctx: Ctx) -> tuple[bool, Any]:
    if type(value) is int:
        return True, value
    if type(value) is float and value.is_integer():
        return True, int(value)
    ctx.add_broken(path, type_error("an integer", value))
    return False, value


def _number_type(value: Any, path: str, ctx: Ctx) -> tuple[bool, Any]:
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return True, value
    if type(value) is float:
        ctx.add_broken(path, f"{value} is not a JSON number; expected a finite number")
        return False, value
    ctx.add_broken(path, type_error("a number", value))
    return False, value


def _int64(
    type_check: Callable[[Any, str, Ctx], tuple[bool, Any]], schema: Mapping[str, Any]
) -> Callable[[Any, str, Ctx], tuple[bool, Any]]:
    """`type_check`, refusing integers beyond 64 bits as a wrong type: CEL cannot hold them."""

    def check(value: Any, path: str, ctx: Ctx) -> tuple[bool, Any]:
        ok, value = type_check(value, path, ctx)
        if ok and type(value) is int and not INT64_MIN <= value <= INT64_MAX:
            ctx.add_broken(path, beyond_int64(value, schema))
            return False, value
        return ok, value

    return check


def _boolean_type(value: Any, path: str, ctx: Ctx) -> tuple[bool, Any]:
    if type(value) is bool:
        return True, value
    ctx.add_broken(path, type_error(_EXPECTED["boolean"], value))
    return False, value


def _int_or_string_type(value: Any, path: str, ctx: Ctx) -> tuple[bool, Any]:
    if type(value) is int or isinstance(value, str):
        return True, value
    if type(value) is float and value.is_integer():
        return True, int(value)
    ctx.add_broken(path, type_error("an integer or a string", value))
    return False, value


_SCALAR_TYPES: Final = {
    "string": _string_type,
    "integer": _integer_type,
    "number": _number_type,
    "boolean": _boolean_type,
}


def compile_node(schema: Mapping[str, Any], where: str) -> SchemaNode:
    if not isinstance(schema, dict):
        raise CrdSchemaError(f"{where or '<root>'}: a schema must be a map")
    unknown = set(schema) - _KNOWN_KEYWORDS
    if unknown:
        raise CrdSchemaError(f"{where or '<root>'}: unsupported schema keywords {sorted(unknown)}")
    rules = tuple(_cel.CelRule.from_schema(r) for r in schema.get("x-kubernetes-validations", ()))
    offline_rules = tuple(r for r in rules if not r.is_transition)
    kind = schema.get("type")
    int_or_string = bool(schema.get("x-kubernetes-int-or-string"))
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    try:
        if int_or_string:
            expected = "an integer or a string"
            check = _with_checks(_int64(_int_or_string_type, schema), value_checks(schema))
        elif kind == "object" or (kind is None and preserve):
            expected = _EXPECTED["object"]
            check = _object(schema, where, offline_rules)
            offline_rules = ()  # the object check queues its own rules
        elif kind == "array":
            expected = _EXPECTED["array"]
            check = _array(schema, where)
        elif isinstance(kind, str) and kind in _SCALAR_TYPES:  # a malformed `type` may be a list
            expected = _EXPECTED[kind]
            type_check: Callable[[Any, str, Ctx], tuple[bool, Any]] = _SCALAR_TYPES[kind]
            if kind == "integer":
                type_check = _int64(type_check, schema)
            check = _with_checks(type_check, value_checks(schema))
        else:
            raise CrdSchemaError(f"{where or '<root>'}: type {kind!r} is not structural")
    except re.error as exc:
        raise CrdSchemaError(f"{where}: bad pattern: {exc}") from exc
    if offline_rules:
        check = _queue_rules(check, offline_rules)
    return SchemaNode(
        check=check,
        expected=expected,
        nullable=bool(schema.get("nullable")),
        default=copy.deepcopy(schema["default"]) if "default" in schema else MISSING,
    )


def _queue_rules(
    check: Callable[[Any, str, Ctx], Any], rules: tuple[_cel.CelRule, ...]
) -> Callable[[Any, str, Ctx], Any]:
    """Run a node's CEL rules later, on its defaulted value, if it has the promised shape."""

    def queued(value: Any, path: str, ctx: Ctx) -> Any:
        before = ctx.broken
        value = check(value, path, ctx)
        if ctx.broken == before:
            ctx.pending.append((rules, value, path))
        return value

    return queued


def _object(
    schema: Mapping[str, Any], where: str, rules: tuple[_cel.CelRule, ...]
) -> Callable[[Any, str, Ctx], Any]:
    props: dict[str, SchemaNode] = {
        name: compile_node(sub, child(where, name))
        for name, sub in (schema.get("properties") or {}).items()
    }
    required = tuple(schema.get("required", ()))
    for name in required:
        if name not in props:
            raise CrdSchemaError(f"{where}: required field `{name}` has no schema")
    defaults = tuple((name, node) for name, node in props.items() if node.default is not MISSING)
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    additional = schema.get("additionalProperties")
    if additional is not None and props:
        raise CrdSchemaError(f"{where}: properties and additionalProperties are exclusive")
    if isinstance(additional, bool):
        raise CrdSchemaError(f"{where}: additionalProperties must be a schema")
    values = compile_node(additional, f"{where}[*]") if additional is not None else None
    allowed = tuple(props)

    def check(value: Any, path: str, ctx: Ctx) -> Any:
        if not isinstance(value, dict):
            ctx.add_broken(path, type_error("a map", value))
            return value
        before = ctx.broken
        out: dict[str, Any] = {}
        for key, item in value.items():
            node = props.get(key)
            if node is not None:
                if item is None and not node.nullable:
                    continue  # pruned, as the API server does before defaulting
                out[key] = item if item is None else node.check(item, child(path, key), ctx)
            elif values is not None:
                if not isinstance(key, str):
                    ctx.add(f"{path}[{key}]", f"keys must be strings, got {describe(key)}")
                    continue
                out[key] = values.check(item, f"{path}[{key}]", ctx)
            elif preserve:
                name = json_key(key)
                if name is None:
                    ctx.add_broken(f"{path}[{key}]", f"keys must be strings, got {describe(key)}")
                    continue
                out[name] = json_value(item, child(path, name), ctx)
            else:
                ctx.add(child(path, str(key)), suggest(str(key), allowed))
        for key, node in defaults:
            if key not in out:
                out[key] = node.check(node.default, child(path, key), ctx)
        for key in required:
            if key not in out:
                ctx.add_broken(
                    child(path, key),
                    f"required field `{key}` is missing; expected {props[key].expected}",
                )
        if rules and ctx.broken == before:
            ctx.pending.append((rules, out, path))
        return out

    return check


def _array(schema: Mapping[str, Any], where: str) -> Callable[[Any, str, Ctx], Any]:
    if "items" not in schema:
        raise CrdSchemaError(f"{where}: an array needs `items`")
    items = compile_node(schema["items"], f"{where}[*]")
    min_items = schema.get("minItems")
    max_items = schema.get("maxItems")
    list_type = schema.get("x-kubernetes-list-type", "atomic")
    map_keys = tuple(schema.get("x-kubernetes-list-map-keys", ()))
    if list_type not in {"atomic", "set", "map"}:
        raise CrdSchemaError(f"{where}: x-kubernetes-list-type {list_type!r} is not supported")
    if list_type == "map" and not map_keys:
        raise CrdSchemaError(f"{where}: a map list needs x-kubernetes-list-map-keys")
    item_check = items.check

    def check(value: Any, path: str, ctx: Ctx) -> Any:
        if not isinstance(value, list):
            ctx.add_broken(path, type_error("a list", value))
            return value
        if min_items is not None and len(value) < min_items:
            ctx.add(path, f"has {len(value)} items, fewer than {min_items}, the minimum")
        if max_items is not None and len(value) > max_items:
            ctx.add(path, f"has {len(value)} items, more than {max_items}, the maximum")
        out = [item_check(item, f"{path}[{i}]", ctx) for i, item in enumerate(value)]
        if list_type == "set":
            seen: set[str] = set()
            for i, item in enumerate(out):
                marker = repr(item)
                if marker in seen:
                    ctx.add(f"{path}[{i}]", f"duplicate entry {show(item)}; entries must be unique")
                seen.add(marker)
        elif list_type == "map":
            seen_keys: set[str] = set()
            for i, item in enumerate(out):
                if not isinstance(item, dict):
                    continue
                marker = repr(tuple(item.get(k) for k in map_keys))
                if marker in seen_keys:
                    named = ", ".join(f"{k}={show(item.get(k))}" for k in map_keys)
                    ctx.add(
                        f"{path}[{i}]",
                        f"duplicate entry with {named}; {'/'.join(map_keys)} must be unique",
                    )
                seen_keys.add(marker)
        return out

    return check
