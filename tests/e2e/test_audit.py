"""``runner.py verify`` and ``runner.py reproduce``: a run's files against its manifest, and a run executed again
from its manifest in a scratch outputs folder, artifact by artifact (timestamps aside)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aapl_lib.views.artifact_diff import ASIDE, DIFFERENT, IDENTICAL
from helpers import ROOT, UNCOPIED, WINDOW, run_runner, sample_frame, write_classic_yahoo

REVIEWER, NOTE = "Dana Reviewer", "checked the walk-forward"


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def _recorded(run_dir: Path) -> set[str]:
    manifest = _manifest(run_dir)
    names = {rel for rec in manifest["tasks"].values() for rel in (rec.get("artifacts") or {})}
    names |= set((manifest.get("ledger") or {}).get("artifacts") or {})  # the track record, before reporting
    return names | ({"reports/decision.json"} if manifest.get("gate", {}).get("sha256") else set())


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def approved(tmp_path_factory):
    """A sample run under the manual policy that a person approved (its model is now the champion), then a
    second run of the same parameters, evaluated against that champion."""
    outputs = tmp_path_factory.mktemp("audit") / "outputs"
    first = run_runner(*WINDOW, "-p", "approval_policy", "manual", outputs=outputs)
    assert first.returncode == 3, first.stdout + first.stderr
    run_id = (outputs / "latest").resolve().name
    decided = run_runner(
        "approve", run_id, "--by", "Dana Reviewer", "--note", "checked the walk-forward", outputs=outputs
    )
    assert decided.returncode == 0, decided.stderr
    resumed = run_runner("resume", run_id, outputs=outputs)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    return outputs, run_id


def test_verify_says_ok_then_names_the_changed_and_the_missing_artifact(approved, tmp_path):
    outputs = Path(shutil.copytree(approved[0], tmp_path / "outputs", symlinks=True, ignore=UNCOPIED))
    run_id = approved[1]
    ok = run_runner("verify", outputs=outputs)  # default: the run worked on last
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"run {run_id}: {len(_recorded(outputs / 'runs' / run_id))} artifacts verified" in ok.stdout
    run_dir = outputs / "runs" / run_id
    with (run_dir / "data" / "cleaned.csv").open("a") as handle:
        handle.write("2007-01-02,1,1,1,1,1\n")
    (run_dir / "reports" / "gate.json").unlink()
    bad = run_runner("verify", run_id, outputs=outputs)
    assert bad.returncode == 1
    summary = bad.stdout.strip().splitlines()[-1]
    assert "1 changed: data/cleaned.csv" in summary and "1 missing: reports/gate.json" in summary
    rows = {
        r["artifact"]: r
        for r in json.loads(run_runner("verify", run_id, "--json", outputs=outputs).stdout)["artifacts"]
    }
    assert rows["data/cleaned.csv"]["status"] == "changed"
    assert rows["data/cleaned.csv"]["expected_sha256"] != rows["data/cleaned.csv"]["sha256"]
    assert rows["reports/gate.json"]["status"] == "missing"
    assert {r["status"] for name, r in rows.items() if name not in ("data/cleaned.csv", "reports/gate.json")} == {"ok"}
    unknown = run_runner("verify", "20990101T000000Z-aapl-000000", outputs=outputs)
    assert unknown.returncode == 2 and "no run 20990101T000000Z-aapl-000000" in unknown.stderr


def test_reproduce_of_an_approved_sample_run_gives_the_same_artifacts_and_touches_nothing_real(approved):
    outputs, run_id = approved
    real = {name: _snapshot(outputs / name) for name in ("models", "cache")}
    latest = (outputs / "latest").resolve()
    result = run_runner("reproduce", run_id, "--json", outputs=outputs)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    rows = {r["artifact"]: r["result"] for r in report["artifacts"]}
    assert set(rows) == _recorded(outputs / "runs" / run_id)  # every recorded artifact, decision.json included
    assert set(rows.values()) <= {IDENTICAL, ASIDE}
    byte_identical = [name for name in rows if name.endswith(".csv") or name.startswith("model/model.")]
    assert {rows[name] for name in byte_identical} == {IDENTICAL} and "model/model.skops" in byte_identical
    # the real champion (this run's approved model) was not the one this run was evaluated against: an empty
    # scratch registry; the person's decision applied again; a separate outputs root, nothing real changed
    repro = Path(report["reproduction_dir"])
    assert repro.is_relative_to(outputs / "reproductions") and repro.parent.parent != outputs
    decision = json.loads((repro / "reports" / "decision.json").read_text())
    assert (decision["decision"], decision["by"], decision["note"]) == (
        "approved",
        "Dana Reviewer",
        "checked the walk-forward",
    )
    assert any("Dana Reviewer" in note and "approve" in note for note in report["notes"])
    assert _manifest(repro)["tasks"]["model_training"]["status"] == "success"  # executed, not reused
    assert {name: _snapshot(outputs / name) for name in ("models", "cache")} == real
    assert (outputs / "latest").resolve() == latest


def test_reproduce_names_a_tampered_artifact_and_reproduces_against_the_same_champion(approved, tmp_path):
    outputs = Path(shutil.copytree(approved[0], tmp_path / "outputs", symlinks=True, ignore=UNCOPIED))
    second = run_runner(*WINDOW, "-p", "approval_policy", "manual", outputs=outputs)  # against the champion
    assert second.returncode == 0, second.stdout + second.stderr  # the champion's own model: unchanged
    run_dir = (outputs / "latest").resolve()
    evaluation = json.loads((run_dir / "reports" / "evaluation.json").read_text())
    assert evaluation["champion"]["run_id"] == approved[1]
    evaluation["metrics"]["model"]["rmse"] *= 0.5
    (run_dir / "reports" / "evaluation.json").write_text(json.dumps(evaluation, indent=2, sort_keys=True))
    result = run_runner("reproduce", run_dir.name, outputs=outputs)
    assert result.returncode == 1, result.stdout + result.stderr
    table = {
        line.split()[0]: line
        for line in result.stdout.splitlines()
        if line.startswith(("data/", "reports/", "model/", "figures/"))
    }
    assert DIFFERENT in table["reports/evaluation.json"] and "metrics.model.rmse" in table["reports/evaluation.json"]
    # only the tampered file: the reproduction saw the same champion (gate, forecast, report all match)
    assert [name for name, line in table.items() if DIFFERENT in line] == ["reports/evaluation.json"]
    assert f"the model of run {approved[1]}" in result.stdout
    assert "1 DIFFERENT: reports/evaluation.json" in result.stdout


def test_reproduce_of_a_csv_run_whose_input_file_changed_says_so_and_fails(tmp_path):
    csv = write_classic_yahoo(tmp_path / "prices.csv", sample_frame("2004-06-01", "2006-12-31"))
    outputs = tmp_path / "outputs"
    ran = run_runner(
        *WINDOW, "-p", "source", "csv", "-p", "csv_path", str(csv), "--end-task", "data_ingestion", outputs=outputs
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_id = (outputs / "latest").resolve().name
    with csv.open("a") as handle:  # the file was updated afterwards: a new day at its end
        handle.write("2007-01-03,86.29,86.58,81.90,83.80,10.87,44225700\n")
    result = run_runner("reproduce", run_id, outputs=outputs)
    assert result.returncode == 1
    assert f"the input file {csv} changed since run {run_id} read it" in result.stderr
    assert "nothing was reproduced" in result.stderr
    assert not (outputs / "reproductions").exists()


def test_reproduce_of_a_yfinance_run_uses_its_recorded_prices_and_downloads_nothing(tmp_path):
    log, outputs = tmp_path / "downloads.log", tmp_path / "outputs"
    env = {"PYTHONPATH": str(ROOT / "tests" / "fake_yfinance"), "AAPL_FAKE_YF_LOG": str(log)}
    ran = run_runner(*WINDOW, "-p", "source", "yfinance", "--end-task", "data_cleaning", outputs=outputs, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_id = (outputs / "latest").resolve().name
    result = run_runner("reproduce", run_id, "--json", outputs=outputs, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert len(log.read_text().splitlines()) == 1  # the original's download only
    assert any("cannot be downloaded again identically" in note for note in report["notes"])
    rows = {r["artifact"]: r for r in report["artifacts"]}
    assert set(rows) == _recorded(outputs / "runs" / run_id)
    assert rows["data/raw.csv"]["hint"] == "copied from the original run, not executed again"
    assert rows["data/cleaned.csv"] == {"artifact": "data/cleaned.csv", "result": IDENTICAL, "hint": ""}
    repro = _manifest(Path(report["reproduction_dir"]))["tasks"]
    assert (repro["data_ingestion"]["status"], repro["data_cleaning"]["status"]) == ("copied", "success")
