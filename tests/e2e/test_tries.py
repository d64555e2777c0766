"""One direction test everywhere, the tries ledger and the gate's correction for it, and the champion decided by
a Diebold–Mariano test (issue 24, parts 2-4).

The constant "up" call over Q1 2012 (41 of 62 days right, binomial p = 0.0076 against a coin) must be
significant nowhere; forty configurations tried on a random-walk window must not buy a promotion; the tries
count must grow through the CLI and the gate's limits with it."""

from __future__ import annotations

import json

import pandas as pd

from aapl_lib.store import layout
from helpers import run_runner, sample_frame, scored_ledger

FAST = ["-p", "start", "2011-06-01", "-p", "gb_n_estimators", "25", "-p", "walk_forward_folds", "3"]


def _q1_2012() -> pd.Series:
    """AAPL's adjusted closes from the sample, so that the scored days are the 62 sessions of Q1 2012."""
    return sample_frame("2011-12-29", "2012-03-30")["adj_close"]


# ------------------------------------------------------------------------------------- one direction test


def test_the_track_command_does_not_call_a_constant_up_call_skill(tmp_path):
    from aapl_lib.tracking.ledger import write_ledger

    outputs = tmp_path / "outputs"
    write_ledger(layout.ledger_path(outputs, "AAPL"), scored_ledger(_q1_2012(), lambda r: 0.001))
    proc = run_runner("track", "AAPL", "--json", outputs=outputs)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["direction"]["model"]["hits"] == 41 and record["tests"]["direction_p"] is None
    text = run_runner("track", "AAPL", outputs=outputs).stdout
    assert "direction calls better than chance: n/a (no timing to test" in text
    assert "the one test no configuration tried on a held-out window can spend" in text


# ------------------------------------------------------------------------------------------ tries ledger


# --------------------------------------------------------------------------------------------------- CLI
def test_the_tries_count_grows_through_the_cli_and_the_gate_corrects_for_it(tmp_path):
    outputs = tmp_path / "outputs"
    first = run_runner(*FAST, outputs=outputs)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 configuration(s) tried on this window (this one new)" in first.stdout
    for alpha, count in (("3", 2), ("7", 3), ("7", 3)):  # the last: the same configuration again
        proc = run_runner(*FAST, "--start-task", "model_training", "-p", "ridge_alpha", alpha, outputs=outputs)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        run_dir = (outputs / "latest").resolve()
        assert json.loads((run_dir / "manifest.json").read_text())["tries"]["count"] == count
    proposal = json.loads((run_dir / "reports" / "gate.json").read_text())
    assert proposal["tries"]["count"] == 3
    limits = [c["limit"] for c in proposal["checks"] if "p-value" in c["check"]]
    assert limits and all(limit == "< 0.01667 (0.05 / 3 configurations tried)" for limit in limits)
    assert json.loads((run_dir / "reports" / "decision.json").read_text())["checks"] == proposal["checks"]
    report = (run_dir / "reports" / "analysis.md").read_text()
    assert "3 configuration(s) tried on this window" in report and "divided by 3 (Bonferroni)" in report
    lines = layout.tries_path(outputs, "AAPL").read_text().splitlines()
    assert len(lines) == 3 and len({json.loads(line)["config"] for line in lines}) == 3
