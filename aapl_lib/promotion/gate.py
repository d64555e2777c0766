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

from aapl_lib.pipeline.tasks import EVALUATION, MODEL_DIR, MODEL_META, REFIT_META

THRESHOLDS = ("auto_min_rmse_gain_pct", "auto_min_direction_edge_pct", "auto_max_p_value")


def plausibility_limit(plausibility: dict[str, Any]) -> str:
    """The plausibility check's limit in words: what this series allows (its own autoregression) plus what
    chance allows, for R² and direction."""
    series, chance, limit = plausibility["series_benchmark"], plausibility["chance"], plausibility["thresholds"]
    return (
        f"R² <= {limit['r2']:.3f} ({series['name']} {series['r2']:.3f} + chance {chance['r2']:.3f}), "
        f"direction <= {100 * limit['directional_accuracy']:.1f} % ({series['name']} "
        f"{100 * series['directional_accuracy']:.1f} % + chance {100 * chance['directional_accuracy']:.1f} pp); "
        f"chance: {100 * chance['quantile']:g}th percentile of {chance['draws']} block-shuffled draws "
        f"({chance['block_days']}-day blocks, seed {chance['seed']})"
    )


def checks(
    metrics: dict[str, dict[str, Any]],
    best_baseline: str,
    thresholds: dict[str, Any],
    plausibility: dict[str, Any] | None = None,
    tries: int = 1,
) -> list[dict[str, Any]]:
    """The auto-promotion rules against the challenger's held-out metrics: it must beat the best naive
    baseline's RMSE by a margin *and* significantly (Diebold–Mariano), call the direction right more often than
    ``always_up`` by a margin and better than chance (Pesaran–Timmermann), not be too good to be true (beyond
    what the series' own autoregression plus chance allows: :mod:`aapl_lib.modeling.plausibility`), and
    beat the champion on the same days significantly (Diebold–Mariano on their loss differential).

    Every p-value limit is ``auto_max_p_value / tries`` (Bonferroni over the configurations tried on this
    held-out window, :mod:`aapl_lib.promotion.tries`): forty variants cannot buy a promotion."""
    from aapl_lib.promotion.tries import corrected_alpha

    model, base = metrics["model"], metrics[best_baseline]
    gain = 100 * (base["rmse"] - model["rmse"]) / base["rmse"]
    p_max = corrected_alpha(thresholds["auto_max_p_value"], tries)
    p_why = "" if tries <= 1 else f" ({thresholds['auto_max_p_value']} / {tries} configurations tried)"
    dm = model.get("dm_vs_best_baseline_p")
    edge = model.get("direction_edge_vs_always_up")
    edge_pp = None if edge is None else 100 * edge
    up = (metrics.get("always_up") or {}).get("directional_accuracy")
    p = model.get("direction_p")
    out = [
        {
            "check": f"RMSE gain over the best naive baseline ({best_baseline})",
            "value": round(gain, 3),
            "limit": f">= {thresholds['auto_min_rmse_gain_pct']} %",
            "passed": gain >= thresholds["auto_min_rmse_gain_pct"],
        },
        {
            "check": f"Diebold-Mariano p-value against {best_baseline}",
            "value": None if dm is None else round(dm, 4),
            "limit": f"< {p_max:.4g}{p_why}",
            "passed": dm is not None and dm < p_max,
        },
        {
            "check": "directional accuracy above always_up's"
            + ("" if up is None else f" ({100 * up:.1f} %)")
            + ", in percentage points",
            "value": None if edge_pp is None else round(edge_pp, 2),
            "limit": f">= {thresholds['auto_min_direction_edge_pct']}",
            "passed": edge_pp is not None and edge_pp >= thresholds["auto_min_direction_edge_pct"],
        },
        {
            "check": "Pesaran-Timmermann p-value of direction calls against chance",
            "value": None if p is None else round(p, 4),
            "limit": f"< {p_max:.4g}{p_why}",
            "passed": p is not None and p < p_max,
        },
    ]
    if plausibility is not None:
        out.append(
            {
                "check": "plausible (not too good to be true for this series)",
                "value": "implausible: " + "; ".join(plausibility["reasons"])
                if plausibility["implausible"]
                else "plausible",
                "limit": plausibility_limit(plausibility),
                "passed": not plausibility["implausible"],
            }
        )
    if "champion" in metrics:
        # a raw RMSE comparison would replace the champion on noise half the time
        dm_champ = model.get("dm_vs_champion_p")
        out.append(
            {
                "check": "Diebold-Mariano p-value against the champion on the same days (challenger more accurate)",
                "value": None if dm_champ is None else round(dm_champ, 4),
                "limit": f"< {p_max:.4g}{p_why}",
                "passed": dm_champ is not None and dm_champ < p_max,
            }
        )
    return out


