"""Every parameter declared once: its type, default, allowed range or choices and help (:data:`PARAMETERS`),
with the vocabularies they draw on (sources, models, the offline sample's tickers and dates, the ticker
pattern) and the retired names a profile may still carry. Reading and checking values is
:mod:`aapl_lib.pipeline.config`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SOURCES = ("sample", "yfinance", "csv")
MODELS = ("linear", "ridge", "gradient_boosting")
# Date ranges of the offline sample (bokeh_sampledata), per ticker; a test checks them against the package.
SAMPLE_RANGE = {
    "AAPL": ("2000-03-01", "2013-03-01"),
    "MSFT": ("2000-03-01", "2013-03-01"),
    "IBM": ("2000-03-01", "2013-03-01"),
    "GOOG": ("2004-08-19", "2013-03-01"),
    "FB": ("2012-05-18", "2013-03-01"),
}
SAMPLE_TICKERS = tuple(SAMPLE_RANGE)
# Yahoo-style symbols: letters/digits plus . - ^ = (BRK-B, ^GSPC, EURUSD=X); never a path.
TICKER_RE = re.compile(r"^\^?[A-Z0-9][A-Z0-9.\-=]{0,14}$")


@dataclass(frozen=True)
class Param:
    """One declared parameter."""

    name: str
    kind: str  # "str", "int", "float", "bool", "date", "int_list", "str_list", "spec_list", "choice_list",
    #            "task_map", "path_map", "choice"
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


PARAMETERS: dict[str, Param] = {
    p.name: p
    for p in [
        Param("ticker", "str", "AAPL", "stock symbol, e.g. AAPL, MSFT, BRK-B"),
        Param("tickers", "str_list", [], "run one pipeline per ticker as a batch (empty: just `ticker`)"),
        Param("source", "choice", "sample", "where prices come from", choices=SOURCES),
        Param("start", "date", "2003-01-01", "first day of the window (YYYY-MM-DD)"),
        Param("end", "date", "2012-12-31", "last day of the window (YYYY-MM-DD inclusive, or 'today')"),
        Param("csv_path", "str", "", "CSV file to read when source is csv ('{ticker}' in it: a file per ticker)"),
        Param("download_retries", "int", 4, "attempts for a transient download error", low=1, high=10),
        Param("retry_wait_seconds", "float", 1.0, "base of the exponential backoff", low=0, high=60),
        Param("retry_max_wait_seconds", "float", 30.0, "cap on one backoff wait", low=0, high=600),
        Param("split_detection", "bool", True, "detect split-sized jumps when no adjusted close is given"),
        Param(
            "max_abs_daily_return",
            "float",
            0.40,
            "a cleaned daily move beyond this is flagged in the quality report",
            low=0.05,
            high=5,
        ),
        Param(
            "quality_max_missing_days_pct",
            "float",
            5.0,
            "cleaning fails when more trading days than this % are missing",
            low=0,
            high=100,
        ),
        Param(
            "quality_max_dropped_rows_pct",
            "float",
            5.0,
            "cleaning fails when it drops more than this % of rows",
            low=0,
            high=100,
        ),
        Param(
            "quality_max_repaired_rows_pct",
            "float",
            2.0,
            "cleaning fails when more than this % of rows need an OHLC repair",
            low=0,
            high=100,
        ),
        Param(
            "quality_fail_on_large_moves",
            "bool",
            False,
            "fail (not just warn) on a cleaned daily move beyond max_abs_daily_return",
        ),
        Param("lags", "int", 5, "lagged returns used as features", low=1, high=30),
        Param("windows", "int_list", [5, 10, 20], "rolling windows (days) for means and volatility", low=2, high=250),
        Param("rsi_window", "int", 14, "RSI look-back (days)", low=2, high=100),
        Param("macd_fast", "int", 12, "MACD fast EMA span", low=2, high=100),
        Param("macd_slow", "int", 26, "MACD slow EMA span", low=3, high=200),
        Param("macd_signal", "int", 9, "MACD signal EMA span", low=2, high=100),
        Param(
            "extra_features",
            "spec_list",
            [],
            "analysts' own feature functions, 'module:function' (module on the project root or PYTHONPATH)",
        ),
        Param(
            "feature_inputs",
            "path_map",
            {},
            "data own feature functions need: name -> CSV file with a date column (given to them as of each day, "
            "cut with the prices by the leakage guard)",
        ),
        Param("test_fraction", "float", 0.2, "share of the newest rows held out for evaluation", low=0.05, high=0.5),
        Param(
            "candidates",
            "choice_list",
            ["linear", "ridge", "gradient_boosting"],
            "candidate models compared walk-forward (the best becomes the challenger)",
            choices=MODELS,
        ),
        Param("ridge_alpha", "float", 1.0, "ridge regularisation strength", low=1e-9, high=1e9),
        Param("gb_n_estimators", "int", 150, "gradient boosting: number of trees", low=1, high=5000),
        Param("gb_max_depth", "int", 2, "gradient boosting: depth of each tree", low=1, high=10),
        Param("gb_learning_rate", "float", 0.05, "gradient boosting: learning rate", low=1e-4, high=1),
        Param("gb_subsample", "float", 0.8, "gradient boosting: share of rows per tree", low=0.1, high=1),
        Param("walk_forward_folds", "int", 5, "expanding-window folds over the training period", low=2, high=20),
        Param(
            "transaction_cost_bps",
            "float",
            5.0,
            "backtest cost per unit of position change (basis points)",
            low=0,
            high=1000,
        ),
        Param(
            "approval_policy",
            "choice",
            "auto",
            "who promotes a challenger: a person (manual) or thresholds (auto)",
            choices=("manual", "auto"),
        ),
        Param(
            "auto_min_rmse_gain_pct",
            "float",
            1.0,
            "auto: the challenger's RMSE must beat the best naive baseline's by this %",
            low=0,
            high=100,
        ),
        Param(
            "auto_min_direction_edge_pct",
            "float",
            1.0,
            "auto: the challenger must call the direction right on this many percentage points more days "
            "than always_up (the training period's majority direction)",
            low=0,
            high=100,
        ),
        Param(
            "auto_max_p_value",
            "float",
            0.05,
            "auto: Diebold-Mariano against the best baseline and the direction test against chance must "
            "both give p below this",
            low=0,
            high=1,
        ),
        Param(
            "plausibility_quantile",
            "float",
            0.99,
            "a held-out R² or directional accuracy beyond what the series' own autoregression reaches plus this "
            "quantile of the block-shuffled chance draws is too good to be true: the run is marked implausible "
            "and never promoted automatically",
            low=0.5,
            high=0.9999,
        ),
        Param(
            "plausibility_draws",
            "int",
            500,
            "block-shuffled draws of the plausibility check's chance distribution (seeded by random_seed)",
            low=100,
            high=5000,
        ),
        Param(
            "plausibility_block_days",
            "int",
            5,
            "length in days of the blocks the plausibility check shuffles (keeps short-range autocorrelation)",
            low=1,
            high=60,
        ),
        Param(
            "model_version_mismatch",
            "choice",
            "warn",
            "a champion trained under another scikit-learn major.minor: load it with a warning (warn) or "
            "fail the run (refuse)",
            choices=("warn", "refuse"),
        ),
        Param(
            "publish_model",
            "choice",
            "refit",
            "which fit of a model makes the published forecast: refit (the evaluated method refit on every "
            "labelled row up to the forecast day) or evaluated (the model the held-out numbers describe, "
            "trained on the training split only)",
            choices=("refit", "evaluated"),
        ),
        Param("random_seed", "int", 42, "seed for every random choice", low=0, high=2**32 - 1),
        Param("min_train_rows", "int", 100, "fewest training rows accepted", low=20, high=100000),
        Param("cell_timeout_seconds", "int", 600, "per-cell execution timeout", low=1, high=86400),
        Param("task_timeout_seconds", "int", 1800, "wall-clock limit of one notebook", low=1, high=86400),
        Param(
            "warm_kernels",
            "bool",
            True,
            "fork each notebook's fresh kernel from a process that imported the stack once (false: cold starts)",
        ),
        Param(
            "warm_kernels_keep_seconds",
            "float",
            600.0,
            "keep the warm process this long idle for the next run (0: it ends with its run)",
            low=0,
            high=86400,
        ),
        Param(
            "task_retries",
            "task_map",
            {"data_ingestion": 2},
            "extra attempts per task after a transient failure (others: none)",
            low=0,
            high=10,
        ),
        Param("task_retry_wait_seconds", "float", 5.0, "base of the backoff between task attempts", low=0, high=3600),
        Param(
            "lock_timeout_seconds", "float", 10.0, "how long to wait for the shared reuse-cache lock", low=0, high=3600
        ),
        Param(
            "retention_days",
            "int",
            0,
            "delete runs older than this at the start of a run (0 = keep all)",
            low=0,
            high=36500,
        ),
        Param(
            "summary_log_days", "int", 365, "lines of outputs/logs/pipeline_summary.log kept (days)", low=1, high=36500
        ),
        Param(
            "on_success",
            "str",
            "",
            "shell command run after a successful run (env AAPL_RUN_ID, AAPL_RUN_STATUS, AAPL_RUN_DIR)",
        ),
        Param("on_failure", "str", "", "shell command run after a failed or timed-out run (same env)"),
    ]
}


def default(name: str) -> Any:
    """The declared default of one parameter: library functions take theirs from here (one owner)."""
    import copy

    return copy.deepcopy(PARAMETERS[name].default)


def defaults() -> dict[str, Any]:
    """The built-in default value of every parameter."""
    import copy

    return {name: copy.deepcopy(p.default) for name, p in PARAMETERS.items()}


# Parameters that were renamed or replaced: a profile that still has one gets told what to use instead.
RETIRED = {
    "auto_min_directional_accuracy": "it was replaced by auto_min_direction_edge_pct (percentage points above "
    "the always_up baseline's directional accuracy, which a coin-flip bar of 0.52 "
    "did not beat): delete it or rename it",
    "max_plausible_r2": "a fixed R² ceiling cannot fit every series (an AR(0.3) series honestly reaches 0.09, "
    "a stock's returns nowhere near 0.06): plausibility is now judged against the series' own autoregression "
    "plus chance, set by plausibility_quantile, plausibility_draws and plausibility_block_days; delete it",
    "max_plausible_directional_accuracy": "a fixed direction ceiling cannot fit every series: plausibility is now "
    "judged against the series' own autoregression plus chance, set by plausibility_quantile, "
    "plausibility_draws and plausibility_block_days; delete it",
}
