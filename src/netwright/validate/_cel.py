"""Offline evaluation of the CRDs' `x-kubernetes-validations` rules (CEL).

The CRDs in `crds/` are the single source of truth: the API server evaluates
their CEL rules on `kubectl apply`, and `netwright validate` must reject the
same documents without a cluster. This module evaluates those rules with
cel-python, at the schema node where each rule sits, with `self` bound to that
node's (defaulted) value, and reports failures at the rule's `fieldPath`, as the
API server does.

What it must not do:

- Evaluate transition rules (those that mention `oldSelf`). Offline there is no
  old object; the API server skips them on create too. They are recognised and
  skipped, never approximated.
- Use anything beyond standard CEL, Kubernetes' `self`, and the few library
  functions the CRDs need (`LIBRARY_FUNCTIONS`): Kubernetes' IP and CIDR
  libraries (`ip()`, `isIP()`, `cidr()`, `isCIDR()` and their methods; added in
  Kubernetes 1.30 and, by the API server's one-version compatibility rule,
  accepted in new CRD rules from 1.31) and the strings extension's `format()`
  (`%s`, `%d`; 1.29), the last so that a messageExpression can name a number:
  `string(int) + '...'` has an unbounded estimated cost, which the API server
  refuses. Each is implemented in `_cel_library` as Kubernetes defines it; the
  operator tests send every rule's cases to a real API server and compare. A
  rule cel-python cannot compile is a bug in the CRD; the unit tests compile
  every rule.
- Do I/O, or know which kinds exist: it is handed rules and values.

Rules are compiled once per distinct text (cel-python's parser is slow to build
and each compile costs about a millisecond) and lazily, so validating documents
whose kinds carry no rules (IPBlock) never builds a CEL environment. A rule's
`messageExpression` is evaluated like the API server does, falling back to
its `message`.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from netwright import _cache
from netwright.validate._cel_library import LIBRARY_FUNCTIONS, functions

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import celpy
    from celpy import celtypes

__all__ = [
    "LIBRARY_FUNCTIONS",
    "REASONS",
    "CelCompileError",
    "CelRule",
    "CelViolation",
    "compile_rule",
    "evaluate",
    "join_path",
    "parse_field_path",
    "to_cel",
]

#: The `reason` values the API server accepts on a validation rule.
REASONS: Final = frozenset(
    {"FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"}
)

_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_OLD_SELF = re.compile(r"\boldSelf\b")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# One step of a fieldPath: `.name` or `['any name']`.
_FIELD_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']*)'\]")


class CelCompileError(ValueError):
    """A rule in a CRD is not valid CEL (or uses something cel-python lacks)."""


@dataclass(frozen=True, slots=True)
class CelRule:
    """One `x-kubernetes-validations` entry."""

    rule: str
    message: str = ""
    message_expression: str = ""
    field_path: str = ""
    reason: str = "FieldValueInvalid"

    @classmethod
    def from_schema(cls, raw: Mapping[str, Any]) -> CelRule:
        return cls(
            rule=str(raw["rule"]),
            message=str(raw.get("message", "")),
            message_expression=str(raw.get("messageExpression", "")),
            field_path=str(raw.get("fieldPath", "")),
            reason=str(raw.get("reason", "FieldValueInvalid")),
        )

    @property
    def is_transition(self) -> bool:
        """A transition rule compares with `oldSelf`; it cannot run offline."""
        return _OLD_SELF.search(self.rule) is not None

    @property
    def text(self) -> str:
        """What the API server prints when the rule fails."""
        return self.message or f"failed rule: {self.rule}"


@dataclass(frozen=True, slots=True)
class CelViolation:
    """A rule that did not hold: where (the rule's fieldPath) and why."""

    path: str
    message: str
    reason: str


def parse_field_path(field_path: str) -> tuple[str, ...]:
    """Split a rule's fieldPath (`.a.b`, `.a['x.y']`) into field names.

    Kubernetes allows only child steps (no list indices); anything else raises
    `ValueError`.
    """
    steps: list[str] = []
    pos = 0
    while pos < len(field_path):
        m = _FIELD_STEP.match(field_path, pos)
        if m is None:
            raise ValueError(
                f"fieldPath {field_path!r}: expected `.name` or `['name']` at offset {pos}"
            )
        steps.append(m.group(1) if m.group(1) is not None else m.group(2))
        pos = m.end()
    return tuple(steps)


def join_path(path: str, steps: Sequence[str]) -> str:
    """`spec` + (`vxlan`,) -> `spec.vxlan`; names that are not identifiers go in brackets."""
    for step in steps:
        if _IDENTIFIER.fullmatch(step):
            path = f"{path}.{step}" if path else step
        else:
            path = f"{path}[{step}]"
    return path


# cel-python's Environment builds a lark parser (about 0.1 s): make one, on first use,
# from lark's own cache of the grammar analysis where netwright's cache is usable
# (0.1 s -> 0.01 s, measured). Lark keys that cache by the grammar and the options
# celpy passes, so a different celpy or lark cannot load a stale parser.
@functools.cache
def _environment() -> celpy.Environment:
    import celpy  # noqa: PLC0415 - deferred: only documents with rules pay for the parser
    import celpy.celparser  # noqa: PLC0415
    import lark  # noqa: PLC0415

    # Environment() sets the recursion limit to 2500, lowering it if the
    # process had raised it; keep whichever is higher.
    limit = sys.getrecursionlimit()
    cache = _cache.path(f"cel-parser-lark-{lark.__version__}")
    parser_module: Any = celpy.celparser
    original = parser_module.Lark
    if cache is not None and parser_module.CELParser.CEL_PARSER is None:
        parser_module.Lark = functools.partial(original, cache=cache)
    try:
        env = celpy.Environment()
    finally:
        parser_module.Lark = original
    sys.setrecursionlimit(max(limit, sys.getrecursionlimit()))
    return env


#: Several times the rules and message expressions of netwright's CRDs (38 and 22):
#: the texts come from those schemas, never from a document, but a long-lived
#: controller keeps this cache, so it is bounded all the same.
_COMPILED_RULES_MAX = 256


@functools.lru_cache(maxsize=_COMPILED_RULES_MAX)
def compile_rule(text: str) -> celpy.Runner:
    """Compile one rule, once per distinct text (the last `_COMPILED_RULES_MAX`)."""
    from celpy.celparser import CELParseError  # noqa: PLC0415 - see _environment

    env = _environment()
    try:
        return env.program(env.compile(text), functions=functions())
    except CELParseError as exc:
        raise CelCompileError(f"CEL rule {text!r} does not compile: {exc}") from exc


def to_cel(value: Any) -> celtypes.Value:
    """A JSON-like Python value as a CEL value.

    Absent fields are simply absent from the map, so `has(self.x)` is false for
    them; `bool` is tested before `int` because Python's bool is an int.
    """
    from celpy import celtypes  # noqa: PLC0415 - see _environment

    def convert(v: Any) -> celtypes.Value:
        if v is None:
            return None
        if isinstance(v, bool):
            return celtypes.BoolType(v)
        if isinstance(v, int):
            if not _INT64_MIN <= v <= _INT64_MAX:  # the schema refuses these before CEL runs
                raise TypeError(f"{show(v)} does not fit in a CEL int")
            return celtypes.IntType(v)
        if isinstance(v, float):
            return celtypes.DoubleType(v)
        if isinstance(v, str):
            return celtypes.StringType(v)
        if isinstance(v, list | tuple):
            return celtypes.ListType([convert(x) for x in v])
        if isinstance(v, dict):
            return celtypes.MapType({celtypes.StringType(str(k)): convert(x) for k, x in v.items()})
        raise TypeError(f"cannot give a {type(v).__name__} to CEL")

    return convert(value)


def _lookup(value: Any, steps: Sequence[str]) -> tuple[bool, Any]:
    for step in steps:
        if not isinstance(value, dict) or step not in value:
            return False, None
        value = value[step]
    return True, value


#: Longer strings and numbers are shortened in messages (a spec file may hold megabytes).
_SHOWN = 80


def show(value: Any) -> str:
    """A value as messages quote it: strings in backticks, booleans as YAML spells them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if len(value) > _SHOWN:
            return f"`{value[: _SHOWN - 20]}...` ({len(value)} characters)"
        return f"`{value}`"
    if isinstance(value, int) and not -(10**_SHOWN) < value < 10**_SHOWN:
        return f"an integer of {len(str(abs(value)))} digits"
    return str(value)


def evaluate(rules: Sequence[CelRule], value: Any, path: str) -> list[CelViolation]:
    """Evaluate the rules of one schema node on its value at `path`.

    Transition rules are skipped (see the module docstring). A rule that fails
    is reported at `path` joined with its fieldPath; when that field holds a
    scalar, its value is named in the message.
    """
    from celpy import celtypes  # noqa: PLC0415 - see _environment
    from celpy.evaluation import CELEvalError, CELUnsupportedError  # noqa: PLC0415

    violations: list[CelViolation] = []
    activation: dict[str, Any] | None = None
    for rule in rules:
        if rule.is_transition:
            continue
        steps = parse_field_path(rule.field_path)
        where = join_path(path, steps)
        result: object
        try:
            if activation is None:
                activation = {"self": to_cel(value)}
            result = compile_rule(rule.rule).evaluate(activation)
        except (CELEvalError, CELUnsupportedError) as exc:
            result = exc
        except CelCompileError:
            raise  # a bug in the CRD, not in the input
        except Exception as exc:  # noqa: BLE001 - cel-python raises ValueError on int overflow,
            # TypeError, RecursionError...; hostile input makes a rule fail, never the program
            result = CELEvalError(f"{type(exc).__name__}: {exc}")
        if isinstance(result, CELEvalError | CELUnsupportedError):
            reason = result.args[0] if result.args else result
            message = f"{rule.text} (the rule could not be evaluated: {reason})"
            violations.append(CelViolation(where, message, rule.reason))
            continue
        if not isinstance(result, celtypes.BoolType | bool):
            message = f"{rule.text} (the rule returned {result!r}, not a boolean)"
        elif result:
            continue
        else:
            message = _message(rule, activation or {}, value, steps)
        violations.append(CelViolation(where, message, rule.reason))
    return violations


def _message(rule: CelRule, activation: dict[str, Any], value: Any, steps: Sequence[str]) -> str:
    """The rule's messageExpression when it yields a usable string (as the API
    server does: otherwise it falls back to message); else its message, with
    the field's value when that is a scalar."""
    if rule.message_expression:
        try:
            text = compile_rule(rule.message_expression).evaluate(activation)
        except CelCompileError:
            raise
        except Exception:  # noqa: BLE001 - as in `evaluate`: fall back to the message
            text = None
        if isinstance(text, str) and text.strip() and "\n" not in text:
            return str(text)
    found, field_value = _lookup(value, steps)
    if found and isinstance(field_value, bool | int | float | str):
        return f"{rule.text} (got {show(field_value)})"
    return rule.text
