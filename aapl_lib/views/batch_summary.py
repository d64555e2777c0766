"""A batch's summary: ``summary.md``, ``summary.png`` and ``index.html`` comparing its tickers — status,
challenger, metrics against the best naive baseline, gate and backtest, one row per ticker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aapl_lib.formatting import fixed
from aapl_lib.io.iorw import atomic_write_bytes, atomic_write_text, read_json
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import DECISION, EVALUATION
from aapl_lib.store import layout
from aapl_lib.views.browser import build_batch_page


def summary_rows(outputs_dir: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per ticker: status, challenger, metrics against the best baseline, gate, backtest."""
    rows = []
    for ticker in manifest["tickers"]:
        run = manifest["runs"].get(ticker, {})
        row: dict[str, Any] = {
            "ticker": ticker,
            "status": run.get("status", "not run"),
            "run_id": run.get("run_id"),
            "seconds": run.get("duration_s"),
        }
        run_dir = layout.run_dir(outputs_dir, run.get("run_id") or "-")
        evaluation = run_dir / EVALUATION
        if evaluation.is_file():
            ev = read_json(evaluation)
            m, best = ev["metrics"]["model"], ev.get("best_baseline", "zero_return")
            row.update(
                challenger=ev.get("challenger"),
                model_rmse=m["rmse"],
                best_baseline=best,
                baseline_rmse=ev["metrics"][best]["rmse"],
                rmse_gain_pct=100 * (ev["metrics"][best]["rmse"] - m["rmse"]) / ev["metrics"][best]["rmse"],
                directional_accuracy=m.get("directional_accuracy"),
                direction_p=m.get("direction_p"),  # Pesaran-Timmermann against chance (None: no timing to test)
                dm_p=m.get("dm_vs_zero_return_p"),
                long_flat=ev["backtest"]["long_flat"]["cumulative_return"],
                buy_and_hold=ev["backtest"]["buy_and_hold"]["cumulative_return"],
                implausible=bool((ev.get("plausibility") or {}).get("implausible")),
            )
        decision = run_dir / DECISION
        row["gate"] = (
            read_json(decision)["decision"]
            if decision.is_file()
            else ("awaiting approval" if row["status"] == State.AWAITING_APPROVAL else None)
        )
        rows.append(row)
    return rows


def write_summary(outputs_dir: Path, batch_dir: Path, manifest: dict[str, Any]) -> Path:
    """``summary.md``, ``summary.png`` and ``index.html`` comparing the batch's tickers."""
    rows = summary_rows(outputs_dir, manifest)
    head = [
        "ticker",
        "status",
        "challenger",
        "model RMSE",
        "best baseline",
        "baseline RMSE",
        "RMSE gain",
        "direction right",
        "PT p vs chance",
        "DM p vs zero",
        "gate",
        "long/flat",
        "buy & hold",
        "seconds",
        "run",
    ]
    table = [
        [
            r["ticker"],
            r["status"],
            fixed(r.get("challenger")),
            fixed(r.get("model_rmse"), percent=True),
            fixed(r.get("best_baseline")),
            fixed(r.get("baseline_rmse"), percent=True),
            "-" if r.get("rmse_gain_pct") is None else f"{r['rmse_gain_pct']:+.2f} %",
            fixed(r.get("directional_accuracy"), 1, percent=True),
            fixed(r.get("direction_p")),
            fixed(r.get("dm_p")),
            fixed(r.get("gate")) + (" (IMPLAUSIBLE: too good to be true)" if r.get("implausible") else ""),
            fixed(r.get("long_flat"), 1, percent=True),
            fixed(r.get("buy_and_hold"), 1, percent=True),
            fixed(r.get("seconds"), 1),
            r.get("run_id") or "-",
        ]
        for r in rows
    ]
    lines = [
        f"# Batch {manifest['batch_id']}",
        "",
        f"{len(rows)} ticker(s) on {manifest.get('executor_description', manifest.get('executor'))}; status "
        f"**{manifest['status']}**; wall time {manifest.get('duration_s', 0):.1f} s.",
        "",
        "RMSE gain: how much lower the challenger's held-out RMSE is than the best naive baseline's "
        "(negative: the model is worse than doing nothing). PT p: Pesaran-Timmermann, direction calls against "
        "the chance level the up-day rate implies (n/a: the forecast makes the same call every day, no timing "
        "to test). Backtests: held-out period, with costs.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in table]
    lines += ["", "![model vs best baseline](summary.png)", ""]
    atomic_write_text(batch_dir / "summary.md", "\n".join(lines))
    _plot(rows, batch_dir / "summary.png", manifest["batch_id"])
    build_batch_page(batch_dir, manifest, head, table)
    return batch_dir / "summary.md"


def _plot(rows: list[dict[str, Any]], path: Path, batch_id: str) -> None:
    import io

    import numpy as np
    from matplotlib.figure import Figure  # not pyplot: no backend is chosen or switched

    have = [r for r in rows if r.get("model_rmse") is not None]
    fig = Figure(figsize=(max(5, 1.4 * len(rows)), 3.6))
    ax = fig.subplots()
    x = np.arange(len(have))
    ax.bar(x - 0.2, [100 * r["model_rmse"] for r in have], 0.4, label="challenger")
    ax.bar(x + 0.2, [100 * r["baseline_rmse"] for r in have], 0.4, label="best naive baseline")
    ax.set_xticks(x, [f"{r['ticker']}\n{r.get('gate') or ''}" for r in have])
    ax.set_ylabel("held-out RMSE (%)")
    ax.set_title(f"Batch {batch_id}: challenger vs best naive baseline")
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    atomic_write_bytes(path, buffer.getvalue())
