"""The typed run record (aapl_lib.store.run_record): a real manifest read and written back byte for byte, keys
it does not know kept, and each transition setting exactly the fields the loop has always written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aapl_lib.errors import CorruptStateError
from aapl_lib.pipeline.states import State
from aapl_lib.pipeline.tasks import TASKS
from aapl_lib.store import run_record
from aapl_lib.store.run_record import RunRecord, TaskRecord

NOW = "2026-12-03T12:00:00+00:00"


@pytest.fixture()
def frozen_clock(monkeypatch):
    monkeypatch.setattr(run_record, "utc_now", lambda: NOW)


def _new(tmp_path: Path, **extra) -> RunRecord:
    return RunRecord.new(
        tmp_path,
        run_id="20261203T120000Z-aapl-abcdef",
        params={"ticker": "AAPL"},
        params_fingerprint="f" * 64,
        selection=("data_ingestion", "reporting"),
        environment={"python": "3.11.0", "packages": {}},
        created_at=NOW,
        notebooks={t.name: f"notebooks/{t.notebook}" for t in TASKS},
        **extra,
    )


def test_a_seeded_runs_manifest_is_written_back_byte_for_byte(seeded_project, monkeypatch):
    """load -> save of a real run (the seeded run of the sample source) gives the same bytes, updated_at
    included when the clock says the same time."""
    run_dir = seeded_project.outputs / "runs" / seeded_project.seed_run
    before = (run_dir / "manifest.json").read_bytes()
    monkeypatch.setattr(run_record, "utc_now", lambda: json.loads(before)["updated_at"])
    record = RunRecord.load(run_dir)
    assert set(record.tasks) == {t.name for t in TASKS}
    assert all(rec.status == State.SUCCESS for rec in record.tasks.values())
    record.save()
    assert (run_dir / "manifest.json").read_bytes() == before


def test_keys_an_older_or_newer_runner_wrote_are_kept(tmp_path, frozen_clock):
    record = _new(tmp_path)
    record.fields["from_the_future"] = {"kept": [1, 2]}
    record.tasks["data_ingestion"].fields["legacy_note"] = "kept"
    record.save()
    again = RunRecord.load(tmp_path)
    again.tasks["data_ingestion"].select()
    again.save()
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["from_the_future"] == {"kept": [1, 2]}
    assert data["tasks"]["data_ingestion"] == {
        "status": "pending",
        "notebook": "notebooks/01_data_ingestion.ipynb",
        "legacy_note": "kept",
    }


def test_a_new_record_has_every_task_not_selected_and_its_batch(tmp_path):
    record = _new(tmp_path, batch_id="b1")
    assert record.status == State.RUNNING
    assert record.get("batch_id") == "b1"
    assert [rec.status for rec in record.tasks.values()] == [State.NOT_SELECTED] * len(TASKS)
    assert "batch_id" not in _new(tmp_path).fields


def test_a_damaged_manifest_is_a_corrupt_state_error(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CorruptStateError, match="damaged"):
        RunRecord.load(tmp_path)


def test_start_then_finish(frozen_clock):
    rec = TaskRecord("data_ingestion", {"status": "pending", "notebook": "nb", "error": "old"})
    rec.fingerprinted("fp", {"code": "x"})
    rec.start("first run of this task", "notebooks/01.ipynb")
    assert rec.fields == {
        "status": State.RUNNING,
        "notebook": "nb",
        "fingerprint": "fp",
        "fingerprint_parts": {"code": "x"},
        "run_reason": "first run of this task",
        "started_at": NOW,
        "attempts": [],
        "executed_notebook": "notebooks/01.ipynb",
    }
    rec.attempt_failed(1, "boom", 0.12345)
    rec.kernel_restarted()
    rec.kernel_restarted()
    rec.attempt_succeeded()
    rec.ended(1.5, {"ticker": "AAPL"})
    rec.collected(scraps={"rows": 3})
    rec.finish({"data/raw.csv": {"sha256": "s", "bytes": 1}})
    assert rec.status == State.SUCCESS
    assert rec.fields["attempts"] == [{"attempt": 1, "error": "boom", "delay_s": 0.123}]
    assert rec.fields["kernel_restarts"] == 2
    assert rec.fields["timed_out"] is False
    assert (rec.duration_s, rec.fields["ended_at"], rec.fields["parameters"]) == (1.5, NOW, {"ticker": "AAPL"})
    assert rec.fields["scraps"] == {"rows": 3}
    assert rec.artifacts == {"data/raw.csv": {"sha256": "s", "bytes": 1}}


def test_fail_interrupt_and_rendering(frozen_clock):
    rec = TaskRecord("data_cleaning", {"status": "pending"})
    rec.start("forced", "notebooks/02.ipynb")
    rec.collected(scraps_error="half-written")
    rec.fail({}, State.TIMED_OUT, "task data_cleaning timed out")
    assert (rec.status, rec.error, rec.artifacts, rec.fields["scraps_error"]) == (
        State.TIMED_OUT,
        "task data_cleaning timed out",
        {},
        "half-written",
    )
    assert "scraps" not in rec.fields
    rec.render_failed("OSError: disk full")
    rec.rendered({"html": "html/02.html", "report_html": "html/02_report.html"})
    assert "html_error" not in rec.fields and rec.fields["html"] == "html/02.html"
    rec.start("resumed", "notebooks/02.ipynb")
    assert "error" not in rec.fields  # a new attempt forgets the last one's error
    rec.interrupt("interrupted by SIGTERM while running")
    assert (rec.status, rec.fields["ended_at"], rec.error) == (
        State.INTERRUPTED,
        NOW,
        "interrupted by SIGTERM while running",
    )


def test_reuse_copied_present(frozen_clock):
    entry = {"run_id": "r0", "duration_s": 2.5, "notebook": "notebooks/03.ipynb", "html": "h", "scraps": {"n": 1}}
    rec = TaskRecord("feature_engineering", {"status": "pending", "notebook": "nb"})
    rec.reuse(entry, {"data/features.csv": {"sha256": "s", "bytes": 2}})
    assert rec.fields == {
        "status": State.REUSED,
        "notebook": "nb",
        "reused_from": "r0",
        "duration_s": 0.0,
        "original_duration_s": 2.5,
        "executed_notebook": "notebooks/03.ipynb",
        "html": "h",
        "report_html": None,
        "scraps": {"n": 1},
        "artifacts": {"data/features.csv": {"sha256": "s", "bytes": 2}},
        "ended_at": NOW,
    }
    copied = TaskRecord("data_ingestion", {"status": "not_selected"})
    copied.copied("r0", {"a": {}})
    present = TaskRecord("data_ingestion", {"status": "not_selected"})
    present.present("outputs already in /x", {})
    assert copied.fields == {"status": State.COPIED, "from_run": "r0", "artifacts": {"a": {}}}
    assert present.fields == {"status": State.PRESENT, "note": "outputs already in /x", "artifacts": {}}


def test_run_transitions_resume_gate_and_finish(tmp_path, frozen_clock):
    record = _new(tmp_path)
    record.finish(State.AWAITING_APPROVAL, 3.25)
    record.gate_awaiting("awaiting_approval", ["manual policy"])
    since = record.gate["since"]
    record.resume({"ticker": "AAPL", "on_success": ""})
    assert record.status == State.RUNNING and record.params == {"ticker": "AAPL", "on_success": ""}
    assert record.get("resumed") == [{"at": NOW, "previous_status": State.AWAITING_APPROVAL}]
    record.gate_awaiting("awaiting_approval", ["manual policy"])
    assert record.gate["since"] == since  # waiting since the first time
    decision = {"decision": "approved", "by": "ana", "at": NOW, "note": "ok", "reasons": ["new"]}
    record.gate_decided(decision, "d" * 64, with_reasons=False)
    assert record.gate == {
        "status": State.DECIDED,
        "proposal": "awaiting_approval",
        "reasons": ["manual policy"],
        "since": since,
        "decision": "approved",
        "by": "ana",
        "at": NOW,
        "note": "ok",
        "sha256": "d" * 64,
    }
    record.decided_by_person("approved")
    assert record.status == "approved"
    record.hook_ran({"exit_code": 0, "output": ""})
    record.finish(State.SUCCESS, 1.0)
    record.save()
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert (data["status"], data["ended_at"], data["duration_s"], data["updated_at"]) == ("success", NOW, 1.0, NOW)
    assert data["hook"] == {"exit_code": 0, "output": ""}
