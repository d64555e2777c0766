"""The approval gate as the runner applies it: a step of the DAG before reporting where the challenger is
decided by the policy (a decision cached like a task) or the run waits for a person; ``approve``/``reject``
record that person's decision."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aapl_lib.errors import ParameterError
from aapl_lib.io.containment import plain_name
from aapl_lib.io.follow_up import follow_up
from aapl_lib.io.iorw import utc_now
from aapl_lib.io.locks import PathLock
from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import APPROVAL_GATE, DECISION, GATE_PROPOSAL, MODEL_DIR, MODEL_META, REFIT_META, TaskSpec
from aapl_lib.promotion.registry import Registry
from aapl_lib.runner.browser_refresh import refresh_browser
from aapl_lib.runner.run_logs import summary_line
from aapl_lib.runner.steps.base import StepContext, Stop, consumers_finished
from aapl_lib.runner.steps.state import state_values
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.reuse_cache import copy_artifact
from aapl_lib.store.run_record import RunRecord
from aapl_lib.store.runs import find_run


@dataclass(frozen=True)
class ApprovalGateStep:
    """The gate as a step of the DAG: done once decided (its decision file intact); a decision that changes
    nothing (keep, unchanged) is reused by a later run with the same proposal, champion and policy; a
    proposal left to a person stops the run before reporting (exit 3)."""

    spec: TaskSpec = APPROVAL_GATE

    def guard(self, ctx: StepContext) -> contextlib.nullcontext:
        return contextlib.nullcontext()

    def finished(self, ctx: StepContext, label: str) -> bool:
        if consumers_finished(ctx, self.spec):
            return True
        gate_record = ctx.run.gate_reached()
        decision_path = ctx.run.run_dir / DECISION
        return (
            gate_record.get("status") == State.DECIDED
            and decision_path.is_file()
            and mf.sha256_file(decision_path) == gate_record.get("sha256")
        )

    def fingerprint(self, ctx: StepContext) -> str:
        # read first: a damaged champion.json fails the run even while it waits
        return ctx.fingerprint(self.spec, state_values(self.spec, ctx))[0]

    def cacheable(self, ctx: StepContext) -> bool:
        """Only a decision that changes nothing: a promotion is a new event in the registry, never a copy."""
        return _proposal(ctx)["proposal"] in CHANGES_NOTHING

    def reuse(self, ctx: StepContext, entry: dict[str, Any], fingerprint: str, label: str) -> None:
        from aapl_lib.io.iorw import read_json

        decision_path = ctx.run.run_dir / DECISION
        copy_artifact(layout.run_dir(ctx.opts.outputs_dir, entry["run_id"]) / DECISION, decision_path)
        self._decided(ctx, read_json(decision_path), label)

    def execute(self, ctx: StepContext, fingerprint: str, label: str) -> Stop:
        from aapl_lib.io.iorw import write_json
        from aapl_lib.promotion import gate

        run, opts, proposal = ctx.run, ctx.opts, _proposal(ctx)
        if proposal["proposal"] == State.AWAITING_APPROVAL:
            run.gate_awaiting(proposal["proposal"], proposal["reasons"])
            run.save()
            summary_line(opts.outputs_dir, "approval_gate", f"run={run.run_id} status=awaiting_approval")
            return Exit.AWAITING_APPROVAL, _awaiting_message(run, opts.outputs_dir)
        decision = gate.apply(
            run.run_dir,
            run.run_id,
            Registry(opts.outputs_dir, run.params["ticker"]),
            proposal,
            outcome={"promote": "promoted", "keep": "kept"}.get(proposal["proposal"], "unchanged"),
            policy=run.params["approval_policy"],
            by="auto policy",
            at=utc_now(),
        )
        path = write_json(run.run_dir / DECISION, decision)
        if proposal["proposal"] in CHANGES_NOTHING:
            ctx.cache.record(
                fingerprint,
                {"run_id": run.run_id, "task": self.spec.name, "artifacts": {DECISION: mf.sha256_file(path)}},
            )
        self._decided(ctx, decision, label)
        return None

    def _decided(self, ctx: StepContext, decision: dict[str, Any], label: str) -> None:
        from aapl_lib.promotion import gate

        run = ctx.run
        run.gate_decided(decision, mf.sha256_file(run.run_dir / DECISION))
        run.save()
        summary_line(ctx.opts.outputs_dir, "approval_gate", f"run={run.run_id} decision={decision['decision']}")
        ctx.opts.progress(f"{label} {gate.describe(decision, _proposal(ctx))}")


CHANGES_NOTHING = ("keep", "unchanged")  # proposals whose decision leaves the registry as it was


def _proposal(ctx: StepContext) -> dict[str, Any]:
    """Notebook 05's proposal to the gate (reports/gate.json)."""
    from aapl_lib.io.iorw import read_json

    return read_json(ctx.run.run_dir / GATE_PROPOSAL)


