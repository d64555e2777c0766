"""The one scan over every run's manifest (aapl_lib.store.runs.scan_runs) and the finders built on it."""

from __future__ import annotations

import json
from pathlib import Path

from aapl_lib.errors import CorruptStateError
from aapl_lib.store.runs import find_resumable, list_runs, scan_runs, unfinished_batch_run

PARAMS = {"ticker": "AAPL", "source": "sample", "start": "2004-06-01", "end": "2006-12-31"}


def _run(outputs: Path, run_id: str, text: str | None) -> Path:
    folder = outputs / "runs" / run_id
    folder.mkdir(parents=True)
    if text is not None:
        (folder / "manifest.json").write_text(text)
    return folder


def _manifest(run_id: str, status: str, **extra) -> str:
    return json.dumps({"run_id": run_id, "status": status, "params": PARAMS, "tasks": {}, **extra})


def _outputs(tmp_path: Path) -> Path:
    outputs = tmp_path / "outputs"
    _run(outputs, "20261201T000000Z-aapl-aaaaaa", _manifest("20261201T000000Z-aapl-aaaaaa", "failed"))
    _run(outputs, "20261202T000000Z-aapl-bbbbbb", "{damaged")
    _run(outputs, "20261203T000000Z-aapl-cccccc", None)  # a folder a runner made and never wrote a record in
    _run(outputs, "20261204T000000Z-aapl-dddddd", _manifest("20261204T000000Z-aapl-dddddd", "success"))
    _run(outputs, "20261205T000000Z-aapl-eeeeee", _manifest("20261205T000000Z-aapl-eeeeee", "failed", batch_id="b1"))
    return outputs


def test_newest_first_with_the_manifest_or_why_not(tmp_path):
    scanned = list(scan_runs(_outputs(tmp_path)))
    assert [s.run_dir.name[:8] for s in scanned] == ["20261205", "20261204", "20261202", "20261201"]
    assert [s.manifest["status"] if s.manifest else None for s in scanned] == ["failed", "success", None, "failed"]
    assert isinstance(scanned[2].error, CorruptStateError) and scanned[0].error is None


def test_every_folder_includes_those_without_a_manifest(tmp_path):
    scanned = list(scan_runs(_outputs(tmp_path), every_folder=True))
    assert len(scanned) == 5
    missing = next(s for s in scanned if s.run_dir.name.startswith("20261203"))
    assert missing.manifest is None and isinstance(missing.error, FileNotFoundError)


def test_no_runs_folder_is_an_empty_scan(tmp_path):
    assert list(scan_runs(tmp_path / "nothing")) == []


def test_the_finders_read_through_the_scan(tmp_path):
    outputs = _outputs(tmp_path)
    run_dir, why = find_resumable(outputs)  # the batch's run is left to its batch; the damaged one is skipped
    assert (run_dir.name, why) == ("20261201T000000Z-aapl-aaaaaa", "failed")
    assert unfinished_batch_run(outputs, "b1", "AAPL").name == "20261205T000000Z-aapl-eeeeee"
    assert unfinished_batch_run(outputs, "b1", "MSFT") is None
    rows = {row["run_id"]: row["status"] for row in list_runs(outputs)}
    assert rows["20261202T000000Z-aapl-bbbbbb"] == rows["20261203T000000Z-aapl-cccccc"] == "unreadable"
    assert rows["20261204T000000Z-aapl-dddddd"] == "success"
