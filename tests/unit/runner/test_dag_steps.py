"""The DAG's steps in one shape: the approval gate and the forecast ledger are task specs of the DAG, run by the
same ``run_step`` as the notebooks (verify, fingerprint, reuse, execute), fingerprinted like them."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.tasks import (
    APPROVAL_GATE,
    DAG,
    FORECAST_LEDGER,
    GATE_PROPOSAL,
    NOTEBOOK,
    RUNNER,
    TASKS,
    dag_steps,
    producer_of,
    select_tasks,
)
from aapl_lib.runner import orchestration
from aapl_lib.runner.fingerprints import step_code, task_fingerprint
from aapl_lib.runner.import_closure import source_file
from aapl_lib.runner.options import RunOptions
from aapl_lib.runner.renders import BackgroundRenders
from aapl_lib.runner.steps import base, registry
from aapl_lib.runner.steps.state import READERS
from aapl_lib.store.reuse_cache import ReuseCache

ROOT = Path(__file__).resolve().parents[3]


def names(steps):
    return [s.name for s in steps]


def test_the_gate_and_the_ledger_are_steps_of_the_dag_before_reporting():
    assert names(DAG) == [*names(TASKS[:-1]), "approval_gate", "forecast_ledger", "reporting"]
    assert [s.kind for s in DAG].count(RUNNER) == 2 and all(t.kind == NOTEBOOK for t in TASKS)
    for i, step in enumerate(DAG):  # every input is made by a step before it
        for rel in step.inputs:
            assert DAG.index(producer_of(rel)) < i, (step.name, rel)
    assert producer_of("reports/decision.json") is APPROVAL_GATE
    assert producer_of("reports/track_record.json") is FORECAST_LEDGER


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (None, None, names(DAG)),
        ("reporting", None, ["approval_gate", "forecast_ledger", "reporting"]),
        ("model_evaluation", "model_evaluation", ["model_evaluation"]),
        (None, "model_evaluation", names(TASKS[:5])),
        (
            "model_training",
            None,
            ["model_training", "model_evaluation", "approval_gate", "forecast_ledger", "reporting"],
        ),
    ],
)
def test_a_selection_reaches_the_runner_steps_before_its_tasks(start, end, expected):
    assert names(dag_steps(select_tasks(start, end))) == expected


def test_every_runner_step_has_its_module_and_every_state_input_a_reader():
    for spec in DAG:
        step = registry.step_for(spec)
        assert step.spec is spec
        assert set(spec.state_inputs) <= set(READERS), spec.name
        if spec.kind == RUNNER:
            assert source_file(f"runner.steps.{spec.name}") is not None
            assert type(step).__module__ == f"aapl_lib.runner.steps.{spec.name}"  # what its fingerprint hashes


def test_a_runner_step_is_fingerprinted_by_its_code_inputs_params_and_outside_state(tmp_path):
    source, modules = step_code(APPROVAL_GATE, ROOT / "notebooks")
    assert source == {} and {"runner.steps.approval_gate", "promotion.gate", ""} <= set(modules)
    (tmp_path / "reports").mkdir()
    (tmp_path / GATE_PROPOSAL).write_text(json.dumps({"proposal": "keep", "reasons": []}))
    params = {"approval_policy": "auto"}

    def fingerprint(champion="none", policy="auto"):
        state = {"champion_sha256": champion}
        return task_fingerprint(APPROVAL_GATE, {**params, "approval_policy": policy}, tmp_path, ROOT, {}, state)

    first, parts = fingerprint()
    assert parts["inputs"] == {GATE_PROPOSAL: parts["inputs"][GATE_PROPOSAL]} and "code" in parts
    assert fingerprint()[0] == first  # nothing changed: the cache key of the decision is the same
    assert fingerprint(champion="a" * 64)[0] != first  # a new champion: decided again
    assert fingerprint(policy="manual")[0] != first
    (tmp_path / GATE_PROPOSAL).write_text(json.dumps({"proposal": "unchanged", "reasons": []}))
    assert fingerprint()[0] != first  # another proposal


# ------------------------------------------------------------------------------------------ the one shape
@dataclass
class FakeStep:
    """A step that says what the loop asked of it."""

    spec: object
    calls: list = field(default_factory=list)
    done: bool = False
    may_reuse: bool = True
    stop: tuple | None = None

    def guard(self, ctx):
        return contextlib.nullcontext()

    def finished(self, ctx, label):
        self.calls.append("finished")
        return self.done

    def fingerprint(self, ctx):
        self.calls.append("fingerprint")
        return f"fp-{self.spec.name}"

    def cacheable(self, ctx):
        return self.may_reuse

    def reuse(self, ctx, entry, fingerprint, label):
        self.calls.append(f"reuse from {entry['run_id']}")

    def execute(self, ctx, fingerprint, label):
        self.calls.append("execute")
        return self.stop


class FakeRun:
    run_id = "this-run"

    def save(self):
        pass


def context(tmp_path, entries=()):
    cache = ReuseCache(tmp_path)
    for fp, run_id in entries:
        (tmp_path / "runs" / run_id).mkdir(parents=True, exist_ok=True)
        cache.record(fp, {"run_id": run_id, "task": fp, "artifacts": {}})
    opts = RunOptions(outputs_dir=tmp_path, notebooks_dir=tmp_path, progress=lambda line: None)
    opts.renders = BackgroundRenders()
    return base.StepContext(FakeRun(), opts, cache, False, dt.date(2026, 12, 3), None)


def test_run_step_verifies_then_reuses_another_runs_result_else_executes(tmp_path):
    ctx = context(tmp_path, [("fp-data_ingestion", "older-run"), ("fp-data_cleaning", "this-run")])
    finished = FakeStep(TASKS[0], done=True)
    assert base.run_step(finished, ctx, "") is None and finished.calls == ["finished"]
    cached = FakeStep(TASKS[0])
    assert base.run_step(cached, ctx, "") is None
    assert cached.calls == ["finished", "fingerprint", "reuse from older-run"]
    own = FakeStep(TASKS[1])  # the cache holds this run's own result: executed, never copied onto itself
    base.run_step(own, ctx, "")
    assert own.calls[-1] == "execute"
    forced = FakeStep(TASKS[0], may_reuse=False)
    base.run_step(forced, ctx, "")
    assert forced.calls == ["finished", "fingerprint", "execute"]


def test_the_loop_runs_every_step_alike_and_only_the_ledger_while_the_gate_waits(tmp_path, monkeypatch):
    steps = {s.name: FakeStep(s) for s in DAG}
    steps["approval_gate"].stop = (Exit.AWAITING_APPROVAL, "awaiting")
    monkeypatch.setattr(orchestration, "step_for", lambda spec: steps[spec.name])
    stop = orchestration._walk(context(tmp_path), list(TASKS))
    assert stop == (Exit.AWAITING_APPROVAL, "awaiting")
    assert [n for n, s in steps.items() if "execute" in s.calls] == names(DAG[:-1])  # reporting waits
    steps = {s.name: FakeStep(s) for s in DAG}
    steps["model_training"].stop = (Exit.FAILED, "boom")
    monkeypatch.setattr(orchestration, "step_for", lambda spec: steps[spec.name])
    assert orchestration._walk(context(tmp_path), list(TASKS)) == (Exit.FAILED, "boom")
    assert [n for n, s in steps.items() if s.calls] == names(TASKS[:4])  # a failure stops everything after it


def test_progress_labels_number_the_notebooks_and_indent_the_runner_steps():
    got = list(base.labels(dag_steps(select_tasks("model_evaluation", None))))
    assert [label for _, label, _ in got] == [
        f"[1/2] {'model_evaluation':<20}",
        f"      {'approval gate':<20}",
        f"      {'forecast ledger':<20}",
        f"[2/2] {'reporting':<20}",
    ]
    assert [more for *_, more in got] == [True, True, True, False]
