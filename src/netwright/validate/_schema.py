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
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import ipaddress
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import yaml

from netwright.model.spec import GROUP_VERSION
from netwright.validate import _cel

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from importlib.resources.abc import Traversable

__all__ = ["CrdSchemaError", "CrdSchemas", "SchemaIssue"]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """One problem: the field's path (`spec.vxlan.vni`, `spec.reserved[1]`) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class CrdSchemaError(ValueError):
    """A CRD uses something this validator does not support, or is malformed."""


# --- the compiled tree ---------------------------------------------------------------------------


class _Ctx:
    """What one validation run collects: issues, and CEL rules to run later.

    `broken` counts the problems that leave a value without the shape its
    schema promises (a wrong type, a missing required field, a value outside
    its enum). A node's CEL
    rules run only when its subtree has none: a rule reading a field of the
    wrong type could only fail to evaluate. Other problems (a value out of
    range, not in an enum) do not stop the rules, so all problems are
    reported at once, as the API server reports them.
    """

    __slots__ = ("broken", "issues", "pending")

    def __init__(self) -> None:
        self.issues: list[SchemaIssue] = []
        self.pending: list[tuple[tuple[_cel.CelRule, ...], Any, str]] = []
        self.broken = 0

    def add(self, path: str, message: str) -> None:
        self.issues.append(SchemaIssue(path, message))

    def add_broken(self, path: str, message: str) -> None:
        self.broken += 1
        self.issues.append(SchemaIssue(path, message))


_MISSING: Final = object()


@dataclass(frozen=True, slots=True)
class _Node:
    """One compiled schema node. `check` takes a value and its path, records
    issues, and returns the value as the API server would store it (a new
    container, nulls pruned, defaults applied)."""

    check: Callable[[Any, str, _Ctx], Any]
    expected: str  # "a string", for messages
    nullable: bool
    default: Any  # _MISSING when there is none


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
# Inside anyOf only value validations are structural (no type, default, properties...).
_ANYOF_KEYWORDS: Final = frozenset(
    {
        "description", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "minLength", "maxLength", "pattern", "format",
    }
)  # fmt: skip
# Formats with no validation in Kubernetes either (they only describe the number).
_DESCRIPTIVE_FORMATS: Final = frozenset({"int32", "int64", "float", "double"})

_EXPECTED: Final = {
    "object": "a map",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
}

_DNS_SUBDOMAIN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS_LABEL: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Patterns are cryptic; the ones we use often are explained in words instead.
_PATTERN_HINTS: Final = {
    _DNS_SUBDOMAIN: "must be a lowercase DNS subdomain (a-z, 0-9, `-` and `.`, "
    "starting and ending with a letter or digit)",
    _DNS_LABEL: "must be a lowercase DNS label (a-z, 0-9 and `-`, "
    "starting and ending with a letter or digit)",
    "^[A-Za-z0-9_.-]+$": "must be an interface name (letters, digits, `_`, `.` and `-`)",
    r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$": "must be a MAC address like 0e:6e:0a:00:00:01",
}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"the integer {_show(value)}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {_show(value)}"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dt.date):  # YAML reads an unquoted 2020-01-01 as a date
        return f"the date {_yaml_time_text(value)}"
    if isinstance(value, bytes):
        return "binary data (!!binary)"
    if isinstance(value, set | frozenset):
        return "a set (!!set)"
    return f"a {type(value).__name__}"


#: What the Kubernetes API stores an integer in (`int64`); YAML integers have no bound.
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_INT64_RANGE: Final = f"a 64-bit integer ({_INT64_MIN} to {_INT64_MAX})"


def _beyond_int64(value: int, schema: Mapping[str, Any]) -> str:
    """Why an integer outside int64 is refused, in the words of the field's own range."""
    hi, lo = schema.get("maximum"), schema.get("minimum")
    if hi is not None and value > hi:
        return f"{_show(value)} is larger than {hi}, the maximum"
    if lo is not None and value < lo:
        return f"{_show(value)} is smaller than {lo}, the minimum"
    return f"{_show(value)} does not fit in {_INT64_RANGE}"


