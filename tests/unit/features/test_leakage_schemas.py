"""The leakage guard (aapl_lib.features.leakage) and the frame schemas (aapl_lib.data.schemas), on the offline sample.

Fast unit tests, no subprocess. The guard must pass the real features and catch a deliberately leaky one
with each of its checks; each schema must pass a clean frame and stop a spoiled one with a message whose
first line names the step, the column and the rule and whose next lines show the offending rows.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from aapl_lib.data import cleaning, schemas
from aapl_lib.data.schemas import SchemaViolation
from aapl_lib.features import build as fe
from aapl_lib.features import leakage
from aapl_lib.features.build import TARGET
from aapl_lib.features.leakage import LeakageError
from aapl_lib.modeling import training as modeling
from aapl_lib.pipeline import parameters
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


@pytest.fixture(scope="module")
def built(cleaned) -> tuple[pd.DataFrame, list[str]]:
    return fe.build_features(cleaned)


# --------------------------------------------------------------------------------------------- leakage: features
# Leaks are injected through extra_features, the path an analyst takes: tests/e2e/test_honesty.py.
def test_real_features_pass_truncation_invariance_and_future_values(cleaned, built):
    frame, names, (truncation, future, confined) = leakage.build_and_guard(cleaned)
    pd.testing.assert_frame_equal(frame, built[0])

    assert truncation["passed"] is True and truncation["offenders"] == {}
    assert truncation["features_checked"] == len(names) and len(truncation["cut_dates"]) >= 12
    assert truncation["cut_dates"][-5:] == [f"{d:%Y-%m-%d}" for d in cleaned.index[-6:-1]]  # the last days
    assert future["passed"] is True and future["offenders"] == {}
    assert future["features_checked"] == len(names)
    assert future["compared_with"][0] == TARGET and len(future["compared_with"]) == 1 + len(leakage.FUTURE_LAGS)
    assert confined["passed"] is True and confined["functions"] == []
    leakage.enforce(truncation, future, confined)  # does not raise
    counts = truncation["cuts_per_rule"]
    assert counts == {"evenly spaced": 8, "last days": 5, "before the largest moves": 10, "random": 8}
    assert leakage.summary([truncation, future, confined]) == (
        f"leakage guard: passed (truncation invariance of {len(names)} features at "
        f"{len(truncation['cut_dates'])} cut days: 8 evenly spaced, 5 last, 10 before the largest moves, 8 random "
        "with seed 42; values within rtol 1e-09 + 1e-09 x the feature's full-sample std; future-value check on "
        f"{len(names)} features: none equals or tracks (|correlation| > 0.98) the target or the return 1-5 days "
        "ahead; no own feature functions to confine)"
    )


def test_random_cut_days_follow_the_runs_seed_and_each_cut_day_names_its_rules(cleaned):
    reports = {seed: leakage.build_and_guard(cleaned, random_seed=seed)[2][0] for seed in (42, 7)}

    def drawn(report):
        return {day for day, rules in report["cut_rules"].items() if "random" in rules}

    assert reports[7]["seed"] == 7 and "8 random with seed 7" in leakage.summary([reports[7]])
    assert drawn(reports[7]) != drawn(reports[42])  # another seed, other random days
    assert drawn(leakage.build_and_guard(cleaned, random_seed=7)[2][0]) == drawn(reports[7])  # same seed, same days
    for report in reports.values():
        assert set(report["cut_rules"]) == set(report["cut_dates"])
        assert {rule for rules in report["cut_rules"].values() for rule in rules} == set(leakage.RULE_NAMES)
    # the day before each of the 10 largest moves (after the first 80 rows) is a cut day
    moves = cleaned["close"].pct_change().iloc[81:].abs().nlargest(10)
    before = {f"{cleaned.index[cleaned.index.get_loc(day) - 1]:%Y-%m-%d}" for day in moves.index}
    assert before == {d for d, rules in reports[42]["cut_rules"].items() if "before the largest moves" in rules}


# --------------------------------------------------------------------------------------------- leakage: chronology
@pytest.fixture(scope="module")
def split_and_model(built):
    frame, names = built
    split = modeling.chronological_split(frame, 0.2)
    estimator, _ = _train(split, names)
    return split, estimator


def _train(split: modeling.Split, names: list[str]):
    """Fit the project's ridge candidate on the split's training rows (defaults for every parameter)."""
    return modeling.train_model(split, names, "ridge", parameters.defaults())


def test_chronology_passes_for_the_pipelines_split_and_model(built, split_and_model):
    frame, names = built
    split, estimator = split_and_model

    report = modeling.check_chronology(split, estimator, frame, names)

    assert report["passed"] is True and report["offenders"] == {}
    assert report["gap_rows"] == 1 and report["horizon"] == modeling.HORIZON == 1
    assert report["scaler_fitted_on_training_rows_only"] is True
    assert report["last_train_day"] < report["first_test_day"]
    assert leakage.summary([report]) == "leakage guard: passed (train/test chronology)"


def test_chronology_fails_with_no_gap_between_training_and_test(built):
    frame, names = built
    split = modeling.chronological_split(frame, 0.2, gap=0)
    estimator, _ = _train(split, names)

    with pytest.raises(LeakageError) as info:
        modeling.check_chronology(split, estimator, frame, names)

    assert "leakage guard (train/test chronology) failed" in str(info.value)
    assert "only 0 row(s) between training and test; the target horizon needs 1" in str(info.value)


def test_chronology_fails_when_the_test_starts_before_training_ends(built):
    frame, names = built
    labelled = frame[frame[TARGET].notna()]
    split = modeling.Split(train=labelled.iloc[:300], test=labelled.iloc[280:], gap_rows=0)
    estimator, _ = _train(split, names)

    with pytest.raises(LeakageError) as info:
        modeling.check_chronology(split, estimator, frame, names)

    assert (
        f"last training day {labelled.index[299]:%Y-%m-%d} is not before first test day {labelled.index[280]:%Y-%m-%d}"
    ) in str(info.value)


def test_chronology_fails_when_the_scaler_saw_the_test_rows(built, split_and_model):
    frame, names = built
    split, trained = split_and_model
    every_row = pd.concat([split.train, split.test])
    leaky = clone(trained).fit(every_row[names].to_numpy(), every_row[TARGET].to_numpy())

    with pytest.raises(LeakageError, match="the scaler's means differ from the training rows' means"):
        modeling.check_chronology(split, leaky, frame, names)

    labelled = frame.index[frame[TARGET].notna()]
    report = leakage.chronology(
        split.train.index,
        split.test.index,
        labelled,
        modeling.HORIZON,
        leaky.named_steps["scaler"].mean_,
        split.train[names].mean().to_numpy(),
    )
    assert report["passed"] is False and list(report["offenders"]) == ["scaler"]
    assert report["gap_rows"] == 1  # the split itself is fine: only the scaler is at fault
    assert report["scaler_fitted_on_training_rows_only"] is False
    assert leakage.summary([report]) == "leakage guard: FAILED (train/test chronology)"


def test_summary_names_only_the_failed_checks(cleaned, built):
    frame, names = built
    good = leakage.truncation_invariance(cleaned, fe.build_features)
    bad = leakage.future_values(frame.assign(leak=frame[TARGET]), [*names, "leak"], cleaned)

    assert leakage.summary([good, bad]) == "leakage guard: FAILED (no feature is the target or a future value)"
    assert leakage.summary([good]).startswith("leakage guard: passed (")


# --------------------------------------------------------------------------------------------- schemas: clean frames
def test_clean_frames_pass_every_schema(raw, cleaned, built):
    frame, names = built
    assert frame[TARGET].isna().iloc[-1] and frame[TARGET].iloc[:-1].notna().all()  # the forecast row

    for data, schema, step in [
        (raw, schemas.raw_schema(), "data_ingestion"),
        (raw.drop(columns="adj_close"), schemas.raw_schema(), "data_ingestion"),
        (cleaned, schemas.cleaned_schema(), "data_cleaning"),
        (frame, schemas.features_schema(names), "feature_engineering"),
    ]:
        out = schemas.validate(data, schema, step=step, action="produced")
        pd.testing.assert_frame_equal(out, data)


def test_raw_schema_leaves_values_to_cleaning(raw):
    # unsorted dates, a repeated date, a missing and a negative price are cleaning's job, not the raw schema's
    spoiled = pd.concat([raw.iloc[[3, 1, 2]], raw.iloc[[1]]])
    spoiled.iloc[0, spoiled.columns.get_loc("close")] = np.nan
    spoiled.iloc[1, spoiled.columns.get_loc("open")] = -1.0

    schemas.validate(spoiled, schemas.raw_schema(), step="data_ingestion", action="produced")


# --------------------------------------------------------------------------------------------- schemas: violations
def _set(frame: pd.DataFrame, row: int, column: str, value: float) -> tuple[pd.DataFrame, pd.Timestamp]:
    frame = frame.copy()
    frame.iloc[row, frame.columns.get_loc(column)] = value
    return frame, frame.index[row]


def _high_below_close(c):
    return _set(c, 10, "high", c["close"].iloc[10] - 1.0)


def _negative_low(c):
    return _set(c, 12, "low", -1.0)


def _negative_close(c):
    return _set(c, 12, "close", -1.0)


def _duplicated_date(c):
    return pd.concat([c.iloc[:21], c.iloc[[20]], c.iloc[21:]]), c.index[20]


def _unsorted_dates(c):
    order = list(range(len(c)))
    order[30], order[31] = 31, 30
    return c.iloc[order], c.index[30]  # 30 now follows 31: it is the row out of order


def _nan_feature(f):
    return _set(f, 7, "rsi_14", np.nan)


def _target_missing_in_the_middle(f):
    return _set(f, 100, TARGET, np.nan)


def _infinite_feature(f):
    return _set(f, 9, "ret_1d", np.inf)


# (spoil, frame kind, step, column named, rule named)
VIOLATIONS = [
    pytest.param(
        _high_below_close, "cleaned", "data_cleaning", "high", "high >= max(open, close)", id="high_below_close"
    ),
    pytest.param(_negative_low, "cleaned", "data_cleaning", "low", "greater_than(0)", id="negative_low"),
    pytest.param(_negative_close, "cleaned", "data_cleaning", "close", "greater_than(0)", id="negative_close"),
    pytest.param(_duplicated_date, "cleaned", "data_cleaning", "date", "field_uniqueness", id="duplicated_date"),
    pytest.param(
        _unsorted_dates, "cleaned", "data_cleaning", "date", "dates must be in ascending order", id="unsorted_dates"
    ),
    pytest.param(_nan_feature, "features", "feature_engineering", "rsi_14", "not_nullable", id="nan_feature"),
    pytest.param(
        _target_missing_in_the_middle,
        "features",
        "feature_engineering",
        TARGET,
        "the target may be missing on the last row only",
        id="target_missing_in_the_middle",
    ),
    pytest.param(_infinite_feature, "features", "feature_engineering", "ret_1d", "finite", id="infinite_feature"),
]


@pytest.mark.parametrize("spoil, kind, step, column, rule", VIOLATIONS)
def test_a_schema_violation_names_step_column_rule_and_shows_the_rows(cleaned, built, spoil, kind, step, column, rule):
    frame, names = built
    base, schema = (cleaned, schemas.cleaned_schema()) if kind == "cleaned" else (frame, schemas.features_schema(names))
    spoiled, day = spoil(base)

    with pytest.raises(SchemaViolation) as info:
        schemas.validate(spoiled, schema, step=step, action="produced")

    first, *rest = str(info.value).splitlines()
    assert first.startswith(f"{step}: the {schema.name} it produced break the schema: ")
    assert f"column {column}, rule '{rule}'" in first, first
    assert first.endswith("first offending rows:")
    assert rest and f"{day:%Y-%m-%d}" in "\n".join(rest), str(info.value)


@pytest.mark.parametrize("kind, step", [("raw", "data_ingestion"), ("cleaned", "data_cleaning")])
def test_an_unexpected_column_is_named(raw, cleaned, kind, step):
    base, schema = (raw, schemas.raw_schema()) if kind == "raw" else (cleaned, schemas.cleaned_schema())
    spoiled = base.assign(dividend=0.0)

    with pytest.raises(SchemaViolation) as info:
        schemas.validate(spoiled, schema, step=step, action="produced")

    first, *rest = str(info.value).splitlines()
    assert first.startswith(f"{step}: the {schema.name} it produced break the schema: ")
    assert "column dividend, rule 'column_in_schema'" in first, first
    assert "dividend" in "\n".join(rest) and "Empty DataFrame" not in str(info.value)


def test_an_unexpected_column_is_refused(raw, cleaned):
    # what works today: the frame is refused (strict schemas), whatever the message says
    for base, schema in [(raw, schemas.raw_schema()), (cleaned, schemas.cleaned_schema())]:
        with pytest.raises(SchemaViolation, match="column_in_schema"):
            schemas.validate(base.assign(dividend=0.0), schema, step="data_cleaning", action="produced")


def test_a_missing_required_column_is_refused(raw):
    with pytest.raises(SchemaViolation, match="column_in_dataframe"):
        schemas.validate(raw.drop(columns="volume"), schemas.raw_schema(), step="data_ingestion", action="produced")


def test_many_failures_are_counted_and_only_the_first_rows_shown(cleaned):
    spoiled = cleaned.copy()
    spoiled.iloc[:8, spoiled.columns.get_loc("volume")] = -5.0

    with pytest.raises(SchemaViolation) as info:
        schemas.validate(spoiled, schemas.cleaned_schema(), step="data_cleaning", action="produced")

    first, *rest = str(info.value).splitlines()
    assert "column volume, rule 'greater_than_or_equal_to(0)' (8 failures in all)" in first
    assert len(rest) == 1 + schemas.MAX_ROWS_SHOWN  # header + the first rows


# --------------------------------------------------------------------------------------------- StepContext
@pytest.fixture()
def restore_aapl_logger():
    """start_step routes the aapl_lib logger to stderr (propagate off): put it back afterwards."""
    logger = logging.getLogger("aapl_lib")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def test_step_refuses_to_write_a_bad_cleaned_frame(tmp_path: Path, cleaned, restore_aapl_logger):
    from aapl_lib.step import start_step

    run_dir = tmp_path / "run"
    (run_dir / "data").mkdir(parents=True)
    (run_dir / "data/raw.csv").write_text("date,open,high,low,close,volume\n", encoding="utf-8")
    (run_dir / "data/provenance.json").write_text("{}\n", encoding="utf-8")
    step = start_step("data_cleaning", run_dir)
    bad, day = _high_below_close(cleaned)

    with pytest.raises(SchemaViolation) as info:
        step.write_frame("data/cleaned.csv", bad)

    first = str(info.value).splitlines()[0]
    assert first.startswith("data_cleaning: the cleaned prices it produced break the schema: column high")
    assert f"{day:%Y-%m-%d}" in str(info.value)
    assert not (run_dir / "data/cleaned.csv").exists()
    assert sorted(p.name for p in (run_dir / "data").iterdir()) == ["provenance.json", "raw.csv"]  # no temp file

    written = step.write_frame("data/cleaned.csv", cleaned)  # a good frame is written
    assert written == run_dir / "data/cleaned.csv" and written.is_file()


# --------------------------------------------------------------------------------------------- through the runner
