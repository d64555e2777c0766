"""The reviewer's side: HTML notebooks (full and report mode), the static run browser, run comparison, the DAG
picture — checked as files, over HTTP, and rendered in headless Chromium when it is installed."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest

from aapl_lib.pipeline.tasks import TASKS
from aapl_lib.views import dag
from helpers import ROOT, WINDOW, parse_html, parse_page, run_runner

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def outputs(seeded_project, tmp_path_factory) -> Path:
    """Three runs: the session's seeded run of WINDOW (copied), the same with another test fraction, and a
    run that failed on a bad CSV."""
    out = tmp_path_factory.mktemp("browser-outputs")
    seeded_project.copy_outputs(out)
    proc = run_runner(*WINDOW, "-p", "test_fraction", "0.25", outputs=out)
    assert proc.returncode == 0, proc.stderr
    bad = out.parent / "bad.csv"
    bad.write_text("Date,Open,High,Low,Close,Volume\n2005-01-03,1,1,1,x,100\n", encoding="utf-8")
    proc = run_runner("-p", "source", "csv", "-p", "csv_path", str(bad), outputs=out)
    assert proc.returncode == 1
    return out


def runs(outputs: Path) -> list[Path]:
    return sorted((outputs / "runs").iterdir())


def test_every_link_and_image_of_the_browser_resolves(outputs):
    index = outputs / "index.html"
    page = parse_page(index)
    run_links = [h for h in page.hrefs if h.startswith("runs/")]
    assert len(run_links) == 3
    for href in page.hrefs:
        assert (index.parent / href).is_file(), href
    for run_dir in runs(outputs):
        run_page = run_dir / "index.html"
        links = parse_page(run_page)
        for href in links.hrefs + links.imgs:
            assert (run_page.parent / href).resolve().is_file(), (run_dir.name, href)


def test_index_lists_runs_with_task_status_metrics_and_gate(outputs):
    html = (outputs / "index.html").read_text()
    for run_dir in runs(outputs):
        assert run_dir.name in html
    assert html.count('class="st success"') + html.count('class="st reused"') >= 14 and 'class="st failed"' in html
    text = " ".join(parse_page(outputs / "index.html").text)
    assert "kept" in text or "promoted" in text  # the gate decision
    assert " %" in text  # key metrics


def test_run_page_shows_params_tasks_figures_report_and_artifacts(outputs):
    run_dir = runs(outputs)[0]
    page = parse_page(run_dir / "index.html")
    text = " ".join(page.text)
    assert {"figures/predicted_vs_actual.png", "figures/residuals.png", "figures/cumulative_returns.png"} <= set(
        page.imgs
    )
    for task in TASKS:
        assert task.name in text
        assert f"html/{task.notebook.replace('.ipynb', '.html')}" in page.hrefs
        assert f"html/{task.notebook.replace('.ipynb', '.report.html')}" in page.hrefs
        assert f"logs/{task.name}.log" in page.hrefs
    manifest = json.loads((run_dir / "manifest.json").read_text())
    sha = manifest["tasks"]["model_training"]["artifacts"]["model/model.skops"]["sha256"]
    assert sha in text and "ridge_alpha" in text and "Does the model beat doing nothing?" in text
    assert "reports/summary.pdf" in page.hrefs


def test_report_mode_hides_code_and_a_failed_notebook_leads_with_its_error(outputs):
    run_dir = runs(outputs)[0]
    full = (run_dir / "html" / "03_feature_engineering.html").read_text()
    report = (run_dir / "html" / "03_feature_engineering.report.html").read_text()
    assert "start_step" in full and "start_step" not in report  # the code is hidden, the outputs stay
    assert "leakage guard: passed" in report
    failed = runs(outputs)[-1]
    html = (failed / "html" / "01_data_ingestion.html").read_text()
    assert 'id="failure-banner"' in html and "DataSourceError" in html
    body = html.index("<body")
    assert html.index('id="failure-banner"') - body < 400  # at the top of the page
    assert 'class="st failed"' in (failed / "index.html").read_text()


def test_compare_prints_and_writes_a_page(outputs):
    a, b = runs(outputs)[:2]
    proc = run_runner("compare", a.name, b.name, outputs=outputs)
    assert proc.returncode == 0, proc.stderr
    assert "test_fraction" in proc.stdout and "0.2" in proc.stdout and "0.25" in proc.stdout
    assert "data/raw.csv" not in proc.stdout.split("artifacts:")[1].split("\n\n")[0]  # identical: not listed
    assert "model/model.skops" in proc.stdout and "model.rmse" in proc.stdout
    data = json.loads(run_runner("compare", a.name, b.name, "--json", outputs=outputs).stdout)
    assert {c["artifact"]: c["state"] for c in data["artifacts"]}["data/raw.csv"] == "same"
    page = outputs / "compare" / f"{a.name}__{b.name}.html"
    assert page.is_file() and "test_fraction" in page.read_text()
    assert f"compare/{a.name}__{b.name}.html" in parse_page(outputs / "index.html").hrefs


def test_dag_is_drawn_from_the_specs(tmp_path):
    text = dag.mermaid()
    assert text.startswith("flowchart LR")
    for task in TASKS:
        assert task.title in text and task.notebook in text
        for rel in task.outputs:
            assert f'("{rel}")' in text
    proc = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else "python",
            str(ROOT / "runner.py"),
            "dag",
            "--format",
            "mermaid",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and proc.stdout == text
    assert dag.draw(tmp_path / "dag.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in dag.draw(tmp_path / "dag.svg").read_text()
    readme = (ROOT / "README.md").read_text()
    assert text.strip() in readme  # the README shows the generated diagram, not a hand-drawn copy


def test_browser_over_http(outputs):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(outputs))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        index = urllib.request.urlopen(base + "index.html", timeout=10).read().decode()
        pages = {
            h: urllib.request.urlopen(base + h, timeout=10).read().decode()
            for h in parse_html(index).hrefs
            if h.startswith("runs/")
        }
        assert len(pages) == 3
        run_href, page = next((h, p) for h, p in pages.items() if parse_html(p).imgs)
        img = parse_html(page).imgs[0]
        assert (
            urllib.request.urlopen(base + run_href.rsplit("/", 1)[0] + "/" + img, timeout=10).read()[:4] == b"\x89PNG"
        )
    finally:
        server.shutdown()


@pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian package 'chromium'; .ci/run installs it)"
)
def test_pages_render_in_headless_chromium(outputs, tmp_path):
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    index = (outputs / "index.html").resolve()
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", index.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'id="runs"' in dom and dom.count("<tr>") >= 4
    run_page = (runs(outputs)[0] / "index.html").resolve()
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", run_page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'id="tasks"' in dom and 'src="figures/cumulative_returns.png"' in dom
    shot = tmp_path / "run.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1280,2000", run_page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 20_000
