"""The approval gate between evaluation and reporting.

Notebook 05 writes a *proposal* (``reports/gate.json``): the challenger against the best naive baseline and
the champion, and what the policy says. The runner then *decides* (``reports/decision.json``):

* ``auto``   — promote when every threshold holds, else keep the champion and say why;
* ``manual`` — stop with status ``awaiting_approval`` (exit 3) until ``runner.py approve|reject``;
* either way, a challenger identical to the champion needs no decision (``unchanged``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

THRESHOLDS = ("auto_min_rmse_gain_pct", "auto_min_directional_accuracy", "auto_max_p_value")


def checks(metrics: dict[str, dict[str, Any]], best_baseline: str, thresholds: dict[str, Any]) -> list[dict[str, Any]]:
    """The auto-promotion thresholds against the challenger's held-out metrics."""
    model, base = metrics["model"], metrics[best_baseline]
    gain = 100 * (base["rmse"] - model["rmse"]) / base["rmse"]
    da = model.get("directional_accuracy")
    p = model.get("direction_p")
    out = [
        {"check": f"RMSE gain over the best naive baseline ({best_baseline})", "value": round(gain, 3),
         "limit": f">= {thresholds['auto_min_rmse_gain_pct']} %", "passed": gain >= thresholds["auto_min_rmse_gain_pct"]},
        {"check": "directional accuracy", "value": None if da is None else round(da, 4),
         "limit": f">= {thresholds['auto_min_directional_accuracy']}",
         "passed": da is not None and da >= thresholds["auto_min_directional_accuracy"]},
        {"check": "binomial p-value of directional accuracy", "value": None if p is None else round(p, 4),
         "limit": f"< {thresholds['auto_max_p_value']}", "passed": p is not None and p < thresholds["auto_max_p_value"]},
    ]
    if "champion" in metrics:
        champ = metrics["champion"]["rmse"]
        out.append({"check": "RMSE below the champion's on the same days", "value": round(model["rmse"], 6),
                    "limit": f"< {champ:.6f}", "passed": model["rmse"] < champ})
    return out


def propose(policy: str, metrics: dict[str, dict[str, Any]], best_baseline: str, thresholds: dict[str, Any],
            challenger_sha: str, champion: dict[str, Any] | None) -> dict[str, Any]:
    """What the gate should do with this run's challenger."""
    results = checks(metrics, best_baseline, thresholds)
    failed = [c["check"] for c in results if not c["passed"]]
    base = {"policy": policy, "checks": results, "challenger_sha256": challenger_sha,
            "champion_sha256": champion["sha256"] if champion else None, "best_baseline": best_baseline}
    if champion and champion["sha256"] == challenger_sha:
        return {**base, "proposal": "unchanged", "reasons": ["the challenger is the champion already"]}
    if policy == "manual":
        advice = "the auto thresholds would promote it" if not failed else \
            "the auto thresholds would keep the champion: " + "; ".join(failed) + " not met"
        return {**base, "proposal": "awaiting_approval", "reasons": [f"manual policy: a person decides ({advice})"]}
    if failed:
        return {**base, "proposal": "keep", "reasons": [f"{c} not met" for c in failed]}
    return {**base, "proposal": "promote", "reasons": ["every auto threshold holds"]}


def describe(decision: dict[str, Any] | None, proposal: dict[str, Any]) -> str:
    """One line for reports: the decision, who, when, why."""
    if decision is None:
        return f"gate: no decision yet (proposal: {proposal['proposal']}; {'; '.join(proposal['reasons'])})"
    who = f" by {decision['by']}" if decision.get("by") else ""
    when = f" at {decision['at']}" if decision.get("at") else ""
    note = f" — note: {decision['note']}" if decision.get("note") else ""
    return (f"gate ({decision['policy']} policy): {decision['decision']}{who}{when}; "
            f"{'; '.join(decision.get('reasons', []))}{note}")


def apply(run_dir: Path, run_id: str, registry, proposal: dict[str, Any], *, outcome: str, policy: str, by: str,
          at: str, note: str = "") -> dict[str, Any]:
    """Carry out a decision on the run's challenger and return its record (for ``reports/decision.json``).

    ``outcome`` is ``promoted``/``approved`` (the challenger becomes the champion), ``kept``/``rejected``
    (the champion stays; the registry's history says so) or ``unchanged``."""
    from .iorw import read_json

    champion = registry.champion()
    decision = {"policy": policy, "proposal": proposal["proposal"], "reasons": proposal["reasons"],
                "checks": proposal["checks"], "by": by, "at": at, "note": note,
                "challenger_sha256": proposal["challenger_sha256"],
                "champion_sha256_before": champion["sha256"] if champion else None, "decision": outcome}
    if outcome in ("promoted", "approved"):
        evaluation = read_json(run_dir / "reports" / "evaluation.json")
        promoted = registry.promote(run_dir / "model" / "model.joblib", read_json(run_dir / "model/model_meta.json"),
                                    run_id=run_id, by=by, at=at, note=note, policy=policy,
                                    metrics=evaluation["metrics"]["model"])
        decision["champion_sha256_after"] = promoted["sha256"]
    else:
        decision["champion_sha256_after"] = decision["champion_sha256_before"]
        if outcome in ("kept", "rejected"):
            registry.record_decision({"event": outcome, "run_id": run_id, **decision})
    return decision
