"""Step 3: features and target from cleaned prices.

Every feature on day t uses prices up to and including day t only (rolling windows, lags and EMAs all look
backwards). The target is the **next trading day's close-to-close return**,
``target[t] = close[t+1] / close[t] - 1``; it is NaN on the last day, whose features are what the forecast
uses.

Also a command line, as in the original design::

    python -m aapl_lib.features.build --input cleaned.csv --output features.csv [--config params.yaml]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aapl_lib.errors import DataQualityError, PipelineError
from aapl_lib.pipeline.parameters import default

log = logging.getLogger(__name__)

TARGET = "target_next_return"
FEATURE_DEFAULTS: dict[str, Any] = {
    "lags": 5,
    "windows": [5, 10, 20],
    "rsi_window": 14,
    "macd_fast": 12,
    "macd_slow": 26,
    "macd_signal": 9,
    "extra_features": [],
}


def rsi(close: pd.Series, window: int = 14) -> pd.Series:
    """Wilder's relative strength index (0..100), from closes up to each day."""
    delta = close.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / window, adjust=False, min_periods=window).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / window, adjust=False, min_periods=window).mean()
    rs = gain / loss
    out = 100 - 100 / (1 + rs)
    return out.where(loss != 0, 100.0).where(gain.notna())


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD line, signal line and histogram, divided by the close so they compare across price levels."""
    ema_fast = close.ewm(span=fast, adjust=False, min_periods=fast).mean()
    ema_slow = close.ewm(span=slow, adjust=False, min_periods=slow).mean()
    line = ema_fast - ema_slow
    sig = line.ewm(span=signal, adjust=False, min_periods=signal).mean()
    return pd.DataFrame({"macd": line / close, "macd_signal": sig / close, "macd_hist": (line - sig) / close})


def build_features(
    cleaned: pd.DataFrame,
    *,
    lags: int = default("lags"),
    windows: Sequence[int] = tuple(default("windows")),
    rsi_window: int = default("rsi_window"),
    macd_fast: int = default("macd_fast"),
    macd_slow: int = default("macd_slow"),
    macd_signal: int = default("macd_signal"),
    extra_features: Sequence[str] = (),
    inputs: Mapping[str, pd.DataFrame] | None = None,
    complete_only: bool = True,
) -> tuple[pd.DataFrame, list[str]]:
    """Features plus the target column. Returns ``(frame, feature_names)``.

    ``extra_features`` are analysts' own ``"module:function"`` specs (:mod:`aapl_lib.features.extra`); their
    columns follow the built-in ones; ``inputs`` are the declared ``feature_inputs`` as read by
    :func:`aapl_lib.features.inputs.read_inputs` (given, aligned to these prices, to functions that ask).
    With ``complete_only`` (the default) rows where any feature is NaN (no full look-back yet) are dropped; the
    last row keeps a NaN target (it is the forecast row). The leakage guard builds with ``complete_only=False``
    so that a row a look-ahead feature loses is still compared.
    """
    if len(cleaned) < max(max(windows), macd_slow + macd_signal, rsi_window, lags) + 20:
        raise DataQualityError(
            f"only {len(cleaned)} cleaned rows: features need at least "
            f"{max(max(windows), macd_slow + macd_signal, rsi_window, lags) + 20}; "
            "widen the window (-p start / -p end)"
        )
    close = cleaned["close"]
    ret = close.pct_change()
    feats = pd.DataFrame(index=cleaned.index)
    feats["ret_1d"] = ret
    feats["log_ret_1d"] = np.log(close / close.shift(1))
    for lag in range(1, lags + 1):
        feats[f"ret_lag_{lag}"] = ret.shift(lag)
    for w in windows:
        feats[f"ret_mean_{w}d"] = ret.rolling(w).mean()
        feats[f"volatility_{w}d"] = ret.rolling(w).std()
        feats[f"close_to_sma_{w}d"] = close / close.rolling(w).mean() - 1
    feats[f"rsi_{rsi_window}"] = rsi(close, rsi_window)
    feats = feats.join(macd(close, macd_fast, macd_slow, macd_signal))
    feats["range_hl"] = (cleaned["high"] - cleaned["low"]) / close
    feats["gap_open"] = cleaned["open"] / close.shift(1) - 1
    log_vol = np.log(cleaned["volume"].where(cleaned["volume"] > 0))
    vw = max(windows)
    feats[f"volume_z_{vw}d"] = (log_vol - log_vol.rolling(vw).mean()) / log_vol.rolling(vw).std()
    sources = {name: "built-in" for name in feats.columns}
    if extra_features:
        from aapl_lib.features import extra as extra

        own = extra.compute(cleaned, extra_features, taken=[*feats.columns, TARGET], inputs=inputs)
        sources.update(own.attrs["feature_sources"])
        feats = feats.join(own)
    names = list(feats.columns)
    feats[TARGET] = close.shift(-1) / close - 1
    feats = feats.replace([np.inf, -np.inf], np.nan)
    if not complete_only:
        feats.attrs["feature_sources"] = sources
        return feats, names
    complete = feats[names].notna().all(axis=1)
    if not complete.any():
        raise DataQualityError(_no_complete_day(cleaned, feats, names))
    out = feats.loc[complete].copy()
    out.attrs["feature_sources"] = sources  # which function made each column: "built-in" or "module:function"
    log.info(
        "built %d features on %d rows (%d rows dropped for look-back)", len(names), len(out), int((~complete).sum())
    )
    return out, names


def _no_complete_day(cleaned: pd.DataFrame, feats: pd.DataFrame, names: list[str]) -> str:
    """Why no day has every feature (a flat series leaves RSI and the volume z-score undefined: 0/0)."""
    never = [n for n in names if feats[n].isna().all()]
    flat = [c for c in ("close", "volume") if cleaned[c].nunique() == 1]
    return (
        f"no day of the {len(cleaned)} cleaned rows has every feature: "
        + (
            f"{', '.join(never)} {'is' if len(never) == 1 else 'are'} never defined"
            if never
            else "look-backs never all"
        )
        + "".join(
            f"; the {c} never changes ({cleaned[c].iloc[0]:g} on every day from {cleaned.index[0]:%Y-%m-%d} to "
            f"{cleaned.index[-1]:%Y-%m-%d})"
            for c in flat
        )
        + ": check the source's prices (a frozen or placeholder series?) or drop the features that need movement"
    )


def summary_table(frame: pd.DataFrame, names: list[str], sources: dict[str, str] | None = None) -> pd.DataFrame:
    """Each feature's origin ("built-in" or "module:function") and its mean, std, min and max, for reading."""
    stats = frame[names].describe().T[["mean", "std", "min", "max"]]
    table = stats.map(lambda x: f"{x:.4g}")
    table.insert(0, "source", [(sources or {}).get(n, "built-in") for n in names])
    table.index.name = "feature"
    return table


