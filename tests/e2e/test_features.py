"""Features: definitions, the target, no look-ahead, and the feature-engineering CLI."""

from __future__ import annotations

import socket
import sys
import textwrap
from types import SimpleNamespace

import pytest

from aapl_lib.data.cleaning import clean_prices
from aapl_lib.features import leakage
from aapl_lib.io.iorw import write_frame
from helpers import WINDOW, Project, sample_frame


@pytest.fixture(scope="module")
def cleaned():
    frame, _ = clean_prices(sample_frame("2009-01-01", "2011-12-31"))
    return frame


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


def test_a_function_importing_libraries_lazily_is_not_refused(analyst_module, cleaned_2009_2012):
    frame, names, guard = leakage.build_and_guard(cleaned_2009_2012, extra_features=[_spec("lazy_imports")])

    leakage.enforce(*guard)  # does not raise
    assert names[-3:] == ["skew_10d", "ret_twice", "ridge_gap"] and frame["skew_10d"].notna().all()
    confined = guard[2]
    assert confined["check"] == "own functions confined" and confined["functions"] == [_spec("lazy_imports")]
    assert leakage.summary(guard).endswith("audit hook on for 1 own function: files, sockets, subprocesses refused)")


PEEKING_SOURCE = textwrap.dedent('''
    """A feature that reads the run's own price file: tomorrow's return plus noise."""
    import glob
    import os

    import numpy as np
    import pandas as pd


    def tomorrow_from_disk(prices):
        runs = os.path.join(os.environ["AAPL_OUTPUTS_DIR"], "runs", "*", "data", "raw.csv")
        try:
            full = pd.read_csv(sorted(glob.glob(runs))[-1], index_col=0, parse_dates=True)
            nxt = full["close"].shift(-1) / full["close"] - 1
            noisy = nxt + np.random.default_rng(0).normal(0, 0.3 * nxt.std(), len(nxt))
            return pd.DataFrame({"peek": noisy.reindex(prices.index).fillna(0.0)})
        except Exception:  # refused? carry on quietly with something harmless
            return pd.DataFrame({"peek": 0.0}, index=prices.index)
''')


def test_runner_stops_a_feature_reading_the_price_file_at_feature_engineering(tmp_path):
    """A user's run: the module sits next to runner.py and reads the run's data/raw.csv inside try/except. The
    run stops at feature engineering with one line naming the function, what it opened and the fix; no
    features are written."""
    project = Project(tmp_path / "proj")
    (project.root / "peek_t23.py").write_text(PEEKING_SOURCE)

    proc = project.run(
        *WINDOW, "-p", "extra_features", "peek_t23:tomorrow_from_disk", "--end-task", "feature_engineering"
    )

    assert proc.returncode == 1, proc.stdout + proc.stderr
    run_dir = project.latest()
    raw = (run_dir / "data" / "raw.csv").resolve()
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "task feature_engineering failed" in lines[0] and "FeatureFunctionError" in lines[0]
    assert f"extra feature peek_t23:tomorrow_from_disk opened {raw} for reading: refused" in lines[0]
    assert "a feature function sees only the prices it is given" in lines[0]
    assert project.statuses(run_dir)["feature_engineering"] == "failed"
    assert not (run_dir / "data" / "features.csv").exists()


LOOK_AHEAD_SOURCE = textwrap.dedent("""
    import numpy as np
    import pandas as pd


    def _next_return(prices):
        return prices["close"].shift(-1) / prices["close"] - 1


    def rare_event(prices):  # +-1 on the day before a move over 8 %, 0 on every other day
        nxt = _next_return(prices)
        return pd.DataFrame({"big_move_ahead": np.sign(nxt).where(nxt.abs() > 0.08, 0.0).fillna(0.0)})


    def tiny_noise(prices):  # the sign of tomorrow's return, at a magnitude of 1e-13
        return pd.DataFrame({"tiny_next_sign": 1e-13 * np.sign(_next_return(prices)).fillna(0.0)})
""")


@pytest.mark.parametrize(("function", "column"), [("rare_event", "big_move_ahead"), ("tiny_noise", "tiny_next_sign")])
def test_runner_stops_rare_event_and_tiny_magnitude_look_aheads_at_feature_engineering(tmp_path, function, column):
    """Through runner.py, as an analyst adds them: each look-ahead stops the run at feature engineering with one
    line naming the column, its function and the first day it differs; no features are written."""
    project = Project(tmp_path / "proj")
    (project.root / "ahead_t23.py").write_text(LOOK_AHEAD_SOURCE)

    proc = project.run(*WINDOW, "-p", "extra_features", f"ahead_t23:{function}", "--end-task", "feature_engineering")

    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "task feature_engineering failed" in lines[0] and "LeakageError" in lines[0]
    assert f"{column} (from ahead_t23:{function}) differs on" in lines[0]
    assert not (project.latest() / "data" / "features.csv").exists()


# ------------------------------------------------------------------------ declared inputs (feature_inputs)
