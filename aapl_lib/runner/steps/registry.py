"""Which implementation executes each step of the DAG: papermill for every notebook step, the runner's own
module for each runner step (``kind="runner"`` in :mod:`aapl_lib.pipeline.tasks`, one module a step here)."""

from __future__ import annotations

from aapl_lib.pipeline.tasks import NOTEBOOK, TaskSpec
from aapl_lib.runner.steps.approval_gate import ApprovalGateStep
from aapl_lib.runner.steps.base import Step
from aapl_lib.runner.steps.forecast_ledger import ForecastLedgerStep
from aapl_lib.runner.steps.notebook import NotebookStep

RUNNER_STEPS: dict[str, type] = {
    ApprovalGateStep.spec.name: ApprovalGateStep,
    ForecastLedgerStep.spec.name: ForecastLedgerStep,
}


def step_for(spec: TaskSpec) -> Step:
    """The step that executes ``spec``."""
    return NotebookStep(spec) if spec.kind == NOTEBOOK else RUNNER_STEPS[spec.name]()
