"""``analysis.md``: the run's report as Markdown for reading in a repository, and the escaping that makes it
inert — untrusted text (an approver's name or note, values from a CSV) never becomes markup where the report
is rendered as HTML."""

from __future__ import annotations

import re

from aapl_lib.formatting import METRICS_NOTE, backtest_rows, metrics_rows
from aapl_lib.narrative import (
    figures,
    forecast_sentences,
    leakage_lines,
    run_facts,
    track_record_summary,
    tries_sentence,
)
from aapl_lib.pipeline.tasks import TRACK_PLOT


def _md_table(rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])] + [
        "| " + " | ".join(r) + " |" for r in rows[1:]
    ]


def plausible_sentence(plausible: dict) -> str:
    """What a plausible run's held-out scores were judged against, in one sentence."""
    limit, model, chance = plausible["thresholds"], plausible["model"], plausible["chance"]
    da = model.get("directional_accuracy")
    return (
        f"held-out R² {model['r2']:.3f}"
        + ("" if da is None else f" and directional accuracy {100 * da:.1f} %")
        + f" are within what this series allows (R² ≤ {limit['r2']:.3f}, direction ≤ "
        f"{100 * limit['directional_accuracy']:.1f} %: its {plausible['series_benchmark']['name']} plus the "
        f"{100 * chance['quantile']:g}th percentile of {chance['draws']} block-shuffled draws, seed {chance['seed']})."
    )


def analysis_markdown(
    run_id: str,
    provenance: dict,
    quality: dict,
    model_meta: dict,
    evaluation: dict,
    forecast: dict,
    leakage: dict | None = None,
    walk_forward: dict | None = None,
    proposal: dict | None = None,
    decision: dict | None = None,
    track_record: dict | None = None,
) -> str:
    """The report as Markdown (figure links are relative to the ``reports/`` folder)."""
    lines = [f"# {provenance['ticker']} next-day return: analysis of run {run_id}", ""]
    lines += _facts(run_id, provenance, quality, model_meta, evaluation)
    lines += _verdict(model_meta, evaluation)
    lines += _walk_forward(walk_forward) if walk_forward else []
    lines += _gate(proposal, decision) if proposal is not None else []
    lines += _backtest_and_figures(evaluation["backtest"])
    lines += _quality(quality)
    if leakage is not None:
        guard = leakage_lines(leakage, model_meta)
        lines += ["", "## Leakage guard", "", f"**{guard[0]}**", ""] + [f"- {g}" for g in guard[1:]]
    lines += _forecast(forecast, decision, proposal)
    lines += _track_record(track_record)
    return "\n".join(lines)


def _facts(run_id: str, provenance: dict, quality: dict, model_meta: dict, evaluation: dict) -> list[str]:
    """The run's key facts, then the plausibility warning (or sentence)."""
    lines = ["## Run facts", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in run_facts(run_id, provenance, model_meta, quality)]
    plausible = evaluation.get("plausibility") or {}
    if plausible.get("implausible"):
        lines += [
            "",
            "> **IMPLAUSIBLE — too good to be true for this series:** "
            + "; ".join(plausible["reasons"])
            + ". This almost always means a feature uses information from after the day it describes. "
            "The gate never promotes such a model automatically.",
        ]
    elif plausible.get("thresholds"):
        lines += ["", "Plausibility: " + plausible_sentence(plausible)]
    return lines


def _verdict(model_meta: dict, evaluation: dict) -> list[str]:
    """Does the model beat doing nothing: the verdict, the held-out window, the tries, the metrics table."""
    lines = ["", "## Does the model beat doing nothing?", "", evaluation["verdict"], ""]
    lines += [
        f"Held-out period {evaluation['test_window']['first']} .. {evaluation['test_window']['last']}; "
        f"challenger: {evaluation.get('challenger', model_meta['estimator'])}; champion: "
        + (
            "none yet"
            if not evaluation.get("champion")
            else f"{evaluation['champion']['estimator']} from run {evaluation['champion']['run_id']}"
        )
        + ".",
        "",
        tries_sentence(evaluation.get("tries")),
        "",
    ]
    lines += _md_table(metrics_rows(evaluation["metrics"]))
    return lines + [
        "",
        "Baselines: " + "; ".join(f"`{k}` {v}" for k, v in evaluation["baselines"].items()) + ". " + METRICS_NOTE,
        "",
    ]