_JSON_VALUE: Final = "a JSON value (a string, number, boolean, null, list or map)"


def _json_key(key: Any) -> str | None:
    """A map key as `kubectl` turns it into JSON (YAML allows keys of any type)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if type(key) is int or (type(key) is float and math.isfinite(key)):
        return str(key)
    return None


def _json_value(value: Any, path: str, ctx: _Ctx) -> Any:
    """A copy of a value the schema does not describe (preserved unknown fields,
    metadata), refusing what the Kubernetes API cannot store: integers beyond
    64 bits, infinities, NaN, binary data, sets."""
    if value is None or isinstance(value, bool | str):
        return value
    if type(value) is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            ctx.add_broken(path, f"{_show(value)} does not fit in {_INT64_RANGE}")
        return value
    if type(value) is float:
        if not math.isfinite(value):
            ctx.add_broken(path, f"{value} is not a JSON number; infinity and NaN cannot be stored")
        return value
    if isinstance(value, dt.date):
        return _yaml_time_text(value)
    if isinstance(value, list):
        return [_json_value(item, f"{path}[{i}]", ctx) for i, item in enumerate(value)]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _json_key(key)
            if name is None:
                ctx.add_broken(f"{path}[{key}]", f"keys must be strings, got {_describe(key)}")
                continue
            out[name] = _json_value(item, _child(path, name), ctx)
        return out
    ctx.add_broken(path, f"expected {_JSON_VALUE}, got {_describe(value)}")
    return value


_show = _cel.show  # one way to quote a value in every message


def _type_error(expected: str, value: Any) -> str:
    message = f"expected {expected}, got {_describe(value)}"
    if expected == "a string" and isinstance(value, bool | int | float):
        message += "; quote it in YAML to make it a string"
    return message


def _yaml_time_text(value: dt.date) -> str:
    """YAML (1.1) turns unquoted timestamps into dates; JSON, and so kubectl, keeps the text."""
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        if value.utcoffset() == dt.timedelta(0):
            return text.removesuffix("+00:00") + "Z"
        return text
    return value.isoformat()


def _suggest(key: str, allowed: Iterable[str]) -> str:
    names = sorted(allowed)
    folded = {n.lower(): n for n in names}
    match = folded.get(key.lower())
    if match is None:
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        match = close[0] if close else None
    if match is not None:
        return f"unknown field `{key}`; did you mean `{match}`?"
    if not names:
        return f"unknown field `{key}`; no fields are allowed here"
    return f"unknown field `{key}`; allowed: " + ", ".join(f"`{n}`" for n in names)


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- value checks (type already right) ------------------------------------------------------------


class _ValueCheck(NamedTuple):
    """A check on a value whose type is right: a message when it is refused.

    `breaks`: a refused value leaves the node without its promised shape, so
    the CEL rules above it are not run (see `_Ctx`). True for enums: a value
    outside one is a discriminator gone wrong (`type: vxlan2`), and every rule
    reading it would only add noise.
    """

    test: Callable[[Any], str | None]
    breaks: bool = False


# A leading zero in a dotted IPv4 part (`010.1.1.1`), which Kubernetes' formats accept.
_LEADING_ZERO = re.compile(r"(^|[.:])0+(?=[0-9])")


def _sloppy(text: str) -> str:
    """The address as Kubernetes' `ipv4`/`ipv6`/`cidr` formats read it (netutils'
    ParseIPSloppy / ParseCIDRSloppy: leading zeros in IPv4 parts allowed, zones not);
    the CRDs' CEL rules refuse the leading zeros with a message of their own."""
    if "%" in text:
        return "%"  # never an address
    return _LEADING_ZERO.sub(r"\1", text) if "." in text else text


