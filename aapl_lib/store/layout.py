"""The layout of an outputs folder: the one module that spells its paths.

::

    outputs/
      runs/<run_id>/        one folder per run: manifest.json, data/, model/, reports/, notebooks/, html/, logs/
      batches/<batch_id>/   one folder per batch: manifest.json, summary.md, summary.png, index.html
      intents/<run_id>.json a run's intent, from its first instant until its run folder has a manifest
      replays/<replay_id>.json   a replay's days, options and each day's outcome (plain resume continues it)
      cache/index.json      the reuse cache (aapl_lib.store.reuse_cache); imports.json, parsed imports
      models/<TICKER>/      the champion registry (aapl_lib.promotion.registry)
      ledger/<TICKER>.csv   every forecast made and, once its day has closed, its score (aapl_lib.tracking)
      track/<TICKER>.html   the run browser's track-record page of a ticker (and its plot)
      tries/<TICKER>.jsonl  every configuration evaluated on a held-out window (aapl_lib.promotion.tries)
      logs/                 pipeline_summary.log (and from deploy/: cron.log, health.txt, alerts.log)
      latest -> runs/<id>   the run started last (``LATEST``, a text file naming it, where links fail)
      index.html, compare/  the run browser (aapl_lib.views.browser)
      operations.html       its operations page: success rate, task durations, reuse, freshness, approvals
      operations_durations.png   the page's plot of task durations over time
      interactive/          the run folder of notebooks run by hand in Jupyter
      reproductions/<run_id>-<stamp>/   ``reproduce``'s scratch outputs folders (each a whole outputs root)

Standard library only: the runner's no-op path reads it without importing pandas.
"""

from __future__ import annotations

import os
from pathlib import Path

from aapl_lib.io.project import outputs_root

RUNS, BATCHES, CACHE, MODELS, LOGS = "runs", "batches", "cache", "models", "logs"
INTENTS, REPLAYS = "intents", "replays"
LEDGER, TRACK, TRIES = "ledger", "track", "tries"
MANIFEST = "manifest.json"
SUMMARY_LOG = "pipeline_summary.log"
NOTEBOOKS, HTML = "notebooks", "html"  # a run folder's executed notebooks and their pages (the runner's files)
INTERACTIVE = "interactive"  # the run folder of notebooks run by hand in Jupyter
REPRODUCTIONS = "reproductions"  # reproduce's scratch outputs folders


def interactive_dir() -> Path:
    """The run folder notebooks use when run by hand with their defaults."""
    return outputs_root() / INTERACTIVE


def runs_dir(outputs_dir: Path) -> Path:
    """``outputs/runs``."""
    return Path(outputs_dir) / RUNS


def run_dir(outputs_dir: Path, run_id: str) -> Path:
    """``outputs/runs/<run_id>``."""
    return runs_dir(outputs_dir) / run_id


def is_run_dir(outputs_dir: Path, path: Path) -> bool:
    """Whether ``path`` is a folder of ``outputs/runs`` (not an analyst's ``--run-dir`` elsewhere)."""
    return Path(path).parent == runs_dir(outputs_dir)


def outputs_of(run_dir: Path) -> Path | None:
    """The outputs folder whose ``runs/`` holds ``run_dir``; None for a folder elsewhere (an analyst's
    ``--run-dir``)."""
    parent = Path(run_dir).resolve().parent
    return parent.parent if parent.name == RUNS else None


def all_run_dirs(outputs_dir: Path) -> list[Path]:
    """Every folder in ``outputs/runs``, oldest first (run ids sort by their start time), manifest or not."""
    folder = runs_dir(outputs_dir)
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def run_folders(outputs_dir: Path) -> list[Path]:
    """Every run folder with a manifest, newest first."""
    return [p for p in reversed(all_run_dirs(outputs_dir)) if (p / MANIFEST).is_file()]


def operations_page(outputs_dir: Path) -> Path:
    """``outputs/operations.html``: the run browser's operations page."""
    return Path(outputs_dir) / "operations.html"


