"""The node's non-netlink state: files under `--root`, netwright's own state file,
the nftables table (through libnftables, or the `nft` program) and BIRD's control socket.

Why here: these are the engine's other side effects; keeping them beside netlink
keeps `netwright.engine` free of I/O except through this package.

What it must not do: write anywhere but the path it is given (never outside the
target's root: callers pass paths that already carry it), leave a partly written
file (always a temp file in the same directory, named after the file so that a killed
write's leftover is reused, fsync, rename, fsync the directory),
print or log a file's content (it may hold a BGP password), or touch an nft table
other than the one it is named.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import json
import os
import pwd
import re
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netwright._atomic import remove, write_atomic
from netwright.errors import KernelError
from netwright.kernel import birdctl

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netwright.kernel.session import KernelReader, KernelWriter
    from netwright.model.state import File, NftTable

STATE_FILE = "var/lib/netwright/state.json"
_MARKER = re.compile(r'^\s*comment "netwright sha256:([0-9a-f]{64})"\s*$', re.MULTILINE)


def state_path(root: str) -> str:
    return os.path.join(root, STATE_FILE)


# ---------------------------------------------------------------- files


@dataclass(frozen=True, kw_only=True, slots=True)
class FileRecord:
    """A file as found on disk. `text` is None when it must not be shown.

    It is shown only when the file is world-readable and valid UTF-8; the engine
    also hides it when the desired file carries secrets.
    """

    path: str
    regular: bool
    mode: int
    owner: str
    group: str
    digest: str
    text: str | None


def _name(lookup: Any, ident: int) -> str:
    try:
        return str(lookup(ident)[0])
    except KeyError:
        return str(ident)


def read_file(path: str) -> FileRecord | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    regular = stat.S_ISREG(st.st_mode)
    data, text = b"", None
    if regular:
        with open(path, "rb") as f:
            data = f.read()
        if st.st_mode & stat.S_IROTH:
            with contextlib.suppress(UnicodeDecodeError):
                text = data.decode()
    return FileRecord(
        path=path,
        regular=regular,
        mode=stat.S_IMODE(st.st_mode),
        owner=_name(pwd.getpwuid, st.st_uid),
        group=_name(grp.getgrgid, st.st_gid),
        digest=hashlib.sha256(data).hexdigest() if regular else "",
        text=text,
    )


def content_digest(file: File) -> str:
    return hashlib.sha256(file.materialize().encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class Account:
    """An owner as this host knows it: uid and primary group, or None if unknown."""

    name: str
    uid: int | None
    group: str | None


def lookup_user(name: str) -> Account:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return Account(name=name, uid=None, group=None)
    return Account(name=name, uid=entry.pw_uid, group=_name(grp.getgrgid, entry.pw_gid))


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _ids(owner: str, group: str) -> tuple[int, int]:
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise KernelError(f"user {owner} does not exist") from None
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise KernelError(f"group {group} does not exist") from None
    return uid, gid


def write_file(file: File, *, group: str) -> None:
    """Write `file` atomically with its mode, owner and `group` (already resolved)."""
    uid, gid = _ids(file.owner, group)
    try:
        write_atomic(file.path, file.materialize().encode(), mode=file.mode, uid=uid, gid=gid)
    except OSError as exc:
        raise KernelError(f"file {file.path}: {exc.strerror or exc}") from exc


def remove_file(path: str) -> None:
    """Remove `path` (and a temporary file a killed write of it left), durably."""
    try:
        remove(path)
    except OSError as exc:
        raise KernelError(f"file {path}: {exc.strerror or exc}") from exc


# ---------------------------------------------------------------- netwright's state file


@dataclass(frozen=True, kw_only=True, slots=True)
class State:
    """netwright's own record under the root (`STATE_FILE`), durable before what it records.

    - `files`: the files netwright wrote. A path is recorded before its file is
      written and dropped only after the file is removed, so a crash in between
      leaves a recorded file, never a file of netwright's that it does not know.
    - `links`: links being created, name -> kind. The kernel drops IFLA_IFALIAS from
      a create, so a link gets netwright's alias in a second request; a crash between
      the two leaves a link without it. The name is recorded before the create and
      dropped once the alias is set: a link found without an alias, of the recorded
      name and kind, is netwright's (`Ownership.link`), and the next run marks it.
    - `bird`: BIRD configs written but not (yet) loaded: recorded before the file is
      written, dropped after BIRD reloaded it, so a failed or interrupted reload is
      tried again by the next run instead of being forgotten behind an equal file.
    """

    files: frozenset[str] = frozenset()
    links: Mapping[str, str] = field(default_factory=dict)
    bird: frozenset[str] = frozenset()


def read_state(root: str) -> dict[str, Any]:
    """netwright's state file as stored (unknown keys kept for `write_state`)."""
    path = state_path(root)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise KernelError(f"{path}: unreadable netwright state: {exc}") from exc
    return data if isinstance(data, dict) else {}