def _format_check(fmt: str) -> Callable[[Any], str | None] | None:
    if fmt in _DESCRIPTIVE_FORMATS:
        return None
    if fmt == "cidr":

        def cidr(value: Any) -> str | None:
            # Go's net.ParseCIDR (what Kubernetes uses) wants address/prefix-length.
            _, slash, bits = value.partition("/")
            if slash and bits.isdigit() and bits.isascii():
                try:
                    ipaddress.ip_network(_sloppy(value), strict=False)
                except ValueError:
                    pass
                else:
                    return None
            return (
                f"{_show(value)} is not a valid CIDR (an address/prefix length, "
                "like 10.244.0.0/16 or fd00::/64)"
            )

        return cidr
    if fmt in {"ipv4", "ipv6"}:
        parse = ipaddress.IPv4Address if fmt == "ipv4" else ipaddress.IPv6Address
        what = _FORMAT_NAMES[fmt]

        def address(value: Any) -> str | None:
            try:
                parse(_sloppy(value))
            except ValueError:
                return f"{_show(value)} is not a valid {what}"
            return None

        return address
    if fmt == "date-time":
        rfc3339 = re.compile(
            r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
        )

        def date_time(value: Any) -> str | None:
            if rfc3339.fullmatch(value):
                try:
                    dt.datetime.fromisoformat(value.upper())
                except ValueError:
                    pass
                else:
                    return None
            return f"{_show(value)} is not an RFC 3339 date-time like 2024-05-01T12:00:00Z"

        return date_time
    raise CrdSchemaError(f"format `{fmt}` is not supported by netwright's validator")


_FORMAT_NAMES: Final = {
    "cidr": "CIDR",
    "ipv4": "IPv4 address",
    "ipv6": "IPv6 address",
    "date-time": "date-time",
}


def _value_checks(schema: Mapping[str, Any]) -> list[_ValueCheck]:
    """The checks on a value whose type is already right, in a fixed order."""
    checks: list[_ValueCheck] = []
    if "enum" in schema:
        allowed = list(schema["enum"])
        allowed_set = frozenset(allowed)
        allowed_types = frozenset(type(a) for a in allowed)
        listing = ", ".join(str(a) for a in allowed)
        str_allowed = [a for a in allowed if isinstance(a, str)]

        def enum(value: Any) -> str | None:
            if value in allowed_set and type(value) in allowed_types:
                return None
            message = f"{_show(value)} is not one of {listing}"
            if isinstance(value, str):
                folded = {a.lower(): a for a in str_allowed}
                near = folded.get(value.lower()) or next(
                    iter(difflib.get_close_matches(value, str_allowed, n=1, cutoff=0.6)), None
                )
                if near is not None:
                    message += f"; did you mean `{near}`?"
            return message

        checks.append(_ValueCheck(enum, breaks=True))
    if "minimum" in schema:
        lo = schema["minimum"]
        if schema.get("exclusiveMinimum") is True:

            def above(v: Any) -> str | None:
                if v > lo:
                    return None
                return f"{_show(v)} is not larger than {lo}, the exclusive minimum"
        else:

            def above(v: Any) -> str | None:
                return None if v >= lo else f"{_show(v)} is smaller than {lo}, the minimum"

        checks.append(_ValueCheck(above))
    if "maximum" in schema:
        hi = schema["maximum"]
        if schema.get("exclusiveMaximum") is True:

            def below(v: Any) -> str | None:
                if v < hi:
                    return None
                return f"{_show(v)} is not smaller than {hi}, the exclusive maximum"
        else:

            def below(v: Any) -> str | None:
                return None if v <= hi else f"{_show(v)} is larger than {hi}, the maximum"

        checks.append(_ValueCheck(below))
    if "minLength" in schema:
        min_len = int(schema["minLength"])

        def long_enough(v: Any) -> str | None:
            if len(v) >= min_len:
                return None
            if min_len == 1:
                return "must not be empty"
            return f"{_show(v)} is shorter than {min_len} characters, the minimum length"

        checks.append(_ValueCheck(long_enough))
    if "maxLength" in schema:
        max_len = int(schema["maxLength"])

        def short_enough(v: Any) -> str | None:
            if len(v) <= max_len:
                return None
            shown = _show(v[:20] + "..." if len(v) > 23 else v)
            return f"{shown} is {len(v)} characters long, longer than {max_len}, the maximum length"

        checks.append(_ValueCheck(short_enough))
    if "pattern" in schema:
        pattern_text = str(schema["pattern"])
        # Go's `$` (what the API server uses) matches only at the very end; Python's
        # also before a final newline, which would let `name\n` through.
        go_end = pattern_text.endswith("$") and not pattern_text.endswith("\\$")
        pattern = re.compile(pattern_text[:-1] + r"\Z" if go_end else pattern_text)
        hint = _PATTERN_HINTS.get(pattern_text, f"must match the pattern {pattern_text}")

        def matches(v: Any) -> str | None:
            return None if pattern.search(v) else f"{_show(v)} {hint}"

        checks.append(_ValueCheck(matches))
    if "format" in schema:
        fmt_check = _format_check(str(schema["format"]))
        if fmt_check is not None:
            checks.append(_ValueCheck(fmt_check))
    if "anyOf" in schema:
        checks.append(_ValueCheck(_any_of(schema["anyOf"])))
    return checks


