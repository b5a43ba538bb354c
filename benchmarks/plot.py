"""``throughput.png``: chunks per second of every client, per stream and event loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .clients import DRIVERS

_COLOURS = {
    "raw": "#9e9e9e",
    "httpx-sse": "#8da0cb",
    "openai": "#fc8d62",
    "openai-helper": "#e5a88a",
    "sudo-ai": "#e78ac3",
    "sudo_stream": "#1b9e77",
    "sudo_stream-final": "#33b08d",
    "sudo_stream-events": "#66c2a5",
}


def plot_throughput(results: dict[str, Any], path: Path) -> bool:
    """Draw the throughput bars (log scale) into ``path``; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = results.get("throughput", [])
    panels: list[tuple[str, str]] = []
    for r in rows:
        if (r["stream"], r["backend"]) not in panels:
            panels.append((r["stream"], r["backend"]))
    measured = [r for r in rows if r["n"] and not r.get("error")]
    if not measured:
        return False
    low = min(r["chunks"] / r["max"] for r in measured) / 2
    high = max(r["chunks"] / r["min"] for r in measured) * 4
    clients = [name for name in DRIVERS if any(r["client"] == name for r in rows)]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(9, 1.0 + 0.42 * len(clients) * len(panels)),
        squeeze=False,
        sharex=True,
    )
    for ax, (stream, backend) in zip(axes[:, 0], panels, strict=True):
        mine = {r["client"]: r for r in rows if (r["stream"], r["backend"]) == (stream, backend)}
        names = [name for name in clients if name in mine]
        ok = [bool(mine[n]["n"]) and not mine[n].get("error") for n in names]
        rates = [
            mine[n]["chunks"] / mine[n]["median"] if good else low
            for n, good in zip(names, ok, strict=True)
        ]
        lows = [
            rate - mine[n]["chunks"] / mine[n]["max"] if good else 0
            for n, rate, good in zip(names, rates, ok, strict=True)
        ]
        highs = [
            mine[n]["chunks"] / mine[n]["min"] - rate if good else 0
            for n, rate, good in zip(names, rates, ok, strict=True)
        ]
        labels = [DRIVERS[n].label for n in names]  # type: ignore[attr-defined]
        ax.barh(
            labels,
            rates,
            xerr=[lows, highs],
            color=[_COLOURS.get(n, "#999999") for n in names],
            capsize=2,
        )
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        ax.set_title(f"{stream} stream, {backend}", fontsize=10, loc="left")
        for y, (rate, up, good) in enumerate(zip(rates, highs, ok, strict=True)):
            text = f"{rate:,.0f}" if good else "fails on this stream"
            ax.text((rate + up) * 1.08 if good else low * 1.1, y, text, va="center", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[-1, 0].set_xlabel("chunks per second (median, bars: min-max over rounds; log scale)")
    fig.suptitle("sudo_stream benchmarks: single-stream throughput over loopback HTTP/1.1")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
