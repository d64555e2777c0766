"""Features: definitions, the target, no look-ahead, and the feature-engineering CLI."""

from __future__ import annotations

import socket
import sys
import textwrap
import threading
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from aapl_lib.data.cleaning import clean_prices
from aapl_lib.errors import DataQualityError
from aapl_lib.features import leakage, sandbox
from aapl_lib.features.build import TARGET, build_features, main, rsi
from aapl_lib.features.extra import FeatureFunctionError
from aapl_lib.features.leakage import LeakageError
from aapl_lib.io.iorw import read_frame, write_frame
from helpers import sample_frame


@pytest.fixture(scope="module")
def cleaned():
    frame, _ = clean_prices(sample_frame("2009-01-01", "2011-12-31"))
    return frame


def test_target_is_next_day_return_and_last_row_is_the_forecast_row(cleaned):
    feats, names = build_features(cleaned)
    close = cleaned["close"]
    day = feats.index[10]
    nxt = close.index[close.index.get_loc(day) + 1]
    assert feats.loc[day, TARGET] == pytest.approx(close[nxt] / close[day] - 1)
    assert np.isnan(feats[TARGET].iloc[-1]) and feats.index[-1] == cleaned.index[-1]
    assert feats[TARGET].iloc[:-1].notna().all()
    assert TARGET not in names and feats[names].notna().all().all()


def test_features_use_no_future_data(cleaned):
    """Truncation invariance: features computed on data cut at day t equal the full computation up to t."""
    full, names = build_features(cleaned)
    for cut in [200, 400, len(cleaned) - 30]:
        part, _ = build_features(cleaned.iloc[:cut])
        common = part.index
        pd.testing.assert_frame_equal(part[names], full.loc[common, names], rtol=1e-12, atol=1e-12)


def test_no_feature_equals_the_target(cleaned):
    feats, names = build_features(cleaned)
    labelled = feats[feats[TARGET].notna()]
    for name in names:
        assert not np.allclose(labelled[name], labelled[TARGET]), name
        assert abs(labelled[name].corr(labelled[TARGET])) < 0.5, name


def test_rsi_bounds_and_extremes():
    up = pd.Series(np.arange(1.0, 60.0))
    assert rsi(up, 14).dropna().eq(100).all()
    noisy = pd.Series(100 + np.random.default_rng(0).standard_normal(300).cumsum())
    values = rsi(noisy, 14).dropna()
    assert ((values > 0) & (values < 100)).all()


def test_too_short_history_is_a_clear_error(cleaned):
    with pytest.raises(DataQualityError, match="widen the window"):
        build_features(cleaned.iloc[:30])


def test_cli_matches_the_library_function(cleaned, tmp_path):
    src, out = tmp_path / "cleaned.csv", tmp_path / "features.csv"
    write_frame(src, cleaned)
    cfg = tmp_path / "p.yaml"
    cfg.write_text("lags: 3\nwindows: [5, 10]\n")
    assert main(["--input", str(src), "--output", str(out), "--config", str(cfg)]) == 0
    expected, names = build_features(read_frame(src), lags=3, windows=[5, 10])
    got = read_frame(out)
    pd.testing.assert_frame_equal(got, expected, check_freq=False)
    assert "ret_lag_4" not in got.columns and (tmp_path / "features.features.json").is_file()


def test_cli_reports_missing_input(tmp_path, capsys):
    assert main(["--input", str(tmp_path / "none.csv"), "--output", str(tmp_path / "o.csv")]) == 2
    assert "run the data_cleaning task first" in capsys.readouterr().err