def _any_of(branches: Sequence[Mapping[str, Any]]) -> Callable[[Any], str | None]:
    compiled: list[list[_ValueCheck]] = []
    names: list[str] = []
    for branch in branches:
        unknown = set(branch) - _ANYOF_KEYWORDS
        if unknown:
            raise CrdSchemaError(
                f"anyOf branches may hold value validations only, not {sorted(unknown)}"
            )
        compiled.append(_value_checks(branch))
        fmt = branch.get("format")
        names.append(_FORMAT_NAMES.get(str(fmt), "") if set(branch) <= {"format"} else "")

    def any_of(value: Any) -> str | None:
        failures: list[str] = []
        for checks in compiled:
            messages = [m for m in (c.test(value) for c in checks) if m is not None]
            if not messages:
                return None
            failures.append(messages[0])
        if all(names):
            return f"{_show(value)} is not a valid " + " or ".join(names)
        return " or ".join(failures)

    return any_of


# --- node compilation -----------------------------------------------------------------------------


def _with_checks(
    type_check: Callable[[Any, str, _Ctx], tuple[bool, Any]],
    checks: Sequence[_ValueCheck],
) -> Callable[[Any, str, _Ctx], Any]:
    if not checks:

        def plain(value: Any, path: str, ctx: _Ctx) -> Any:
            return type_check(value, path, ctx)[1]

        return plain

    def checked(value: Any, path: str, ctx: _Ctx) -> Any:
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


def _string_type(value: Any, path: str, ctx: _Ctx) -> tuple[bool, Any]:
    if isinstance(value, str):
        return True, value
    if isinstance(value, dt.date):
        return True, _yaml_time_text(value)
    ctx.add_broken(path, _type_error("a string", value))
    return False, value


def _integer_type(value: Any, path: str, ctx: _Ctx) -> tuple[bool, Any]:
    if type(value) is int:
        return True, value
    if type(value) is float and value.is_integer():
        return True, int(value)
    ctx.add_broken(path, _type_error("an integer", value))
    return False, value


def _number_type(value: Any, path: str, ctx: _Ctx) -> tuple[bool, Any]:
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return True, value
    if type(value) is float:
        ctx.add_broken(path, f"{value} is not a JSON number; expected a finite number")
        return False, value
    ctx.add_broken(path, _type_error("a number", value))
    return False, value


