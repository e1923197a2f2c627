"""The one atomic file writer: a reader sees the old file or the new one, never half.

Why it exists: netwright writes files from several places (the engine's conflists and
BIRD configuration, its own state file, `allocate --write`, the lab's spec copy), and
every one of them must survive a crash or a full disk without leaving a torn file. The
recipe lives here once: a temporary file beside the target, mode and owner set before
any byte lands (a BIRD file may hold a password), the data, fsync, rename over the
target, fsync of the directory so that the rename itself is durable.

The temporary name is fixed (`.<name>.netwright-tmp`), not random: a write killed
before its rename leaves that file behind, and the next write of the same path (or
its removal, `remove`) reuses and so cleans it, where a random name would stay forever
in a directory netwright shares with others (a node's /etc, a Git repository).

What it must not do: follow a symlink planted at the temporary name, leave its
temporary file behind when it fails, or swallow an error.
"""

from __future__ import annotations

import contextlib
import os

TEMP_SUFFIX = ".netwright-tmp"


def temp_path(path: str) -> str:
    """The one temporary name a write of `path` uses, beside it."""
    directory, base = os.path.split(path)
    return os.path.join(directory, f".{base}{TEMP_SUFFIX}")


def write_atomic(
    path: str,
    data: bytes | str,
    *,
    mode: int = 0o644,
    uid: int | None = None,
    gid: int | None = None,
    durable: bool = True,
) -> None:
    """Replace `path` with `data` atomically and durably, making its directory if needed.

    `durable=False` skips both fsyncs: the write is still atomic, and survives the
    writer's crash (it is in the page cache), just not the machine's. Raises
    `OSError` on failure, with the target left as it was.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    tmp = temp_path(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # left by a write that was killed
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        # Mode and owner before the content lands: a secret is never readable by others.
        os.fchmod(fd, mode)
        if uid is not None or gid is not None:
            os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        with os.fdopen(fd, "wb") as stream:
            stream.write(payload)
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        sync_directory(directory)


def remove(path: str) -> bool:
    """Remove `path` and a temporary file a killed write of it left, durably.

    True if anything was removed; `OSError` (other than "not there") is raised.
    """
    removed = False
    for victim in (path, temp_path(path)):
        try:
            os.unlink(victim)
        except FileNotFoundError:
            continue
        removed = True
    if removed:
        with contextlib.suppress(OSError):
            sync_directory(os.path.dirname(os.path.abspath(path)))
    return removed


def sync_directory(directory: str) -> None:
    """fsync a directory, so that a rename or unlink in it survives a crash."""
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
