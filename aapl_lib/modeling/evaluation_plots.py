"""Step 5's figures: predicted vs actual, residuals and the trade-on-sign backtest's cumulative returns on the
held-out period, written as PNG files. Drawn on matplotlib ``Figure`` objects, not pyplot: no backend is
chosen or switched, so importing this module in an analyst's kernel leaves its inline plots alone, and the
figures are rendered by Agg whatever the backend (``savefig`` to PNG always uses it)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from aapl_lib.io.iorw import atomic_write_bytes


def save_png(fig, path: str | Path) -> Path:
    """Write ``fig`` as a PNG atomically (no "Software" stamp: the same figure gives the same bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return atomic_write_bytes(path, buffer.getvalue())


def plot_predicted_vs_actual(predictions: pd.DataFrame, path: str | Path, ticker: str) -> Path:
    """Time series and scatter of predicted vs actual next-day returns."""
    fig = Figure(figsize=(11, 4))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    ax1.plot(predictions.index, 100 * predictions["actual"], lw=0.7, color="0.6", label="actual")
    ax1.plot(predictions.index, 100 * predictions["model"], lw=1.0, color="C0", label="model")
    ax1.set_ylabel("next-day return (%)")
    ax1.set_title(f"{ticker}: predicted vs actual (held-out period)")
    ax1.legend(loc="upper left")
    ax2.scatter(100 * predictions["model"], 100 * predictions["actual"], s=6, alpha=0.5)
    ax2.axhline(0, color="0.8", lw=0.8)
    ax2.axvline(0, color="0.8", lw=0.8)
    ax2.set_xlabel("predicted (%)")
    ax2.set_ylabel("actual (%)")
    ax2.set_title("scatter")
    fig.autofmt_xdate()
    return save_png(fig, path)


def plot_residuals(predictions: pd.DataFrame, path: str | Path, ticker: str) -> Path:
    """Residuals over time and their distribution."""
    resid = 100 * (predictions["actual"] - predictions["model"])
    fig = Figure(figsize=(11, 4))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    ax1.plot(resid.index, resid, lw=0.7)
    ax1.axhline(0, color="0.5", lw=0.8)
    ax1.set_ylabel("actual - predicted (%)")
    ax1.set_title(f"{ticker}: residuals")
    ax2.hist(resid, bins=40)
    ax2.set_xlabel("residual (%)")
    ax2.set_title("distribution")
    fig.autofmt_xdate()
    return save_png(fig, path)


def plot_cumulative(daily: pd.DataFrame, path: str | Path, ticker: str, cost_bps: float = 0.0) -> Path:
    """Growth of 1 for buy-and-hold and for trading on the predicted sign (long/flat and long/short)."""
    fig = Figure(figsize=(11, 4))
    ax = fig.subplots()
    labels = {
        "buy_and_hold": "buy and hold",
        "long_flat": "long when the model predicts up, else flat",
        "long_short": "long when up, short when down",
    }
    for name, label in labels.items():
        ax.plot(daily.index, (1 + daily[name]).cumprod(), label=label)
    ax.set_ylabel("growth of 1")
    ax.set_title(
        f"{ticker}: cumulative return on the held-out period (costs {cost_bps:g} bps per unit of position change)"
    )
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    return save_png(fig, path)
