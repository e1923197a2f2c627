"""What a schema check reports, and how its messages name values.

Every compiled schema node (`_schema_nodes`, `_schema_meta`) records its problems
in a `Ctx` and words them with the helpers here, so that one value reads the
same in every message: quoted the same way, its YAML type named, a near-miss
field name suggested. Also the copy of values no schema describes
(`json_value`), which must refuse what the Kubernetes API cannot store.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from netwright.validate._cel import show

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from netwright.validate import _cel


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """One problem: the field's path (`spec.vxlan.vni`, `spec.reserved[1]`) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class CrdSchemaError(ValueError):
    """A CRD uses something this validator does not support, or is malformed."""


class Ctx:
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


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"the integer {show(value)}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {show(value)}"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dt.date):  # YAML reads an unquoted 2020-01-01 as a date
        return f"the date {yaml_time_text(value)}"
    if isinstance(value, bytes):
        return "binary data (!!binary)"
    if isinstance(value, set | frozenset):
        return "a set (!!set)"
    return f"a {type(value).__name__}"


#: What the Kubernetes API stores an integer in (`int64`); YAML integers have no bound.
INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1
_INT64_RANGE: Final = f"a 64-bit integer ({INT64_MIN} to {INT64_MAX})"


def beyond_int64(value: int, schema: Mapping[str, Any]) -> str:
    """Why an integer outside int64 is refused, in the words of the field's own range."""
    hi, lo = schema.get("maximum"), schema.get("minimum")
    if hi is not None and value > hi:
        return f"{show(value)} is larger than {hi}, the maximum"
    if lo is not None and value < lo:
        return f"{show(value)} is smaller than {lo}, the minimum"
    return f"{show(value)} does not fit in {_INT64_RANGE}"


_JSON_VALUE: Final = "a JSON value (a string, number, boolean, null, list or map)"


def json_key(key: Any) -> str | None:
    """A map key as `kubectl` turns it into JSON (YAML allows keys of any type)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if type(key) is int or (type(key) is float and math.isfinite(key)):
        return str(key)
    return None


def json_value(value: Any, path: str, ctx: Ctx) -> Any:
    """A copy of a value the schema does not describe (preserved unknown fields,
    metadata), refusing what the Kubernetes API cannot store: integers beyond
    64 bits, infinities, NaN, binary data, sets."""
    if value is None or isinstance(value, bool | str):
        return value
    if type(value) is int:
        if not INT64_MIN <= value <= INT64_MAX:
            ctx.add_broken(path, f"{show(value)} does not fit in {_INT64_RANGE}")
        return value
    if type(value) is float:
        if not math.isfinite(value):
            ctx.add_broken(path, f"{value} is not a JSON number; infinity and NaN cannot be stored")
        return value
    if isinstance(value, dt.date):
        return yaml_time_text(value)
    if isinstance(value, list):
        return [json_value(item, f"{path}[{i}]", ctx) for i, item in enumerate(value)]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = json_key(key)
            if name is None:
                ctx.add_broken(f"{path}[{key}]", f"keys must be strings, got {describe(key)}")
                continue
            out[name] = json_value(item, child(path, name), ctx)
        return out
    ctx.add_broken(path, f"expected {_JSON_VALUE}, got {describe(value)}")
    return value


def type_error(expected: str, value: Any) -> str:
    message = f"expected {expected}, got {describe(value)}"
    if expected == "a string" and isinstance(value, bool | int | float):
        message += "; quote it in YAML to make it a string"
    return message


def yaml_time_text(value: dt.date) -> str:
    """YAML (1.1) turns unquoted timestamps into dates; JSON, and so kubectl, keeps the text."""
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        if value.utcoffset() == dt.timedelta(0):
            return text.removesuffix("+00:00") + "Z"
        return text
    return value.isoformat()


def suggest(key: str, allowed: Iterable[str]) -> str:
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


def child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
