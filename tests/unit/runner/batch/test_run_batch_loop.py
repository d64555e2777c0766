"""The batch loop end to end in this process, on tickers whose params did not validate (each worker answers at
once): the manifest it keeps, the progress it reports, the summary, and a resume that re-runs what failed."""

from __future__ import annotations

import json

import pytest

from aapl_lib.pipeline.exit_codes import Exit
from aapl_lib.pipeline.states import State
from aapl_lib.runner.batch.loop import run_batch
from aapl_lib.runner.kernels.warm_pool import SHARED_SOCKET_ENV, stop_warm_kernels

PER_TICKER = {"X1": (None, "X1: no such symbol"), "Y2": (None, "Y2: no such symbol")}


@pytest.fixture()
def shared_warm_socket(tmp_path, monkeypatch):
    """A warm process the batch shares with its workers, as a batch inside a batch would: none is started."""
    socket = tmp_path / "warm.sock"
    socket.touch()
    monkeypatch.setenv(SHARED_SOCKET_ENV, str(socket))
    stop_warm_kernels()
    yield socket
    stop_warm_kernels()


def test_a_failed_batch_is_recorded_reported_and_resumed(tmp_path, shared_warm_socket):
    lines: list[str] = []
    common = dict(outputs_dir=tmp_path / "out", notebooks_dir=tmp_path, project=None, workers=2, batch_id="B1")
    result = run_batch(PER_TICKER, progress=lines.append, **common)
    assert result.exit_code == Exit.FAILED and result.batch_dir == (tmp_path / "out" / "batches" / "B1").resolve()
    assert result.message == (
        "batch B1: 2 of 2 ticker(s) did not finish: X1 (X1: no such symbol); Y2 (Y2: no such symbol). "
        f"Re-run them with: python runner.py resume B1 --outputs {(tmp_path / 'out').resolve()}"
    )
    assert lines[0] == "batch B1: 2 ticker(s) on local process pool, 2 worker(s)"
    assert sorted(line.split()[2] for line in lines[1:3]) == ["X1", "Y2"]
    assert lines[1].startswith("ticker 1/2 ") and " failed in " in lines[1] and " left — " in lines[1]
    assert lines[2].startswith("ticker 2/2 ") and "; all 2 done in " in lines[2]
    manifest = json.loads((result.batch_dir / "manifest.json").read_text())
    assert manifest["status"] == State.FAILED and manifest["tickers"] == ["X1", "Y2"]
    assert manifest["executor_description"] == "local process pool, 2 worker(s)" and manifest["workers"] == 2
    assert {t: (r["exit_code"], r["run_id"]) for t, r in manifest["runs"].items()} == {
        "X1": (Exit.USAGE, None),
        "Y2": (Exit.USAGE, None),
    }
    assert manifest["ticker_errors"] == {"X1": "X1: no such symbol", "Y2": "Y2: no such symbol"}
    assert "resumed" not in manifest
    assert "| X1 | failed |" in (result.batch_dir / "summary.md").read_text()

    lines.clear()
    again = run_batch(PER_TICKER, progress=lines.append, resume=True, **common)
    assert again.exit_code == Exit.FAILED
    assert lines[0] == "batch B1: 2 ticker(s) on local process pool, 2 worker(s) (0 already finished)"
    manifest = json.loads((again.batch_dir / "manifest.json").read_text())
    assert [r["tickers"] for r in manifest["resumed"]] == [["X1", "Y2"]]
