"""Features: definitions, the target, no look-ahead, and the feature-engineering CLI."""

from __future__ import annotations

import textwrap

import pytest

from helpers import WINDOW, Project

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