def operations_plot(outputs_dir: Path) -> Path:
    """``outputs/operations_durations.png``: the operations page's task durations over time."""
    return Path(outputs_dir) / "operations_durations.png"


def task_log_rel(name: str) -> str:
    """``logs/<name>.log``, relative to a run folder: one task's log (``kernel_stderr`` for the kernels')."""
    return f"{LOGS}/{name}.log"


def task_log(run: Path, name: str) -> Path:
    """``runs/<id>/logs/<name>.log``: one task's log (``kernel_stderr`` for the kernels' own output)."""
    return Path(run) / task_log_rel(name)


def executed_notebook_rel(notebook: str) -> str:
    """``notebooks/<notebook>``, relative to a run folder: a task's executed notebook."""
    return f"{NOTEBOOKS}/{notebook}"


def executed_notebook(run: Path, notebook: str) -> Path:
    """``runs/<id>/notebooks/<notebook>``: a task's executed notebook."""
    return Path(run) / executed_notebook_rel(notebook)


def html_dir(run: Path) -> Path:
    """``runs/<id>/html``: the executed notebooks' pages."""
    return Path(run) / HTML


def html_rel(page: Path | str) -> str:
    """``html/<page name>``, relative to a run folder: how the manifest names a page of ``html_dir``."""
    return f"{HTML}/{Path(page).name}"


def batches_dir(outputs_dir: Path) -> Path:
    """``outputs/batches``."""
    return Path(outputs_dir) / BATCHES


def batch_dir(outputs_dir: Path, batch_id: str) -> Path:
    """``outputs/batches/<batch_id>``."""
    return batches_dir(outputs_dir) / batch_id


def is_batch(outputs_dir: Path, batch_id: str) -> bool:
    """Whether ``batch_id`` names a batch (a folder with a manifest) rather than a run."""
    return "/" not in batch_id and (batch_dir(outputs_dir, batch_id) / MANIFEST).is_file()


def batch_manifests(outputs_dir: Path) -> list[Path]:
    """Every batch manifest, newest first."""
    return sorted(batches_dir(outputs_dir).glob(f"*/{MANIFEST}"), reverse=True)


def intent_path(outputs_dir: Path, run_id: str) -> Path:
    """``outputs/intents/<run_id>.json``: what a run was asked to do, written before anything slow, until its
    run folder has a manifest (a kill in between leaves it for plain ``resume``)."""
    return Path(outputs_dir) / INTENTS / f"{run_id}.json"


def intent_lock(outputs_dir: Path, run_id: str) -> Path:
    """``outputs/intents/<run_id>.lock``: held by the process that wrote (or took over) that intent."""
    return Path(outputs_dir) / INTENTS / f"{run_id}.lock"


def intent_paths(outputs_dir: Path) -> list[Path]:
    """Every intent record, newest first (run ids sort by their start time)."""
    return _records(Path(outputs_dir) / INTENTS)


def replay_record(outputs_dir: Path, replay_id: str) -> Path:
    """``outputs/replays/<replay_id>.json``: one replay's days, options and each day's outcome."""
    return Path(outputs_dir) / REPLAYS / f"{replay_id}.json"


def is_replay(outputs_dir: Path, replay_id: str) -> bool:
    """Whether ``replay_id`` names a replay (it has a record) rather than a run or a batch."""
    return "/" not in replay_id and replay_record(outputs_dir, replay_id).is_file()


def replay_lock(outputs_dir: Path, replay_id: str) -> Path:
    """``outputs/replays/<replay_id>.lock``: held by the process working through that replay."""
    return Path(outputs_dir) / REPLAYS / f"{replay_id}.lock"


def replay_records(outputs_dir: Path) -> list[Path]:
    """Every replay record, newest first."""
    return _records(Path(outputs_dir) / REPLAYS)


def _records(folder: Path) -> list[Path]:
    """The ``<id>.json`` records of ``folder``, newest first: not the owner files of their locks."""
    return sorted((p for p in folder.glob("*.json") if not p.name.endswith(".owner.json")), reverse=True)


def imports_cache(outputs_dir: Path) -> Path:
    """``outputs/cache/imports.json``: what each aapl_lib module imports, by content (fingerprints)."""
    return cache_dir(outputs_dir) / "imports.json"


