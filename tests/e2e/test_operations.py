"""The operations page (outputs/operations.html): the success rate against the 95 % target, each task's median
and slowest duration, reuse, data freshness per ticker and the runs awaiting approval — computed from real
manifests (the seeded run and a run stopped at the manual gate), and written by the runner and by ``browse``."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from aapl_lib.pipeline.tasks import TASKS
from aapl_lib.views.operations import summarize
from helpers import WINDOW, parse_page, run_runner

NAMES = [t.name for t in TASKS]
NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def outputs(seeded_project, tmp_path_factory) -> Path:
    """The session's seeded run of WINDOW (copied: every task executed) and the same under the manual policy:
    tasks 1-4 reused, model_evaluation executed again, stopped awaiting approval (exit 3)."""
    out = tmp_path_factory.mktemp("ops-outputs")
    seeded_project.copy_outputs(out)
    proc = run_runner(*WINDOW, "-p", "approval_policy", "manual", outputs=out)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    return out


def manifests(outputs: Path) -> tuple[dict, dict]:
    """(the seeded run's manifest, the awaiting run's)."""
    found = [json.loads(p.read_text()) for p in sorted((outputs / "runs").glob("*/manifest.json"))]
    by_status = {m["status"]: m for m in found}
    assert set(by_status) == {"success", "awaiting_approval"}
    return by_status["success"], by_status["awaiting_approval"]


def stamp(hours_ago: float) -> str:
    return (NOW - dt.timedelta(hours=hours_ago)).isoformat()


def variant(base: dict, run_id: str, status: str, started_h: float, ended_h: float | None, **change) -> dict:
    """A copy of a real manifest that started ``started_h`` hours before NOW and ended ``ended_h`` before it;
    ``states``/``seconds`` set task statuses/durations, ``ticker`` and ``last_date`` the data it covers."""
    m = copy.deepcopy(base)
    m.update(run_id=run_id, status=status, created_at=stamp(started_h))
    m["updated_at"] = stamp(ended_h if ended_h is not None else started_h)
    if ended_h is None:
        m.pop("ended_at", None)
    else:
        m["ended_at"] = stamp(ended_h)
    m["params"]["ticker"] = change.get("ticker", "AAPL")
    for name, state in change.get("states", {}).items():
        m["tasks"][name]["status"] = state
    for name, seconds in change.get("seconds", {}).items():
        m["tasks"][name]["duration_s"] = seconds
    if "last_date" in change:
        m["tasks"]["data_ingestion"]["scraps"]["last_date"] = change["last_date"]
    if "gate_since_h" in change:
        m["gate"]["since"] = stamp(change["gate_since_h"])
    return m


def each(base: float) -> dict[str, float]:
    """Task i takes (i + 1) * base seconds."""
    return {name: (i + 1) * base for i, name in enumerate(NAMES)}


def fleet(ok: dict, waiting: dict) -> list[dict]:
    reused4 = dict.fromkeys(NAMES[:4], "reused")
    pending_after_first = dict.fromkeys(NAMES[1:], "pending")
    return [
        variant(ok, "ok-1", "success", 120, 119, seconds=each(1.0)),
        variant(ok, "ok-2", "success", 48, 47, seconds=each(2.0), last_date="2026-06-26"),
        variant(  # tasks 1-4 reused, evaluation executed in 30 s, waiting since 20 h
            waiting,
            "waiting",
            "awaiting_approval",
            24,
            23,
            gate_since_h=20,
            seconds={"model_evaluation": 30.0},
            last_date="2026-06-29",
        ),
        variant(  # 1-3 reused, training failed after 99 s: neither its time nor the run counts as good
            ok,
            "failed",
            "failed",
            72,
            71,
            states={
                **dict.fromkeys(NAMES[:3], "reused"),
                "model_training": "failed",
                "model_evaluation": "pending",
                "reporting": "pending",
            },
            seconds={**dict.fromkeys(NAMES[:3], 0.0), "model_training": 99.0},
        ),
        variant(
            ok,
            "timed-out",
            "timed_out",
            96,
            95,
            states={**reused4, "model_evaluation": "timed_out", "reporting": "pending"},
            seconds={**dict.fromkeys(NAMES[:4], 0.0), "model_evaluation": 1800.0},
        ),
        variant(  # a killed runner's run as `status` reads it: ended at its manifest's last write
            ok,
            "interrupted",
            "interrupted",
            30,
            None,
            states={"data_ingestion": "interrupted", **dict.fromkeys(NAMES[1:], "pending")},
        ),
        variant(ok, "old-msft", "success", 960, 960, ticker="MSFT", seconds=each(5.0), last_date="2026-05-19"),
        variant(  # outside the 30 days
            ok, "old-failed", "failed", 900, 900, states={"data_ingestion": "failed", **pending_after_first}
        ),
        variant(  # still running: not ended, not counted, not fresh
            ok,
            "running",
            "running",
            0.2,
            None,
            states={"data_ingestion": "running", **dict.fromkeys(NAMES[1:], "pending")},
            last_date="2026-06-30",
        ),
    ]


def test_operations_numbers_from_real_manifests(outputs):
    ok, waiting = manifests(outputs)
    assert {waiting["tasks"][n]["status"] for n in NAMES[:4]} == {"reused"}  # the real run reused 1-4
    ops = summarize(fleet(ok, waiting), NOW)

    s = ops["success"]
    # ended in 30 days: ok-1, ok-2, waiting (at the gate: ended well), failed, timed-out, interrupted
    assert (s["ended"], s["ended_well"], s["succeeded"], s["at_gate"]) == (6, 3, 2, 1)
    assert (s["failed"], s["timed_out"], s["interrupted"], s["locked"], s["other"]) == (1, 1, 1, 0, 0)
    assert s["still_running"] == 1 and s["rate"] == pytest.approx(0.5) and s["meets_target"] is False

    rows = {r["task"]: r for r in ops["durations"]}
    assert [r["task"] for r in ops["durations"]] == NAMES
    for name in NAMES[:4] + NAMES[5:]:  # executed in ok-1, ok-2, old-msft only
        k = NAMES.index(name) + 1
        assert (rows[name]["executed"], rows[name]["median_s"], rows[name]["slowest_s"]) == (3, 2.0 * k, 5.0 * k)
        assert rows[name]["slowest_run"] == "old-msft"
    ev = rows["model_evaluation"]  # 5, 10, 25 and the waiting run's 30: the timed-out 1800 s is not counted
    assert (ev["executed"], ev["median_s"], ev["slowest_s"], ev["slowest_run"]) == (4, 17.5, 30.0, "waiting")

    reuse = {r["task"]: (r["executed"], r["reused"]) for r in ops["reuse"]}
    assert reuse == {
        "data_ingestion": (3, 3),
        "data_cleaning": (3, 3),
        "feature_engineering": (3, 3),
        "model_training": (3, 2),
        "model_evaluation": (4, 0),
        "reporting": (3, 0),
    }
    assert {r["task"]: r["share"] for r in ops["reuse"]}["model_training"] == pytest.approx(0.4)

    fresh = [
        (r["ticker"], r["run_id"], r["last_price_date"], r["price_age_days"], r["run_age_hours"])
        for r in ops["freshness"]
    ]
    assert fresh == [("AAPL", "ok-2", "2026-06-26", 4, 47.0), ("MSFT", "old-msft", "2026-05-19", 42, 960.0)]

    [wait] = ops["awaiting"]
    assert (wait["run_id"], wait["ticker"], wait["waiting_hours"]) == ("waiting", "AAPL", 20.0)
    assert wait["approve"].startswith("python runner.py approve waiting --by NAME")
    assert wait["reject"].startswith("python runner.py reject waiting --by NAME")


def test_the_target_is_met_at_95_percent_and_missed_below(outputs):
    ok, _ = manifests(outputs)
    good = [variant(ok, f"ok-{i}", "success", 10 + i, 9 + i) for i in range(19)]
    bad = variant(ok, "bad", "failed", 5, 4)
    assert summarize([*good, bad], NOW)["success"]["meets_target"] is True  # 19 / 20 = 95 %
    second = variant(ok, "bad-2", "interrupted", 3, 2)
    s = summarize([*good, bad, second], NOW)["success"]
    assert s["rate"] == pytest.approx(19 / 21) and s["meets_target"] is False
    assert summarize([], NOW)["success"]["rate"] is None


def test_a_run_refreshes_the_operations_page(outputs):
    _, waiting = manifests(outputs)  # the page as the awaiting run's own end left it, before any `browse`
    text = " ".join(parse_page(outputs / "operations.html").text)
    assert waiting["run_id"] in text and f"python runner.py approve {waiting['run_id']} --by NAME" in text


def test_browse_writes_the_operations_page_linked_from_the_index(outputs):
    (outputs / "operations.html").unlink()
    (outputs / "operations_durations.png").unlink()
    proc = run_runner("browse", outputs=outputs)
    assert proc.returncode == 0, proc.stderr
    page_path = outputs / "operations.html"
    assert f"operations page: {page_path}" in proc.stdout
    assert "operations.html" in parse_page(outputs / "index.html").hrefs

    page = parse_page(page_path)
    text = " ".join(page.text)
    for name in NAMES:
        assert name in text
    # the seeded run succeeded and the manual one stopped at the gate: 2 of 2 ended well
    assert "Success rate: 100.0 %" in text and "meets the target" in text
    ok, waiting = manifests(outputs)
    assert f"runs/{waiting['run_id']}/index.html" in page.hrefs
    for href in page.hrefs + page.imgs:
        assert (outputs / href).is_file(), href
    png = outputs / page.imgs[0]
    assert png.name == "operations_durations.png" and png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # the data_ingestion row of the reuse table: executed once (seeded run), reused once (manual run)
    html = page_path.read_text()
    reuse = html[html.index('id="reuse-table"') :]
    assert '<td>data_ingestion</td><td class="num">1</td><td class="num">1</td>' in reuse.replace("\n", "")
    seconds = ok["tasks"]["data_ingestion"]["duration_s"]  # executed once: its median and its slowest
    assert text.count(f"{seconds:.2f}") >= 2
    assert ok["tasks"]["data_ingestion"]["scraps"]["last_date"] in text  # freshness: the run's last price date


def test_text_from_a_manifest_stays_text_on_the_operations_page(outputs):
    """A hand-edited manifest's ticker is shown as text, never as markup (Jinja autoescape)."""
    _, waiting = manifests(outputs)
    path = outputs / "runs" / waiting["run_id"] / "manifest.json"
    hostile = '<img src=x onerror="alert(1)">'
    waiting["params"]["ticker"] = hostile
    path.write_text(json.dumps(waiting), encoding="utf-8")
    proc = run_runner("browse", outputs=outputs)
    assert proc.returncode == 0, proc.stderr
    page = outputs / "operations.html"
    html = page.read_text()
    assert hostile not in html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert hostile in " ".join(parse_page(page).text) and parse_page(page).imgs == ["operations_durations.png"]