def _int64(
    type_check: Callable[[Any, str, _Ctx], tuple[bool, Any]], schema: Mapping[str, Any]
) -> Callable[[Any, str, _Ctx], tuple[bool, Any]]:
    """`type_check`, refusing integers beyond 64 bits as a wrong type: CEL cannot hold them."""

    def check(value: Any, path: str, ctx: _Ctx) -> tuple[bool, Any]:
        ok, value = type_check(value, path, ctx)
        if ok and type(value) is int and not _INT64_MIN <= value <= _INT64_MAX:
            ctx.add_broken(path, _beyond_int64(value, schema))
            return False, value
        return ok, value

    return check


def _boolean_type(value: Any, path: str, ctx: _Ctx) -> tuple[bool, Any]:
    if type(value) is bool:
        return True, value
    ctx.add_broken(path, _type_error(_EXPECTED["boolean"], value))
    return False, value


def _int_or_string_type(value: Any, path: str, ctx: _Ctx) -> tuple[bool, Any]:
    if type(value) is int or isinstance(value, str):
        return True, value
    if type(value) is float and value.is_integer():
        return True, int(value)
    ctx.add_broken(path, _type_error("an integer or a string", value))
    return False, value


_SCALAR_TYPES: Final = {
    "string": _string_type,
    "integer": _integer_type,
    "number": _number_type,
    "boolean": _boolean_type,
}


def _compile(schema: Mapping[str, Any], where: str) -> _Node:
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
            check = _with_checks(_int64(_int_or_string_type, schema), _value_checks(schema))
        elif kind == "object" or (kind is None and preserve):
            expected = _EXPECTED["object"]
            check = _object(schema, where, offline_rules)
            offline_rules = ()  # the object check queues its own rules
        elif kind == "array":
            expected = _EXPECTED["array"]
            check = _array(schema, where)
        elif isinstance(kind, str) and kind in _SCALAR_TYPES:  # a malformed `type` may be a list
            expected = _EXPECTED[kind]
            type_check: Callable[[Any, str, _Ctx], tuple[bool, Any]] = _SCALAR_TYPES[kind]
            if kind == "integer":
                type_check = _int64(type_check, schema)
            check = _with_checks(type_check, _value_checks(schema))
        else:
            raise CrdSchemaError(f"{where or '<root>'}: type {kind!r} is not structural")
    except re.error as exc:
        raise CrdSchemaError(f"{where}: bad pattern: {exc}") from exc
    if offline_rules:
        check = _queue_rules(check, offline_rules)
    return _Node(
        check=check,
        expected=expected,
        nullable=bool(schema.get("nullable")),
        default=copy.deepcopy(schema["default"]) if "default" in schema else _MISSING,
    )


def _queue_rules(
    check: Callable[[Any, str, _Ctx], Any], rules: tuple[_cel.CelRule, ...]
) -> Callable[[Any, str, _Ctx], Any]:
    """Run a node's CEL rules later, on its defaulted value, if it has the promised shape."""

    def queued(value: Any, path: str, ctx: _Ctx) -> Any:
        before = ctx.broken
        value = check(value, path, ctx)
        if ctx.broken == before:
            ctx.pending.append((rules, value, path))
        return value

    return queued