# ------------------------------------------------------------------------ issue 23: a feature sees only its frame
MODULE = "analyst_features_t23"
HELPER = "helper_lib_t23"
FEATURES_SOURCE = textwrap.dedent('''
    """An analyst's module: features that get what they need behind the pipeline's back, and honest ones."""
    import glob
    import os
    import threading

    import numpy as np
    import pandas as pd

    DATA_DIR = {data_dir!r}
    MARKER = {marker!r}
    PORT = {port!r}


    def _next_return_from_disk(index):
        path = sorted(glob.glob(os.path.join(DATA_DIR, "runs", "*", "data", "cleaned.csv")))[0]
        full = pd.read_csv(path, index_col=0, parse_dates=True)
        nxt = full["close"].shift(-1) / full["close"] - 1
        noise = np.random.default_rng(0).normal(0, 0.3 * nxt.std(), len(nxt))  # keeps |correlation| < 0.98
        return (nxt + noise).reindex(index).fillna(0.0)


    def from_disk(prices):  # tomorrow's return plus noise, read from the full price file
        return pd.DataFrame({{"disk_next": _next_return_from_disk(prices.index)}})


    def from_disk_quietly(prices):  # the same, falling back on zeros when the read is refused
        try:
            values = _next_return_from_disk(prices.index)
        except Exception:
            values = pd.Series(0.0, index=prices.index)
        return pd.DataFrame({{"disk_next_quiet": values}})


    def _next_return(prices):
        close = prices["close"]
        return close.shift(-1) / close - 1


    def rare_event(prices):  # +-1 on the day before a move over 8 %, 0 on every other day
        nxt = _next_return(prices)
        return pd.DataFrame({{"big_move_ahead": np.sign(nxt).where(nxt.abs() > 0.08, 0.0).fillna(0.0)}})


    def tiny_noise(prices):  # the sign of tomorrow's return, at a magnitude of 1e-13
        return pd.DataFrame({{"tiny_next_sign": 1e-13 * np.sign(_next_return(prices)).fillna(0.0)}})


    def lazy_imports(prices):  # honest: libraries imported inside the function, on first use
        import importlib

        import scipy.stats
        from numpy.lib.stride_tricks import sliding_window_view
        from sklearn.linear_model import Ridge

        helper = importlib.import_module({helper!r})
        close = prices["close"].to_numpy()
        skew = np.full(len(close), np.nan)
        skew[9:] = scipy.stats.skew(sliding_window_view(close, 10), axis=1)
        lagged = np.column_stack([close[1:-1], close[:-2]])  # the two closes before each day from the third on
        fitted = Ridge().fit(lagged[:60], close[2:62])  # fitted on the first rows only: before every cut day
        gap = np.r_[np.nan, np.nan, fitted.predict(lagged) / close[2:] - 1]
        return pd.DataFrame({{"skew_10d": skew, "ret_twice": helper.twice(prices["close"].pct_change()),
                             "ridge_gap": gap}}, index=prices.index)


    def _zeros(prices, name):
        return pd.DataFrame({{name: 0.0}}, index=prices.index)


    def opens_socket(prices):
        import socket

        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=2).sendall(b"prices")
        except OSError:
            pass
        return _zeros(prices, "sock")


    def starts_process(prices):
        import subprocess

        try:
            subprocess.run(["touch", MARKER], check=False)
        except OSError:
            pass
        return _zeros(prices, "proc")


    def runs_shell(prices):
        try:
            os.system("touch " + MARKER)
        except OSError:
            pass
        return _zeros(prices, "shell")


    def writes_file(prices):
        try:
            with open(MARKER, "w") as fh:
                fh.write("x")
        except OSError:
            pass
        return _zeros(prices, "written")


    def starts_thread(prices):  # a thread would run outside the sandbox
        try:
            worker = threading.Thread(target=lambda: open(MARKER, "w").close())
            worker.start()
            worker.join()
        except RuntimeError:
            pass
        return _zeros(prices, "threaded")
''')


@pytest.fixture(scope="module")
def outputs_dir(tmp_path_factory, cleaned_2009_2012):
    """A run folder holding the full cleaned prices, where a feature could find them on disk."""
    folder = tmp_path_factory.mktemp("outputs")
    write_frame(folder / "runs" / "r1" / "data" / "cleaned.csv", cleaned_2009_2012)
    return folder


