"""The node's BGP sessions, as its BIRD reports them (`show protocols` on its control socket).

Why it exists: the agent's status says how many of the node's BGP sessions are
Established and names those that are not, so an operator sees a broken peering on
the NodeNetworkConfig without logging into the node. The engine only reloads BIRD;
reading its sessions is the agent's own business.

It speaks BIRD's control protocol directly, as the engine's reload does: every reply
line is a 4-digit code and `-` (more follows) or ` ` (the last line), or a
continuation starting with a space. `show protocols` answers a header (2002) and one
line per protocol (1002): name, protocol, table, state, since, info; a BGP session's
info is its BGP state (`Established`, `Active`, `Connect`...) and the last error.

What it must not do: wait on a BIRD that does not answer (a timeout bounds each read),
or read without bound (a reply is capped at `MAX_REPLY` bytes).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import io

#: A reply larger than this is cut off: about 150,000 protocols' lines.
MAX_REPLY = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Session:
    """One BGP protocol of BIRD: its name, protocol state and BGP state with detail."""

    name: str
    state: str
    info: str

    @property
    def established(self) -> bool:
        return self.info.split(None, 1)[:1] == ["Established"]


class BirdUnavailableError(OSError):
    """BIRD is not running at the socket, or did not answer in time."""


def parse_protocols(lines: list[str]) -> list[Session]:
    """The BGP sessions among `show protocols` lines (codes and continuations removed)."""
    found = []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) >= 5 and parts[1] == "BGP":
            info = parts[5].strip() if len(parts) > 5 else ""
            found.append(Session(name=parts[0], state=parts[3], info=info))
    return found


def _reply(stream: io.BufferedIOBase, budget: list[int]) -> tuple[str, list[str]]:
    lines: list[str] = []
    while True:
        raw = stream.readline(65536)
        if not raw:
            raise BirdUnavailableError("BIRD closed the control connection")
        budget[0] -= len(raw)
        if budget[0] < 0:
            raise BirdUnavailableError(f"BIRD's reply exceeds {MAX_REPLY} bytes")
        line = raw.decode(errors="replace").rstrip("\n")
        if line.startswith(" "):
            lines.append(line[1:])
            continue
        code, sep, text = line[:4], line[4:5], line[5:]
        lines.append(text)
        if sep == " ":
            return code, lines


def sessions(socket_path: str, *, timeout: float = 2.0) -> list[Session]:
    """The BGP sessions of the BIRD behind `socket_path`; BirdUnavailableError if it cannot say."""
    budget = [MAX_REPLY]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(socket_path)
            stream = conn.makefile("rwb")
            _reply(stream, budget)  # the greeting: 0001 BIRD <version> ready.
            stream.write(b"show protocols\n")
            stream.flush()
            code, lines = _reply(stream, budget)
    except BirdUnavailableError:
        raise
    except OSError as exc:
        raise BirdUnavailableError(f"BIRD at {socket_path} is not answering: {exc}") from exc
    if code != "0000":
        raise BirdUnavailableError(f"BIRD at {socket_path}: show protocols failed: {code}")
    return parse_protocols(lines)
