"""Parameters: declared once, loaded from a YAML profile plus ``-p KEY VALUE`` overrides, validated up front.

Every parameter is declared in :data:`PARAMETERS` with its type, default, check and help. Validation runs
before any notebook starts; the first problem raises :class:`~aapl_lib.errors.ParameterError` with one
line saying what is wrong and how to fix it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aapl_lib.errors import ParameterError

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
    #            "task_map", "choice"
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
        Param("csv_path", "str", "", "CSV file to read when source is csv"),
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
            "max_plausible_r2",
            "float",
            0.10,
            "a held-out R² above this is too good to be true for daily returns: the run is marked "
            "implausible and never promoted automatically",
            low=0,
            high=1,
        ),
        Param(
            "max_plausible_directional_accuracy",
            "float",
            0.65,
            "a held-out directional accuracy above this is marked implausible (never auto-promoted)",
            low=0.5,
            high=1,
        ),
        Param("random_seed", "int", 42, "seed for every random choice", low=0, high=2**32 - 1),
        Param("min_train_rows", "int", 100, "fewest training rows accepted", low=20, high=100000),
        Param("cell_timeout_seconds", "int", 600, "per-cell execution timeout", low=1, high=86400),
        Param("task_timeout_seconds", "int", 1800, "wall-clock limit of one notebook", low=1, high=86400),
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


def load_params_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML profile (a flat mapping of parameter names to values)."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"params file {path} does not exist: pass an existing file with -f (see params/)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParameterError(f"params file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ParameterError(f"params file {path} must be a mapping of parameter names to values")
    return data


def parse_override(name: str, text: str) -> Any:
    """Turn the text of ``-p NAME TEXT`` into a value of the parameter's declared type."""
    param = _param(name, "-p")
    if param.kind in ("str", "choice", "date"):
        return text
    if param.kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise ParameterError(f"parameter {name} must be true or false, got {text!r}")
    if param.kind in ("choice_list", "str_list", "spec_list"):
        return [v.strip("'\"") for v in re.split(r"[,\s\[\]]+", text) if v.strip("'\"")]
    if param.kind == "task_map":
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ParameterError(
                f"parameter {name} must be a mapping like '{{data_ingestion: 2}}', got {text!r}"
            ) from None
        return value
    if param.kind == "int_list":
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, str):
            value = [v for v in re.split(r"[,\s]+", value.strip("[] ")) if v]
            try:
                value = [int(v) for v in value]
            except ValueError:
                raise ParameterError(
                    f"parameter {name} must be a list of integers like '[5, 10, 20]', got {text!r}"
                ) from None
        return value
    try:
        return int(text) if param.kind == "int" else float(text)
    except ValueError:
        raise ParameterError(
            f"parameter {name} must be {'an integer' if param.kind == 'int' else 'a number'}, got {text!r}"
        ) from None


# Parameters that were renamed or replaced: a profile that still has one gets told what to use instead.
RETIRED = {
    "auto_min_directional_accuracy": "it was replaced by auto_min_direction_edge_pct (percentage points above "
    "the always_up baseline's directional accuracy, which a coin-flip bar of 0.52 "
    "did not beat): delete it or rename it",
}


def _param(name: str, where: str) -> Param:
    if name in RETIRED:
        raise ParameterError(f"parameter {name!r} in {where} is no longer used: {RETIRED[name]}")
    if name not in PARAMETERS:
        close = [k for k in PARAMETERS if k.startswith(name[:3])] if name else []
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ParameterError(f"unknown parameter {name!r} in {where}{hint}; known parameters: {', '.join(PARAMETERS)}")
    return PARAMETERS[name]


def _check_value(name: str, value: Any) -> Any:
    """Check one value against its declaration and return it normalised."""
    p = PARAMETERS[name]
    kind = p.kind
    if kind in ("str", "choice"):
        if not isinstance(value, str):
            raise ParameterError(f"parameter {name} must be a string, got {type(value).__name__} {value!r}")
        if kind == "choice" and value not in p.choices:
            raise ParameterError(f"parameter {name} must be one of {', '.join(p.choices)}, got {value!r}")
        return value
    if kind == "date":
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return value.isoformat()
        if not isinstance(value, str):
            raise ParameterError(f"parameter {name} must be a date YYYY-MM-DD, got {value!r}")
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ParameterError(f"parameter {name} must be a real date YYYY-MM-DD, got {value!r}") from None
    if kind == "bool":
        if not isinstance(value, bool):
            raise ParameterError(f"parameter {name} must be true or false, got {value!r}")
        return value
    if kind == "int_list":
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise ParameterError(f"parameter {name} must be a non-empty list of integers, got {value!r}")
        for v in value:
            _check_range(p, v)
        if len(set(value)) != len(value):
            raise ParameterError(f"parameter {name} has repeated values: {value!r}")
        return sorted(value)
    if kind == "str_list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ParameterError(f"parameter {name} must be a list of strings, got {value!r}")
        return [v.strip().upper() for v in value]
    if kind == "spec_list":
        from aapl_lib.pipeline.feature_specs import check_spec, module_file

        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ParameterError(f"parameter {name} must be a list of 'module:function' strings, got {value!r}")
        specs = [check_spec(v) for v in value]
        if len(set(specs)) != len(specs):
            raise ParameterError(f"parameter {name} names a function twice: {specs!r}")
        for spec in specs:
            module_file(spec)  # the module must exist now, not fail later inside a notebook
        return specs
    if kind == "choice_list":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ParameterError(
                f"parameter {name} must be a non-empty list of names from {', '.join(p.choices)}, got {value!r}"
            )
        unknown = [v for v in value if v not in p.choices]
        if unknown:
            raise ParameterError(f"parameter {name}: unknown {unknown[0]!r}; choose from {', '.join(p.choices)}")
        return [c for c in p.choices if c in value]
    if kind == "task_map":
        from aapl_lib.pipeline.tasks import TASK_NAMES

        if not isinstance(value, dict):
            raise ParameterError(f"parameter {name} must be a mapping of task names to integers, got {value!r}")
        for task, number in value.items():
            if task not in TASK_NAMES:
                raise ParameterError(f"parameter {name} names unknown task {task!r}: use {', '.join(TASK_NAMES)}")
            if isinstance(number, bool) or not isinstance(number, int):
                raise ParameterError(f"parameter {name}: {task} must be an integer, got {number!r}")
            _check_range(p, number)
        return {task: value[task] for task in TASK_NAMES if task in value}
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"parameter {name} must be an integer, got {value!r}")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"parameter {name} must be a number, got {value!r}")
        value = float(value)
    _check_range(p, value)
    return value


