"""Parameters read and checked: a YAML profile plus ``-p KEY VALUE`` overrides over the declared defaults
(:mod:`aapl_lib.pipeline.parameters`), validated up front.

Validation runs before any notebook starts; the first problem raises :class:`~aapl_lib.errors.ParameterError`
with one line saying what is wrong and how to fix it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from aapl_lib.errors import ParameterError
from aapl_lib.pipeline.parameters import (
    PARAMETERS,
    RETIRED,
    SAMPLE_RANGE,
    SAMPLE_TICKERS,
    TICKER_RE,
    Param,
    defaults,
)
from aapl_lib.pipeline.spelling import did_you_mean


def load_params_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML profile (a flat mapping of parameter names to values)."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"params file {path} does not exist: pass an existing file with -f (see params/)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:  # a binary file, or a profile saved in another encoding
        raise ParameterError(
            f"params file {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}): "
            "pass a YAML profile such as params/default.yaml"
        ) from None
    except OSError as exc:
        raise ParameterError(f"params file {path} cannot be read: {exc.strerror}") from None
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
    if param.kind in ("task_map", "path_map"):
        example = "{data_ingestion: 2}" if param.kind == "task_map" else "{market: data/market.csv}"
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            raise ParameterError(f"parameter {name} must be a mapping like '{example}', got {text!r}") from None
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


def _param(name: str, where: str) -> Param:
    if name in RETIRED:
        raise ParameterError(f"parameter {name!r} in {where} is no longer used: {RETIRED[name]}")
    if name not in PARAMETERS:
        # the nearest names, not all of them in one line: --list-params has the rest with their meaning
        hint = did_you_mean(str(name), PARAMETERS)
        raise ParameterError(
            f"unknown parameter {name!r} in {where}"
            + (f" — {hint}" if hint else "")
            + f" (--list-params lists all {len(PARAMETERS)})"
        )
    return PARAMETERS[name]


def _check_value(name: str, value: Any) -> Any:
    """Check one value against its declaration and return it normalised."""
    p = PARAMETERS[name]
    return _CHECKS[p.kind](p, value)


def _string(p: Param, value: Any) -> str:
    if not isinstance(value, str):
        raise ParameterError(f"parameter {p.name} must be a string, got {type(value).__name__} {value!r}")
    if p.kind == "choice" and value not in p.choices:
        raise ParameterError(f"parameter {p.name} must be one of {', '.join(p.choices)}, got {value!r}")
    return value


def _date(p: Param, value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ParameterError(f"parameter {p.name} must be a date YYYY-MM-DD, got {value!r}")
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ParameterError(f"parameter {p.name} must be a real date YYYY-MM-DD, got {value!r}") from None


def _bool(p: Param, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(f"parameter {p.name} must be true or false, got {value!r}")
    return value


def _int_list(p: Param, value: Any) -> list[int]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ParameterError(f"parameter {p.name} must be a non-empty list of integers, got {value!r}")
    for v in value:
        _check_range(p, v)
    if len(set(value)) != len(value):
        raise ParameterError(f"parameter {p.name} has repeated values: {value!r}")
    return sorted(value)


def _str_list(p: Param, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ParameterError(f"parameter {p.name} must be a list of strings, got {value!r}")
    return [v.strip().upper() for v in value]


def _spec_list(p: Param, value: Any) -> list[str]:
    from aapl_lib.pipeline.feature_specs import check_spec, module_file

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ParameterError(f"parameter {p.name} must be a list of 'module:function' strings, got {value!r}")
    specs = [check_spec(v) for v in value]
    if len(set(specs)) != len(specs):
        raise ParameterError(f"parameter {p.name} names a function twice: {specs!r}")
    for spec in specs:
        module_file(spec)  # the module must exist now, not fail later inside a notebook
    return specs


def _choice_list(p: Param, value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ParameterError(
            f"parameter {p.name} must be a non-empty list of names from {', '.join(p.choices)}, got {value!r}"
        )
    unknown = [v for v in value if v not in p.choices]
    if unknown:
        raise ParameterError(f"parameter {p.name}: unknown {unknown[0]!r}; choose from {', '.join(p.choices)}")
    return [c for c in p.choices if c in value]


def _path_map(p: Param, value: Any) -> dict[str, str]:
    from aapl_lib.pipeline.feature_specs import check_input_names

    return check_input_names(p.name, value)


def _task_map(p: Param, value: Any) -> dict[str, int]:
    from aapl_lib.pipeline.tasks import TASK_NAMES

    if not isinstance(value, dict):
        raise ParameterError(f"parameter {p.name} must be a mapping of task names to integers, got {value!r}")
    for task, number in value.items():
        if task not in TASK_NAMES:
            hint = did_you_mean(str(task), TASK_NAMES)
            raise ParameterError(
                f"parameter {p.name} names unknown task {task!r}: " + (hint if hint else f"use {', '.join(TASK_NAMES)}")
            )
        if isinstance(number, bool) or not isinstance(number, int):
            raise ParameterError(f"parameter {p.name}: {task} must be an integer, got {number!r}")
        _check_range(p, number)
    return {task: value[task] for task in TASK_NAMES if task in value}


def _int(p: Param, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"parameter {p.name} must be an integer, got {value!r}")
    _check_range(p, value)
    return value


def _float(p: Param, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"parameter {p.name} must be a number, got {value!r}")
    value = float(value)
    _check_range(p, value)
    return value


# How each kind of parameter (pipeline/parameters.py) is checked and normalised.
_CHECKS: dict[str, Callable[[Param, Any], Any]] = {
    "str": _string,
    "choice": _string,
    "date": _date,
    "bool": _bool,
    "int_list": _int_list,
    "str_list": _str_list,
    "spec_list": _spec_list,
    "choice_list": _choice_list,
    "path_map": _path_map,
    "task_map": _task_map,
    "int": _int,
    "float": _float,
}


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
        # "prices/{ticker}.csv": one file per ticker, a batch's source
        named = out["csv_path"].replace("{ticker}", out["ticker"])
        path = Path(named).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        if not path.is_file():
            raise ParameterError(
                f"csv_path {named} does not exist or is not a file: give the path of your CSV file"
                + (
                    f" ('{{ticker}}' in {out['csv_path']} stands for {out['ticker']})"
                    if named != out["csv_path"]
                    else ""
                )
            )
        out["csv_path"] = str(path.resolve())
    from aapl_lib.pipeline.feature_specs import input_files

    out["feature_inputs"] = input_files(out["feature_inputs"], base_dir)
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
