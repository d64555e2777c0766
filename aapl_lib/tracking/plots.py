"""The track record's figure: cumulative absolute error of the published forecasts and of the two naive
baselines on the same scored days (a ``Figure``, no pyplot: no backend is chosen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from aapl_lib.modeling.evaluation_plots import save_png


def plot_cumulative_error(record: dict[str, Any], path: str | Path) -> Path:
    """Cumulative |error| (percentage points) per scored day: model, zero return, last return. A line below
    the zero-return line means the forecasts beat doing nothing so far."""
    fig = Figure(figsize=(9, 3.6))
    ax = fig.subplots()
    daily = record["daily"]
    if daily:
        days = pd.to_datetime([d["for_date"] for d in daily])
        realised = np.array([d["realised_return"] for d in daily], float)
        model = np.array([d["error"] for d in daily], float)
        last = np.array([d.get("last_return_error", np.nan) for d in daily], float)
        ax.plot(days, 100 * np.cumsum(np.abs(model)), color="C0", lw=1.4, label="published forecast", marker="o", ms=3)
        ax.plot(days, 100 * np.cumsum(np.abs(realised)), color="0.4", lw=1.0, ls="--", label="zero return")
        if not np.isnan(last).all():
            ax.plot(days, 100 * np.nancumsum(np.abs(last)), color="C1", lw=1.0, ls=":", label="last return")
        ax.legend(loc="upper left")
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))
        ax.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
        fig.autofmt_xdate()
    else:
        ax.text(0.5, 0.5, "no scored forecast yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("cumulative |error| (% points)")
    ax.set_title(f"{record['ticker']}: live forecasts, cumulative absolute error ({record['scored_days']} scored days)")
    return save_png(fig, path)