def _check_range(p: Param, value: float) -> None:
    if (p.low is not None and value < p.low) or (p.high is not None and value > p.high):
        raise ParameterError(f"parameter {p.name} must be between {p.low:g} and {p.high:g}, got {value!r}")


def resolve_params(
    file: str | Path | None = None,
    overrides: list[tuple[str, str]] | None = None,
    *,
    base_dir: Path | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Defaults < params file < ``-p`` overrides, then every rule checked. Returns the resolved params.

    ``base_dir`` is where a relative ``csv_path`` is resolved from (the current directory by default);
    the resolved params carry an absolute ``csv_path``.
    """
    params = defaults()
    if file is not None:
        for name, value in load_params_file(file).items():
            _param(str(name), f"params file {file}")
            params[name] = value
    for name, text in overrides or []:
        params[name] = parse_override(name, text)
    return validate_params(params, base_dir=base_dir, today=today)


def validate_params(
    params: dict[str, Any], *, base_dir: Path | None = None, today: dt.date | None = None
) -> dict[str, Any]:
    """Check every parameter and the rules between them; return a normalised copy."""
    for name in params:
        _param(name, "parameters")
    missing = [k for k in PARAMETERS if k not in params]
    if missing:
        raise ParameterError(f"missing parameters: {', '.join(missing)}")
    today = today or dt.date.today()
    params = {
        k: (
            today.isoformat()
            if PARAMETERS[k].kind == "date" and isinstance(v, str) and v.strip().lower() == "today"
            else v
        )
        for k, v in params.items()
    }
    out = {name: _check_value(name, params[name]) for name in PARAMETERS}

    ticker = out["ticker"].strip().upper()
    if not TICKER_RE.match(ticker):
        raise ParameterError(
            f"ticker {out['ticker']!r} is not a plausible stock symbol: use letters, digits "
            "and . - ^ = only, at most 15 characters (e.g. AAPL, BRK-B, ^GSPC)"
        )
    out["ticker"] = ticker

    start, end = dt.date.fromisoformat(out["start"]), dt.date.fromisoformat(out["end"])
    if start >= end:
        raise ParameterError(f"start {out['start']} must be before end {out['end']}: swap them or widen the window")
    if start > today:
        raise ParameterError(f"start {out['start']} is in the future (today is {today}): pick a past date")

    if out["macd_fast"] >= out["macd_slow"]:
        raise ParameterError(f"macd_fast ({out['macd_fast']}) must be smaller than macd_slow ({out['macd_slow']})")

    if out["source"] == "sample":
        if ticker not in SAMPLE_TICKERS:
            raise ParameterError(
                f"ticker {ticker} is not in the offline sample (it has "
                f"{', '.join(SAMPLE_TICKERS)}): pick one of those, or use -p source yfinance "
                "or -p source csv -p csv_path FILE"
            )
        first, last = SAMPLE_RANGE[ticker]
        if end < dt.date.fromisoformat(first) or start > dt.date.fromisoformat(last):
            raise ParameterError(
                f"the window {out['start']}..{out['end']} does not overlap the sample's "
                f"{ticker} data ({first}..{last}): pick dates inside it"
            )
    if out["source"] == "csv":
        if not out["csv_path"]:
            raise ParameterError("source is csv but csv_path is empty: add -p csv_path /path/to/prices.csv")
        path = Path(out["csv_path"]).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        if not path.is_file():
            raise ParameterError(
                f"csv_path {out['csv_path']} does not exist or is not a file: give the path of your CSV file"
            )
        out["csv_path"] = str(path.resolve())
    return out


def describe_parameters() -> str:
    """A table of every parameter for ``runner.py --help-params`` and the README."""
    rows = []
    for p in PARAMETERS.values():
        kind = (
            "|".join(p.choices)
            if p.kind == "choice"
            else ("list of " + "|".join(p.choices) if p.kind == "choice_list" else p.kind)
        )
        rows.append(f"  {p.name:<24} {kind:<20} default {p.default!r:<14} {p.help}")
    return "\n".join(rows)
