"""A replay is resumable by plain ``resume`` (issue 27): ``replay --from D1 --to D3`` stopped during its second
day — by Ctrl-C, or by ``kill -9`` of the replay and of that day's run, as a power cut would — then plain
``python runner.py resume``: the interrupted day's run is continued (not started again), the third day is run,
and the forecast ledger holds each day once. Before replays were recorded, plain ``resume`` finished only the
interrupted day and silently dropped the rest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from aapl_lib.store import layout
from helpers import ROOT, run_runner

DAYS = ["2013-01-09", "2013-01-10", "2013-01-11"]
FAST = ["-p", "start", "2011-06-01", "-p", "gb_n_estimators", "25", "-p", "walk_forward_folds", "3"]


def _manifests(outputs: Path) -> list[dict]:
    runs = outputs / "runs"
    found = []
    for folder in sorted(runs.iterdir()) if runs.is_dir() else []:
        try:
            found.append(json.loads((folder / "manifest.json").read_text()))
        except (OSError, ValueError):
            continue
    return found


def _second_day_in_a_task(outputs: Path) -> bool:
    manifests = _manifests(outputs)
    return len(manifests) == 2 and any(t["status"] == "running" for t in manifests[1]["tasks"].values())


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("stop", ["ctrl-c", "kill-9"])
def test_plain_resume_finishes_the_interrupted_day_and_the_days_after_it(tmp_path, stop):
    outputs = tmp_path / "out"
    replay = subprocess.Popen(
        [sys.executable, str(ROOT / "runner.py"), "replay", "--from", DAYS[0], "--to", DAYS[-1], *FAST]
        + ["--outputs", str(outputs)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(lambda: _second_day_in_a_task(outputs), timeout=400, what="the second day's run to be in a task")
        second = sorted((outputs / "runs").iterdir())[1]
        if stop == "ctrl-c":
            replay.send_signal(signal.SIGINT)
        else:  # the replay and the day's run (a session of its own) both die at once
            day_pid = json.loads((second / ".lock.owner.json").read_text())["pid"]
            replay.send_signal(signal.SIGKILL)
            os.kill(day_pid, signal.SIGKILL)
        out, err = replay.communicate(timeout=180)
    finally:
        if replay.poll() is None:
            replay.kill()
    assert replay.returncode == (130 if stop == "ctrl-c" else -9), out + err
    assert "replay 3/3" not in out
    stopped = _manifests(outputs)
    assert [m["params"]["end"] for m in stopped] == DAYS[:2]
    assert [m["status"] for m in stopped] == ["success", "interrupted" if stop == "ctrl-c" else "running"]
    (record,) = layout.replay_records(outputs)
    # the record is data: a hook written into it by whoever can write outputs/ is never run (docs/trust.md)
    planted = tmp_path / "planted-hook-ran"
    hostile = json.loads(record.read_text())
    hostile["options"]["parameters"].append(["on_success", f"touch {planted}"])
    record.write_text(json.dumps(hostile))

    resumed = run_runner("resume", outputs=outputs, timeout=600)  # what a person types: no id
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming replay {record.stem} (interrupted)" in resumed.stdout, resumed.stdout
    assert f"replay 2/3: resume {second.name} (the run as of {DAYS[1]}: interrupted)" in resumed.stdout
    assert f"replay 3/3: run --as-of {DAYS[2]}" in resumed.stdout
    assert f"replayed 3 trading day(s) {DAYS[0]}..{DAYS[2]}; 0 did not succeed" in resumed.stdout

    finished = _manifests(outputs)
    assert [m["params"]["end"] for m in finished] == DAYS  # one run a day: the second continued, not redone
    assert sorted((outputs / "runs").iterdir())[1] == second
    assert [m["status"] for m in finished] == ["success"] * 3
    assert json.loads(record.read_text())["status"] == "finished"
    ledger = pd.read_csv(layout.ledger_path(outputs, "AAPL"), dtype=str)
    assert not ledger.duplicated(["forecast_date", "for_date", "model_role", "model_sha256"]).any()
    challenger = ledger[ledger["model_role"] == "challenger"]
    assert sorted(challenger["forecast_date"]) == DAYS  # each day's forecast once

    assert not planted.exists()
    again = run_runner("resume", outputs=outputs)
    assert again.returncode == 0 and "nothing to resume" in again.stdout, again.stdout
