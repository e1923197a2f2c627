"""The netlink socket: dumps, and batches of requests with one acknowledgement barrier.

Why it exists: thousands of requests go out many per `send()`, and their errors
must come back mapped to the message that caused them. The hard cases:

- Errors arrive asynchronously: messages sent without NLM_F_ACK stay silent on
  success and answer with an NLMSG_ERROR carrying their sequence number on failure.
  A final NLMSG_NOOP with NLM_F_ACK is the barrier: rtnetlink handles a socket's
  messages in order and synchronously inside `send()`, so once the barrier's ack
  arrives every earlier error has been queued before it (`netlink_rcv_skb`).
- Thousands of errors could overflow the receive buffer: NETLINK_CAP_ACK keeps each
  error at 36 bytes, the buffer is forced large, and pending errors are drained
  between chunks.
- A dump can be interrupted by a concurrent change (NLM_F_DUMP_INTR): the dump is
  retried, a few times, then reported.
"""

from __future__ import annotations

import errno as errno_mod
import itertools
import os
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netwright.errors import KernelError
from netwright.kernel._netlink.constants import (
    HDR,
    I32,
    NETLINK_CAP_ACK,
    NETLINK_EXT_ACK,
    NLM_F_ACK,
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_NOOP,
    NLMSGERR_ATTR_MSG,
    SOL_NETLINK,
    Message,
    Run,
)
from netwright.kernel._netlink.decode import (
    attrs,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

_CHUNK = 64 * 1024
_RCVBUF = 32 * 1024 * 1024
_SNDBUF = 4 * 1024 * 1024


# ---------------------------------------------------------------- the socket


@dataclass(frozen=True, slots=True)
class Failure:
    """The kernel refused message number `index` of a batch."""

    index: int
    errno: int
    message: str  # the kernel's extended ack text, "" when it sent none

    def __str__(self) -> str:
        name = errno_mod.errorcode.get(self.errno, str(self.errno))
        text = f"{name} ({os.strerror(self.errno)})"
        return f"{text}: {self.message}" if self.message else text


class Socket:
    """One NETLINK_ROUTE socket, created in whatever namespace the thread is in."""

    def __init__(self) -> None:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        try:
            sock.bind((0, 0))
            for opt, size in ((33, _RCVBUF), (32, _SNDBUF)):  # SO_RCVBUFFORCE, SO_SNDBUFFORCE
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, size)
                except PermissionError:
                    base = socket.SO_RCVBUF if opt == 33 else socket.SO_SNDBUF
                    sock.setsockopt(socket.SOL_SOCKET, base, size)
            sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._seq = 1
        self._buf = bytearray(1 << 20)
        self._strides: dict[int, struct.Struct] = {}

    def close(self) -> None:
        self._sock.close()

    def _next_seq(self, count: int = 1) -> int:
        seq = self._seq
        self._seq = (self._seq + count) & 0x7FFFFFFF or 1
        return seq

    def _recv(self, flags: int = 0) -> bytes:
        n = self._sock.recv_into(self._buf, len(self._buf), flags)
        return bytes(self._buf[:n])

    @staticmethod
    def _error(data: bytes, off: int, end: int, flags: int) -> tuple[int, str]:
        code = -I32.unpack_from(data, off + 16)[0]
        text = ""
        if flags & NLM_F_ACK_TLVS:
            start = off + 16 + 4 + 16
            if not flags & NLM_F_CAPPED:
                start = off + 16 + 4 + HDR.unpack_from(data, off + 20)[0]
            tlv = attrs(data, start, end)
            if NLMSGERR_ATTR_MSG in tlv:
                text = tlv[NLMSGERR_ATTR_MSG].rstrip(b"\0").decode(errors="replace")
        return code, text

    def dump(self, kind: int, payload: bytes, *, what: str) -> list[tuple[bytes, int, int]]:
        """All answers to one dump request, as (buffer, payload start, message end)."""
        out: list[tuple[bytes, int, int]] = []
        for data, off, count, length in self.dump_runs(kind, payload, what=what):
            if count == 1:
                out.append((data, off, off + length))
            else:
                stride = (length + 19) & ~3
                stop = off + count * stride
                out.extend(
                    zip(
                        itertools.repeat(data, count),
                        range(off, stop, stride),
                        range(off + length, stop, stride),
                        strict=True,
                    )
                )
        return out

    def dump_runs(self, kind: int, payload: bytes, *, what: str) -> list[Run]:
        """All answers to one dump request, as runs of back-to-back identical headers.

        Each run is (buffer, first payload start, message count, payload length):
        its messages share one header (length, type, flags, sequence number, port),
        so one check of that header stands for all of them, and a run's headers are
        found by one `iter_unpack` per run instead of Python code per message. Only
        the first header of a run is read in Python; the next ones are compared
        with it in C, and the run ends at the first that differs (each equal header
        has the same length, so the next message really starts one stride later).
        """
        for _attempt in range(5):
            seq = self._next_seq()
            self._sock.send(
                HDR.pack(16 + len(payload), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + payload
            )
            out: list[Run] = []
            interrupted = False
            done = False
            while not done:
                data = self._recv()
                size = len(data)
                view = memoryview(data)
                off = 0
                while off + 16 <= size:
                    head = HDR.unpack_from(data, off)
                    length, mtype, flags, mseq, _pid = head
                    if length < 16:
                        break
                    stride = (length + 3) & ~3
                    count = 1
                    fit = (size - off) // stride
                    if fit > 1 and mseq == seq and mtype not in (NLMSG_DONE, NLMSG_ERROR):
                        step = self._strides.get(stride)
                        if step is None:
                            step = self._strides[stride] = struct.Struct(f"=IHHII{stride - 16}x")
                        same = itertools.takewhile(
                            head.__eq__, step.iter_unpack(view[off : off + fit * stride])
                        )
                        count = len(list(same))
                    end = off + length
                    if mseq == seq:
                        if flags & NLM_F_DUMP_INTR:
                            interrupted = True
                        if mtype == NLMSG_DONE:
                            done = True
                        elif mtype == NLMSG_ERROR:
                            code, text = self._error(data, off, end, flags)
                            if code:
                                raise OSError(code, f"{what}: {os.strerror(code)} {text}".rstrip())
                            done = True
                        else:
                            out.append((data, off + 16, count, length - 16))
                    off += count * stride
            if not interrupted:
                return out
        raise KernelError(f"{what}: the dump kept being interrupted by concurrent changes")

    def transact(self, messages: Sequence[Message]) -> list[Failure]:
        """Send `messages` in order, many per send(), and wait for one ack barrier.

        Returns the failures by index into `messages`; an empty list means all done.
        """
        if not messages:
            return []
        base = self._next_seq(len(messages) + 1)
        barrier = (base + len(messages)) & 0x7FFFFFFF
        failures: list[Failure] = []
        chunk: list[bytes] = []
        size = 0
        for i, (kind, flags, payload) in enumerate(messages):
            seq = (base + i) & 0x7FFFFFFF
            chunk.append(HDR.pack(16 + len(payload), kind, NLM_F_REQUEST | flags, seq, 0))
            chunk.append(payload)
            size += 16 + len(payload)
            if size >= _CHUNK:
                self._sock.send(b"".join(chunk))
                chunk, size = [], 0
                self._drain(base, len(messages), barrier, failures, block=False)
        chunk.append(HDR.pack(16, NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, barrier, 0))
        self._sock.send(b"".join(chunk))
        self._drain(base, len(messages), barrier, failures, block=True)
        return failures

    def _drain(
        self,
        base: int,
        count: int,
        barrier: int,
        failures: list[Failure],
        *,
        block: bool,
    ) -> None:
        while True:
            try:
                data = self._recv(0 if block else socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            off = 0
            while off + 16 <= len(data):
                length, mtype, flags, mseq, _pid = HDR.unpack_from(data, off)
                if length < 16:
                    break
                end = off + length
                if mtype == NLMSG_ERROR:
                    code, text = self._error(data, off, end, flags)
                    if mseq == barrier:
                        return
                    index = (mseq - base) & 0x7FFFFFFF
                    if code and index < count:
                        failures.append(Failure(index, code, text))
                off = (end + 3) & ~3


def chunks(items: Iterable[Message], size: int) -> Iterator[list[Message]]:
    batch: list[Message] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
