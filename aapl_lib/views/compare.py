"""``runner.py compare RUN_A RUN_B``: what differs between two runs — parameters, artifacts (by sha256) and
metrics side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aapl_lib.formatting import general
from aapl_lib.io.iorw import read_json
from aapl_lib.pipeline.tasks import EVALUATION
from aapl_lib.store import manifest as mf


def _metrics(run_dir: Path) -> dict[str, float | None]:
    """Flat ``name -> value`` of the headline metrics a reviewer compares."""
    out: dict[str, float | None] = {}
    path = run_dir / EVALUATION
    if path.is_file():
        evaluation = read_json(path)
        for name, m in evaluation["metrics"].items():
            for key in ("rmse", "mae", "r2", "directional_accuracy"):
                out[f"{name}.{key}"] = m.get(key)
        for strategy in ("buy_and_hold", "long_flat", "long_short"):
            if strategy in evaluation.get("backtest", {}):
                out[f"backtest.{strategy}.cumulative_return"] = evaluation["backtest"][strategy]["cumulative_return"]
    return out


def compare_runs(run_a: Path, run_b: Path) -> dict[str, Any]:
    """Parameter differences, artifacts changed/added/removed (by sha256) and metric differences."""
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
    xa, xb = _metrics(run_a), _metrics(run_b)
    metrics = []
    for name in sorted(set(xa) | set(xb)):
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
    }


def format_text(diff: dict[str, Any]) -> str:
    """The comparison as plain text for the terminal."""
    lines = [
        f"A = {diff['a']} ({diff['status']['a']}, gate {diff['gate']['a'] or '-'})",
        f"B = {diff['b']} ({diff['status']['b']}, gate {diff['gate']['b'] or '-'})",
        "",
        "parameters that differ:",
    ]
    lines += [f"  {p['name']:<28} A {general(p['a']):<24} B {general(p['b'])}" for p in diff["params"]] or ["  none"]
    changed = [c for c in diff["artifacts"] if c["state"] != "same"]
    same = len(diff["artifacts"]) - len(changed)
    lines += ["", f"artifacts: {len(changed)} differ, {same} identical (sha256)"]
    lines += [f"  {c['artifact']:<36} {c['state']:<10} A {c['a'] or '-':<12} B {c['b'] or '-'}" for c in changed]
    lines += ["", f"{'metric':<44}{'A':>14}{'B':>14}{'B - A':>14}"]
    lines += [
        f"{m['metric']:<44}{general(m['a']):>14}{general(m['b']):>14}{general(m['difference']):>14}"
        for m in diff["metrics"]
    ]
    return "\n".join(lines)
