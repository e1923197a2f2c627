"""The fast path for dumps: message layouts learnt once, then read in C.

Why it exists: a full parse of a 5,000-route dump costs far more than the kernel's
work (0.8 s with pyroute2; the Python attribute walk of `decode` about 1 us per
attribute). A `FastParser` learns each layout the first time it sees it and checks
every later message against it; it belongs to one session (`rtnl.Session`), and
keeps at most 64 layouts.
"""

from __future__ import annotations

import functools
import itertools
import operator
import socket
import struct
from typing import TYPE_CHECKING, Any, NamedTuple

from netwright.kernel._netlink.constants import (
    NDA_DST,
    NDA_LLADDR,
    NHA_BLACKHOLE,
    NHA_GATEWAY,
    NHA_GROUP,
    NHA_ID,
    NHA_OIF,
    RTA,
    RTA_DST,
    RTA_GATEWAY,
    RTA_MULTIPATH,
    RTA_NH_ID,
    RTA_OIF,
    RTA_PREFSRC,
    RTA_PRIORITY,
    RTA_TABLE,
    Run,
)
from netwright.kernel._netlink.decode import (
    _ZERO4,
    _ZERO16,
    RawNeighbour,
    RawNexthop,
    RawRoute,
    parse_neighbour,
    parse_nexthop,
    parse_route,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

# ---------------------------------------------------------------- the fast path for dumps
#
# A dump of thousands of routes, nexthops or neighbours repeats a handful of message
# layouts: the same attributes, in the same order, with the same sizes. Walking the
# attributes of each message in Python costs about 1 us per attribute; for a layout
# seen before, one `Struct.unpack_from` reads the header, every attribute header and
# every value at once, and a C-level comparison of the attribute headers (plus the
# family) proves the message really has that layout. Anything else (a new layout, an
# attribute the record cannot express such as RTA_MULTIPATH or NHA_GROUP, trailing
# bytes) takes the full parse above, which stays the reference: the tests compare
# both on pyroute2-encoded and kernel-dumped messages.


def _maker(cls: type) -> Callable[[Iterable[Any]], Any]:
    """`cls._make` without its Python frame and length check (`pick` gives every field)."""
    return functools.partial(tuple.__new__, cls)


class _Head(NamedTuple):
    """A field's default: header field number `at` (e.g. rtm_table without RTA_TABLE)."""

    at: int


class _Layout(NamedTuple):
    unpack: Callable[[bytes, int], tuple[Any, ...]]
    check: Callable[[tuple[Any, ...]], Any]  # picks the family and attribute headers
    expected: Any
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]  # the record's fields from vals+defaults
    defaults: tuple[Any, ...]
    run: struct.Struct  # the same layout behind its 16-byte header, padded: a run of messages
    picks: tuple[int, ...]  # where each record field sits in vals+defaults
    family: bytes  # the family byte `check` expects
    heads: tuple[tuple[int, bytes], ...]  # each attribute header: (payload offset, its bytes)


