"""The DAG as data: one :class:`TaskSpec` per step, with the artifacts it reads and writes.

Six steps are notebooks (:data:`TASKS`); two are the runner's own (``kind="runner"``: the approval gate and the
forecast ledger, between evaluation and reporting). :data:`DAG` holds all eight in order. The runner walks the
DAG with one loop (fingerprint, reuse, execute), ``--start-task/--end-task`` name notebook tasks, the notebooks'
input checks and the manifest read these specs. Artifact paths are relative to a run folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aapl_lib.errors import ParameterError

# Every artifact of a run folder, named once (relative to the folder): the specs below, the runner's own steps
# (the approval gate, the forecast ledger) and every reader use these names.
RAW, PROVENANCE = "data/raw.csv", "data/provenance.json"
CLEANED, QUALITY = "data/cleaned.csv", "reports/quality.json"
FEATURES, FEATURE_LIST, LEAKAGE = "data/features.csv", "data/feature_list.json", "reports/leakage_features.json"
DATA_DIR, FIGURES_DIR = "data", "figures"  # the folders (retention deletes data/ first; the run page lists figures/)
MODEL_DIR = "model"  # a model's meta names its file, found in this folder
MODEL, MODEL_META = "model/model.skops", "model/model_meta.json"
REFIT_MODEL, REFIT_META = "model/model_refit.skops", "model/model_refit_meta.json"
WALK_FORWARD = "reports/walk_forward.json"
EVALUATION, PREDICTIONS, FORECAST = "reports/evaluation.json", "data/predictions.csv", "reports/forecast.json"
GATE_PROPOSAL = "reports/gate.json"  # notebook 05's proposal to the approval gate
PREDICTED_PLOT, RESIDUALS_PLOT = "figures/predicted_vs_actual.png", "figures/residuals.png"
RETURNS_PLOT = "figures/cumulative_returns.png"
ANALYSIS, SUMMARY_PDF = "reports/analysis.md", "reports/summary.pdf"
DECISION = "reports/decision.json"  # the approval gate's decision
TRACK_RECORD, TRACK_PLOT = "reports/track_record.json", "figures/track_record.png"  # the forecast ledger's


NOTEBOOK, RUNNER = "notebook", "runner"  # what executes a step: papermill on its notebook, or the runner itself


@dataclass(frozen=True)
class TaskSpec:
    """One step of the pipeline."""

    name: str
    notebook: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: tuple[str, ...]
    title: str
    optional_inputs: tuple[str, ...] = ()
    # what the runner supplies from where it runs rather than from the params (``outputs_dir``: the outputs
    # folder whose registry and tries ledger the notebook reads); injected, never part of the fingerprint (what
    # the notebook reads there is: the champion's sha256 and the tries count)
    runner_values: tuple[str, ...] = ()
    # state outside the run folder the step reads, whose value enters its fingerprint (the registry's
    # ``champion_sha256``, the tries ledger's ``tries_on_window``, the forecast ledger's ``ledger_sha256``):
    # a new champion re-decides, a new try re-evaluates
    state_inputs: tuple[str, ...] = ()
    kind: str = NOTEBOOK  # RUNNER: executed by aapl_lib/runner/steps/<name>.py, no kernel, no notebook
    # a runner step that still runs while the approval gate waits for a person (the steps after the gate
    # otherwise wait with it)
    runs_while_awaiting: bool = False


TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        "data_ingestion",
        "01_data_ingestion.ipynb",
        (),
        (RAW, PROVENANCE),
        (
            "ticker",
            "source",
            "start",
            "end",
            "csv_path",
            "download_retries",
            "retry_wait_seconds",
            "retry_max_wait_seconds",
        ),
        "Data ingestion",
    ),
    TaskSpec(
        "data_cleaning",
        "02_data_cleaning.ipynb",
        (RAW, PROVENANCE),
        (CLEANED, QUALITY),
        (
            "split_detection",
            "max_abs_daily_return",
            "quality_max_missing_days_pct",
            "quality_max_dropped_rows_pct",
            "quality_max_repaired_rows_pct",
            "quality_fail_on_large_moves",
        ),
        "Data cleaning",
    ),
    TaskSpec(
        "feature_engineering",
        "03_feature_engineering.ipynb",
        (CLEANED,),
        (FEATURES, FEATURE_LIST, LEAKAGE),
        # feature_inputs: files the own features are given (their sha256 enters the fingerprint, like csv_path's);
        # random_seed: the leakage guard's random cut days
        (
            "lags",
            "windows",
            "rsi_window",
            "macd_fast",
            "macd_slow",
            "macd_signal",
            "extra_features",
            "feature_inputs",
            "random_seed",
        ),
        "Feature engineering",
    ),
    TaskSpec(
        "model_training",
        "04_model_training.ipynb",
        (FEATURES, FEATURE_LIST),
        (
            MODEL,
            MODEL_META,
            REFIT_MODEL,
            REFIT_META,
            WALK_FORWARD,
        ),
        (
            "ticker",
            "test_fraction",
            "candidates",
            "ridge_alpha",
            "gb_n_estimators",
            "gb_max_depth",
            "gb_learning_rate",
            "gb_subsample",
            "walk_forward_folds",
            "random_seed",
            "min_train_rows",
        ),
        "Model training",
    ),
    TaskSpec(
        "model_evaluation",
        "05_model_evaluation.ipynb",
        (
            CLEANED,
            FEATURES,
            FEATURE_LIST,
            MODEL,
            MODEL_META,
            REFIT_MODEL,
            REFIT_META,
        ),
        (
            EVALUATION,
            PREDICTIONS,
            FORECAST,
            GATE_PROPOSAL,
            PREDICTED_PLOT,
            RESIDUALS_PLOT,
            RETURNS_PLOT,
        ),
        (
            "ticker",
            "transaction_cost_bps",
            "approval_policy",
            "auto_min_rmse_gain_pct",
            "auto_min_direction_edge_pct",
            "auto_max_p_value",
            "plausibility_quantile",
            "plausibility_draws",
            "plausibility_block_days",
            "random_seed",
            "model_version_mismatch",
            "publish_model",
        ),
        "Model evaluation",
        runner_values=("outputs_dir",),
        state_inputs=("champion_sha256", "tries_on_window"),
    ),
    TaskSpec(
        "reporting",
        "06_reporting.ipynb",
        (
            PROVENANCE,
            QUALITY,
            LEAKAGE,
            MODEL_META,
            EVALUATION,
            WALK_FORWARD,
            FORECAST,
            GATE_PROPOSAL,
            PREDICTED_PLOT,
            RESIDUALS_PLOT,
            RETURNS_PLOT,
        ),
        (ANALYSIS, SUMMARY_PDF),
        ("ticker",),
        "Reporting",
        # the gate's decision; the live track record written before reporting (runner/steps/forecast_ledger.py)
        optional_inputs=(DECISION, TRACK_RECORD, TRACK_PLOT),
    ),
)

# The approval gate between evaluation and reporting: notebook 05 proposes (reports/gate.json); the policy
# (auto) or a person (approve/reject) decides (reports/decision.json). A decision that changes nothing is
# reused by a later run with the same proposal, champion and policy.
APPROVAL_GATE = TaskSpec(
    "approval_gate",
    "",
    (GATE_PROPOSAL,),
    (DECISION,),
    ("approval_policy",),
    "Approval gate",
    state_inputs=("champion_sha256",),
    kind=RUNNER,
)
# The forecast ledger (outputs/ledger/<TICKER>.csv): tonight's published forecast appended, forecasts whose day
# has closed scored, the ticker's track record drawn for the report. It runs while the gate waits for a person:
# the forecast in effect tonight is the champion's (or the challenger's, labelled as awaiting).
FORECAST_LEDGER = TaskSpec(
    "forecast_ledger",
    "",
    (FORECAST, CLEANED, PROVENANCE, MODEL_META, EVALUATION, GATE_PROPOSAL),
    (TRACK_RECORD, TRACK_PLOT),
    ("ticker",),
    "Forecast ledger",
    optional_inputs=(DECISION,),
    state_inputs=("ledger_sha256",),
    kind=RUNNER,
    runs_while_awaiting=True,
)

# Every step in order: the notebooks with the runner's two steps before reporting.
DAG: tuple[TaskSpec, ...] = (*TASKS[:-1], APPROVAL_GATE, FORECAST_LEDGER, TASKS[-1])

TASK_NAMES: tuple[str, ...] = tuple(t.name for t in TASKS)


def get_task(name: str) -> TaskSpec:
    """The spec of task ``name``; a clear error naming the valid tasks otherwise."""
    for task in TASKS:
        if task.name == name:
            return task
    raise ParameterError(f"unknown task {name!r}: choose one of {', '.join(TASK_NAMES)}")


def producer_of(artifact: str) -> TaskSpec:
    """The task whose outputs include ``artifact``."""
    for task in DAG:
        if artifact in task.outputs:
            return task
    raise KeyError(artifact)


def select_tasks(start_task: str | None = None, end_task: str | None = None) -> list[TaskSpec]:
    """The tasks from ``start_task`` to ``end_task`` inclusive, in DAG order."""
    first = TASK_NAMES.index(get_task(start_task).name) if start_task else 0
    last = TASK_NAMES.index(get_task(end_task).name) if end_task else len(TASKS) - 1
    if first > last:
        raise ParameterError(
            f"--start-task {start_task} comes after --end-task {end_task} in the pipeline ({' -> '.join(TASK_NAMES)})"
        )
    return list(TASKS[first : last + 1])


def dag_steps(tasks: list[TaskSpec]) -> list[TaskSpec]:
    """The DAG's steps for a selection of notebook ``tasks`` (:func:`select_tasks`): the tasks with the runner's
    steps that lie between them or just before the first (reporting alone still passes the gate and the
    ledger; a run that ends at evaluation reaches neither)."""
    first, last = DAG.index(tasks[0]), DAG.index(tasks[-1])
    while first > 0 and DAG[first - 1].kind == RUNNER:
        first -= 1
    return list(DAG[first : last + 1])


def notebook_params(task: TaskSpec, params: dict) -> dict:
    """The values of ``task``'s own params (what its fingerprint covers)."""
    return {name: params[name] for name in task.params}


def injected_parameters(task: TaskSpec, params: dict, run_dir: Path, outputs_dir: Path) -> dict:
    """Everything papermill injects into ``task``'s notebook: its own params, the run folder, and the runner's
    values it declares (``runner_values``)."""
    runner = {"outputs_dir": str(outputs_dir)}
    return {**notebook_params(task, params), "run_dir": str(run_dir), **{k: runner[k] for k in task.runner_values}}
