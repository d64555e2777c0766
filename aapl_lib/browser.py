"""The static run browser: ``outputs/index.html`` (every run, newest first) and a page per run
(``runs/<id>/index.html``), plus comparison pages (``compare/<A>__<B>.html``). Plain HTML and CSS from
Jinja2 templates, relative links only: it reads the same from ``file://`` and from ``python -m http.server``.
Regenerated after every run and every approval decision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from . import manifest as mf
from .iorw import atomic_write_text, read_json
from .tasks import TASKS

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem auto;max-width:1200px;color:#111827;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #e5e7eb;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}th,td{border:1px solid #e5e7eb;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f9fafb}td.num{text-align:right;font-variant-numeric:tabular-nums}code,.mono{font-family:ui-monospace,Menlo,monospace;font-size:.8rem}
.st{font-size:.75rem;font-weight:600;text-align:center;white-space:nowrap}
.success{background:#dcfce7;color:#166534}.reused,.copied,.present{background:#ccfbf1;color:#115e59}
.failed{background:#fee2e2;color:#991b1b}.interrupted{background:#fce7f3;color:#9d174d}.timed_out{background:#ffedd5;color:#9a3412}
.running,.pending{background:#dbeafe;color:#1e40af}.not_selected{background:#fff;color:#9ca3af}
.awaiting_approval{background:#fef3c7;color:#92400e}.approved,.promoted{background:#dcfce7;color:#166534}
.rejected,.kept,.unchanged{background:#f3f4f6;color:#374151}.implausible{background:#991b1b;color:#fff}.locked{background:#fae8ff;color:#86198f}
img{max-width:100%;border:1px solid #e5e7eb;margin:.3rem 0}.muted{color:#6b7280;font-size:.85rem}
nav a{margin-right:1rem}.report{border-left:3px solid #e5e7eb;padding-left:1rem}
"""