def _awaiting_message(run: RunRecord, outputs_dir: Path) -> str:
    """What a person reads when the run waits: the pages to read, the commands that decide and finish."""
    run_id = run.run_id
    return (
        f"run {run_id} is awaiting approval. Read {layout.html_dir(run.run_dir) / '05_model_evaluation.html'} "
        f"(and 04_model_training.html), then decide:\n"
        f"  {follow_up(f'approve {run_id} --by NAME [--note TEXT]', outputs_dir)}\n"
        f"  {follow_up(f'reject {run_id} --by NAME [--note TEXT]', outputs_dir)}\n"
        f"and finish the report with: {follow_up(f'resume {run_id}', outputs_dir)}"
    )


def decide(run_id: str, *, approve: bool, by: str, note: str, outputs_dir: Path) -> str:
    """``runner.py approve|reject``: record a person's decision on an awaiting run (approval promotes its
    challenger); ``resume`` then finishes the report."""
    from aapl_lib.io.iorw import read_json, write_json
    from aapl_lib.promotion import gate

    if not by.strip():
        raise ParameterError("--by NAME is required: say who decides")
    run_dir = find_run(outputs_dir, run_id)
    with PathLock(run_dir / ".lock", f"run {run_dir.name}"):
        run = RunRecord.load(run_dir)
        if run.gate.get("status") != State.AWAITING_APPROVAL:
            raise ParameterError(
                f"run {run_dir.name} is not awaiting approval (its gate is "
                f"{run.gate.get('status', 'not reached')}; run status {run.status})"
            )
        _check_models_unchanged(run)
        proposal = read_json(run_dir / GATE_PROPOSAL)
        registry = Registry(outputs_dir, run.params["ticker"])
        at = utc_now()
        decision = gate.apply(
            run_dir,
            run_dir.name,
            registry,
            proposal,
            outcome="approved" if approve else "rejected",
            policy="manual",
            by=by,
            at=at,
            note=note,
        )
        path = write_json(run_dir / DECISION, decision)
        run.gate_decided(decision, mf.sha256_file(path), with_reasons=False)  # the reasons stay the proposal's
        run.decided_by_person(decision["decision"])
        run.save()
        summary_line(outputs_dir, "approval_gate", f"run={run_dir.name} decision={decision['decision']} by={by}")
    refresh_browser(outputs_dir, run_dir)
    return (
        f"run {run_dir.name} {decision['decision']} by {by}"
        + (
            ": the challenger is now the champion of " + run.params["ticker"]
            if approve
            else ": the champion is unchanged"
        )
        + f". Finish the report with: {follow_up(f'resume {run_dir.name}', outputs_dir)}"
    )


def _check_models_unchanged(run: RunRecord) -> None:
    """An IntegrityError when the evaluated model (or its refit) differs from the sha256 training recorded:
    a person approves what the pages showed, never a file changed since."""
    from aapl_lib.errors import IntegrityError
    from aapl_lib.io.iorw import read_json

    run_dir = run.run_dir
    artifacts = run.tasks["model_training"].artifacts
    for meta_rel in (MODEL_META, REFIT_META):  # the evaluated model, its refit
        if meta_rel != MODEL_META and meta_rel not in artifacts:
            continue  # a run from before refits
        model_file = plain_name(read_json(run_dir / meta_rel).get("model_file"), f"{run_dir / meta_rel}")
        model_rel = f"{MODEL_DIR}/{model_file}"
        if mf.sha256_file(run_dir / model_rel) != artifacts.get(model_rel, {}).get("sha256"):
            raise IntegrityError(
                f"run {run_dir.name}'s model file {model_rel} does not match the sha256 in its manifest: "
                "it was changed after training; it will not be promoted"
            )
