"""The operations page's picture: each task's duration per run over time, a line per task, as a PNG. Drawn on a
matplotlib ``Figure`` (not pyplot: no backend is chosen or switched; ``savefig`` to PNG renders with Agg).

The PNG keeps a digest of the numbers it shows (a ``tEXt`` chunk); when they did not change — a rerun with
nothing changed, an approval — it is not drawn again, so those paths never import matplotlib (nor numpy)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import struct
from pathlib import Path

from aapl_lib.io.iorw import atomic_write_bytes

KEY = "aapl-durations-sha256"  # the PNG text chunk naming the numbers drawn
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def series_digest(series: dict[str, list[tuple[dt.datetime, float, str]]]) -> str:
    """A digest of everything the plot shows (tasks, run start times, seconds, run ids)."""
    flat = {name: [[p[0].isoformat(), p[1], p[2]] for p in points] for name, points in series.items()}
    return hashlib.sha256(json.dumps(flat, sort_keys=True).encode("utf-8")).hexdigest()


def drawn_digest(path: Path) -> str | None:
    """The digest a PNG written by :func:`draw_durations` carries; None for no file, another file or a damaged one."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if not data.startswith(PNG_SIGNATURE):
        return None
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"tEXt" and body.startswith(KEY.encode("latin-1") + b"\0"):
            return body.split(b"\0", 1)[1].decode("latin-1")
        if kind == b"IEND":
            break
        at += 12 + length
    return None


def draw_durations(series: dict[str, list[tuple[dt.datetime, float, str]]], path: Path) -> bool:
    """Write ``path``: seconds of each successful execution of each task against its run's start time
    (``series`` from ``views.operations.duration_series``); a note instead of lines when nothing ran yet.
    Returns False (and leaves the file) when ``path`` already shows these numbers."""
    digest = series_digest(series)
    if drawn_digest(path) == digest:
        return False
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4))
    ax = fig.subplots()
    drawn = 0
    for name, points in series.items():
        if not points:
            continue
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, linewidth=1, label=name)
        drawn += 1
    if drawn:
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.set_ylim(bottom=0)
    else:
        ax.text(0.5, 0.5, "no task has executed yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("run started (UTC)")
    ax.set_ylabel("seconds")
    ax.set_title("Task duration per run (executed tasks; reused ones take 0 s and are left out)")
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None, KEY: digest})
    atomic_write_bytes(path, buffer.getvalue())
    return True
