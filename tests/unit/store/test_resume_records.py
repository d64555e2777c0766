"""What plain ``resume`` finds besides run folders (aapl_lib.store.runs): orphaned intents and replay records,
and how they compete with runs — the newest start wins; a replay's own runs are left to it while it has days
left."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aapl_lib.io.locks import PathLock
from aapl_lib.store import layout
from aapl_lib.store.runs import (
    NEVER_BEGAN,
    find_resumable,
    list_runs,
    new_replay,
    newest_unfinished_replay,
    read_intent,
    replay_day_run,
    save_replay,
    write_intent,
)

PARAMS = {"ticker": "AAPL", "source": "sample", "start": "2011-06-01", "end": "2013-01-10"}
OLD, NEW = "20261201T000000Z-aapl-aaaaaa", "20261202T000000Z-aapl-bbbbbb"


def _failed_run(outputs: Path, run_id: str, **extra) -> None:
    folder = layout.run_dir(outputs, run_id)
    folder.mkdir(parents=True)
    manifest = {"run_id": run_id, "status": "failed", "params": PARAMS, "tasks": {}, **extra}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _intent(run_id: str, **extra) -> dict:
    return {"run_id": run_id, "created_at": "2026-12-02T00:00:00+00:00", "params": PARAMS, **extra}


def test_an_orphaned_intent_newer_than_every_unfinished_run_is_resumed_first(tmp_path):
    _failed_run(tmp_path, OLD)
    write_intent(tmp_path, _intent(NEW))
    run_dir, why = find_resumable(tmp_path)
    assert (run_dir.name, why) == (NEW, NEVER_BEGAN)
    (row,) = [r for r in list_runs(tmp_path) if r["run_id"] == NEW]
    assert row["status"] == "interrupted" and row["resume"].endswith(f"resume {NEW} --outputs {tmp_path}")


def test_an_older_intent_waits_for_the_newer_unfinished_run(tmp_path):
    write_intent(tmp_path, _intent(OLD))
    _failed_run(tmp_path, NEW)
    assert find_resumable(tmp_path) == (layout.run_dir(tmp_path, NEW), "failed")


def test_an_intent_held_by_a_live_process_or_with_a_manifest_is_not_orphaned(tmp_path):
    write_intent(tmp_path, _intent(NEW))
    probe = (
        "from pathlib import Path; from aapl_lib.store.runs import read_intent; "
        f"print(read_intent(Path({str(tmp_path)!r}), {NEW!r}))"
    )
    with PathLock(layout.intent_lock(tmp_path, NEW), "test"):  # another process probes while this one holds it
        seen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert seen.stdout.strip() == "None", seen.stderr
    assert read_intent(tmp_path, NEW) is not None  # its holder gone
    _failed_run(tmp_path, NEW)  # killed after the manifest was written, before the intent was dropped
    assert read_intent(tmp_path, NEW) is None


def test_a_replays_runs_and_intents_are_left_to_it_until_it_finishes(tmp_path):
    record = new_replay(tmp_path, ["2013-01-09", "2013-01-10"], {"file": None, "parameters": []})
    _failed_run(tmp_path, OLD, replay_id=record["replay_id"])
    write_intent(tmp_path, _intent(NEW, replay_id=record["replay_id"]))
    assert find_resumable(tmp_path)[0] is None
    assert newest_unfinished_replay(tmp_path) == (record, "interrupted")  # says running, nobody holds it
    assert replay_day_run(tmp_path, record["replay_id"], "2013-01-10") == (NEW, NEVER_BEGAN)
    save_replay(tmp_path, {**record, "status": "finished"})
    assert newest_unfinished_replay(tmp_path) == (None, "")
    assert find_resumable(tmp_path) == (layout.run_dir(tmp_path, NEW), NEVER_BEGAN)  # ordinary runs now


def test_a_new_replay_covering_a_stopped_ones_days_left_supersedes_it(tmp_path):
    options = {"file": None, "parameters": [["ticker", "AAPL"]]}
    stopped = new_replay(tmp_path, ["2013-01-09", "2013-01-10", "2013-01-11"], options)
    save_replay(tmp_path, {**stopped, "status": "interrupted", "outcomes": {"2013-01-09": 0}})
    other = new_replay(tmp_path, ["2013-01-10"], {"file": None, "parameters": []})  # other options: kept
    again = new_replay(tmp_path, ["2013-01-10", "2013-01-11"], options)
    older = json.loads(layout.replay_record(tmp_path, stopped["replay_id"]).read_text())
    assert older["status"] == "finished" and older["superseded_by"] == again["replay_id"]
    assert json.loads(layout.replay_record(tmp_path, other["replay_id"]).read_text())["status"] == "running"
