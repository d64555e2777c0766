"""What the run page leads with, before any figure or table: does the model beat doing nothing (the verdict
the evaluation wrote), the approval gate's state in the report's words, and — for a run awaiting approval —
the checks a person decides on and the commands that decide."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from aapl_lib.io.iorw import read_json
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import DECISION, EVALUATION, GATE_PROPOSAL
from aapl_lib.store import layout


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


def run_lead(run_dir: Path, m: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """The lead of ``run_dir``'s page from its manifest ``m`` (as ``manifest.as_read`` gives it):
    ``verdict`` and ``test_window`` (None before evaluation), ``gate`` (one line), ``awaiting`` (the
    operations page's row with the approve/reject/resume commands, None unless awaiting) and ``checks``
    (the gate's checks as table rows, header first, while a decision is awaited)."""
    from aapl_lib.promotion.gate import checks_rows, describe
    from aapl_lib.views.operations import awaiting

    evaluation = _read(run_dir / EVALUATION) or {}
    proposal = _read(run_dir / GATE_PROPOSAL)
    waiting = m.get("status") == State.AWAITING_APPROVAL
    return {
        "verdict": evaluation.get("verdict"),
        "test_window": evaluation.get("test_window"),
        "gate": describe(_read(run_dir / DECISION), proposal) if proposal else _manifest_gate(m),
        # the commands pasteable for the outputs folder the run lies in
        "awaiting": awaiting([m], now or dt.datetime.now(dt.UTC), layout.outputs_of(run_dir))[0] if waiting else None,
        "checks": checks_rows(proposal) if waiting and proposal else None,
    }
