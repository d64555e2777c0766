"""``runner.py compare RUN_A RUN_B``: what differs between two runs — parameters, artifacts (by sha256) and
metrics side by side, the model's headline metrics first — and which run is better on the held-out window."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aapl_lib.formatting import general, pct, points, signed
from aapl_lib.io.iorw import read_json
from aapl_lib.pipeline.tasks import EVALUATION, PREDICTIONS
from aapl_lib.store import manifest as mf

MEASURES = ("rmse", "mae", "r2", "directional_accuracy")  # per predictor, in the reports' reading order
STRATEGIES = ("buy_and_hold", "long_flat", "long_short")  # the backtest's, as its table lists them
NOISE_P = 0.05  # a two-sided Diebold-Mariano p-value at or above this: the two runs' errors are within noise

# how a value and a difference of two values read, by measure: shares as percentages (differences in
# percentage points), R² as a signed number, like every other page
SHOWN: dict[str, tuple[Callable[[Any], str], Callable[[Any], str]]] = {
    "rmse": (lambda x: pct(x, 3), lambda x: points(x, 3)),
    "mae": (lambda x: pct(x, 3), lambda x: points(x, 3)),
    "r2": (lambda x: signed(x, 4), lambda x: signed(x, 4)),
    "directional_accuracy": (lambda x: pct(x, 1), lambda x: points(x, 1)),
    "cumulative_return": (lambda x: pct(x, 1), lambda x: points(x, 1)),
}


def _evaluation(run_dir: Path) -> dict[str, Any]:
    path = run_dir / EVALUATION
    return read_json(path) if path.is_file() else {}


def _metrics(evaluation: dict[str, Any]) -> dict[str, float | None]:
    """Flat ``name -> value`` of the metrics a reviewer compares, in reading order: the model's, the best naive
    baseline's (what the model must beat), the other baselines', then the backtest's cumulative returns."""
    out: dict[str, float | None] = {}
    predictors = evaluation.get("metrics") or {}
    first = ("model", evaluation.get("best_baseline"))
    for name in sorted(predictors, key=lambda n: first.index(n) if n in first else len(first)):  # stable sort
        for key in MEASURES:
            out[f"{name}.{key}"] = predictors[name].get(key)
    for strategy in STRATEGIES:
        if strategy in evaluation.get("backtest", {}):
            out[f"backtest.{strategy}.cumulative_return"] = evaluation["backtest"][strategy]["cumulative_return"]
    return out


def _predictions(run_dir: Path) -> dict[str, tuple[float, float]]:
    """``date -> (actual, model)`` of the run's held-out predictions (empty without them)."""
    path = run_dir / PREDICTIONS
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {row["date"]: (float(row["actual"]), float(row["model"])) for row in csv.DictReader(f)}


def _noise(run_a: Path, run_b: Path) -> str:
    """Whether the two models' squared errors differ beyond noise: Diebold-Mariano on the days both held out
    (the same actual return on both sides), or why there is no test."""
    from aapl_lib.modeling.significance import diebold_mariano

    pa, pb = _predictions(run_a), _predictions(run_b)
    days = sorted(d for d in set(pa) & set(pb) if abs(pa[d][0] - pb[d][0]) < 1e-12)
    if len(days) < 3:
        return "No held-out day is common to both runs, so no test compares them: the numbers only."
    test = diebold_mariano([pa[d][0] for d in days], [pa[d][1] for d in days], [pb[d][1] for d in days])
    p = test["p_value_two_sided"]
    verdict = "within noise" if p >= NOISE_P else f"beyond noise at the {NOISE_P:g} level"
    return f"On the {len(days)} held-out days both runs predicted, Diebold-Mariano p = {p:.3f} (two-sided): {verdict}."


def better_sentence(run_a: Path, run_b: Path, ea: dict[str, Any], eb: dict[str, Any], noise_test: bool = True) -> str:
    """One line: which run's model has the lower held-out RMSE and by how much, and whether that is noise."""
    ra, rb = (((e.get("metrics") or {}).get("model") or {}).get("rmse") for e in (ea, eb))
    if ra is None or rb is None:
        return (
            "No comparison of the held-out RMSE: "
            + " and ".join(f"run {side} has no evaluation" for side, r in (("A", ra), ("B", rb)) if r is None)
            + "."
        )
    if ra == rb:
        line = f"A and B have the same held-out RMSE ({pct(ra, 3)})."
    else:
        (win, w), (lose, v) = sorted((("A", ra), ("B", rb)), key=lambda x: x[1])
        line = (
            f"{win} is better on the held-out window: model RMSE {pct(w, 3)} against {pct(v, 3)} for {lose}, "
            f"{points(v - w, 3).lstrip('+')} ({100 * (v - w) / v:.1f} %) lower."
        )
    wa, wb = ea.get("test_window"), eb.get("test_window")
    if wa != wb and wa and wb:
        line += f" The held-out windows differ (A {wa['first']} .. {wa['last']}, B {wb['first']} .. {wb['last']})."
    if not noise_test:  # the run page's own compare link: numbers only (the test imports scipy)
        return f"{line} `runner.py compare` tests whether the difference is beyond noise."
    return f"{line} {_noise(run_a, run_b)}"


