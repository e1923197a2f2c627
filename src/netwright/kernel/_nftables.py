"""nftables scripts run in-process through libnftables, in the target's namespace.

Why it exists: `nft -f` as a process costs 2.6 ms to add a table and 16 ms to
replace one on this VM, `nft list table` 2 ms; through libnftables (the library the
`nft` program is a front end of, same parser, same netlink batch, same output) the
same scripts take 0.05 to 1.2 ms. A lab node's whole provisioning budget is about
13 ms (the same steps wired by hand, benchmarks/bench_lab.py).

What it must not do: outlive its namespace binding, or hide a failure. The context
is created while the thread is inside the target namespace and every command runs
there too, so whether libnftables opens its netlink socket at `nft_ctx_new` or on
first use, the socket belongs to the target. When the library cannot be loaded the
caller falls back to the `nft` program (`Session.nft`), with the same scripts.

A kernel fact worth knowing here: closing an nfnetlink socket right after a commit
that deleted something waits for nf_tables' deferred destroy work (an RCU grace
period, `nft_rcv_nl_event` -> `nf_tables_trans_destroy_flush_work`; about 10 ms
here, seen as a slow `close()` under strace). Adding a table deletes nothing, which
is why a first apply creates the table instead of replacing it (`host.nft_replace`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

_LIB: Any = None
_LOADED = False


def _library() -> Any:
    """libnftables, or None when it is not installed (loaded once per process)."""
    global _LIB, _LOADED  # noqa: PLW0603 - one dlopen per process
    if not _LOADED:
        _LOADED = True
        for name in ("libnftables.so.1", ctypes.util.find_library("nftables")):
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name)
            except OSError:
                continue
            vp, cp = ctypes.c_void_p, ctypes.c_char_p
            for fn, args, res in (
                ("nft_ctx_new", [ctypes.c_uint32], vp),
                ("nft_ctx_free", [vp], None),
                ("nft_ctx_buffer_output", [vp], ctypes.c_int),
                ("nft_ctx_buffer_error", [vp], ctypes.c_int),
                ("nft_ctx_get_output_buffer", [vp], cp),
                ("nft_ctx_get_error_buffer", [vp], cp),
                ("nft_run_cmd_from_buffer", [vp, cp], ctypes.c_int),
            ):
                getattr(lib, fn).argtypes = args
                getattr(lib, fn).restype = res
            _LIB = lib
            break
    return _LIB


class Context:
    """One libnftables context; create and use it inside the target namespace."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        ctx = lib.nft_ctx_new(0)
        if not ctx:
            raise OSError("nft_ctx_new failed")
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        self._ctx = ctx

    def run(self, script: str) -> tuple[bool, str, str]:
        """(succeeded, output, error text) of one script, one transaction."""
        lib = self._lib
        rc = lib.nft_run_cmd_from_buffer(self._ctx, script.encode())
        out = (lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode(errors="replace")
        err = (lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode(errors="replace")
        return rc == 0, out, err

    def close(self) -> None:
        if self._ctx:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None


def open_context() -> Context | None:
    """A context in the calling thread's namespace; None without libnftables."""
    lib = _library()
    return None if lib is None else Context(lib)