def _object(
    schema: Mapping[str, Any], where: str, rules: tuple[_cel.CelRule, ...]
) -> Callable[[Any, str, _Ctx], Any]:
    props: dict[str, _Node] = {
        name: _compile(sub, _child(where, name))
        for name, sub in (schema.get("properties") or {}).items()
    }
    required = tuple(schema.get("required", ()))
    for name in required:
        if name not in props:
            raise CrdSchemaError(f"{where}: required field `{name}` has no schema")
    defaults = tuple((name, node) for name, node in props.items() if node.default is not _MISSING)
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    additional = schema.get("additionalProperties")
    if additional is not None and props:
        raise CrdSchemaError(f"{where}: properties and additionalProperties are exclusive")
    if isinstance(additional, bool):
        raise CrdSchemaError(f"{where}: additionalProperties must be a schema")
    values = _compile(additional, f"{where}[*]") if additional is not None else None
    allowed = tuple(props)

    def check(value: Any, path: str, ctx: _Ctx) -> Any:
        if not isinstance(value, dict):
            ctx.add_broken(path, _type_error("a map", value))
            return value
        before = ctx.broken
        out: dict[str, Any] = {}
        for key, item in value.items():
            node = props.get(key)
            if node is not None:
                if item is None and not node.nullable:
                    continue  # pruned, as the API server does before defaulting
                out[key] = item if item is None else node.check(item, _child(path, key), ctx)
            elif values is not None:
                if not isinstance(key, str):
                    ctx.add(f"{path}[{key}]", f"keys must be strings, got {_describe(key)}")
                    continue
                out[key] = values.check(item, f"{path}[{key}]", ctx)
            elif preserve:
                name = _json_key(key)
                if name is None:
                    ctx.add_broken(f"{path}[{key}]", f"keys must be strings, got {_describe(key)}")
                    continue
                out[name] = _json_value(item, _child(path, name), ctx)
            else:
                ctx.add(_child(path, str(key)), _suggest(str(key), allowed))
        for key, node in defaults:
            if key not in out:
                out[key] = node.check(node.default, _child(path, key), ctx)
        for key in required:
            if key not in out:
                ctx.add_broken(
                    _child(path, key),
                    f"required field `{key}` is missing; expected {props[key].expected}",
                )
        if rules and ctx.broken == before:
            ctx.pending.append((rules, out, path))
        return out

    return check


def _array(schema: Mapping[str, Any], where: str) -> Callable[[Any, str, _Ctx], Any]:
    if "items" not in schema:
        raise CrdSchemaError(f"{where}: an array needs `items`")
    items = _compile(schema["items"], f"{where}[*]")
    min_items = schema.get("minItems")
    max_items = schema.get("maxItems")
    list_type = schema.get("x-kubernetes-list-type", "atomic")
    map_keys = tuple(schema.get("x-kubernetes-list-map-keys", ()))
    if list_type not in {"atomic", "set", "map"}:
        raise CrdSchemaError(f"{where}: x-kubernetes-list-type {list_type!r} is not supported")
    if list_type == "map" and not map_keys:
        raise CrdSchemaError(f"{where}: a map list needs x-kubernetes-list-map-keys")
    item_check = items.check

    def check(value: Any, path: str, ctx: _Ctx) -> Any:
        if not isinstance(value, list):
            ctx.add_broken(path, _type_error("a list", value))
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
                    ctx.add(
                        f"{path}[{i}]", f"duplicate entry {_show(item)}; entries must be unique"
                    )
                seen.add(marker)
        elif list_type == "map":
            seen_keys: set[str] = set()
            for i, item in enumerate(out):
                if not isinstance(item, dict):
                    continue
                marker = repr(tuple(item.get(k) for k in map_keys))
                if marker in seen_keys:
                    named = ", ".join(f"{k}={_show(item.get(k))}" for k in map_keys)
                    ctx.add(
                        f"{path}[{i}]",
                        f"duplicate entry with {named}; {'/'.join(map_keys)} must be unique",
                    )
                seen_keys.add(marker)
        return out

    return check


# --- ObjectMeta -----------------------------------------------------------------------------------

_NAME = re.compile(_DNS_SUBDOMAIN)
_LABEL_NAME = re.compile(_DNS_LABEL)
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


def _string_map(value: Any, path: str, ctx: _Ctx, *, labels: bool) -> dict[str, str] | Any:
    if not isinstance(value, dict):
        ctx.add_broken(path, _type_error("a map of strings", value))
        return value
    out: dict[str, str] = {}
    for key, item in value.items():
        where = f"{path}[{key}]"
        if not isinstance(key, str):
            ctx.add(where, f"keys must be strings, got {_describe(key)}")
            continue
        problem = _key_problem(key)
        if problem is not None:
            ctx.add(where, problem)
        if not isinstance(item, str):
            ctx.add_broken(where, _type_error("a string", item))
            continue
        if labels and (len(item) > 63 or not _LABEL_VALUE.fullmatch(item)):
            ctx.add(
                where,
                f"{_show(item)} is not a valid label value: at most 63 letters, digits, "
                "`-`, `_` or `.`, starting and ending with a letter or digit",
            )
        out[key] = item
    return out


