"""The approval gate as the runner applies it: before reporting, the challenger is decided by the policy (a
decision cached like a task) or the run waits for a person; ``approve``/``reject`` record that person's
decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aapl_lib.errors import ParameterError
from aapl_lib.io.containment import plain_name
from aapl_lib.io.follow_up import follow_up
from aapl_lib.io.iorw import utc_now
from aapl_lib.io.locks import PathLock
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import DECISION, GATE_PROPOSAL, MODEL_DIR, MODEL_META, REFIT_META
from aapl_lib.promotion.registry import Registry
from aapl_lib.runner.browser_refresh import refresh_browser
from aapl_lib.runner.options import RunOptions
from aapl_lib.runner.run_logs import summary_line
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.reuse_cache import ReuseCache, copy_artifact
from aapl_lib.store.run_record import RunRecord
from aapl_lib.store.runs import find_run


def approval_gate(run: RunRecord, opts: RunOptions, cache: ReuseCache) -> str | None:
    """Decide on the challenger before reporting. Returns None to go on, or the message of a run that must
    wait for a person (exit 3)."""
    from aapl_lib.io.iorw import read_json

    run_dir, run_id = run.run_dir, run.run_id
    decision_path = run_dir / DECISION
    gate_record = run.gate_reached()
    if (
        gate_record.get("status") == State.DECIDED
        and decision_path.is_file()
        and mf.sha256_file(decision_path) == gate_record.get("sha256")
    ):
        return None
    proposal = read_json(run_dir / GATE_PROPOSAL)
    registry = Registry(opts.outputs_dir, run.params["ticker"])
    champion = registry.champion()  # read first: a damaged champion.json fails the run even while it waits
    if proposal["proposal"] == State.AWAITING_APPROVAL:
        run.gate_awaiting(proposal["proposal"], proposal["reasons"])
        run.save()
        summary_line(opts.outputs_dir, "approval_gate", f"run={run_id} status=awaiting_approval")
        return (
            f"run {run_id} is awaiting approval. Read {layout.html_dir(run_dir) / '05_model_evaluation.html'} "
            f"(and 04_model_training.html), then decide:\n"
            f"  {follow_up(f'approve {run_id} --by NAME [--note TEXT]', opts.outputs_dir)}\n"
            f"  {follow_up(f'reject {run_id} --by NAME [--note TEXT]', opts.outputs_dir)}\n"
            f"and finish the report with: {follow_up(f'resume {run_id}', opts.outputs_dir)}"
        )
    decision = _policy_decision(run, opts, cache, proposal, registry, champion)
    run.gate_decided(decision, mf.sha256_file(decision_path))
    run.save()
    summary_line(opts.outputs_dir, "approval_gate", f"run={run_id} decision={decision['decision']}")
    from aapl_lib.promotion import gate

    opts.progress(f"      approval gate        {gate.describe(decision, proposal)}")
    return None


def _policy_decision(
    run: RunRecord,
    opts: RunOptions,
    cache: ReuseCache,
    proposal: dict[str, Any],
    registry: Registry,
    champion: dict[str, Any] | None,
) -> dict[str, Any]:
    """The policy's decision, written to ``reports/decision.json``: copied from an earlier run when the same
    proposal met the same champion under the same policy (a keep or an unchanged changes nothing), else
    applied to the registry."""
    from aapl_lib.io.iorw import json_digest as digest
    from aapl_lib.io.iorw import read_json, write_json
    from aapl_lib.promotion import gate

    params, run_dir, run_id = run.params, run.run_dir, run.run_id
    decision_path = run_dir / DECISION
    key = "gate:" + digest(
        {
            "proposal": mf.sha256_file(run_dir / GATE_PROPOSAL),
            "champion": champion["sha256"] if champion else None,
            "policy": params["approval_policy"],
        }
    )
    changes_nothing = proposal["proposal"] in ("keep", "unchanged")
    cached = cache.lookup(key) if changes_nothing else None
    if cached is not None:
        copy_artifact(layout.run_dir(opts.outputs_dir, cached["run_id"]) / DECISION, decision_path)
        return read_json(decision_path)
    outcome = {"promote": "promoted", "keep": "kept"}.get(proposal["proposal"], "unchanged")
    decision = gate.apply(
        run_dir,
        run_id,
        registry,
        proposal,
        outcome=outcome,
        policy=params["approval_policy"],
        by="auto policy",
        at=utc_now(),
    )
    write_json(decision_path, decision)
    if changes_nothing:
        cache.record(
            key, {"run_id": run_id, "task": "approval_gate", "artifacts": {DECISION: mf.sha256_file(decision_path)}}
        )
    return decision


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
