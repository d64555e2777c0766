"""End-to-end: runner.py in a subprocess on the offline sample and on CSV files, as schedulers run it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from aapl_lib.io.iorw import sha256_file
from aapl_lib.pipeline.tasks import TASKS
from helpers import ROOT, WINDOW, run_runner, sample_frame, write_classic_yahoo, write_yfinance_multiheader


def only_run(outputs: Path) -> Path:
    runs = sorted((outputs / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def default_run(seeded_project, tmp_path_factory):
    """The session's seeded run of ``WINDOW`` (conftest.py): a copy of its outputs, and what the runner printed."""
    outputs = tmp_path_factory.mktemp("outputs")
    seeded_project.copy_outputs(outputs)
    return outputs, seeded_project.seed_proc


def test_run_succeeds_and_leaves_a_reviewable_run_folder(default_run):
    outputs, proc = default_run
    assert proc.returncode == 0, proc.stderr
    run_dir = only_run(outputs)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "success"
    assert [manifest["tasks"][t.name]["status"] for t in TASKS] == ["success"] * 6
    for task in TASKS:
        assert (run_dir / "notebooks" / task.notebook).is_file()
        assert (run_dir / "html" / task.notebook.replace(".ipynb", ".html")).stat().st_size > 10_000
        assert (run_dir / "logs" / f"{task.name}.log").is_file()
        for rel in task.outputs:
            record = manifest["tasks"][task.name]["artifacts"][rel]
            assert record["sha256"] == sha256_file(run_dir / rel), rel
    assert (run_dir / "reports" / "summary.pdf").read_bytes().startswith(b"%PDF")
    report = (run_dir / "reports" / "analysis.md").read_text()
    assert "Does the model beat doing nothing?" in report
    assert "| always_up |" in report and "Pesaran-Timmermann p = " in report  # direction against the market
    # the executed notebooks read like the report: no stray return values, no None in tables
    for task in TASKS:
        nb = json.loads((run_dir / "notebooks" / task.notebook).read_text())
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                text = "".join(out.get("data", {}).get("text/plain", ""))
                assert "PosixPath(" not in text and not re.fullmatch(r"-?[0-9.]+", text.strip()), (task.name, text)
                if "text/html" in out.get("data", {}):
                    assert ">None<" not in "".join(out["data"]["text/html"]), task.name
    # progress line per task on stdout, and the run folder named at the end
    assert proc.stdout.count(" ok in ") == 6 and f"/outputs/runs/{run_dir.name}" in proc.stdout
    # environment and latest pointer
    assert manifest["environment"]["packages"]["papermill"]
    assert (outputs / "latest").resolve() == run_dir


def test_manifest_holds_scraps_and_logs_have_the_format(default_run):
    outputs, _ = default_run
    run_dir = only_run(outputs)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    scraps = {name: manifest["tasks"][name]["scraps"] for name in manifest["tasks"]}
    assert scraps["data_ingestion"]["rows"] > 600
    assert scraps["data_cleaning"]["splits"] == 1  # 2005-02-28
    assert scraps["data_cleaning"]["max_abs_return"] < 0.4
    assert scraps["feature_engineering"]["feature_count"] >= 15
    assert scraps["model_training"]["train_rows"] > scraps["model_training"]["test_rows"] > 20
    assert 0 < scraps["model_evaluation"]["model_rmse"] < 0.1
    # notebooks ran on the runner's own interpreter
    assert {s["kernel_python"] for s in scraps.values()} == {sys.executable}
    line = (run_dir / "logs" / "model_training.log").read_text().splitlines()[0]
    assert line.startswith("[20") and "] [model_training] [INFO] " in line
    summary = (outputs / "logs" / "pipeline_summary.log").read_text().splitlines()
    assert len(summary) == 10  # six tasks, the tries ledger, the approval gate, the forecast ledger, the run
    steps = ("[approval_gate]", "[forecast_ledger]", "[tries]")
    assert all("status=success" in s for s in summary if not any(step in s for step in steps))
    assert [s for s in summary if "[tries]" in s]
    assert [s for s in summary if "[forecast_ledger]" in s and "appended 1, scored 0" in s]
    assert any("[approval_gate]" in s and "decision=" in s for s in summary)


def test_two_runs_with_the_same_params_agree(default_run, tmp_path):
    outputs, _ = default_run
    first = only_run(outputs)
    proc = run_runner(*WINDOW, outputs=tmp_path)
    assert proc.returncode == 0, proc.stderr
    second = only_run(tmp_path)
    for rel in [
        "data/raw.csv",
        "data/cleaned.csv",
        "data/features.csv",
        "model/model.skops",
        "model/model_meta.json",
        "reports/walk_forward.json",
        "data/predictions.csv",
    ]:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    ev1, ev2 = (json.loads((d / "reports/evaluation.json").read_text()) for d in (first, second))
    assert ev1 == ev2
    f1, f2 = (json.loads((d / "reports/forecast.json").read_text()) for d in (first, second))
    assert f1 == f2


