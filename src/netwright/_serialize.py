"""Plain JSON/YAML-able values from model objects, for output at the edges.

Dataclasses become dicts with camelCase keys, `ipaddress` values become strings,
enums their values, and a `SecretValue` its placeholder: nothing printed by way
of this module can carry a secret.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from netwright.model.spec import SecretValue, Source

_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def to_plain(value: Any) -> Any:
    """A JSON-able copy of `value`; secrets appear only as their placeholders."""
    if isinstance(value, SecretValue):
        return value.placeholder
    if isinstance(value, str | int | float | bool) or value is None:
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, _IP_TYPES):
        return str(value)
    if isinstance(value, Source):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            camel(f.name): to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "source"
        }
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_plain(v) for v in value]
    return str(value)


def dump(value: Any, output: str) -> str:
    """`value` as JSON or YAML text (YAML: literal blocks for multi-line strings)."""
    plain = to_plain(value)
    if output == "json":
        return json.dumps(plain, indent=2, sort_keys=False) + "\n"
    import yaml  # noqa: PLC0415 - only YAML output needs the dumper

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    _Dumper.add_representer(str, _str)
    if isinstance(plain, list) and all(isinstance(d, dict) and "kind" in d for d in plain):
        return yaml.dump_all(plain, Dumper=_Dumper, sort_keys=False, explicit_start=True)
    return yaml.dump(plain, Dumper=_Dumper, sort_keys=False)