BASE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{{ css }}</style></head><body>
{% block body %}{% endblock %}</body></html>"""

INDEX = """{% extends "base" %}{% block body %}
<h1>Pipeline runs</h1>
<p class="muted">{{ runs|length }} run(s) in {{ outputs }}, newest first. Regenerated after every run.</p>
<table id="runs"><thead><tr><th>run</th><th>ticker</th><th>window</th><th>source</th><th>started (UTC)</th>
<th>seconds</th><th>status</th>{% for t in tasks %}<th class="st">{{ loop.index }}</th>{% endfor %}<th>gate</th>
<th>model RMSE</th><th>zero-return RMSE</th><th>direction right</th><th>compare</th></tr></thead><tbody>
{% for r in runs %}<tr>
<td class="mono"><a href="runs/{{ r.run_id }}/index.html">{{ r.run_id }}</a></td><td>{{ r.ticker }}</td>
<td>{{ r.window }}</td><td>{{ r.source }}</td><td>{{ r.started }}</td><td class="num">{{ r.duration }}</td>
<td class="st {{ r.status }}"{% if r.resume %} title="continue with: {{ r.resume }}"{% endif %}>{{ r.status }}{% if r.implausible %} <span class="st implausible" title="held-out results too good to be true for daily returns: see the run's report">implausible</span>{% endif %}</td>
{% for t in r.tasks %}<td class="st {{ t.status }}" title="{{ t.name }}: {{ t.status }}">{{ t.short }}</td>{% endfor %}
<td class="st {{ r.gate }}">{{ r.gate or "" }}</td><td class="num">{{ r.model_rmse }}</td>
<td class="num">{{ r.zero_rmse }}</td><td class="num">{{ r.direction }}</td>
<td>{% if r.compare %}<a href="{{ r.compare }}">vs previous</a>{% endif %}</td></tr>
{% endfor %}</tbody></table>
<p class="muted">Task columns: {% for t in tasks %}{{ loop.index }} {{ t }}{% if not loop.last %} · {% endif %}{% endfor %}.</p>
{% if batches %}<h2>Batches</h2><table id="batches"><tr><th>batch</th><th>status</th><th>tickers</th><th>executor</th><th>seconds</th></tr>
{% for b in batches %}<tr><td class="mono"><a href="batches/{{ b.batch_id }}/index.html">{{ b.batch_id }}</a></td>
<td class="st {{ b.status }}"{% if b.resume %} title="continue with: {{ b.resume }}"{% endif %}>{{ b.status }}{% if b.resume %}<br><code>{{ b.resume }}</code>{% endif %}</td><td>{{ b.tickers|join(", ") }}</td><td>{{ b.executor_description or b.executor }}</td>
<td class="num">{{ "%.1f"|format(b.duration_s or 0) }}</td></tr>{% endfor %}</table>{% endif %}
{% endblock %}"""

RUN = """{% extends "base" %}{% block body %}
<nav><a href="../../index.html">all runs</a><a href="manifest.json">manifest.json</a>
{% if pdf %}<a href="reports/summary.pdf">summary.pdf</a>{% endif %}{% if compare %}<a href="{{ compare }}">compare with previous</a>{% endif %}</nav>
<h1>Run {{ m.run_id }}</h1>
{% if implausible %}<p class="st implausible" id="implausible">IMPLAUSIBLE — too good to be true for daily returns: {{ implausible|join("; ") }}. A feature almost certainly sees the future; the gate never promotes such a model automatically.</p>{% endif %}
<table><tr><th>status</th><td class="st {{ m.status }}">{{ m.status }}</td></tr>
{% if m.resume %}<tr><th>continue with</th><td><code id="resume">{{ m.resume }}</code></td></tr>{% endif %}
<tr><th>ticker</th><td>{{ m.params.ticker }}</td></tr><tr><th>source</th><td>{{ m.params.source }}</td></tr>
<tr><th>window</th><td>{{ m.params.start }} .. {{ m.params.end }}</td></tr>
<tr><th>started</th><td>{{ m.created_at }}</td></tr><tr><th>duration</th><td>{{ m.duration_s }} s</td></tr>
<tr><th>git commit</th><td class="mono">{{ m.environment.git_commit }}</td></tr>
<tr><th>gate</th><td>{{ gate or "not reached" }}</td></tr></table>
<h2>Tasks</h2>
<table id="tasks"><thead><tr><th>task</th><th>status</th><th>seconds</th><th>how</th><th>notebook</th><th>log</th><th>error</th></tr></thead><tbody>
{% for t in tasks %}<tr><td>{{ t.name }}</td><td class="st {{ t.status }}">{{ t.status }}</td><td class="num">{{ t.duration }}</td>
<td>{{ t.how }}</td><td>{% if t.html %}<a href="{{ t.html }}">full</a> · <a href="{{ t.report_html }}">report mode</a>{% endif %}</td>
<td>{% if t.log %}<a href="{{ t.log }}">log</a>{% endif %}</td><td class="mono">{{ t.error }}</td></tr>{% endfor %}
</tbody></table>
{% if figures %}<h2>Figures</h2>{% for f in figures %}<figure><img src="{{ f }}" alt="{{ f }}"><figcaption class="muted">{{ f }}</figcaption></figure>{% endfor %}{% endif %}
{% if report %}<h2>Report</h2><div class="report">{{ report|safe }}</div>{% endif %}
<h2>Parameters</h2><table>{% for k, v in params %}<tr><th>{{ k }}</th><td class="mono">{{ v }}</td></tr>{% endfor %}</table>
<h2>Artifacts</h2><table id="artifacts"><thead><tr><th>file</th><th>bytes</th><th>sha256</th></tr></thead><tbody>
{% for a in artifacts %}<tr><td><a href="{{ a.path }}">{{ a.path }}</a></td><td class="num">{{ a.bytes }}</td><td class="mono">{{ a.sha256 }}</td></tr>{% endfor %}
</tbody></table>
{% endblock %}"""

COMPARE = """{% extends "base" %}{% block body %}
<nav><a href="../index.html">all runs</a><a href="../runs/{{ d.a }}/index.html">A</a><a href="../runs/{{ d.b }}/index.html">B</a></nav>
<h1>Compare runs</h1><p>A = <span class="mono">{{ d.a }}</span> ({{ d.status.a }}, gate {{ d.gate.a or "-" }})<br>
B = <span class="mono">{{ d.b }}</span> ({{ d.status.b }}, gate {{ d.gate.b or "-" }})</p>
<h2>Parameters that differ</h2><table id="params"><tr><th>parameter</th><th>A</th><th>B</th></tr>
{% for p in d.params %}<tr><td>{{ p.name }}</td><td class="mono">{{ p.a }}</td><td class="mono">{{ p.b }}</td></tr>{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}</table>
<h2>Artifacts</h2><table id="artifacts"><tr><th>artifact</th><th>state</th><th>A sha256</th><th>B sha256</th></tr>
{% for c in d.artifacts %}<tr><td>{{ c.artifact }}</td><td class="st {{ 'success' if c.state == 'same' else 'awaiting_approval' }}">{{ c.state }}</td>
<td class="mono">{{ c.a }}</td><td class="mono">{{ c.b }}</td></tr>{% endfor %}</table>
<h2>Metrics</h2><table id="metrics"><tr><th>metric</th><th>A</th><th>B</th><th>B − A</th></tr>
{% for x in d.metrics %}<tr><td>{{ x.metric }}</td><td class="num">{{ fmt(x.a) }}</td><td class="num">{{ fmt(x.b) }}</td><td class="num">{{ fmt(x.difference) }}</td></tr>{% endfor %}</table>
{% endblock %}"""

SHORT = {"success": "ok", "reused": "reused", "copied": "copied", "present": "present", "failed": "FAIL",
         "timed_out": "TIME", "running": "run", "pending": "…", "not_selected": "–", "interrupted": "INT"}


def _env() -> Environment:
    from jinja2 import DictLoader

    env = Environment(loader=DictLoader({"base": BASE, "index": INDEX, "run": RUN, "compare": COMPARE}),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.globals.update(css=CSS, fmt=lambda x: "-" if x is None else (f"{x:.6g}" if isinstance(x, float) else x))
    return env


def _fmt_pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.3f} %"


def _gate(m: dict[str, Any]) -> str | None:
    g = m.get("gate") or {}
    return g.get("decision") or g.get("status")


def _runs(outputs_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    from .errors import PipelineError

    runs_dir = outputs_dir / "runs"
    found = []
    for run_dir in runs_dir.iterdir() if runs_dir.is_dir() else []:
        try:
            found.append((run_dir, mf.as_read(run_dir, mf.load(run_dir))))
        except (OSError, ValueError, PipelineError):  # a damaged record: `list` names it; the page skips it
            continue
    found.sort(key=lambda x: (x[1].get("created_at") or "", x[0].name), reverse=True)
    return found


def _previous_same_ticker(runs: list[tuple[Path, dict]], i: int) -> str | None:
    ticker = runs[i][1]["params"]["ticker"]
    for run_dir, m in runs[i + 1:]:
        if m["params"]["ticker"] == ticker:
            return run_dir.name
    return None


def build_index(outputs_dir: Path) -> Path:
    """Write ``outputs/index.html`` listing every run."""
    runs = _runs(outputs_dir)
    rows = []
    for i, (run_dir, m) in enumerate(runs):
        scraps = (m["tasks"].get("model_evaluation") or {}).get("scraps") or {}
        prev = _previous_same_ticker(runs, i)
        rows.append({
            "run_id": m["run_id"], "ticker": m["params"]["ticker"], "source": m["params"]["source"],
            "window": f"{m['params']['start']}..{m['params']['end']}",
            "started": (m.get("created_at") or "")[:19].replace("T", " "),
            "duration": "" if m.get("duration_s") is None else f"{m['duration_s']:.1f}",
            "status": m.get("status", "?"), "gate": _gate(m), "resume": m.get("resume"),
            "tasks": [{"name": t.name, "status": m["tasks"].get(t.name, {}).get("status", "?"),
                       "short": SHORT.get(m["tasks"].get(t.name, {}).get("status", ""), "?")} for t in TASKS],
            "model_rmse": _fmt_pct(scraps.get("model_rmse")), "zero_rmse": _fmt_pct(scraps.get("zero_return_rmse")),
            "direction": _fmt_pct(scraps.get("model_directional_accuracy")),
            "implausible": bool(scraps.get("implausible")),
            "compare": f"compare/{prev}__{m['run_id']}.html" if prev else None,
        })
    from .batch import list_batches

    batches = [b for b in list_batches(outputs_dir) if (outputs_dir / "batches" / b["batch_id"] / "index.html").is_file()]
    page = _env().get_template("index").render(title="Pipeline runs", runs=rows, outputs=str(outputs_dir),
                                               tasks=[t.name for t in TASKS], batches=batches)
    return atomic_write_text(outputs_dir / "index.html", page)


def build_run_page(run_dir: Path) -> Path:
    """Write ``runs/<id>/index.html`` for one run."""
    import mistune

    m = mf.as_read(run_dir, mf.load(run_dir))
    tasks = []
    for t in TASKS:
        rec = m["tasks"].get(t.name, {})
        html_rel = rec.get("html")
        how = {"reused": f"reused from {rec.get('reused_from')}", "copied": f"copied from {rec.get('from_run')}"}.get(
            rec.get("status", ""), rec.get("run_reason", ""))
        log = f"logs/{t.name}.log"
        tasks.append({"name": t.name, "status": rec.get("status", "?"),
                      "duration": "" if rec.get("duration_s") is None else f"{rec['duration_s']:.1f}",
                      "how": how, "html": html_rel if html_rel and (run_dir / html_rel).is_file() else None,
                      "report_html": html_rel.replace(".html", ".report.html") if html_rel else None,
                      "log": log if (run_dir / log).is_file() else None, "error": rec.get("error", "")})
    figures = sorted(str(p.relative_to(run_dir)) for p in (run_dir / "figures").glob("*.png"))
    report_md = run_dir / "reports" / "analysis.md"
    report = None
    if report_md.is_file():
        text = report_md.read_text(encoding="utf-8").replace("](../figures/", "](figures/")
        report = mistune.create_markdown(escape=True, plugins=["table"])(text)
    artifacts = []
    for t in TASKS:
        for rel, info in ((m["tasks"].get(t.name) or {}).get("artifacts") or {}).items():
            artifacts.append({"path": rel, "bytes": info.get("bytes", ""), "sha256": info["sha256"]})
    decision = run_dir / "reports" / "decision.json"
    if decision.is_file():
        artifacts.append({"path": "reports/decision.json", "bytes": decision.stat().st_size,
                          "sha256": mf.sha256_file(decision)})
    runs = _runs(run_dir.parent.parent)
    names = [r[0].name for r in runs]
    prev = _previous_same_ticker(runs, names.index(run_dir.name)) if run_dir.name in names else None
    g = m.get("gate") or {}
    gate_text = None
    if g:
        gate_text = g.get("decision") or g.get("status")
        if g.get("by"):
            gate_text += f" by {g['by']} at {g.get('at')}" + (f" — {g['note']}" if g.get("note") else "")
    evaluation = run_dir / "reports" / "evaluation.json"
    plausible = (read_json(evaluation).get("plausibility") or {}) if evaluation.is_file() else {}
    page = _env().get_template("run").render(
        title=f"Run {m['run_id']}", m=m, tasks=tasks, figures=figures, report=report, gate=gate_text,
        implausible=plausible.get("reasons") if plausible.get("implausible") else None,
        params=sorted(m["params"].items()), artifacts=artifacts, pdf=(run_dir / "reports/summary.pdf").is_file(),
        compare=f"../../compare/{prev}__{m['run_id']}.html" if prev else None)
    if prev:
        build_compare_page(run_dir.parent / prev, run_dir)
    return atomic_write_text(run_dir / "index.html", page)


def build_compare_page(run_a: Path, run_b: Path) -> Path:
    """Write ``outputs/compare/<A>__<B>.html``."""
    from .compare import compare_runs

    diff = compare_runs(run_a, run_b)
    page = _env().get_template("compare").render(title=f"Compare {diff['a']} and {diff['b']}", d=diff)
    return atomic_write_text(run_a.parent.parent / "compare" / f"{diff['a']}__{diff['b']}.html", page)


def refresh(outputs_dir: Path, run_dir: Path | None = None) -> Path:
    """Rebuild the run's page (if given) and the index; returns the index path."""
    if run_dir is not None and (run_dir / "manifest.json").is_file() and run_dir.parent == outputs_dir / "runs":
        build_run_page(run_dir)
    return build_index(outputs_dir)

