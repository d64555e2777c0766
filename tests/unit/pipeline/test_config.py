"""Parameters: profiles, overrides, and every rule that rejects a bad value before anything runs."""

from __future__ import annotations

import datetime as dt

import pytest

from aapl_lib.errors import ParameterError
from aapl_lib.pipeline.config import parse_override, resolve_params, validate_params
from aapl_lib.pipeline.parameters import PARAMETERS, defaults
from helpers import ROOT


def test_default_profile_lists_every_parameter_and_validates():
    import yaml

    data = yaml.safe_load((ROOT / "params" / "default.yaml").read_text())
    assert set(data) == set(PARAMETERS)
    params = resolve_params(ROOT / "params" / "default.yaml")
    assert params["source"] == "sample" and params["ticker"] == "AAPL"
    assert (dt.date.fromisoformat(params["end"]) - dt.date.fromisoformat(params["start"])).days >= 365


def test_every_default_is_declared_once():
    """params/default.yaml and the library functions' keyword defaults agree with the declared defaults in
    aapl_lib.pipeline.parameters (the notebooks' parameters cells are checked in tests/e2e/test_notebooks.py)."""
    import ast
    import inspect

    import yaml

    from aapl_lib.data import cleaning
    from aapl_lib.features import build as features
    from aapl_lib.modeling import training as modeling

    profile = yaml.safe_load((ROOT / "params" / "default.yaml").read_text())
    assert {n: v for n, v in profile.items() if v != PARAMETERS[n].default} == {}
    for function in (cleaning.clean_prices, features.build_features, modeling.chronological_split):
        for name, parameter in inspect.signature(function).parameters.items():
            if name in PARAMETERS and parameter.default is not inspect.Parameter.empty:
                declared = PARAMETERS[name].default
                assert parameter.default == (tuple(declared) if isinstance(declared, list) else declared), name
    # and no module of aapl_lib spells a parameter's default as a literal keyword default
    literal = []
    for path in sorted((ROOT / "aapl_lib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                args = node.args
                pairs = list(zip(args.args[len(args.args) - len(args.defaults) :], args.defaults, strict=True))
                pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
                literal += [
                    f"{path.name}:{node.name}({a.arg})"
                    for a, d in pairs
                    if a.arg in PARAMETERS and isinstance(d, ast.Constant) and d.value is not None
                ]
    assert literal == []


def test_live_profile_is_yfinance_aapl_2023():
    params = resolve_params(ROOT / "params" / "aapl_2023.yaml")
    assert (params["source"], params["ticker"], params["start"], params["end"]) == (
        "yfinance",
        "AAPL",
        "2023-01-01",
        "2023-12-31",
    )


def test_overrides_are_typed_by_declaration():
    assert parse_override("ticker", "ON") == "ON"  # YAML would have made this True
    assert parse_override("lags", "7") == 7
    assert parse_override("ridge_alpha", "0.5") == 0.5
    assert parse_override("split_detection", "false") is False
    assert parse_override("windows", "[5, 20]") == [5, 20]
    assert parse_override("windows", "5,20") == [5, 20]
    assert parse_override("candidates", "[ridge, linear]") == ["ridge", "linear"]
    params = resolve_params(None, [("ticker", "msft"), ("windows", "20 5")])
    assert params["ticker"] == "MSFT" and params["windows"] == [5, 20]


@pytest.mark.parametrize(
    "override, message",
    [
        (("nope", "1"), "unknown parameter 'nope'"),
        (("lags", "1.5"), "lags must be an integer"),
        (("lags", "0"), "lags must be between"),
        (("test_fraction", "0.9"), "test_fraction must be between"),
        (("split_detection", "maybe"), "true or false"),
        (("windows", "[a, b]"), "list of integers"),
        (("windows", "[5, 5]"), "repeated"),
        (("candidates", "[ridge, xgboost]"), "unknown 'xgboost'"),
        (("approval_policy", "sometimes"), "approval_policy must be one of"),
        (("start", "01/02/2003"), "real date"),
        (("ticker", "AAPL;rm -rf"), "not a plausible stock symbol"),
        (("ticker", "../../etc"), "not a plausible stock symbol"),
        (("macd_fast", "40"), "macd_fast"),
    ],
)
def test_bad_overrides_are_rejected_with_one_clear_line(override, message):
    with pytest.raises(ParameterError) as info:
        resolve_params(ROOT / "params" / "default.yaml", [override])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_wrong_types_in_a_profile_are_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("ticker: AAPL\nlags: '5'\n")
    with pytest.raises(ParameterError, match="lags must be an integer"):
        resolve_params(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ParameterError, match="must be a mapping"):
        resolve_params(bad)
    bad.write_text("tickr: AAPL\n")
    with pytest.raises(ParameterError, match="unknown parameter 'tickr' in params file"):
        resolve_params(bad)


def test_future_start_and_sample_window_outside_data():
    base = defaults()
    with pytest.raises(ParameterError, match="in the future"):
        validate_params(
            {**base, "source": "yfinance", "start": "2031-01-01", "end": "2032-01-01"}, today=dt.date(2026, 11, 26)
        )
    with pytest.raises(ParameterError, match="does not overlap"):
        validate_params({**base, "start": "2015-01-01", "end": "2016-01-01"})


def test_csv_path_is_resolved_and_must_exist(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("x")
    params = validate_params({**defaults(), "source": "csv", "csv_path": "p.csv"}, base_dir=tmp_path)
    assert params["csv_path"] == str(f.resolve())
    with pytest.raises(ParameterError, match="does not exist"):
        validate_params({**defaults(), "source": "csv", "csv_path": str(tmp_path)})


def test_today_is_a_date_for_scheduled_runs():
    params = validate_params(
        {**defaults(), "source": "yfinance", "start": "2026-01-01", "end": "today"}, today=dt.date(2026, 11, 26)
    )
    assert params["end"] == "2026-11-26"
