"""The tries ledger: every configuration evaluated on a held-out window, so the gate can correct for the search.

Each rerun with new features, another model or other hyperparameters tests the same held-out days again; at
``p < 0.05`` one configuration in twenty passes by luck. ``outputs/tries/<TICKER>.jsonl`` holds one line per
distinct (configuration, held-out window): the configuration's fingerprint (the sha256 of the feature and
model parameters, :data:`CONFIG_TASKS`), its parameters, the window and the run that tried it first.

**A window family.** The daily schedule moves the held-out window by a day; that is the same test again, not a
new one. Two windows belong to the same family when their date ranges overlap by at least
:data:`FAMILY_OVERLAP` of their union (calendar days, both ends included). The count on a window is the number
of distinct configurations tried on any window of its family; the gate divides its p-value limits by it
(Bonferroni: valid whatever the dependence between the tries).

The file is data that may be hostile: each line is parsed as JSON and checked field by field, never executed. A
line that is not a try is not skipped silently: it counts as one more try (damage cannot lower the correction)
and is reported as unreadable.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from aapl_lib.io.iorw import atomic_write_text, json_digest
from aapl_lib.io.locks import PathLock
from aapl_lib.store import layout

# the parameters that define a configuration: features, model, hyperparameters, seed (not the ticker, the data
# or test_fraction: those define the window, which is recorded beside it)
CONFIG_TASKS = ("feature_engineering", "model_training")
NOT_CONFIG = frozenset({"ticker", "test_fraction"})
FAMILY_OVERLAP = 0.5
FAMILY_RULE = (
    f"same ticker, held-out windows overlapping by at least {FAMILY_OVERLAP:.0%} of their union (calendar days)"
)
_SHA = re.compile(r"[0-9a-f]{64}")
MAX_LINE_CHARS = 20_000  # a try is a few hundred characters; a longer line is damage, not a try


def config_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of ``params`` that define a configuration (see :data:`CONFIG_TASKS`)."""
    from aapl_lib.pipeline.tasks import get_task

    names = sorted({n for t in CONFIG_TASKS for n in get_task(t).params} - NOT_CONFIG)
    return {name: params.get(name) for name in names}


def config_fingerprint(params: dict[str, Any]) -> str:
    """The sha256 of the configuration's parameters (key order and YAML spelling do not matter)."""
    return json_digest(config_params(params))


def _day(text: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
    except ValueError:
        return None


def parse_window(window: Any) -> tuple[dt.date, dt.date] | None:
    """``{"first": "YYYY-MM-DD", "last": "YYYY-MM-DD"}`` as two dates, or None when it is not one."""
    if not isinstance(window, dict):
        return None
    first, last = _day(window.get("first")), _day(window.get("last"))
    return (first, last) if first and last and first <= last else None


def window_overlap(a: tuple[dt.date, dt.date], b: tuple[dt.date, dt.date]) -> float:
    """Days both windows hold over days either holds (intersection over union, both ends included)."""
    common = (min(a[1], b[1]) - max(a[0], b[0])).days + 1
    if common <= 0:
        return 0.0
    union = (max(a[1], b[1]) - min(a[0], b[0])).days + 1
    return common / union


def same_family(a: tuple[dt.date, dt.date], b: tuple[dt.date, dt.date]) -> bool:
    """Whether two held-out windows are the same test for counting tries (:data:`FAMILY_OVERLAP`)."""
    return window_overlap(a, b) >= FAMILY_OVERLAP


def parse_line(line: str) -> dict[str, Any] | None:
    """One try from one line, or None when the line is not one (checked field by field)."""
    if len(line) > MAX_LINE_CHARS:
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    config, window = entry.get("config"), parse_window(entry.get("window"))
    if not (isinstance(config, str) and _SHA.fullmatch(config) and window):
        return None
    run_id = entry.get("run_id")
    return {
        "config": config,
        "window": {"first": window[0].isoformat(), "last": window[1].isoformat()},
        "run_id": run_id if isinstance(run_id, str) else "",
        "recorded_at": entry.get("recorded_at") if isinstance(entry.get("recorded_at"), str) else "",
        "params": entry.get("params") if isinstance(entry.get("params"), dict) else {},
    }


def parse_text(text: str) -> tuple[list[dict[str, Any]], int]:
    """The tries in a ledger's text and the number of non-blank lines that are not tries."""
    entries, unreadable = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        entry = parse_line(line)
        if entry is None:
            unreadable += 1
        else:
            entries.append(entry)
    return entries, unreadable


def read_tries(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The tries recorded in ``path`` (none when it does not exist) and its unreadable line count."""
    path = Path(path)
    if not path.is_file():
        return [], 0
    return parse_text(path.read_text(encoding="utf-8", errors="replace"))


def on_window(entries: list[dict[str, Any]], unreadable: int, window: dict[str, str]) -> dict[str, Any]:
    """The tries on ``window``'s family: how many distinct configurations (plus unreadable lines), which."""
    this = parse_window(window)
    if this is None:
        raise ValueError(f"not a held-out window: {window!r}")
    configs = sorted({e["config"] for e in entries if same_family(this, parse_window(e["window"]))})
    return {
        "count": max(1, len(configs) + unreadable),
        "configurations": len(configs),
        "unreadable_lines": unreadable,
        "window": {"first": this[0].isoformat(), "last": this[1].isoformat()},
        "family": FAMILY_RULE,
        "correction": "Bonferroni",
    }


def tries_on_window(outputs_dir: Path, ticker: str, window: dict[str, str]) -> dict[str, Any]:
    """:func:`on_window` of ``ticker``'s tries ledger (what notebook 05 and the report read)."""
    entries, unreadable = read_tries(layout.tries_path(outputs_dir, ticker))
    return on_window(entries, unreadable, window)


def record_try(
    outputs_dir: Path,
    ticker: str,
    window: dict[str, str],
    params: dict[str, Any],
    *,
    run_id: str,
    at: str,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Record that ``params``' configuration was evaluated on ``window`` (once per configuration and window:
    a rerun adds nothing), under the ledger's lock, written whole and renamed into place. Returns
    :func:`on_window` after the write, with ``config`` and ``new`` (whether a line was added)."""
    if parse_window(window) is None:
        raise ValueError(f"not a held-out window: {window!r}")
    path = layout.tries_path(outputs_dir, ticker)
    config = config_fingerprint(params)
    line = {
        "ticker": ticker,
        "window": {"first": window["first"], "last": window["last"]},
        "config": config,
        "params": config_params(params),
        "run_id": run_id,
        "recorded_at": at,
    }
    with PathLock(layout.tries_lock(outputs_dir, ticker), f"the tries ledger {path}", timeout=timeout):
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        entries, unreadable = parse_text(text)
        new = not any(e["config"] == config and e["window"] == line["window"] for e in entries)
        if new:
            path.parent.mkdir(parents=True, exist_ok=True)
            body = text if not text or text.endswith("\n") else text + "\n"
            atomic_write_text(path, body + json.dumps(line, sort_keys=True, default=str) + "\n")
            entries.append(parse_line(json.dumps(line, default=str)))
    return {**on_window(entries, unreadable, window), "config": config, "new": new}


def as_before(entries: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """The tries recorded before run ``run_id`` (run ids sort by start time): what it found (``reproduce``)."""
    return [e for e in entries if e["run_id"] < run_id]


def corrected_alpha(alpha: float, tries: int) -> float:
    """Bonferroni: the p-value limit of one of ``tries`` tests so that all of them together are wrong with
    probability at most ``alpha``."""
    return alpha / max(1, int(tries))
