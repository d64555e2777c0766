"""What a notebook is given: the runner's injected parameters (task specs), the step's outputs folder and its
refusal of upstream files made for another ticker (aapl_lib.step)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aapl_lib.errors import ParameterError
from aapl_lib.pipeline.tasks import MODEL_META, PROVENANCE, get_task, injected_parameters
from aapl_lib.step import start_step


def _folder(tmp_path: Path, provenance: str | None = "AAPL", meta: str | None = None) -> Path:
    run = tmp_path / "run"
    for rel in {rel for t in ("model_training", "model_evaluation", "reporting") for rel in get_task(t).inputs}:
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text("{}")
    for rel, ticker in ((PROVENANCE, provenance), (MODEL_META, meta)):
        if ticker is not None:
            (run / rel).parent.mkdir(parents=True, exist_ok=True)
            (run / rel).write_text(json.dumps({"ticker": ticker}))
    return run


def test_the_runner_injects_the_outputs_folder_only_where_declared(tmp_path):
    params = {name: 1 for t in ("model_evaluation", "reporting") for name in get_task(t).params}
    evaluation = injected_parameters(get_task("model_evaluation"), params, tmp_path / "r", tmp_path / "out")
    reporting = injected_parameters(get_task("reporting"), params, tmp_path / "r", tmp_path / "out")
    assert evaluation["outputs_dir"] == str(tmp_path / "out") and evaluation["run_dir"] == str(tmp_path / "r")
    assert set(reporting) == {"ticker", "run_dir"}


def test_a_step_given_another_tickers_data_refuses_in_one_line(tmp_path):
    run = _folder(tmp_path, provenance="AAPL")
    with pytest.raises(ParameterError) as info:
        start_step("model_training", run, ticker="MSFT")
    assert "\n" not in str(info.value)
    assert "ticker='MSFT'" in str(info.value) and f"{PROVENANCE} in {run} is for 'AAPL'" in str(info.value)


def test_the_model_is_checked_too_and_a_tasks_own_outputs_are_not(tmp_path):
    run = _folder(tmp_path, provenance="MSFT", meta="AAPL")  # a model trained on AAPL in MSFT's folder
    with pytest.raises(ParameterError, match=f"{MODEL_META} .* is for 'AAPL'"):
        start_step("model_evaluation", run, ticker="MSFT")
    run = _folder(tmp_path / "b", provenance="MSFT", meta="AAPL")
    assert start_step("model_training", run, ticker="MSFT").task.name == "model_training"  # it rewrites the meta


def test_the_same_ticker_or_none_given_starts(tmp_path):
    run = _folder(tmp_path, provenance="AAPL", meta="AAPL")
    assert start_step("reporting", run, ticker="AAPL").run_dir == run.resolve()
    assert start_step("reporting", run).run_dir == run.resolve()  # a notebook that declares no ticker


def test_the_outputs_folder_is_the_given_one_else_the_projects(tmp_path, monkeypatch):
    run = _folder(tmp_path)
    assert start_step("model_evaluation", run, outputs_dir=tmp_path / "out").outputs_dir == (tmp_path / "out")
    monkeypatch.setenv("AAPL_OUTPUTS_DIR", str(tmp_path / "env"))  # what io.project.outputs_root resolves by hand
    assert start_step("model_evaluation", run).outputs_dir == (tmp_path / "env")
