"""`lab bench --chart FILE.png`: the comparison drawn with matplotlib, an optional extra.

Why it exists: a table of ratios is exact, a picture is quicker to read. matplotlib
is heavy and optional (`pip install 'netwright[chart]'`), so it is imported only
here, only when a chart was asked for, and `require` checks for it before any lab
is built, so that a missing extra costs one line and no minutes.

What it must not do: import matplotlib at module level, or pick a GUI backend (the
Agg backend draws files only; the bench runs as root, often with no display).
"""

from __future__ import annotations

from typing import Any

from netwright.lab import LabError

#: (figure key, panel title): one panel per kind of figure, pods next to the baseline.
PANELS = (
    (("throughputCrossNode", "throughputSameNode"), "TCP throughput (Mbit/s)"),
    (("perCpuCrossNode", "perCpuSameNode"), "TCP per CPU second of iperf3 (Mbit)"),
    (("latencyCrossNode", "latencySameNode"), "round trip, median (ms)"),
    (("pathMtuCrossNode", "pathMtuSameNode"), "path MTU (bytes)"),
    (("wireFrameCrossNode",), "frame of the same ping on the wire (bytes)"),
)
BASELINE = "underlay baseline (node to node)"
COLOURS = {"pods, across nodes": "tab:blue", "pods, one node": "tab:cyan", BASELINE: "tab:gray"}


def require() -> None:
    """Fail with one line, before anything is built, when matplotlib is not installed."""
    try:
        import matplotlib as mpl  # noqa: PLC0415, F401
    except ImportError:
        raise LabError(
            "--chart needs matplotlib, an optional extra: pip install 'netwright[chart]'"
        ) from None


def draw(entries: list[dict[str, Any]], path: str) -> None:
    """One panel per kind of figure; per backend a bar per pod pair and one for the baseline."""
    require()
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(3, 2, figsize=(12, 12))
    axes.flat[-1].set_visible(False)  # five panels
    for ax, (keys, title) in zip(axes.flat, PANELS, strict=False):
        series = [(k, "value", _label(k)) for k in keys] + [(keys[0], "baseline", BASELINE)]
        width = 0.8 / len(series)
        fmt = "{:.3f}" if keys[0].startswith("latency") else "{:.0f}"
        for i, (key, field, label) in enumerate(series):
            values = [float(e["figures"][key][field]) for e in entries]
            xs = [b + (i - (len(series) - 1) / 2) * width for b in range(len(entries))]
            bars = ax.bar(xs, values, width, label=label, color=COLOURS[label])
            ax.bar_label(bars, fmt=fmt, fontsize=7)
        ax.set_title(title)
        ax.set_xticks(range(len(entries)), [e["backend"] for e in entries])
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)
    runs = f"median of {entries[0]['runs']} x {entries[0]['seconds']} s" if entries else ""
    fig.suptitle(f"netwright lab bench: pods next to the underlay baseline (iperf3 {runs})")
    fig.tight_layout()
    try:
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)


def _label(key: str) -> str:
    return "pods, one node" if key.endswith("SameNode") else "pods, across nodes"
