"""The checks a schema puts on a value whose type is already right.

`enum`, the numeric bounds, lengths, `pattern`, `format` and `anyOf`, each
compiled once into a small function that returns a message or None. Kept apart
from the tree that calls them (`_schema_nodes`) because the messages are most of
the work: a cryptic pattern is explained in words, a near-miss enum value is
named, an address is read the way Kubernetes' formats read it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import re
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from netwright.validate._cel import show
from netwright.validate._schema_issues import CrdSchemaError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence


# Inside anyOf only value validations are structural (no type, default, properties...).
_ANYOF_KEYWORDS: Final = frozenset(
    {
        "description", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "minLength", "maxLength", "pattern", "format",
    }
)  # fmt: skip
# Formats with no validation in Kubernetes either (they only describe the number).
_DESCRIPTIVE_FORMATS: Final = frozenset({"int32", "int64", "float", "double"})


DNS_SUBDOMAIN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Patterns are cryptic; the ones we use often are explained in words instead.
_PATTERN_HINTS: Final = {
    DNS_SUBDOMAIN: "must be a lowercase DNS subdomain (a-z, 0-9, `-` and `.`, "
    "starting and ending with a letter or digit)",
    DNS_LABEL: "must be a lowercase DNS label (a-z, 0-9 and `-`, "
    "starting and ending with a letter or digit)",
    "^[A-Za-z0-9_.-]+$": "must be an interface name (letters, digits, `_`, `.` and `-`)",
    r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$": "must be a MAC address like 0e:6e:0a:00:00:01",
}


class ValueCheck(NamedTuple):
    """A check on a value whose type is right: a message when it is refused.

    `breaks`: a refused value leaves the node without its promised shape, so
    the CEL rules above it are not run (see `Ctx`). True for enums: a value
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
                f"{show(value)} is not a valid CIDR (an address/prefix length, "
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
                return f"{show(value)} is not a valid {what}"
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
            return f"{show(value)} is not an RFC 3339 date-time like 2024-05-01T12:00:00Z"

        return date_time
    raise CrdSchemaError(f"format `{fmt}` is not supported by netwright's validator")


_FORMAT_NAMES: Final = {
    "cidr": "CIDR",
    "ipv4": "IPv4 address",
    "ipv6": "IPv6 address",
    "date-time": "date-time",
}


def value_checks(schema: Mapping[str, Any]) -> list[ValueCheck]:
    """The checks on a value whose type is already right, in a fixed order."""
    checks: list[ValueCheck] = []
    if "enum" in schema:
        allowed = list(schema["enum"])
        allowed_set = frozenset(allowed)
        allowed_types = frozenset(type(a) for a in allowed)
        listing = ", ".join(str(a) for a in allowed)
        str_allowed = [a for a in allowed if isinstance(a, str)]

        def enum(value: Any) -> str | None:
            if value in allowed_set and type(value) in allowed_types:
                return None
            message = f"{show(value)} is not one of {listing}"
            if isinstance(value, str):
                folded = {a.lower(): a for a in str_allowed}
                near = folded.get(value.lower()) or next(
                    iter(difflib.get_close_matches(value, str_allowed, n=1, cutoff=0.6)), None
                )
                if near is not None:
                    message += f"; did you mean `{near}`?"
            return message

        checks.append(ValueCheck(enum, breaks=True))
    if "minimum" in schema:
        lo = schema["minimum"]
        if schema.get("exclusiveMinimum") is True:

            def above(v: Any) -> str | None:
                if v > lo:
                    return None
                return f"{show(v)} is not larger than {lo}, the exclusive minimum"
        else:

            def above(v: Any) -> str | None:
                return None if v >= lo else f"{show(v)} is smaller than {lo}, the minimum"

        checks.append(ValueCheck(above))
    if "maximum" in schema:
        hi = schema["maximum"]
        if schema.get("exclusiveMaximum") is True:

            def below(v: Any) -> str | None:
                if v < hi:
                    return None
                return f"{show(v)} is not smaller than {hi}, the exclusive maximum"
        else:

            def below(v: Any) -> str | None:
                return None if v <= hi else f"{show(v)} is larger than {hi}, the maximum"

        checks.append(ValueCheck(below))
    if "minLength" in schema:
        min_len = int(schema["minLength"])

        def long_enough(v: Any) -> str | None:
            if len(v) >= min_len:
                return None
            if min_len == 1:
                return "must not be empty"
            return f"{show(v)} is shorter than {min_len} characters, the minimum length"

        checks.append(ValueCheck(long_enough))
    if "maxLength" in schema:
        max_len = int(schema["maxLength"])

        def short_enough(v: Any) -> str | None:
            if len(v) <= max_len:
                return None
            shown = show(v[:20] + "..." if len(v) > 23 else v)
            return f"{shown} is {len(v)} characters long, longer than {max_len}, the maximum length"

        checks.append(ValueCheck(short_enough))
    if "pattern" in schema:
        pattern_text = str(schema["pattern"])
        # Go's `$` (what the API server uses) matches only at the very end; Python's
        # also before a final newline, which would let `name\n` through.
        go_end = pattern_text.endswith("$") and not pattern_text.endswith("\\$")
        pattern = re.compile(pattern_text[:-1] + r"\Z" if go_end else pattern_text)
        hint = _PATTERN_HINTS.get(pattern_text, f"must match the pattern {pattern_text}")

        def matches(v: Any) -> str | None:
            return None if pattern.search(v) else f"{show(v)} {hint}"

        checks.append(ValueCheck(matches))
    if "format" in schema:
        fmt_check = _format_check(str(schema["format"]))
        if fmt_check is not None:
            checks.append(ValueCheck(fmt_check))
    if "anyOf" in schema:
        checks.append(ValueCheck(_any_of(schema["anyOf"])))
    return checks


def _any_of(branches: Sequence[Mapping[str, Any]]) -> Callable[[Any], str | None]:
    compiled: list[list[ValueCheck]] = []
    names: list[str] = []
    for branch in branches:
        unknown = set(branch) - _ANYOF_KEYWORDS
        if unknown:
            raise CrdSchemaError(
                f"anyOf branches may hold value validations only, not {sorted(unknown)}"
            )
        compiled.append(value_checks(branch))
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
            return f"{show(value)} is not a valid " + " or ".join(names)
        return " or ".join(failures)

    return any_of
