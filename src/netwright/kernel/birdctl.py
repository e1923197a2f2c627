"""BIRD's control socket: one command, one reply, in BIRD's own line protocol.

Why it exists: the engine reloads BIRD (`configure`) and the node agent asks it for its
sessions (`show protocols`); both speak the protocol `birdc` speaks, directly, instead
of starting `birdc` (one process less per node and per change). Every reply line is a
4-digit code and `-` (more follows) or ` ` (the last line), or a continuation starting
with a space that belongs to the previous code (doc/reply_codes in BIRD's source).

What it must not do: wait on a BIRD that does not answer (a timeout bounds each read),
or read without bound (a reply is cut off at `MAX_REPLY` bytes).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import io

#: A reply larger than this is refused: about 150,000 protocols' lines.
MAX_REPLY = 16 * 1024 * 1024
#: The final codes of a `configure` BIRD took: reconfigured, in progress, queued.
RECONFIGURED = frozenset({"0003", "0004", "0005"})


def failed(code: str) -> bool:
    """Is `code` an error (BIRD's 8xxx runtime and 9xxx parse errors)?"""
    return code[:1] in ("8", "9")


def _reply(stream: io.BufferedIOBase, budget: list[int]) -> tuple[str, list[str]]:
    """One reply: (final code, text lines)."""
    lines: list[str] = []
    while True:
        raw = stream.readline(65536)
        if not raw:
            raise OSError("BIRD closed the control connection")
        budget[0] -= len(raw)
        if budget[0] < 0:
            raise OSError(f"BIRD's reply exceeds {MAX_REPLY} bytes")
        line = raw.decode(errors="replace").rstrip("\n")
        if line.startswith(" "):
            lines.append(line[1:])
            continue
        code, sep, text = line[:4], line[4:5], line[5:]
        lines.append(text)
        if sep == " ":
            return code, lines


def command(socket_path: str, text: str, *, timeout: float) -> tuple[str, list[str]]:
    """Send `text` to the BIRD behind `socket_path`: its reply's final code and lines.

    OSError when BIRD is not there, does not answer within `timeout` per read, or
    answers more than `MAX_REPLY` bytes.
    """
    budget = [MAX_REPLY]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(socket_path)
        stream = conn.makefile("rwb")
        _reply(stream, budget)  # the greeting: 0001 BIRD <version> ready.
        stream.write(text.encode() + b"\n")
        stream.flush()
        return _reply(stream, budget)


@dataclass(frozen=True, slots=True)
class Session:
    """One BGP protocol of BIRD: its name, protocol state, since when, and BGP state with
    detail."""

    name: str
    state: str
    info: str
    since: str = ""

    @property
    def established(self) -> bool:
        return self.info.split(None, 1)[:1] == ["Established"]


def parse_protocols(lines: list[str]) -> list[Session]:
    """The BGP sessions among `show protocols` lines (name, proto, table, state, since,
    info; a BGP session's info is its BGP state and the last error)."""
    found = []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) >= 5 and parts[1] == "BGP":
            info = parts[5].strip() if len(parts) > 5 else ""
            found.append(Session(name=parts[0], state=parts[3], info=info, since=parts[4]))
    return found


def sessions(socket_path: str, *, timeout: float = 2.0) -> list[Session]:
    """The BGP sessions of the BIRD behind `socket_path` (OSError if it cannot say)."""
    code, lines = command(socket_path, "show protocols", timeout=timeout)
    if code != "0000":
        raise OSError(f"show protocols failed: {code}")
    return parse_protocols(lines)
