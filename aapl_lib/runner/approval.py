"""The approval gate as the runner applies it: before reporting, the challenger is decided by the policy (a
decision cached like a task) or the run waits for a person; ``approve``/``reject`` record that person's
decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aapl_lib.errors import ParameterError
from aapl_lib.io.containment import plain_name
from aapl_lib.io.locks import PathLock
from aapl_lib.pipeline.states import State
from aapl_lib.promotion.registry import Registry
from aapl_lib.runner.browser_refresh import refresh_browser
from aapl_lib.runner.options import RunOptions
from aapl_lib.runner.run_logs import summary_line
from aapl_lib.store import layout
from aapl_lib.store import manifest as mf
from aapl_lib.store.reuse_cache import ReuseCache, copy_artifact
from aapl_lib.store.runs import find_run


def approval_gate(manifest: dict[str, Any], run_dir: Path, opts: RunOptions, cache: ReuseCache) -> str | None:
    """Decide on the challenger before reporting. Returns None to go on, or the message of a run that must
    wait for a person (exit 3)."""
    from aapl_lib.io.iorw import json_digest as digest
    from aapl_lib.io.iorw import read_json, write_json
    from aapl_lib.promotion import gate

    params, run_id = manifest["params"], manifest["run_id"]
    record = manifest.setdefault("gate", {})
    decision_path = run_dir / "reports" / "decision.json"
    if (
        record.get("status") == State.DECIDED
        and decision_path.is_file()
        and mf.sha256_file(decision_path) == record.get("sha256")
    ):
        return None
    proposal = read_json(run_dir / "reports" / "gate.json")
    registry = Registry(opts.outputs_dir, params["ticker"])
    champion = registry.champion()
    if proposal["proposal"] == State.AWAITING_APPROVAL:
        record.update(
            status=State.AWAITING_APPROVAL,
            proposal=proposal["proposal"],
            reasons=proposal["reasons"],
            since=record.get("since") or mf.utc_now(),
        )
        mf.save(run_dir, manifest)
        summary_line(opts.outputs_dir, "approval_gate", f"run={run_id} status=awaiting_approval")
        return (
            f"run {run_id} is awaiting approval. Read {run_dir / 'html' / '05_model_evaluation.html'} "
            f"(and 04_model_training.html), then decide:\n"
            f"  python runner.py approve {run_id} --by NAME [--note TEXT]\n"
            f"  python runner.py reject {run_id} --by NAME [--note TEXT]\n"
            f"and finish the report with: python runner.py resume {run_id}"
        )
    key = "gate:" + digest(
        {
            "proposal": mf.sha256_file(run_dir / "reports" / "gate.json"),
            "champion": champion["sha256"] if champion else None,
            "policy": params["approval_policy"],
        }
    )
    cached = cache.lookup(key) if proposal["proposal"] in ("keep", "unchanged") else None
    if cached is not None:
        copy_artifact(layout.run_dir(opts.outputs_dir, cached["run_id"]) / "reports" / "decision.json", decision_path)
        decision = read_json(decision_path)
    else:
        outcome = {"promote": "promoted", "keep": "kept"}.get(proposal["proposal"], "unchanged")
        decision = gate.apply(
            run_dir,
            run_id,
            registry,
            proposal,
            outcome=outcome,
            policy=params["approval_policy"],
            by="auto policy",
            at=mf.utc_now(),
        )
        write_json(decision_path, decision)
        if proposal["proposal"] in ("keep", "unchanged"):
            cache.record(
                key,
                {
                    "run_id": run_id,
                    "task": "approval_gate",
                    "artifacts": {"reports/decision.json": mf.sha256_file(decision_path)},
                },
            )
    record.update(
        status=State.DECIDED,
        decision=decision["decision"],
        by=decision["by"],
        at=decision["at"],
        note=decision.get("note", ""),
        reasons=decision["reasons"],
        sha256=mf.sha256_file(decision_path),
    )
    mf.save(run_dir, manifest)
    summary_line(opts.outputs_dir, "approval_gate", f"run={run_id} decision={decision['decision']}")
    opts.progress(f"      approval gate        {gate.describe(decision, proposal)}")
    return None


def decide(run_id: str, *, approve: bool, by: str, note: str, outputs_dir: Path) -> str:
    """``runner.py approve|reject``: record a person's decision on an awaiting run (approval promotes its
    challenger); ``resume`` then finishes the report."""
    from aapl_lib.errors import IntegrityError
    from aapl_lib.io.iorw import read_json, write_json
    from aapl_lib.promotion import gate

    if not by.strip():
        raise ParameterError("--by NAME is required: say who decides")
    run_dir = find_run(outputs_dir, run_id)
    with PathLock(run_dir / ".lock", f"run {run_dir.name}"):
        manifest = mf.load(run_dir)
        record = manifest.get("gate", {})
        if record.get("status") != State.AWAITING_APPROVAL:
            raise ParameterError(
                f"run {run_dir.name} is not awaiting approval (its gate is "
                f"{record.get('status', 'not reached')}; run status {manifest['status']})"
            )
        artifacts = manifest["tasks"]["model_training"].get("artifacts", {})
        for meta_rel in ("model/model_meta.json", "model/model_refit_meta.json"):  # the evaluated model, its refit
            if meta_rel != "model/model_meta.json" and meta_rel not in artifacts:
                continue  # a run from before refits
            model_rel = "model/" + plain_name(read_json(run_dir / meta_rel).get("model_file"), f"{run_dir / meta_rel}")
            if mf.sha256_file(run_dir / model_rel) != artifacts.get(model_rel, {}).get("sha256"):
                raise IntegrityError(
                    f"run {run_dir.name}'s model file {model_rel} does not match the sha256 in its manifest: "
                    "it was changed after training; it will not be promoted"
                )
        proposal = read_json(run_dir / "reports" / "gate.json")
        registry = Registry(outputs_dir, manifest["params"]["ticker"])
        at = mf.utc_now()
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
        path = write_json(run_dir / "reports" / "decision.json", decision)
        record.update(
            status=State.DECIDED, decision=decision["decision"], by=by, at=at, note=note, sha256=mf.sha256_file(path)
        )
        manifest["status"] = decision["decision"]
        mf.save(run_dir, manifest)
        summary_line(outputs_dir, "approval_gate", f"run={run_dir.name} decision={decision['decision']} by={by}")
    refresh_browser(outputs_dir, run_dir)
    return (
        f"run {run_dir.name} {decision['decision']} by {by}"
        + (
            ": the challenger is now the champion of " + manifest["params"]["ticker"]
            if approve
            else ": the champion is unchanged"
        )
        + f". Finish the report with: python runner.py resume {run_dir.name}"
    )
