"""A private on-disk cache for what is costly to derive and cheap to check.

Two things live here: a validated spec directory (keyed by the content of every
file in it and by the code that validated it) and cel-python's parser tables.
Both are pickles, and a pickle runs code when it is loaded, so the cache is
trusted only where nobody else can write: a directory owned by this user with
mode 0700, and files owned by this user that nobody else can write. Anything
else, and any error reading or writing, silently means "no cache": the cache
can make netwright faster, never different or failing.

`NETWRIGHT_CACHE_DIR` moves it (default `$XDG_CACHE_HOME/netwright`, else
`~/.cache/netwright`); `NETWRIGHT_NO_CACHE=1` turns it off. Secrets are never
written here.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

_UNSAFE_MODE = stat.S_IWGRP | stat.S_IWOTH


def directory() -> str | None:
    """The cache directory, made if needed, or None when there must be no cache."""
    if os.environ.get("NETWRIGHT_NO_CACHE"):
        return None
    base = os.environ.get("NETWRIGHT_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "netwright")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        info = os.stat(base)
    except OSError:
        return None
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None  # someone else could plant or read a pickle here
    return base


def path(name: str) -> str | None:
    base = directory()
    return None if base is None else os.path.join(base, name)


def read(name: str) -> bytes | None:
    """The cached bytes, if present and trustworthy."""
    target = path(name)
    if target is None:
        return None
    try:
        with open(target, "rb") as stream:
            info = os.fstat(stream.fileno())
            if info.st_uid != os.geteuid() or info.st_mode & _UNSAFE_MODE:
                return None
            return stream.read()
    except OSError:
        return None


def write(name: str, data: bytes) -> None:
    """Store `data` atomically (readers see the old entry or the new one); errors are ignored."""
    base = directory()
    if base is None:
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=base, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(tmp, os.path.join(base, name))
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def prune(prefix: str, keep: int) -> None:
    """Remove all but the `keep` most recently written entries whose names start with `prefix`."""
    base = directory()
    if base is None:
        return
    try:
        entries = [e for e in os.scandir(base) if e.name.startswith(prefix) and e.is_file()]
        entries.sort(key=lambda e: e.stat().st_mtime_ns, reverse=True)
        for entry in entries[keep:]:
            os.unlink(entry.path)
    except OSError:
        pass