class FastParser:
    """Parses one kind of message through cached layouts, falling back to `slow`.

    `head`: struct format of the fixed header (its first field is the family).
    `u32` / `raw`: attribute types read as a u32 or as bytes; `refuse`: types whose
    presence sends the message to the full parse; others are skipped. `fields`: for
    each record field, ("head", i), ("attr", type, default) or ("const", value); a
    default may be `_Head(i)` or a dict by family.
    """

    def __init__(
        self,
        *,
        head: str,
        u32: frozenset[int],
        raw: frozenset[int],
        refuse: frozenset[int],
        fields: Sequence[tuple[Any, ...]],
        make: Callable[[Iterable[Any]], Any],
        slow: Callable[[bytes, int, int], Any],
    ) -> None:
        self.head = head
        self.head_size = struct.calcsize("=" + head)
        self.head_count = len(struct.unpack("=" + head, bytes(self.head_size)))
        self.u32, self.raw, self.refuse = u32, raw, refuse
        self.fields = fields
        self.make = make
        self.slow = slow
        self.layouts: dict[int, _Layout | None] = {}

    def _compile(self, data: bytes, off: int, end: int) -> _Layout | None:
        fmt = ["=", self.head]
        n = self.head_count
        checks = [0]
        expected: list[int] = [data[off]]
        where: dict[int, int] = {}
        heads: list[tuple[int, bytes]] = []
        pos = off + self.head_size
        while pos + 4 <= end:
            size, kind = RTA.unpack_from(data, pos)
            if size < 4 or pos + size > end:
                return None
            plain = kind & 0x3FFF
            if plain in self.refuse or plain in where:
                return None
            pad = (-size) % 4
            heads.append((pos - off, data[pos : pos + 4]))
            fmt.append("HH")
            checks += [n, n + 1]
            expected += [size, kind]
            n += 2
            if plain in self.u32 and size == 8:
                fmt.append("I")
                where[plain] = n
                n += 1
            elif plain in self.raw:
                fmt.append(f"{size - 4}s")
                where[plain] = n
                n += 1
            elif size > 4:
                fmt.append(f"{size - 4}x")
            if pad:
                fmt.append(f"{pad}x")
            pos += size + pad
        unpack = struct.Struct("".join(fmt))
        if unpack.size != end - off:
            return None
        run = struct.Struct("=16x" + "".join(fmt[1:]) + "x" * (-(end - off) % 4))
        defaults: list[Any] = []
        picks = []
        for spec in self.fields:
            if spec[0] == "head":
                picks.append(spec[1])
            elif spec[0] == "attr" and spec[1] in where:
                picks.append(where[spec[1]])
            elif spec[0] == "attr" and isinstance(spec[2], _Head):
                picks.append(spec[2].at)
            else:
                default = spec[-1]
                if isinstance(default, dict):
                    default = default.get(data[off])
                picks.append(n + len(defaults))
                defaults.append(default)
        return _Layout(
            unpack.unpack_from,
            operator.itemgetter(*checks),
            tuple(expected) if len(checks) > 1 else expected[0],
            operator.itemgetter(*picks),
            tuple(defaults),
            run,
            tuple(picks),
            data[off : off + 1],
            tuple(heads),
        )

    def __call__(self, data: bytes, off: int, end: int) -> Any:
        length = end - off
        layout = self.layouts.get(length)
        if layout is not None:
            vals = layout.unpack(data, off)
            if layout.check(vals) == layout.expected:
                return self.make(layout.pick(vals + layout.defaults))
        if len(self.layouts) >= 64 and length not in self.layouts:
            self.layouts.clear()  # a long-lived parser: keep learning, within bounds
        self.layouts[length] = self._compile(data, off, end)
        return self.slow(data, off, end)

    def parse_runs(self, runs: Sequence[Run]) -> list[Any]:
        """Every message of `runs` (`Socket.dump_runs`), in order, as `self` parses it.

        A run of same-length messages whose layout is known is unpacked by one
        `iter_unpack` (headers skipped: `dump_runs` has read them), its layout
        checks compared in C, and its records built by `map`, so no Python code
        runs per message. A message that fails its check takes the full parse.
        """
        out: list[Any] = []
        for data, start_off, all_count, length in runs:
            off, count = start_off, all_count
            stride = (length + 19) & ~3
            if length not in self.layouts:  # the first of its length: parse it, compile
                out.append(self(data, off, off + length))
                off, count = off + stride, count - 1
            layout = self.layouts.get(length)
            if layout is None or count <= 1:
                out.extend(
                    self(data, o, o + length) for o in range(off, off + count * stride, stride)
                )
                continue
            start = off - 16
            vals = list(
                layout.run.iter_unpack(memoryview(data)[start : start + count * layout.run.size])
            )
            expected = layout.expected
            checks = list(map(layout.check, vals))
            defaults = itertools.repeat(layout.defaults)
            if checks.count(expected) == count:
                out.extend(map(self.make, map(layout.pick, map(tuple.__add__, vals, defaults))))
                continue
            for k, v in enumerate(vals):
                if checks[k] == expected:
                    out.append(self.make(layout.pick(v + layout.defaults)))
                else:
                    o = off + k * layout.run.size
                    out.append(self.slow(data, o, o + length))
        return out

    def _unpack_run(self, run: Run) -> tuple[_Layout, list[tuple[Any, ...]]] | None:
        """The layout of `run` and each message's values, if every message has it."""
        data, off, count, length = run
        if length not in self.layouts and count > 1:
            if len(self.layouts) >= 64:
                self.layouts.clear()
            self.layouts[length] = self._compile(data, off, off + length)
        layout = self.layouts.get(length)
        if layout is None or count < 2:
            return None
        start = off - 16
        size = layout.run.size
        # `layout.check` for every message at once: its family byte and attribute
        # headers, each read across the run with one strided slice.
        view = memoryview(data)
        span = (count - 1) * size
        if view[off : off + span + 1 : size].tobytes() != layout.family * count:
            return None
        step = size // 4
        for at, head in layout.heads:
            if view[off + at : off + at + span + 4].cast("I")[::step].tobytes() != head * count:
                return None
        return layout, list(layout.run.iter_unpack(view[start : start + count * size]))

    def columns(self, run: Run, fields: Sequence[int]) -> list[Sequence[Any]] | None:
        """Record fields `fields` of every message of `run`, one sequence per field,
        without building a record; None when `match_run` would return None."""
        unpacked = self._unpack_run(run)
        if unpacked is None:
            return None
        layout, vals = unpacked
        across = list(zip(*vals, strict=True))
        width = len(across)
        out: list[Sequence[Any]] = []
        for f in fields:
            at = layout.picks[f]
            out.append(across[at] if at < width else [layout.defaults[at - width]] * len(vals))
        return out

    def match_run(
        self, run: Run, key: Sequence[int], table: Mapping[Any, Any], also: Sequence[int]
    ) -> tuple[list[Any], list[Any], list[Any]] | None:
        """Split one run by a lookup, without building records for the hits.

        `key`: record field numbers (two or more); `also`: record field numbers
        (none: no values; one: the field's value; more: a tuple). Returns the
        `table` values of the messages whose record fields `key`, as a tuple, are
        a key of `table` (a value is never None), the record fields `also` of each
        of those, and the records of the other messages, in order; every value is
        what `self` would parse. None when the run has no compiled layout or a
        message fails its check: then `parse_runs` is the way.
        """
        unpacked = self._unpack_run(run)
        if unpacked is None:
            return None
        layout, vals = unpacked
        count = len(vals)
        picks = layout.picks
        width = len(vals[0])
        if all(picks[f] < width for f in (*key, *also)):
            full = vals  # every field needed is in the message: no defaults to add
        else:
            full = list(map(tuple.__add__, vals, itertools.repeat(layout.defaults)))
        hits = list(map(table.get, map(operator.itemgetter(*(picks[f] for f in key)), full)))
        alsos = list(map(operator.itemgetter(*(picks[f] for f in also)), full)) if also else []
        if None not in hits:
            return hits, alsos, []
        defaults = layout.defaults if full is vals else ()
        if hits.count(None) == count:  # no hit (a removal): every record, built in C
            rows = map(tuple.__add__, full, itertools.repeat(defaults)) if defaults else full
            return [], [], list(map(self.make, map(layout.pick, rows)))
        rest = [self.make(layout.pick(full[k] + defaults)) for k, h in enumerate(hits) if h is None]
        kept = [k for k, h in enumerate(hits) if h is not None]
        return [hits[k] for k in kept], [alsos[k] for k in kept] if also else [], rest