def test_start_task_reuses_checked_upstream_outputs(default_run):
    outputs, _ = default_run
    base = only_run(outputs)
    proc = run_runner(*WINDOW, "--only", "model_evaluation", "--force", outputs=outputs)
    assert proc.returncode == 0, proc.stderr
    newest = max((outputs / "runs").iterdir())
    manifest = json.loads((newest / "manifest.json").read_text())
    assert manifest["tasks"]["model_training"] == {
        **manifest["tasks"]["model_training"],
        "status": "copied",
        "from_run": base.name,
    }
    assert manifest["tasks"]["model_evaluation"]["status"] == "success"
    assert manifest["tasks"]["reporting"]["status"] == "not_selected"
    assert not (newest / "notebooks" / "06_reporting.ipynb").exists()


def test_start_task_with_other_upstream_params_is_refused(default_run):
    outputs, _ = default_run
    proc = run_runner(*WINDOW, "-p", "lags", "3", "--start-task", "model_training", outputs=outputs)
    assert proc.returncode == 2
    assert "lags" in proc.stderr and "feature_engineering" in proc.stderr and "no earlier run" in proc.stderr


@pytest.mark.parametrize(
    "writer", [write_classic_yahoo, write_yfinance_multiheader], ids=["classic-yahoo", "yfinance-multiheader"]
)
def test_csv_source_end_to_end(tmp_path, writer):
    csv = writer(tmp_path / "prices.csv", sample_frame("2010-01-01", "2012-12-31"))
    outputs = tmp_path / "out"
    proc = run_runner(
        "-p",
        "source",
        "csv",
        "-p",
        "csv_path",
        str(csv),
        "-p",
        "start",
        "2010-01-01",
        "-p",
        "end",
        "2012-12-31",
        *WINDOW[6:],
        outputs=outputs,
    )
    assert proc.returncode == 0, proc.stderr
    run_dir = only_run(outputs)
    provenance = json.loads((run_dir / "data/provenance.json").read_text())
    assert provenance["source"] == "csv" and provenance["rows"] == len(sample_frame("2010-01-01", "2012-12-31"))
    assert (run_dir / "reports/summary.pdf").is_file()


def test_a_failing_task_names_task_notebook_cell_and_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("when,price\n2020-01-02,1\n2020-01-03,2\n", encoding="utf-8")
    outputs = tmp_path / "out"
    proc = run_runner("-p", "source", "csv", "-p", "csv_path", str(bad), outputs=outputs)
    assert proc.returncode == 1
    message = proc.stderr.strip().splitlines()[-1]
    assert "data_ingestion" in message and "01_data_ingestion.ipynb" in message and "cell" in message
    assert "DataSourceError" in message and "'when', 'price'" in message
    run_dir = only_run(outputs)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["tasks"]["data_ingestion"]["status"] == "failed"
    assert manifest["tasks"]["data_cleaning"]["status"] == "pending"
    # the partial executed notebook is kept as evidence, and rendered
    executed = json.loads((run_dir / "notebooks/01_data_ingestion.ipynb").read_text())
    assert any(o.get("output_type") == "error" for c in executed["cells"] for o in c.get("outputs", []))
    assert (run_dir / "html/01_data_ingestion.html").is_file()
    assert not (run_dir / "data/raw.csv").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["-p", "tickr", "AAPL"], "unknown parameter 'tickr'"),
        (["-p", "lags", "five"], "lags must be an integer"),
        (["-p", "start", "2012-02-30"], "real date"),
        (["-p", "start", "2012-01-01", "-p", "end", "2011-01-01"], "must be before end"),
        (["-p", "ticker", "../../etc"], "not a plausible stock symbol"),
        (["-p", "source", "ftp"], "source must be one of"),
        (["-p", "source", "csv"], "csv_path is empty"),
        (["-p", "source", "csv", "-p", "csv_path", "/no/such/file.csv"], "does not exist"),
        (["-p", "ticker", "TSLA"], "not in the offline sample"),
        (["-f", "params/nope.yaml"], "does not exist"),
        (["--start-task", "model_training"], "no earlier run"),
    ],
)
def test_bad_parameters_exit_2_with_one_line_and_write_nothing(tmp_path, args, words):
    outputs = tmp_path / "out"
    proc = run_runner(*args, outputs=outputs)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], proc.stderr
    assert not outputs.exists()