def compare_runs(run_a: Path, run_b: Path, noise_test: bool = True) -> dict[str, Any]:
    """Parameter differences, artifacts changed/added/removed (by sha256) and metric differences; ``noise_test``
    False leaves the Diebold-Mariano test out of the ``better`` line."""
    ma, mb = mf.load(run_a), mf.load(run_b)
    keys = sorted(set(ma["params"]) | set(mb["params"]))
    params = [
        {"name": k, "a": ma["params"].get(k), "b": mb["params"].get(k)}
        for k in keys
        if ma["params"].get(k) != mb["params"].get(k)
    ]

    def artifacts(m: dict) -> dict[str, str]:
        return {
            rel: info["sha256"] for rec in m["tasks"].values() for rel, info in (rec.get("artifacts") or {}).items()
        }

    aa, ab = artifacts(ma), artifacts(mb)
    changes = []
    for rel in sorted(set(aa) | set(ab)):
        state = (
            "only in A"
            if rel not in ab
            else "only in B"
            if rel not in aa
            else "same"
            if aa[rel] == ab[rel]
            else "changed"
        )
        changes.append({"artifact": rel, "state": state, "a": aa.get(rel, "")[:12], "b": ab.get(rel, "")[:12]})
    ea, eb = _evaluation(run_a), _evaluation(run_b)
    xa, xb = _metrics(ea), _metrics(eb)
    metrics = []
    for name in list(xa) + [n for n in xb if n not in xa]:
        a, b = xa.get(name), xb.get(name)
        metrics.append(
            {
                "metric": name,
                "a": a,
                "b": b,
                "difference": (b - a) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None,
            }
        )
    gates = {
        side: (m.get("gate") or {}).get("decision") or (m.get("gate") or {}).get("status")
        for side, m in (("a", ma), ("b", mb))
    }
    return {
        "a": ma["run_id"],
        "b": mb["run_id"],
        "status": {"a": ma["status"], "b": mb["status"]},
        "params": params,
        "artifacts": changes,
        "metrics": metrics,
        "gate": gates,
        "better": better_sentence(run_a, run_b, ea, eb, noise_test),
    }


def shown_metrics(diff: dict[str, Any]) -> list[dict[str, str]]:
    """The metric rows as people read them (percentages, differences in percentage points, R² signed)."""
    rows = []
    for m in diff["metrics"]:
        value, difference = SHOWN.get(m["metric"].rsplit(".", 1)[-1], (general, general))
        rows.append(
            {
                "metric": m["metric"],
                "a": value(m["a"]),
                "b": value(m["b"]),
                "difference": difference(m["difference"]),
            }
        )
    return rows


def format_text(diff: dict[str, Any]) -> str:
    """The comparison as plain text for the terminal."""
    lines = [
        f"A = {diff['a']} ({diff['status']['a']}, gate {diff['gate']['a'] or '-'})",
        f"B = {diff['b']} ({diff['status']['b']}, gate {diff['gate']['b'] or '-'})",
        "",
        diff["better"],
        "",
        "parameters that differ:",
    ]
    lines += [f"  {p['name']:<28} A {general(p['a']):<24} B {general(p['b'])}" for p in diff["params"]] or ["  none"]
    changed = [c for c in diff["artifacts"] if c["state"] != "same"]
    same = len(diff["artifacts"]) - len(changed)
    lines += ["", f"artifacts: {len(changed)} differ, {same} identical (sha256)"]
    lines += [f"  {c['artifact']:<36} {c['state']:<10} A {c['a'] or '-':<12} B {c['b'] or '-'}" for c in changed]
    lines += ["", f"{'metric':<44}{'A':>14}{'B':>14}{'B - A':>14}"]
    lines += [f"{m['metric']:<44}{m['a']:>14}{m['b']:>14}{m['difference']:>14}" for m in shown_metrics(diff)]
    return "\n".join(lines)
