"""Checkpoints: resume (after a failure and after kill -9), incremental reuse, locks, timeouts, retries,
hooks, retention, and the cost of a rerun with nothing to do.

These tests run a copy of the project (runner.py, notebooks/, params/, aapl_lib/) in a temporary folder, so
they can edit notebooks and library code without touching the repository. PYTHONPATH points the runner and
its kernels at the copy's aapl_lib.
"""

from __future__ import annotations

import json
import os

# `project` (conftest.py): this module's copy of a project with one finished run of WINDOW.


# kill -9 of the runner, then plain `resume` as a person types it: tests/e2e/test_recovery.py


def test_prune_deletes_old_runs_and_forgets_them_in_the_cache(tmp_path):
    from aapl_lib.io.iorw import write_json
    from aapl_lib.store.retention import prune_runs, trim_summary_log
    from aapl_lib.store.reuse_cache import ReuseCache

    outputs = tmp_path / "outputs"
    for run_id in ["20200101T000000Z-aapl-aaaaaa", "20200102T000000Z-aapl-bbbbbb", "20991231T000000Z-aapl-cccccc"]:
        (outputs / "runs" / run_id / "data").mkdir(parents=True)
        write_json(outputs / "runs" / run_id / "manifest.json", {"run_id": run_id})
    os.symlink("runs/20200102T000000Z-aapl-bbbbbb", outputs / "latest")
    ReuseCache(outputs).record("fp1", {"run_id": "20200101T000000Z-aapl-aaaaaa", "artifacts": {}})
    dry = prune_runs(outputs, 30, dry_run=True)
    assert dry["deleted"] == ["20200101T000000Z-aapl-aaaaaa"] and (outputs / "runs" / dry["deleted"][0]).exists()
    report = prune_runs(outputs, 30)
    assert report["deleted"] == ["20200101T000000Z-aapl-aaaaaa"]
    assert sorted(p.name for p in (outputs / "runs").iterdir()) == [
        "20200102T000000Z-aapl-bbbbbb",
        "20991231T000000Z-aapl-cccccc",
    ]
    assert json.loads((outputs / "cache" / "index.json").read_text()) == {}
    log = outputs / "logs" / "pipeline_summary.log"
    log.parent.mkdir()
    log.write_text("[2020-01-01T00:00:00Z] [pipeline] [INFO] old\n[2099-01-01T00:00:00Z] [pipeline] [INFO] new\n")
    assert trim_summary_log(outputs, 365) == 1 and "old" not in log.read_text()


# Loaded by every Python process of a run through PYTHONPATH: a kernel (its command line names the launcher)
# exits at once while the counter file says so, as a kernel that loses jupyter_client's port race does.
