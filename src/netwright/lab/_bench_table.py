"""`lab bench`'s text output: one row per figure, one column per backend.

Why it exists: the bench's entries are data (`-o json` prints them as they are);
this turns them into the table a person reads, every cell the pods' figure next to
the underlay baseline's and their ratio, and lists the headers seen on the wire.

What it must not do: compute a figure (it formats what was measured, nothing more).
"""

from __future__ import annotations

from typing import Any

#: (JSON key, what the table calls it, unit): every figure, in table order.
FIGURES = (
    ("throughputCrossNode", "TCP throughput, pod to pod across nodes", "Mbit/s"),
    ("throughputSameNode", "TCP throughput, pod to pod on one node", "Mbit/s"),
    ("perCpuCrossNode", "TCP per CPU second, across nodes", "Mbit"),
    ("perCpuSameNode", "TCP per CPU second, on one node", "Mbit"),
    ("latencyCrossNode", "round trip (median), across nodes", "ms"),
    ("latencySameNode", "round trip (median), on one node", "ms"),
    ("pathMtuCrossNode", "path MTU, across nodes", "bytes"),
    ("pathMtuSameNode", "path MTU, on one node", "bytes"),
    ("wireFrameCrossNode", "frame of a 1000-byte ping on the wire", "bytes"),
)


def _cell(f: dict[str, Any]) -> str:
    def num(x: float) -> str:
        return f"{x:.3f}" if f["unit"] == "ms" else f"{x:.0f}"

    ratio = f"{f['ratio']:.3g}" if f["ratio"] is not None else "-"
    return f"{num(f['value'])} / {num(f['baseline'])} ({ratio})"


def table(entries: list[dict[str, Any]], *, nodes: int, pods: int) -> list[str]:
    """The comparison as text lines: one row per figure, one column per backend."""
    if not entries:
        return []
    rows = [
        [f"{title} ({unit})"] + [_cell(e["figures"][key]) for e in entries]
        for key, title, unit in FIGURES
    ]
    rows.append(
        ["encapsulation overhead (bytes/packet)"]
        + [f"{e['encapsulationOverhead']:+d}" for e in entries]
    )
    header = ["figure: pods / underlay baseline (ratio)"] + [e["backend"] for e in entries]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        (
            f"lab bench: {nodes} nodes, {pods} pods on each; throughput: the median of "
            f"{entries[0]['runs']} iperf3 runs of {entries[0]['seconds']} s per pair"
        ),
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("headers around the ping on the wire:")
    lines.append(f"  {'underlay baseline':<17} {entries[0]['wireHeaders']['baseline']}")
    lines += [f"  {e['backend']:<17} {e['wireHeaders']['crossNode']}" for e in entries]
    return lines