def test_unknown_task_name_is_a_usage_error(tmp_path):
    proc = run_runner("--end-task", "training", outputs=tmp_path / "out")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


FAKE_YFINANCE = str(ROOT / "tests" / "fake_yfinance")  # sitecustomize: yfinance.Ticker answers offline


def test_source_yfinance_through_the_runner_and_a_live_window_is_never_reused(tmp_path):
    log = tmp_path / "downloads.log"
    env = {"PYTHONPATH": FAKE_YFINANCE, "AAPL_FAKE_YF_LOG": str(log)}
    past = ["-p", "source", "yfinance", "-p", "start", "2011-01-01", "-p", "end", "2012-12-31"]
    proc = run_runner(*past, "--end-task", "data_cleaning", outputs=tmp_path / "out", env=env)
    assert proc.returncode == 0, proc.stderr
    run_dir = sorted((tmp_path / "out" / "runs").iterdir())[-1]
    provenance = json.loads((run_dir / "data" / "provenance.json").read_text())
    assert provenance["source"] == "yfinance" and provenance["rows"] == len(sample_frame("2011-01-01", "2012-12-31"))
    assert log.read_text().splitlines() == ["AAPL 2011-01-01 2013-01-01"]  # yfinance's end is exclusive
    quality = json.loads((run_dir / "reports" / "quality.json").read_text())
    assert quality["adjustment"]["method"] == "adj_close factor"

    again = run_runner(*past, "--end-task", "data_cleaning", outputs=tmp_path / "out", env=env)
    assert "reused from" in again.stdout and len(log.read_text().splitlines()) == 1  # a past window is reused

    live = ["-p", "source", "yfinance", "-p", "start", "2012-01-01", "-p", "end", "today"]
    for _attempt in (1, 2):
        proc = run_runner(*live, "--end-task", "data_ingestion", outputs=tmp_path / "out", env=env)
        assert proc.returncode == 0, proc.stderr
        assert "live download window reaches today" in proc.stdout, proc.stdout
    assert len(log.read_text().splitlines()) == 3  # downloaded again each time

    unknown = run_runner(
        "-p",
        "source",
        "yfinance",
        "-p",
        "ticker",
        "ZZZZQ",
        "-p",
        "start",
        "2011-01-01",
        "-p",
        "end",
        "2012-12-31",
        "-p",
        "task_retries",
        "{}",
        outputs=tmp_path / "out",
        env=env,
    )
    assert unknown.returncode == 1 and "DataSourceError: yfinance returned no prices for ZZZZQ" in unknown.stderr


def test_source_yfinance_failing_past_every_retry_exits_1_with_the_transient_message(tmp_path):
    log = tmp_path / "downloads.log"
    env = {"PYTHONPATH": FAKE_YFINANCE, "AAPL_FAKE_YF_LOG": str(log), "AAPL_FAKE_YF_FAIL": "connection"}
    args = ["-p", "source", "yfinance", "-p", "start", "2011-01-01", "-p", "end", "2012-12-31"]
    retries = ["-p", "download_retries", "3", "-p", "retry_wait_seconds", "0", "-p", "task_retries", "{}"]

    proc = run_runner(*args, *retries, "--end-task", "data_ingestion", outputs=tmp_path / "out", env=env)

    assert proc.returncode == 1, proc.stderr
    assert "TransientSourceError: yfinance download of AAPL failed: ConnectionError: Failed to perform" in proc.stderr
    assert "gave up after 3 attempt(s)" in proc.stderr and "-p download_retries" in proc.stderr
    assert log.read_text().splitlines() == ["AAPL 2011-01-01 2013-01-01 ConnectionError"] * 3  # 3 real attempts
    assert not list((tmp_path / "out" / "runs").glob("*/data/raw.csv"))


def test_kernels_import_the_aapl_lib_the_runner_fingerprinted_not_an_installed_copy(tmp_path):
    """A copy of the project run without PYTHONPATH: its notebooks' kernels still import the copy's aapl_lib
    (the code whose hash is in the fingerprints), not the checkout installed in the interpreter."""
    from helpers import Project

    project = Project(tmp_path / "copy")
    project.add_cell(
        "01_data_ingestion.ipynb",
        "import aapl_lib, pathlib\n"
        "assert pathlib.Path(aapl_lib.__file__).resolve().is_relative_to(pathlib.Path.cwd().resolve().parent), "
        "aapl_lib.__file__",
    )
    project.env = {k: v for k, v in project.env.items() if k != "PYTHONPATH"}
    proc = project.run(*WINDOW, "--end-task", "data_ingestion")
    assert proc.returncode == 0, proc.stderr