def environment_cache(outputs_dir: Path) -> Path:
    """``outputs/cache/environment.json``: the key packages' versions, by the state of the package folders."""
    return cache_dir(outputs_dir) / "environment.json"


def cache_dir(outputs_dir: Path) -> Path:
    """``outputs/cache``."""
    return Path(outputs_dir) / CACHE


def registry_dir(outputs_dir: Path, ticker: str) -> Path:
    """``outputs/models/<TICKER>``: the champion registry of one ticker."""
    return Path(outputs_dir) / MODELS / ticker


def ledger_dir(outputs_dir: Path) -> Path:
    """``outputs/ledger``: one forecast ledger per ticker."""
    return Path(outputs_dir) / LEDGER


def ledger_path(outputs_dir: Path, ticker: str) -> Path:
    """``outputs/ledger/<TICKER>.csv``: every forecast of ``ticker`` and its score."""
    return ledger_dir(outputs_dir) / f"{ticker}.csv"


def ledger_lock(outputs_dir: Path, ticker: str) -> Path:
    """``outputs/ledger/<TICKER>.csv.lock``: held by whoever writes that ledger."""
    return ledger_dir(outputs_dir) / f"{ticker}.csv.lock"


def ledger_tickers(outputs_dir: Path) -> list[str]:
    """The tickers that have a forecast ledger, sorted."""
    folder = ledger_dir(outputs_dir)
    return sorted(p.stem for p in folder.glob("*.csv")) if folder.is_dir() else []


def tries_path(outputs_dir: Path, ticker: str) -> Path:
    """``outputs/tries/<TICKER>.jsonl``: every configuration of ``ticker`` evaluated on a held-out window."""
    return Path(outputs_dir) / TRIES / f"{ticker}.jsonl"


def tries_lock(outputs_dir: Path, ticker: str) -> Path:
    """``outputs/tries/<TICKER>.jsonl.lock``: held by whoever writes that tries ledger."""
    return Path(outputs_dir) / TRIES / f"{ticker}.jsonl.lock"


def track_page(outputs_dir: Path, ticker: str) -> Path:
    """``outputs/track/<TICKER>.html``: the run browser's track-record page of ``ticker``."""
    return Path(outputs_dir) / TRACK / f"{ticker}.html"


def track_plot(outputs_dir: Path, ticker: str) -> Path:
    """``outputs/track/<TICKER>.png``: the cumulative-error plot on that page."""
    return Path(outputs_dir) / TRACK / f"{ticker}.png"


def reproduction_dir(outputs_dir: Path, run_id: str, stamp: str) -> Path:
    """``outputs/reproductions/<run_id>-<stamp>``: the scratch outputs folder of one ``reproduce`` of ``run_id``
    (an outputs root of its own: its runs, registry and reuse cache are not the real ones)."""
    return Path(outputs_dir) / REPRODUCTIONS / f"{run_id}-{stamp}"


def summary_log(outputs_dir: Path) -> Path:
    """``outputs/logs/pipeline_summary.log``: one line per task, gate decision and run."""
    return Path(outputs_dir) / LOGS / SUMMARY_LOG


def update_latest(outputs_dir: Path, run: Path) -> None:
    """Point ``outputs/latest`` at ``run`` (a relative symlink; a text file naming it where links fail)."""
    outputs_dir = Path(outputs_dir)
    try:
        rel = os.path.relpath(run, outputs_dir)
        tmp = outputs_dir / f".latest.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(rel, tmp)
        os.replace(tmp, outputs_dir / "latest")
    except OSError:
        (outputs_dir / "LATEST").write_text(str(run) + "\n", encoding="utf-8")


def latest_run_dir(outputs_dir: Path) -> Path | None:
    """The run ``outputs/latest`` points at, if any."""
    link = Path(outputs_dir) / "latest"
    if link.exists():
        return link.resolve()
    named = Path(outputs_dir) / "LATEST"
    if named.is_file():
        return Path(named.read_text(encoding="utf-8").strip())
    return None
