"""What the run page leads with, before any figure or table: does the model beat doing nothing (the verdict
the evaluation wrote), the approval gate's state in the report's words, and — for a run awaiting approval —
the checks a person decides on and the commands that decide."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from aapl_lib.formatting import pvalue
from aapl_lib.io.iorw import read_json
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import DECISION, EVALUATION, GATE_PROPOSAL
from aapl_lib.store import layout

QUESTION = "Does the model beat doing nothing?"  # what the run page leads with; the report asks it too


def _read(path: Path) -> dict[str, Any] | None:
    return read_json(path) if path.is_file() else None


def _manifest_gate(m: dict[str, Any]) -> str:
    """The gate's state as the manifest records it (a run without ``gate.json``: not reached, or older)."""
    g = m.get("gate") or {}
    text = g.get("decision") or g.get("status")
    if not text:
        return "not reached"
    if g.get("by"):
        text += f" by {g['by']} at {g.get('at')}" + (f" — {g['note']}" if g.get("note") else "")
    return text


def beats_baseline(evaluation: dict[str, Any] | None, params: dict[str, Any]) -> dict[str, str] | None:
    """The short answer to "does the model beat doing nothing?" that the run page leads with and the runs
    index shows: ``answer`` (``yes``, ``within noise``, ``no`` or ``implausible``) and ``why`` (one clause).
    ``yes`` needs a lower held-out RMSE than the best naive baseline *and* a Diebold-Mariano p below the
    run's ``auto_max_p_value`` corrected for the configurations tried (the gate's own limit); None before
    evaluation."""
    from aapl_lib.pipeline.parameters import default
    from aapl_lib.promotion.tries import corrected_alpha

    if not evaluation or not evaluation.get("metrics"):
        return None
    if (evaluation.get("plausibility") or {}).get("implausible"):
        return {"answer": "implausible", "why": "too good to be true for this series: a feature sees the future"}
    metrics, best = evaluation["metrics"], evaluation["best_baseline"]
    change = 100 * (metrics["model"]["rmse"] - metrics[best]["rmse"]) / metrics[best]["rmse"]
    rmse = f"held-out RMSE {abs(change):.1f} % {'lower' if change < 0 else 'higher'} than {best}'s"
    if change >= 0:
        return {"answer": "no", "why": rmse}
    p = metrics["model"].get("dm_vs_best_baseline_p")
    tries = (evaluation.get("tries") or {}).get("count") or 1
    limit = corrected_alpha(params.get("auto_max_p_value", default("auto_max_p_value")), tries)
    dm = "no Diebold-Mariano test" if p is None else f"Diebold-Mariano p {'' if p < 0.001 else '= '}{pvalue(p)}"
    if p is not None and p < limit:
        return {"answer": "yes", "why": f"{rmse}, {dm} (below {limit:.3g})"}
    return {"answer": "within noise", "why": f"{rmse}, but {dm}" + ("" if p is None else f", not below {limit:.3g}")}


def run_answer(run_dir: Path, m: dict[str, Any]) -> dict[str, str] | None:
    """:func:`beats_baseline` for the run in ``run_dir`` (manifest ``m``), from the evaluation it wrote."""
    return beats_baseline(_read(run_dir / EVALUATION), m.get("params") or {})


def run_lead(run_dir: Path, m: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """The lead of ``run_dir``'s page from its manifest ``m`` (as ``manifest.as_read`` gives it): the
    ``question``, ``beats`` (:func:`beats_baseline`), ``verdict`` and ``test_window`` (None before evaluation),
    ``gate`` (one line), ``awaiting`` (the operations page's row with the approve/reject/resume commands, None
    unless awaiting) and ``checks`` (the gate's checks as table rows, header first, while a decision is
    awaited)."""
    from aapl_lib.promotion.gate import checks_rows, describe
    from aapl_lib.views.operations import awaiting

    evaluation = _read(run_dir / EVALUATION) or {}
    proposal = _read(run_dir / GATE_PROPOSAL)
    waiting = m.get("status") == State.AWAITING_APPROVAL
    return {
        "question": QUESTION,
        "beats": beats_baseline(evaluation, m.get("params") or {}),
        "verdict": evaluation.get("verdict"),
        "test_window": evaluation.get("test_window"),
        "gate": describe(_read(run_dir / DECISION), proposal) if proposal else _manifest_gate(m),
        # the commands pasteable for the outputs folder the run lies in
        "awaiting": awaiting([m], now or dt.datetime.now(dt.UTC), layout.outputs_of(run_dir))[0] if waiting else None,
        "checks": checks_rows(proposal) if waiting and proposal else None,
    }
