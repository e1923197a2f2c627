"""The Kubernetes CEL library functions the CRDs' rules call, for cel-python.

As k8s.io/apiserver/pkg/cel/library (ip.go, cidr.go) and cel-go's strings
extension define them: `ip()`, `isIP()`, `cidr()`, `isCIDR()` and their
methods, and `format()` (`%s`, `%d`). cel-python calls a method `x.f(y)` as the
function `f(x, y)`, so `cidr(...).ip()` reaches `ip` with a CIDR. Errors become
CEL evaluation errors, which `_cel.evaluate` reports as the rule failing, as
the API server does. The operator tests send every rule's cases to a real API
server and compare.

celpy is imported inside the functions: they run only once a rule is
evaluated, and validating documents whose kinds carry no rules must not load
celpy at all.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from celpy import celtypes


@dataclass(frozen=True, slots=True)
class _IP:
    address: ipaddress.IPv4Address | ipaddress.IPv6Address

    def __str__(self) -> str:  # `string(ip)`: celpy's string() is str()
        return str(self.address)


@dataclass(frozen=True, slots=True)
class _CIDR:
    interface: ipaddress.IPv4Interface | ipaddress.IPv6Interface

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return self.interface.network

    def __str__(self) -> str:  # `string(cidr)`: the address as given, and the prefix length
        return f"{self.interface.ip}/{self.network.prefixlen}"


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Go's netip.ParseAddr, less what Kubernetes refuses: zones, IPv4-mapped IPv6."""
    if "%" in text:
        raise ValueError(f"IP address with zone value is not allowed: {text}")
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError(f"IPv4-mapped IPv6 address is not allowed: {text}")
    return address


def _parse_cidr(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """Go's netip.ParsePrefix (host bits kept), less zones and IPv4-mapped IPv6."""
    address, slash, bits = text.partition("/")
    if not slash or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0"):
        raise ValueError(f"network address parse error during conversion from string: {text}")
    parsed = _parse_ip(address)
    if int(bits) > parsed.max_prefixlen:
        raise ValueError(f"network address parse error during conversion from string: {text}")
    return ipaddress.ip_interface(f"{parsed}/{bits}")


def _ip(value: Any) -> _IP:
    if isinstance(value, _CIDR):  # cidr(...).ip()
        return _IP(value.interface.ip)
    return _IP(_parse_ip(str(value)))


def _cidr(value: Any) -> _CIDR:
    return _CIDR(_parse_cidr(str(value)))


def _is(parse: Any) -> Any:
    def check(value: Any) -> celtypes.BoolType:
        from celpy import celtypes  # noqa: PLC0415 - see the module docstring

        try:
            parse(str(value))
        except ValueError:
            ok = False
        else:
            ok = True
        return celtypes.BoolType(ok)

    return check


def _bool(test: Any) -> Any:
    def method(value: _IP) -> celtypes.BoolType:
        from celpy import celtypes  # noqa: PLC0415 - see the module docstring

        if not isinstance(value, _IP):
            raise TypeError(f"no such overload: {type(value).__name__}")
        return celtypes.BoolType(test(value.address))

    return method


def _contains_ip(prefix: _CIDR, other: Any) -> celtypes.BoolType:
    from celpy import celtypes  # noqa: PLC0415 - see the module docstring

    address = other.address if isinstance(other, _IP) else _parse_ip(str(other))
    return celtypes.BoolType(
        address.version == prefix.network.version and address in prefix.network
    )


def _contains_cidr(prefix: _CIDR, other: Any) -> celtypes.BoolType:
    from celpy import celtypes  # noqa: PLC0415 - see the module docstring

    inner = other.network if isinstance(other, _CIDR) else _parse_cidr(str(other)).network
    outer = prefix.network
    return celtypes.BoolType(inner.version == outer.version and inner.subnet_of(outer))  # type: ignore[arg-type]


def _prefix_length(prefix: _CIDR) -> celtypes.IntType:
    from celpy import celtypes  # noqa: PLC0415 - see the module docstring

    return celtypes.IntType(prefix.network.prefixlen)


def _family(value: _IP) -> celtypes.IntType:
    from celpy import celtypes  # noqa: PLC0415 - see the module docstring

    return celtypes.IntType(value.address.version)


def _masked(prefix: _CIDR) -> _CIDR:
    return _CIDR(ipaddress.ip_interface(str(prefix.network)))


_VERB = re.compile(r"%(.)")


def _format(template: Any, args: Any) -> celtypes.StringType:
    """cel-go's `format` for the verbs the CRDs use: `%s`, `%d` and `%%`."""
    from celpy import celtypes  # noqa: PLC0415 - see the module docstring

    values = list(args)
    used = 0

    def one(m: re.Match[str]) -> str:
        nonlocal used
        verb = m.group(1)
        if verb == "%":
            return "%"
        if used >= len(values):
            raise ValueError(f"index {used} out of range")
        value = values[used]
        used += 1
        if verb == "d" and isinstance(value, int) and not isinstance(value, bool):
            return str(int(value))
        if verb == "s":
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)
        raise ValueError(f"unsupported format verb %{verb} for {type(value).__name__}")

    return celtypes.StringType(_VERB.sub(one, str(template)))


@functools.cache
def functions() -> dict[str, Any]:
    return {
        "ip": _ip,
        "isIP": _is(_parse_ip),
        "cidr": _cidr,
        "isCIDR": _is(_parse_cidr),
        "family": _family,
        "isUnspecified": _bool(lambda a: a.is_unspecified),
        "isLoopback": _bool(lambda a: a.is_loopback),
        "isLinkLocalUnicast": _bool(
            lambda a: a in ipaddress.ip_network("169.254.0.0/16" if a.version == 4 else "fe80::/10")
        ),
        "isLinkLocalMulticast": _bool(
            lambda a: a in ipaddress.ip_network("224.0.0.0/24" if a.version == 4 else "ff02::/16")
        ),
        "containsIP": _contains_ip,
        "containsCIDR": _contains_cidr,
        "prefixLength": _prefix_length,
        "masked": _masked,
        "format": _format,
    }


#: The Kubernetes library functions (beyond standard CEL) that rules may call offline.
LIBRARY_FUNCTIONS: Final = frozenset(
    {
        "ip",
        "isIP",
        "cidr",
        "isCIDR",
        "family",
        "isUnspecified",
        "isLoopback",
        "isLinkLocalUnicast",
        "isLinkLocalMulticast",
        "containsIP",
        "containsCIDR",
        "prefixLength",
        "masked",
        "format",
    }
)