@pytest.fixture(scope="module")
def listener():
    """A local TCP server a feature could send the prices to (nobody should connect)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.3)
    yield server
    server.close()


@pytest.fixture(scope="module")
def analyst_module(tmp_path_factory, outputs_dir, listener):
    folder = tmp_path_factory.mktemp("analyst23")
    marker = folder / "payload_ran"
    source = FEATURES_SOURCE.format(
        data_dir=str(outputs_dir), marker=str(marker), port=listener.getsockname()[1], helper=HELPER
    )
    (folder / f"{MODULE}.py").write_text(source)
    (folder / f"{HELPER}.py").write_text("def twice(x):\n    return 2 * x\n")
    sys.path.insert(0, str(folder))
    yield SimpleNamespace(folder=folder, marker=marker)
    sys.path.remove(str(folder))
    for name in (MODULE, HELPER):
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def cleaned_2009_2012():
    """AAPL 2009-2012: one move over 8 % (2012-04-25), far from the guard's evenly spaced cut days."""
    frame, _ = clean_prices(sample_frame("2009-01-01", "2012-12-31"))
    return frame


def _spec(function: str) -> str:
    return f"{MODULE}:{function}"


@pytest.mark.parametrize("function", ["from_disk", "from_disk_quietly"])
def test_a_feature_reading_the_price_file_is_stopped_and_named(
    analyst_module, outputs_dir, cleaned_2009_2012, function
):
    """Tomorrow's return plus noise, read from the run's full cleaned.csv: truncation cannot see it (the file is
    read whole at every cut) and the noise keeps it under the correlation limit, so only the sandbox stops it,
    also when the function catches the refusal and returns zeros."""
    with pytest.raises(FeatureFunctionError) as info:
        leakage.build_and_guard(cleaned_2009_2012, extra_features=[_spec(function)])

    path = outputs_dir / "runs" / "r1" / "data" / "cleaned.csv"
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"extra feature {_spec(function)} opened {path.resolve()} for reading: refused")
    assert "a feature function sees only the prices it is given" in message


