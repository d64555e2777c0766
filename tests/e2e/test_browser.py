"""The reviewer's side: HTML notebooks (full and report mode), the static run browser, run comparison, the DAG
picture — checked as files, over HTTP, and rendered in headless Chromium when it is installed."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import subprocess
import threading
import urllib.request
from pathlib import Path

import needs
import pytest

from aapl_lib.formatting import pct
from aapl_lib.pipeline.tasks import TASKS
from aapl_lib.store import layout
from aapl_lib.views import dag
from aapl_lib.views.operations import awaiting
from helpers import ROOT, WINDOW, parse_html, parse_page, run_runner

CHROMIUM = needs.chromium()


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


@pytest.fixture(scope="module")
def awaiting_run(seeded_project, tmp_path_factory) -> Path:
    """The seeded run again under the manual policy: tasks 1-4 reused, stopped at the gate awaiting approval."""
    out = tmp_path_factory.mktemp("awaiting-outputs")
    seeded_project.copy_outputs(out)
    proc = run_runner(*WINDOW, "-p", "approval_policy", "manual", outputs=out)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    return max((out / "runs").iterdir())


def _lead(page_text: list[str]) -> str:
    """The run page's text from its title to the task table: what it leads with."""
    text = " ".join(" ".join(page_text).split())
    return text[text.index("Run 20") : text.index("Tasks task status")]


def test_analysis_md_and_the_run_page_show_a_less_than_sign_once_escaped(outputs):
    run_dir = runs(outputs)[0]
    report = (run_dir / "reports" / "analysis.md").read_text()
    assert "&lt;" not in report and "&amp;" not in report
    assert "| < 0.05 | no |" in report  # the gate's p-value limit, as written
    text = " ".join(parse_page(run_dir / "index.html").text)
    assert "&lt;" not in text and "&amp;" not in text and "< 0.05" in text and "R² <= " in text


def test_the_run_page_leads_with_the_verdict_and_the_gate_and_shows_each_figure_once(outputs):
    run_dir = runs(outputs)[0]
    page = parse_page(run_dir / "index.html")
    lead = _lead(page.text)
    evaluation = json.loads((run_dir / "reports" / "evaluation.json").read_text())
    assert lead.index("Does the model beat doing nothing?") < lead.index(" ".join(evaluation["verdict"].split()))
    decision = json.loads((run_dir / "reports" / "decision.json").read_text())
    assert f"gate ({decision['policy']} policy): {decision['decision']}" in lead  # the report's gate line
    assert "Awaiting approval" not in lead and "runner.py approve" not in lead  # nothing awaits a decision
    assert len(page.imgs) == len(set(page.imgs)) >= 3, page.imgs


def test_a_run_awaiting_approval_leads_with_the_checks_and_the_commands_that_decide(awaiting_run):
    page = parse_page(awaiting_run / "index.html")
    lead = _lead(page.text)
    evaluation = json.loads((awaiting_run / "reports" / "evaluation.json").read_text())
    assert " ".join(evaluation["verdict"].split()) in lead  # no report yet: the verdict comes from the evaluation
    assert "gate: no decision yet (proposal: awaiting_approval" in lead and "Awaiting approval" in lead
    manifest = json.loads((awaiting_run / "manifest.json").read_text())
    commands = awaiting([manifest], dt.datetime.now(dt.UTC), layout.outputs_of(awaiting_run))[0]
    for key in ("approve", "reject", "resume"):
        assert key in commands[key] and awaiting_run.name in commands[key] and "--outputs" in commands[key]
        assert commands[key] in lead, key  # the operations page's commands, on the run page
    gate = json.loads((awaiting_run / "reports" / "gate.json").read_text())
    for check in gate["checks"]:
        assert check["check"] in lead  # what the decision rests on
    assert len(page.imgs) == len(set(page.imgs)) >= 3, page.imgs


def test_compare_shows_percent_headline_metrics_first_and_which_run_is_better(outputs):
    a, b = runs(outputs)[:2]
    proc = run_runner("compare", a.name, b.name, outputs=outputs)
    assert proc.returncode == 0, proc.stderr
    rmse = [json.loads((r / "reports" / "evaluation.json").read_text())["metrics"]["model"]["rmse"] for r in (a, b)]
    assert rmse[0] != rmse[1]  # another test fraction: another held-out window
    winner, loser = ("A", "B") if rmse[0] < rmse[1] else ("B", "A")
    better = f"{winner} is better on the held-out window: model RMSE {pct(min(rmse), 3)} against {pct(max(rmse), 3)} "
    assert f"{better}for {loser}, " in proc.stdout
    assert "The held-out windows differ" in proc.stdout and "Diebold-Mariano p = " in proc.stdout
    table = proc.stdout.split("B - A\n", 1)[1].splitlines()
    assert [row.split()[0] for row in table[:4]] == [
        "model.rmse",
        "model.mae",
        "model.r2",
        "model.directional_accuracy",
    ]
    assert table[0].split()[:5] == ["model.rmse", *pct(rmse[0], 3).split(), *pct(rmse[1], 3).split()]
    assert "e-0" not in proc.stdout and table[0].endswith(" pp")
    page = parse_page(outputs / "compare" / f"{a.name}__{b.name}.html")
    text = " ".join(" ".join(page.text).split())
    assert better in text and text.index(better) < text.index("Parameters that differ")
    assert f"model.rmse {pct(rmse[0], 3)} {pct(rmse[1], 3)}" in text and "e-0" not in text


@pytest.mark.needs("chromium")
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
