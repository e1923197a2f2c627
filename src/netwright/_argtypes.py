"""Command-line values, checked when the command line is parsed: before anything is read.

Why it exists: an out-of-range `--underlay-mtu` or a `--netns` with a slash must be
refused with one line naming the option and what it allows, not discovered half-way
through an apply. argparse calls these as `type=`; a `ValueError`/`ArgumentTypeError`
becomes its usual `error: argument --x: ...` line and exit 2.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from collections.abc import Callable

#: The kernel's IFNAMSIZ (16) less the terminating NUL.
IFNAME_MAX = 15
#: The IPv4 minimum MTU (RFC 791) and the largest an interface takes.
MTU_MIN, MTU_MAX = 68, 65535


class Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake said in one line (the usage is one `--help` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range; allowed {low} to {high}")
        return value

    parse.__name__ = "integer"
    return parse


def seconds(high: float, low: float = 0) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is out of range; allowed {low:g} to {high:g}")
        return value

    parse.__name__ = "seconds"
    return parse


def ifname(text: str) -> str:
    """A device name the kernel accepts (`dev_valid_name`)."""
    size = len(text.encode())
    if not 1 <= size <= IFNAME_MAX or text in {".", ".."}:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device name; allowed 1 to {IFNAME_MAX} bytes, not . or .."
        )
    if any(c in text for c in "/:\0") or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device name; '/', ':' and whitespace are not allowed"
        )
    return text


def netns_name(text: str) -> str:
    """A name `ip netns` can have: one path component under /run/netns."""
    if not text or text in {".", ".."} or "/" in text or "\0" in text or len(text.encode()) > 255:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a network namespace name; allowed 1 to 255 bytes, no '/', not . or .."
        )
    return text


def directory(text: str) -> str:
    """An existing directory (a spec directory to copy)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text}: not a directory (a spec directory is expected)")
    return text


def proc_sys(text: str) -> str:
    """Where sysctls live: /proc/sys, or a directory holding a mount of it at `net/`."""
    path = os.path.abspath(text) if text else ""
    if not path or not os.path.isdir(os.path.join(path, "net")):
        raise argparse.ArgumentTypeError(
            f"{text}: holds no net/ directory (mount the host's /proc/sys/net at {text}/net)"
        )
    return path


def existing_file(text: str) -> str:
    """A file that exists and can be read (a kubeconfig)."""
    if not os.path.isfile(text) or not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: no such readable file")
    return text


def root_path(text: str) -> str:
    """A node root: made absolute (rendered files name paths under it)."""
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError("the root must be a non-empty path")
    return os.path.abspath(text)