def _walk_forward(walk_forward: dict) -> list[str]:
    lines = [
        "## Walk-forward comparison (training period)",
        "",
        f"{len(walk_forward['folds'])} expanding-window folds, gap {walk_forward['gap_rows']} day; the "
        f"challenger is the candidate with the lowest pooled RMSE: **{walk_forward['challenger']}**.",
        "",
    ]
    return lines + _md_table(metrics_rows(walk_forward["pooled"])) + [""]


def _gate(proposal: dict, decision: dict | None) -> list[str]:
    """The approval gate's verdict (an approver's name and note as literal text) and its checks."""
    from aapl_lib.promotion.gate import checks_rows, describe

    shown = decision and {**decision, **{k: _md_literal(decision.get(k) or "") for k in ("by", "note")}}
    lines = ["## Approval gate", "", f"**{describe(shown, proposal)}**", ""]
    return lines + _md_table(checks_rows(proposal)) + [""]


def _backtest_and_figures(bt: dict) -> list[str]:
    lines = [
        "## Trade-on-sign backtest (held-out period)",
        "",
        f"Transaction cost {bt['transaction_cost_bps']:g} bps per unit of position change. Caveat: {bt['caveat']}.",
        "",
    ]
    lines += _md_table(backtest_rows(bt)) + [""]
    lines += ["## Figures", ""]
    return lines + [f"![{title}](../{path})" for path, title in figures(bt["transaction_cost_bps"])]


def _quality(quality: dict) -> list[str]:
    """What cleaning found, and each threshold check."""
    from aapl_lib.data.quality_report import quality_table

    lines = ["", "## Data quality", ""]
    table = quality_table(quality)
    lines += ["| finding | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in table["value"].items()]
    if quality.get("checks"):
        lines += ["", "| threshold check | value | limit | status |", "|---|---|---|---|"]
        lines += [
            f"| {c['check']} | {c['value']:g}{c['unit']} | {c['limit']:g}{c['unit']} | {c['status']} |"
            for c in quality["checks"]
        ]
    return lines


def _forecast(forecast: dict, decision: dict | None, proposal: dict | None) -> list[str]:
    text = forecast_sentences(forecast, decision, proposal)
    lines = ["", "## Forecast", "", text[0], ""] + (
        [f"**{text[1].split('. ', 1)[0]}.** {text[1].split('. ', 1)[1]}", ""] if len(text) > 1 else []
    )
    return lines + [line for paragraph in text[2:] for line in (paragraph, "")]  # which model made it


def _track_record(track_record: dict | None) -> list[str]:
    sentences, table = track_record_summary(track_record)
    lines = ["## Live track record", ""] + [" ".join(sentences), ""]
    if table:
        lines += _md_table(table) + [
            "",
            f"![Live forecasts: cumulative absolute error](../{TRACK_PLOT})",
            "",
        ]
    return lines


def _md_literal(text: str) -> str:
    """A person's free text (an approver's name or note) as literal Markdown: one line, with the characters
    that make emphasis, code, tables or headings escaped."""
    line = " ".join(str(text).split())
    return "".join("\\" + ch if ch in "\\`*_{}()#+-.!|~>" else ch for ch in line)


# Only a ``<`` that starts a tag, a comment or an autolink (a letter, ``/``, ``!`` or ``?`` next) and only an
# ``&`` that starts a character reference (``&name;``, ``&#60;``, ``&#x3c;``) can become markup in CommonMark:
# those are escaped, so ``p < 0.05``, ``R² <= 0.1`` and ``S&P`` stay as written and are escaped once, by the
# renderer.
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY_OPEN = re.compile(r"&(?=[A-Za-z][A-Za-z0-9]{0,31};|#[0-9]{1,7};|#[xX][0-9A-Fa-f]{1,6};)")


def as_plain_text(markdown: str) -> str:
    """The report with everything that could become markup in a renderer turned into text: an ``&`` or ``<``
    that could start a character reference or an HTML element as an entity, ``[`` and ``]`` escaped except on
    the report's own figure lines (no link can be formed). Untrusted strings — an approver's name or note,
    values from a CSV — reach the report, and the report is rendered as HTML in notebook 06, its HTML twins and
    the run browser."""
    out = []
    for line in markdown.splitlines():
        line = _TAG_OPEN.sub("&lt;", _ENTITY_OPEN.sub("&amp;", line))
        if not (line.startswith("![") and line.endswith(".png)") and "](../figures/" in line):
            line = line.replace("[", "\\[").replace("]", "\\]")
        out.append(line)
    return "\n".join(out)


def without_images(markdown: str) -> str:
    """The Markdown without its image lines (for showing it inside a notebook, which shows figures itself)."""
    return "\n".join(line for line in markdown.splitlines() if not line.startswith("!["))