def propose(
    policy: str,
    metrics: dict[str, dict[str, Any]],
    best_baseline: str,
    thresholds: dict[str, Any],
    challenger_sha: str,
    champion: dict[str, Any] | None,
    plausibility: dict[str, Any] | None = None,
    tries: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the gate should do with this run's challenger. An implausible challenger is never proposed for
    automatic promotion (its plausibility check fails); a person may still approve it under ``manual``.
    ``tries`` (:func:`aapl_lib.promotion.tries.tries_on_window`) divides the p-value limits by its count."""
    count = int((tries or {}).get("count") or 1)
    results = checks(metrics, best_baseline, thresholds, plausibility, tries=count)
    failed = [c["check"] for c in results if not c["passed"]]
    base = {
        "policy": policy,
        "checks": results,
        "challenger_sha256": challenger_sha,
        "champion_sha256": champion["sha256"] if champion else None,
        "best_baseline": best_baseline,
        "implausible": bool(plausibility and plausibility["implausible"]),
        "tries": tries or {"count": 1},
    }
    if champion and champion["sha256"] == challenger_sha:
        return {**base, "proposal": "unchanged", "reasons": ["the challenger is the champion already"]}
    if policy == "manual":
        advice = (
            "the auto thresholds would promote it"
            if not failed
            else "the auto thresholds would keep the champion: " + "; ".join(failed) + " not met"
        )
        return {**base, "proposal": "awaiting_approval", "reasons": [f"manual policy: a person decides ({advice})"]}
    if failed:
        return {**base, "proposal": "keep", "reasons": [f"{c} not met" for c in failed]}
    return {**base, "proposal": "promote", "reasons": ["every auto threshold holds"]}


def checks_rows(proposal: dict[str, Any]) -> list[list[str]]:
    """Header plus one row per gate check (value ``n/a`` when a test does not apply), for tables."""
    rows = [["check", "value", "limit", "passed"]]
    for c in proposal["checks"]:
        rows.append(
            [c["check"], "n/a" if c["value"] is None else str(c["value"]), c["limit"], "yes" if c["passed"] else "no"]
        )
    return rows


def checks_table(proposal: dict[str, Any]):
    """The gate's checks as a DataFrame to read in notebook 05."""
    import pandas as pd

    rows = checks_rows(proposal)
    return pd.DataFrame(rows[1:], columns=rows[0]).set_index("check")


def describe(decision: dict[str, Any] | None, proposal: dict[str, Any]) -> str:
    """One line for reports: the decision, who, when, why."""
    if decision is None:
        return f"gate: no decision yet (proposal: {proposal['proposal']}; {'; '.join(proposal['reasons'])})"
    who = f" by {decision['by']}" if decision.get("by") else ""
    when = f" at {decision['at']}" if decision.get("at") else ""
    note = f" — note: {decision['note']}" if decision.get("note") else ""
    return (
        f"gate ({decision['policy']} policy): {decision['decision']}{who}{when}; "
        f"{'; '.join(decision.get('reasons', []))}{note}"
    )


def apply(
    run_dir: Path,
    run_id: str,
    registry,
    proposal: dict[str, Any],
    *,
    outcome: str,
    policy: str,
    by: str,
    at: str,
    note: str = "",
) -> dict[str, Any]:
    """Carry out a decision on the run's challenger and return its record (for ``reports/decision.json``).

    ``outcome`` is ``promoted``/``approved`` (the challenger becomes the champion), ``kept``/``rejected``
    (the champion stays; the registry's history says so) or ``unchanged``."""
    from aapl_lib.io.containment import plain_name
    from aapl_lib.io.iorw import read_json

    champion = registry.champion()
    decision = {
        "policy": policy,
        "proposal": proposal["proposal"],
        "reasons": proposal["reasons"],
        "checks": proposal["checks"],
        "by": by,
        "at": at,
        "note": note,
        "challenger_sha256": proposal["challenger_sha256"],
        "champion_sha256_before": champion["sha256"] if champion else None,
        "decision": outcome,
    }
    if outcome in ("promoted", "approved"):
        evaluation = read_json(run_dir / EVALUATION)
        meta = read_json(run_dir / MODEL_META)
        promoted = registry.promote(
            run_dir / MODEL_DIR / plain_name(meta.get("model_file"), f"{run_dir / MODEL_META}"),
            meta,
            run_id=run_id,
            by=by,
            at=at,
            note=note,
            policy=policy,
            metrics=evaluation["metrics"]["model"],
            refit=_refit(run_dir),
        )
        decision["champion_sha256_after"] = promoted["sha256"]
    else:
        decision["champion_sha256_after"] = decision["champion_sha256_before"]
        if outcome in ("kept", "rejected"):
            registry.record_decision({"event": outcome, "run_id": run_id, **decision})
    return decision


def _refit(run_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The run's refit (file and meta), promoted with its evaluated model; None for a run from before refits."""
    from aapl_lib.io.containment import plain_name
    from aapl_lib.io.iorw import read_json

    meta_path = run_dir / REFIT_META
    if not meta_path.is_file():
        return None
    meta = read_json(meta_path)
    return run_dir / MODEL_DIR / plain_name(meta.get("model_file"), str(meta_path)), meta