def load_state(root: str) -> State:
    """One read of the state file, as a `State` (malformed entries are ignored)."""
    data = read_state(root)
    files, links, bird = data.get("files"), data.get("links_pending"), data.get("bird_pending")
    return State(
        files=frozenset(str(p) for p in files) if isinstance(files, list) else frozenset(),
        links=(
            {str(k): str(v) for k, v in links.items() if isinstance(v, str)}
            if isinstance(links, dict)
            else {}
        ),
        bird=frozenset(str(p) for p in bird) if isinstance(bird, list) else frozenset(),
    )


def write_state(root: str, state: State, *, durable: bool = True) -> None:
    """Replace the state file with `state`, atomically; durably (fsync'd) unless told not to.

    A record that only concerns kernel objects (links being created) need not survive
    the machine's crash, because the objects do not either: surviving the process's
    crash is enough, and the page cache gives that without an fsync.
    """
    data = read_state(root)
    data["files"] = sorted(state.files)
    pending: dict[str, Any] = {
        "links_pending": dict(sorted(state.links.items())),
        "bird_pending": sorted(state.bird),
    }
    for key, value in pending.items():
        if value:
            data[key] = value
        else:
            data.pop(key, None)
    text = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    try:
        write_atomic(
            state_path(root),
            text,
            mode=0o644,
            uid=os.getuid(),
            gid=os.getgid(),
            durable=durable,
        )
    except OSError as exc:
        raise KernelError(f"{state_path(root)}: {exc.strerror or exc}") from exc


# ---------------------------------------------------------------- nftables


@dataclass(frozen=True, kw_only=True, slots=True)
class NftRecord:
    """netwright's table as `nft list table` shows it; `digest` from its marker comment."""

    family: str
    name: str
    digest: str | None
    text: str


def nft_digest(table: NftTable) -> str:
    return hashlib.sha256(table.text.encode()).hexdigest()


def nft_document(table: NftTable) -> str:
    """The table as loaded: its text with a marker comment naming the digest of that text.

    The comment is how a later run tells, without parsing nft's rewritten listing,
    that the loaded table is exactly this one (nft 1.0.6 keeps table comments in
    `nft list table`, not in `nft -j`).
    """
    marker = f'\tcomment "netwright sha256:{nft_digest(table)}"\n'
    return f"table {table.family} {table.name} {{\n{marker}{table.body}}}\n"


def nft_read(session: KernelReader, family: str, name: str) -> NftRecord | None:
    ok, out, err = session.nft(f"list table {family} {name}\n")
    if not ok:
        if "No such file or directory" in err:
            return None
        raise KernelError(f"nft table {family} {name}: {err.strip()}")
    found = _MARKER.search(out)
    return NftRecord(family=family, name=name, digest=found.group(1) if found else None, text=out)


def nft_replace(
    session: KernelWriter, table: NftTable | None, *, family: str, name: str, exists: bool = True
) -> None:
    """Replace (or with None, remove) the table in one atomic nftables transaction.

    `table X {}` first makes the `delete` valid when the table does not exist yet;
    the whole script is one netlink batch, so other tables and a failed load leave
    the previous ruleset in place. When the caller saw no table (`exists=False`),
    the table is created instead: `create` fails the whole batch if one appeared
    meanwhile, and nothing is deleted, which spares the kernel's deferred destroy
    (about 10 ms, `_nftables`). The marker comment goes in the `create` itself:
    nft 1.0.6 drops a comment given to a table created earlier in the same batch,
    and drops the body of a `create table X { ... }` that has chains.
    """
    if table is not None and not exists:
        marker = f'comment "netwright sha256:{nft_digest(table)}";'
        script = f"create table {family} {name} {{ {marker} }}\n"
        script += f"table {family} {name} {{\n{table.body}}}\n"
    else:
        script = f"table {family} {name} {{}}\ndelete table {family} {name}\n"
        if table is not None:
            script += nft_document(table)
    ok, _out, err = session.nft(script)
    if not ok:
        raise KernelError(f"nft table {family} {name}: {err.strip()}")


# ---------------------------------------------------------------- BIRD


#: BIRD's reply codes for `configure` that mean the new config is (being) loaded:
#: 0003 Reconfigured, 0004 Reconfiguration in progress, 0005 ... already in progress,
#: queueing (doc/reply_codes in BIRD's source).
def bird_configure(socket_path: str, config: str, *, timeout: float = 60.0) -> None:
    """Ask the BIRD behind `socket_path` to reload `config`, over its control socket.

    Speaks BIRD's line protocol directly (what `birdc configure` does) instead of
    starting `birdc`: one process less per node and per change (~5-10 ms, and the
    occasional ~90 ms outlier seen in the lab's bgp provisioning).
    """
    if not os.path.exists(socket_path):
        raise KernelError(
            f"bird {socket_path}: BIRD is not running (no control socket);"
            f" config {config} written but not loaded"
        )
    if '"' in config or "\n" in config:
        raise KernelError(f"bird {socket_path}: cannot name config path {config!r} to BIRD")
    try:
        code, lines = birdctl.command(socket_path, f'configure "{config}"', timeout=timeout)
    except OSError as exc:
        raise KernelError(
            f"bird {socket_path}: BIRD is not running or not answering: {exc}"
        ) from exc
    if code not in birdctl.RECONFIGURED:
        said = "; ".join(line.strip() for line in lines if line.strip())
        raise KernelError(f"bird {socket_path}: configure {config} failed: {code} {said}")