def _metadata(value: Any, path: str, ctx: _Ctx) -> Any:
    if not isinstance(value, dict):
        ctx.add_broken(path, _type_error("a map", value))
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        where = _child(path, str(key))
        if key == "name":
            if not isinstance(item, str):
                ctx.add_broken(where, _type_error("a string", item))
            elif len(item) > 253 or not _NAME.fullmatch(item):
                ctx.add(
                    where,
                    f"{_show(item)} is not a valid name: a lowercase DNS subdomain of at most "
                    "253 characters (a-z, 0-9, `-` and `.`, starting and ending with a "
                    "letter or digit)",
                )
            out[key] = item
        elif key in {"labels", "annotations"}:
            if item is not None:
                out[key] = _string_map(item, where, ctx, labels=key == "labels")
        elif key == "namespace":
            if not isinstance(item, str):
                ctx.add_broken(where, _type_error("a string", item))
            elif len(item) > 63 or not _LABEL_NAME.fullmatch(item):
                ctx.add(
                    where,
                    f"{_show(item)} is not a valid namespace: a lowercase DNS label of at most "
                    "63 characters (a-z, 0-9 and `-`, starting and ending with a letter or digit)",
                )
            out[key] = item
        elif key in _META_FIELDS:
            out[key] = _json_value(item, where, ctx)
        else:
            ctx.add(where, _suggest(str(key), _META_FIELDS))
    if "name" not in out:
        ctx.add(_child(path, "name"), "required field `name` is missing; expected a string")
    return out


def _constant(expected: str, what: str) -> Callable[[Any, str, _Ctx], Any]:
    def check(value: Any, path: str, ctx: _Ctx) -> Any:
        if value != expected:
            ctx.add(path, f"{_show(value)} is not the {what}; expected `{expected}`")
        return value

    return check


# --- CRDs -----------------------------------------------------------------------------------------


def _served_version(crd: Mapping[str, Any]) -> Mapping[str, Any]:
    version = GROUP_VERSION.partition("/")[2]
    for v in crd.get("spec", {}).get("versions", ()):
        if v.get("name") == version:
            return dict(v)
    raise CrdSchemaError(f"CRD {crd.get('metadata', {}).get('name')}: no version {version}")


def _compile_kind(crd: Mapping[str, Any]) -> tuple[str, Callable[[Any, str, _Ctx], Any]]:
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
) -> Callable[[Any, str, _Ctx], Any]:
    """A document's check: `root_schema` for its body, and the envelope as the API server
    checks it (apiVersion, kind, ObjectMeta)."""
    body = _compile(root_schema, "")
    api_version = _constant(group_version, "served apiVersion")
    kind_check = _constant(kind, "kind of this schema")
    envelope = {"apiVersion": api_version, "kind": kind_check, "metadata": _metadata}

    def root(value: Any, path: str, ctx: _Ctx) -> Any:
        if not isinstance(value, dict):
            ctx.add_broken(path, _type_error("a map", value))
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
# (`API.md`); the rest is preserved as the API server would, but must be JSON.
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
        self._kinds: dict[str, Callable[[Any, str, _Ctx], Any]] = {}
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
        the shape its schema promises (see `_Ctx`).
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
        root: Callable[[Any, str, _Ctx], Any], document: Any
    ) -> tuple[dict[str, Any], list[SchemaIssue]]:
        ctx = _Ctx()
        out = root(document, "", ctx)
        for rules, value, path in ctx.pending:
            ctx.issues.extend(
                SchemaIssue(v.path, v.message) for v in _cel.evaluate(rules, value, path)
            )
        return (out if isinstance(out, dict) else {}), ctx.issues
