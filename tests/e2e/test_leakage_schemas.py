"""The leakage guard (aapl_lib.features.leakage) and the frame schemas (aapl_lib.data.schemas), on the offline sample.

Fast unit tests, no subprocess. The guard must pass the real features and catch a deliberately leaky one
with each of its checks; each schema must pass a clean frame and stop a spoiled one with a message whose
first line names the step, the column and the rule and whose next lines show the offending rows.
"""

from __future__ import annotations

import pandas as pd
import pytest

from aapl_lib.data import cleaning
from helpers import sample_frame


# --------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return sample_frame()  # AAPL 2011-2012 from the offline sample, as ingestion gives it


@pytest.fixture(scope="module")
def cleaned(raw) -> pd.DataFrame:
    frame, quality = cleaning.clean_prices(raw)
    assert quality["status"] != "fail"
    return frame


# --------------------------------------------------------------------------------------------- leakage: features
# Leaks are injected through extra_features, the path an analyst takes: tests/e2e/test_honesty.py.


# --------------------------------------------------------------------------------------------- leakage: chronology


# --------------------------------------------------------------------------------------------- schemas: clean frames


# --------------------------------------------------------------------------------------------- schemas: violations


# (spoil, frame kind, step, column named, rule named)


# --------------------------------------------------------------------------------------------- StepContext


# --------------------------------------------------------------------------------------------- through the runner
def test_a_spoiled_input_file_is_refused_on_read_by_the_task_that_reads_it(project):
    """An analyst's run folder (``--run-dir``) whose cleaned prices were edited by hand so that one day's high
    is below its close: feature engineering refuses to read it, naming the column, the rule and the day."""
    from helpers import WINDOW

    folder = project.outputs / "interactive"
    proc = project.run(*WINDOW, "--run-dir", str(folder), "--end-task", "data_cleaning")
    assert proc.returncode == 0, proc.stderr
    cleaned = pd.read_csv(folder / "data/cleaned.csv", index_col=0)
    day = cleaned.index[40]
    cleaned.loc[day, "high"] = cleaned.loc[day, "close"] - 1.0
    cleaned.to_csv(folder / "data/cleaned.csv")
    proc = project.run(*WINDOW, "--run-dir", str(folder), "--only", "feature_engineering")
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "task feature_engineering failed" in lines[0] and "SchemaViolation" in lines[0]
    assert "the cleaned prices it was given break the schema: column high, rule 'high >= max(open, close)'" in lines[0]
    assert day in (folder / "notebooks" / "03_feature_engineering.ipynb").read_text()
    assert not (folder / "data/features.csv").exists()


def test_a_run_folder_of_another_ticker_is_refused_by_the_notebook_given_this_one(project):
    """One run, one ticker: runner.py given ticker AAPL on a run folder whose prices are MSFT's stops at model
    training in one line naming both tickers and the file, before a model is written."""
    from helpers import WINDOW

    folder = project.outputs / "interactive"
    proc = project.run(*WINDOW, "-p", "ticker", "MSFT", "--run-dir", str(folder), "--end-task", "feature_engineering")
    assert proc.returncode == 0, proc.stderr
    proc = project.run(*WINDOW, "-p", "ticker", "AAPL", "--run-dir", str(folder), "--only", "model_training")
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "model_training was given ticker='AAPL' but data/provenance.json" in lines[0] and "'MSFT'" in lines[0]
    assert not (folder / "model/model.skops").exists()


def test_a_scaler_fitted_on_every_row_is_stopped_before_the_model_is_saved(project):
    """An analyst edits notebook 04 to refit the model on every labelled row, test rows included: the
    chronology check stops model training and no model file is written."""
    from helpers import WINDOW

    path = project.root / "notebooks" / "04_model_training.ipynb"
    original = path.read_text()
    fit_line = 'estimator, in_sample = modeling.train_model(split, names, wf["challenger"], hyper)\n'
    nb = __import__("json").loads(original)
    assert any(fit_line in "".join(cell["source"]) for cell in nb["cells"])
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if fit_line in source:
            cell["source"] = source.replace(
                fit_line,
                fit_line + "labelled = features.dropna(subset=[*names, "
                "'target_next_return'])\nestimator.fit(labelled[names].to_numpy(), "
                "labelled['target_next_return'].to_numpy())  # 'use all the data'\n",
            )
    path.write_text(__import__("json").dumps(nb))
    try:
        proc = project.run(*WINDOW, "--only", "model_training")
    finally:
        path.write_text(original)
    assert proc.returncode == 1
    assert "leakage guard (train/test chronology) failed: scaler" in proc.stderr
    assert project.manifest()["tasks"]["model_training"]["status"] == "failed"
    assert not (project.latest() / "model" / "model.skops").exists()