def test_a_module_reading_the_price_file_when_imported_is_stopped(tmp_path, outputs_dir, cleaned_2009_2012):
    """The read moved to the module's top level, run once at import, before any function is called: the
    import is inside the sandbox too."""
    path = outputs_dir / "runs" / "r1" / "data" / "cleaned.csv"
    module = tmp_path / "peek_at_import_t23.py"
    module.write_text(
        "import pandas as pd\n"
        f"FULL = pd.read_csv({str(path)!r}, index_col=0, parse_dates=True)\n"
        "def tomorrow(prices):\n"
        "    nxt = FULL['close'].shift(-1) / FULL['close'] - 1\n"
        "    return pd.DataFrame({'nxt': nxt.reindex(prices.index).fillna(0.0)})\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(FeatureFunctionError) as info:
            build_features(cleaned_2009_2012, extra_features=["peek_at_import_t23:tomorrow"])
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("peek_at_import_t23", None)

    assert str(info.value).startswith(
        f"extra feature peek_at_import_t23:tomorrow opened {path.resolve()} for reading: refused"
    )


def test_the_rare_event_feature_is_caught_on_the_day_before_the_move(analyst_module, cleaned_2009_2012):
    frame, names, guard = leakage.build_and_guard(cleaned_2009_2012, extra_features=[_spec("rare_event")])

    truncation = guard[0]
    assert list(truncation["offenders"]) == ["big_move_ahead"]
    assert truncation["first_differences"]["big_move_ahead"] == "2012-04-24"  # the day before the +8.9 % move
    assert "before the largest moves" in truncation["cut_rules"]["2012-04-24"]
    assert guard[1]["passed"] is True  # the future-value check alone does not see it
    with pytest.raises(LeakageError, match=rf"big_move_ahead \(from {_spec('rare_event')}\) differs on 2012-04-24"):
        leakage.enforce(*guard)


def test_a_look_ahead_of_tiny_magnitude_is_caught(analyst_module, cleaned_2009_2012):
    _, _, guard = leakage.build_and_guard(cleaned_2009_2012, extra_features=[_spec("tiny_noise")])

    assert list(guard[0]["offenders"]) == ["tiny_next_sign"]
    with pytest.raises(LeakageError, match=r"tiny_next_sign \(from analyst_features_t23:tiny_noise\) differs on"):
        leakage.enforce(*guard)


def test_the_future_value_check_is_not_dodged_by_scale(cleaned):
    feats, names = build_features(cleaned)
    for scale in (1e-13, 1e-160, 1e160):
        leaky = feats.assign(scaled_target=feats[TARGET] * scale)
        report = leakage.future_values(leaky, [*names, "scaled_target"], cleaned)
        assert list(report["offenders"]) == ["scaled_target"], scale


@pytest.mark.parametrize(
    "function, tried",
    [
        ("opens_socket", "used the network (socket.getaddrinfo 127.0.0.1)"),
        ("starts_process", "tried to start a process (touch "),
        ("runs_shell", "tried to run a shell command (touch "),
        ("writes_file", "opened {marker} for writing"),
        ("starts_thread", "tried to start a thread"),
    ],
)
def test_a_feature_using_the_network_processes_threads_or_writing_files_is_refused(
    analyst_module, listener, cleaned, function, tried
):
    with pytest.raises(FeatureFunctionError) as info:
        build_features(cleaned, extra_features=[_spec(function)])

    message = str(info.value)
    assert message.startswith(f"extra feature {_spec(function)} {tried.format(marker=analyst_module.marker)}")
    assert not analyst_module.marker.exists()  # the payload never ran
    with pytest.raises(TimeoutError):
        listener.accept()  # nothing connected


def test_the_sandbox_is_only_on_for_the_confined_thread(tmp_path):
    """The hook is process-wide: another thread (the kernel's iopub, a logger) reads files while a feature is
    being computed, and the confined thread itself is free again afterwards."""
    path = tmp_path / "other.txt"
    path.write_text("kernel")
    asked, done, got = threading.Event(), threading.Event(), []

    def other_thread():
        asked.wait(5)
        got.append(path.read_text())
        done.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with sandbox.confined() as refused:
        asked.set()
        assert done.wait(5)
        with pytest.raises(PermissionError):
            path.read_text()
    worker.join()

    assert got == ["kernel"] and refused == [f"opened {path.resolve()} for reading"]
    assert path.read_text() == "kernel"  # outside the block: allowed again


# ------------------------------------------------------------------------ declared inputs (feature_inputs)
INPUTS_SOURCE = textwrap.dedent("""
    import pandas as pd


    def relative_strength(prices, inputs):  # honest: the stock's return less the market's, both up to day t
        market = inputs["market"]["close"]
        return pd.DataFrame({"rel_ret": prices["close"].pct_change() - market.pct_change()})


    def market_tomorrow(prices, inputs):  # the market's next close, from the declared input
        market = inputs["market"]["close"]
        return pd.DataFrame({"market_next": market.shift(-1) / market - 1})
""")


@pytest.fixture(scope="module")
def market_csv(tmp_path_factory, cleaned_2009_2012):
    """MSFT's closes as a "market" series, in a CSV with a Date column, newest first, one day missing."""
    msft = sample_frame("2009-01-01", "2012-12-31", ticker="MSFT")[["close"]].drop(cleaned_2009_2012.index[300])
    path = tmp_path_factory.mktemp("inputs") / "market.csv"
    msft.iloc[::-1].rename_axis("Date").to_csv(path)
    return path


@pytest.fixture(scope="module")
def inputs_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analyst_inputs")
    (folder / "inputs_t23.py").write_text(INPUTS_SOURCE)
    sys.path.insert(0, str(folder))
    yield "inputs_t23"
    sys.path.remove(str(folder))
    sys.modules.pop("inputs_t23", None)


def test_a_declared_input_reaches_the_function_as_of_each_day(inputs_module, market_csv, cleaned_2009_2012):
    from aapl_lib.features.inputs import read_inputs

    inputs = read_inputs({"market": str(market_csv)})
    frame, names, guard = leakage.build_and_guard(
        cleaned_2009_2012, extra_features=[f"{inputs_module}:relative_strength"], inputs=inputs
    )

    leakage.enforce(*guard)  # an honest use passes the guard
    market = inputs["market"]["close"]
    missing = cleaned_2009_2012.index[300]
    assert missing not in market.index and market.index.is_monotonic_increasing
    as_of = market.reindex(cleaned_2009_2012.index).ffill()  # the day without a row has the day before's close
    expected = cleaned_2009_2012["close"].pct_change() - as_of.pct_change()
    pd.testing.assert_series_equal(frame["rel_ret"], expected.reindex(frame.index), check_names=False)
    assert guard[2]["inputs"] == ["market"]
    assert "declared inputs market given as of each day, cut with the prices" in leakage.summary(guard)


def test_a_function_peeking_at_a_declared_inputs_future_is_caught(inputs_module, market_csv, cleaned_2009_2012):
    from aapl_lib.features.inputs import read_inputs

    spec = f"{inputs_module}:market_tomorrow"
    _, _, guard = leakage.build_and_guard(
        cleaned_2009_2012, extra_features=[spec], inputs=read_inputs({"market": str(market_csv)})
    )

    with pytest.raises(LeakageError, match=rf"market_next \(from {spec}\) differs on"):
        leakage.enforce(*guard)


def test_feature_inputs_are_checked_before_anything_runs_and_enter_the_fingerprint(tmp_path, market_csv):
    from aapl_lib.errors import ParameterError
    from aapl_lib.pipeline import config
    from aapl_lib.pipeline.parameters import defaults
    from aapl_lib.pipeline.tasks import get_task
    from aapl_lib.runner.fingerprints import task_fingerprint
    from helpers import ROOT

    base = defaults()
    ok = config.validate_params({**base, "feature_inputs": {"market": market_csv.name}}, base_dir=market_csv.parent)
    assert ok["feature_inputs"] == {"market": str(market_csv.resolve())}
    with pytest.raises(ParameterError, match="feature_inputs market: nowhere.csv does not exist"):
        config.validate_params({**base, "feature_inputs": {"market": "nowhere.csv"}}, base_dir=tmp_path)
    with pytest.raises(ParameterError, match="'two words' is not a usable name"):
        config.validate_params({**base, "feature_inputs": {"two words": str(market_csv)}})
    assert config.parse_override("feature_inputs", "{market: m.csv}") == {"market": "m.csv"}

    copy = tmp_path / "market.csv"
    copy.write_bytes(market_csv.read_bytes())
    params = {**ok, "feature_inputs": {"market": str(copy)}}
    task = get_task("feature_engineering")
    before, parts = task_fingerprint(task, params, tmp_path, ROOT / "notebooks", {})
    copy.write_text(copy.read_text().replace(",", ",1", 1))  # the file changes, its path does not
    after, _ = task_fingerprint(task, params, tmp_path, ROOT / "notebooks", {})
    assert before != after and "market" in parts["feature_inputs"]


def test_a_function_importing_libraries_lazily_is_not_refused(analyst_module, cleaned_2009_2012):
    frame, names, guard = leakage.build_and_guard(cleaned_2009_2012, extra_features=[_spec("lazy_imports")])

    leakage.enforce(*guard)  # does not raise
    assert names[-3:] == ["skew_10d", "ret_twice", "ridge_gap"] and frame["skew_10d"].notna().all()
    confined = guard[2]
    assert confined["check"] == "own functions confined" and confined["functions"] == [_spec("lazy_imports")]
    assert leakage.summary(guard).endswith("audit hook on for 1 own function: files, sockets, subprocesses refused)")