def route_parser() -> FastParser:
    """`parse_route`, through cached layouts."""
    return FastParser(
        head="BBBBBBBBI",
        u32=frozenset({RTA_TABLE, RTA_PRIORITY, RTA_OIF, RTA_NH_ID}),
        raw=frozenset({RTA_DST, RTA_GATEWAY, RTA_PREFSRC}),
        refuse=frozenset({RTA_MULTIPATH}),
        fields=(
            ("head", 0),
            ("attr", RTA_DST, {socket.AF_INET: _ZERO4, socket.AF_INET6: _ZERO16}),
            ("head", 1),
            ("attr", RTA_TABLE, _Head(4)),
            ("attr", RTA_PRIORITY, 0),
            ("head", 3),
            ("head", 5),
            ("head", 7),
            ("head", 6),
            ("head", 8),
            ("attr", RTA_GATEWAY, None),
            ("attr", RTA_OIF, 0),
            ("attr", RTA_PREFSRC, None),
            ("attr", RTA_NH_ID, 0),
            ("const", False),
        ),
        make=_maker(RawRoute),
        slow=parse_route,
    )


def nexthop_parser() -> FastParser:
    """`parse_nexthop`, through cached layouts (groups and blackholes: the full parse)."""
    return FastParser(
        head="BBBBI",
        u32=frozenset({NHA_ID, NHA_OIF}),
        raw=frozenset({NHA_GATEWAY}),
        refuse=frozenset({NHA_GROUP, NHA_BLACKHOLE}),
        fields=(
            ("attr", NHA_ID, 0),
            ("head", 0),
            ("head", 2),
            ("head", 4),
            ("attr", NHA_GATEWAY, None),
            ("attr", NHA_OIF, 0),
            ("const", False),
            ("const", False),
        ),
        make=_maker(RawNexthop),
        slow=parse_nexthop,
    )


def neighbour_parser() -> FastParser:
    """`parse_neighbour`, through cached layouts."""
    return FastParser(
        head="BBHiHBB",
        u32=frozenset(),
        raw=frozenset({NDA_DST, NDA_LLADDR}),
        refuse=frozenset(),
        fields=(
            ("head", 0),
            ("head", 3),
            ("head", 4),
            ("head", 5),
            ("attr", NDA_DST, None),
            ("attr", NDA_LLADDR, None),
        ),
        make=_maker(RawNeighbour),
        slow=parse_neighbour,
    )