def feature_params(params: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``params`` that :func:`build_features` takes (defaults for missing ones)."""
    return {k: params.get(k, v) for k, v in FEATURE_DEFAULTS.items()}


# ---------------------------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aapl_lib.features.build --input IN --output OUT [--config FILE] [--log-level L]``."""
    from aapl_lib.io.iorw import read_frame, write_frame, write_json
    from aapl_lib.io.logs import configure_console

    parser = argparse.ArgumentParser(
        prog="python -m aapl_lib.features.build",
        description="Build features and the next-day-return target from "
        "cleaned prices (the function notebook 03 calls).",
    )
    parser.add_argument("--input", required=True, help="cleaned prices CSV (date index, open..volume)")
    parser.add_argument("--output", required=True, help="features CSV to write (atomically)")
    parser.add_argument(
        "--config", help="params YAML (uses lags, windows, rsi_window, macd_*, extra_features, feature_inputs)"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    configure_console(args.log_level, task="feature_engineering")
    try:
        params = dict(FEATURE_DEFAULTS)
        inputs = {}
        if args.config:
            from aapl_lib.features.inputs import read_inputs
            from aapl_lib.pipeline.config import load_params_file, validate_params
            from aapl_lib.pipeline.parameters import defaults

            merged = {**defaults(), **load_params_file(args.config)}
            validated = validate_params(merged)
            params = feature_params(validated)
            inputs = read_inputs(validated["feature_inputs"])
        path = Path(args.input)
        if not path.is_file():
            raise PipelineError(
                f"--input {path} does not exist: run the data_cleaning task first "
                "(python runner.py --end-task data_cleaning)"
            )
        cleaned = read_frame(path)
        missing = [c for c in ("open", "high", "low", "close", "volume") if c not in cleaned.columns]
        if missing:
            raise PipelineError(f"--input {path} lacks columns {missing}: give a cleaned prices file")
        frame, names = build_features(cleaned, **params, inputs=inputs)
        write_frame(args.output, frame)
        write_json(
            Path(args.output).with_suffix(".features.json"),
            {"features": names, "target": TARGET, "sources": frame.attrs.get("feature_sources", {})},
        )
    except PipelineError as exc:
        logging.getLogger("aapl_lib").error("%s", exc)
        return 2
    log.info("wrote %s (%d rows, %d features)", args.output, len(frame), len(names))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
