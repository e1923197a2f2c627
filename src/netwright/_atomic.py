"""The one atomic file writer: a reader sees the old file or the new one, never half.

Why it exists: netwright writes files from several places (the engine's conflists and
BIRD configuration, its own state file, `allocate --write`, the lab's bookkeeping), and
every one of them must survive a crash or a full disk without leaving a torn file. The
recipe lives here once: a temporary file in the same directory, mode and owner set
before any byte lands (a BIRD file may hold a password), the data, fsync, rename over
the target, fsync of the directory so the rename itself is durable.

What it must not do: follow the target if it is a symlink (rename replaces the link
itself), leave its temporary file behind, or swallow an error.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

TEMP_PREFIX = ".netwright-"


def write_atomic(
    path: str,
    data: bytes | str,
    *,
    mode: int = 0o644,
    uid: int | None = None,
    gid: int | None = None,
    makedirs: bool = False,
) -> None:
    """Replace `path` with `data` atomically and durably; raises `OSError` on failure."""
    directory = os.path.dirname(os.path.abspath(path))
    if makedirs:
        os.makedirs(directory, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=".tmp")
    try:
        # Mode and owner before the content lands: a secret is never readable by others.
        os.fchmod(fd, mode)
        if uid is not None or gid is not None:
            os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        with os.fdopen(fd, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sync_directory(directory)


def sync_directory(directory: str) -> None:
    """fsync a directory, so that a rename or unlink in it survives a crash."""
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
