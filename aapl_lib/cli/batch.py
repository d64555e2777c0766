"""The batch side of ``run`` and ``resume``: the executor options (``--executor``, ``--workers``,
``--scheduler``), the tickers a run asks for (``--tickers`` or ``tickers:`` in the params file), each ticker's
validated parameters, starting a batch, and resuming one (plain ``resume`` picks the newest unfinished batch
when it is newer than any unfinished run)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from aapl_lib.cli.outcome import print_outcome
from aapl_lib.errors import PipelineError
from aapl_lib.io.follow_up import follow_up
from aapl_lib.store import layout

Overrides = list[tuple[str, str]]  # -p KEY VALUE pairs, in the order given
PerTicker = dict[str, tuple[dict | None, str | None]]  # ticker -> (its params, or why they are invalid)


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """Add the executor options of a batch to ``run`` or ``resume``."""
    parser.add_argument(
        "--executor",
        choices=["local", "dask"],
        default="local",
        help="batches: a local process pool (default) or a Dask cluster",
    )
    parser.add_argument("--workers", type=int, metavar="N", help="batches: parallel pipelines (default: the cores)")
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="with --executor dask: an existing dask.distributed scheduler (default: a LocalCluster on loopback)",
    )


def batch_tickers(params_file: Path, overrides: Overrides) -> list[str]:
    """The tickers of a batch, upper-cased and without repeats; empty for a single run."""
    from aapl_lib.pipeline.config import load_params_file, parse_override

    tickers = load_params_file(params_file).get("tickers") or []
    for name, text in overrides:
        if name == "tickers":
            tickers = parse_override("tickers", text)
    if not isinstance(tickers, list):
        raise PipelineError(f"tickers must be a list of symbols, got {tickers!r}")
    return list(dict.fromkeys(str(t).strip().upper() for t in tickers if str(t).strip()))


def check_batch_options(args: argparse.Namespace) -> None:
    """A single run given batch-only options: a usage error."""
    if args.executor != "local" or args.workers or args.scheduler:
        raise PipelineError("--executor, --workers and --scheduler apply to batches: add --tickers T1 T2 ...")


def _per_ticker(params_file: Path, overrides: Overrides, tickers: list[str]) -> PerTicker:
    """Each ticker's validated params, or why they are invalid (a bad ticker fails alone, not the batch)."""
    from aapl_lib.errors import ParameterError
    from aapl_lib.pipeline.config import resolve_params

    base = [o for o in overrides if o[0] not in ("tickers", "ticker")]
    out = {}
    for ticker in tickers:
        try:
            out[ticker] = (resolve_params(params_file, base + [("ticker", ticker), ("tickers", "[]")]), None)
        except ParameterError as exc:
            out[ticker] = (None, str(exc))
    return out


def start_batch(
    args: argparse.Namespace, root: Path, outputs: Path, params_file: Path, overrides: Overrides, tickers: list[str]
) -> int:
    """Run a new batch of ``tickers``; whole pipelines only (no task selection, no run folder of one's own)."""
    if args.start_task or args.end_task or args.only or args.run_dir or args.from_run:
        raise PipelineError(
            "a batch runs whole pipelines: --start-task/--end-task/--only/--run-dir/--from-run apply to single runs"
        )
    return _batch(args, root, outputs, _per_ticker(params_file, overrides, tickers))


def _batch(
    args: argparse.Namespace,
    root: Path,
    outputs: Path,
    per_ticker: PerTicker,
    batch_id: str | None = None,
    operator: dict | None = None,
) -> int:
    """Run (or, given ``batch_id``, resume) a batch with the executor options of the command line."""
    from aapl_lib.runner.batch.loop import run_batch
    from aapl_lib.runner.progress import Console

    if args.scheduler and args.executor != "dask":
        raise PipelineError("--scheduler needs --executor dask")
    if args.workers is not None and args.workers < 1:
        raise PipelineError("--workers must be 1 or more")
    result = run_batch(
        per_ticker,
        outputs_dir=outputs,
        notebooks_dir=root / "notebooks",
        project=root,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        log_level=args.log_level,
        progress=Console.for_command(args.quiet),
        batch_id=batch_id,
        resume=batch_id is not None,
        operator=operator,
    )
    return print_outcome(result)


def newest_unfinished_batch(outputs: Path, progress: Callable[[str], None] = print) -> str | None:
    """The id of the newest unfinished batch when it is newer than the newest unfinished single run (said to
    ``progress``)."""
    from aapl_lib.store.manifest import BATCH_UNFINISHED, list_batches
    from aapl_lib.store.runs import find_resumable

    batch = next((b for b in list_batches(outputs) if b.get("status") in BATCH_UNFINISHED), None)
    if batch is None:
        return None
    run_dir, _ = find_resumable(outputs)
    # ids begin with their UTC start time (20261127T010000Z-...), so they compare as times
    if run_dir is not None and run_dir.name[:16] > batch["batch_id"][:16]:
        return None
    progress(f"resuming batch {batch['batch_id']} ({batch['status']})")
    return batch["batch_id"]


def resume_batch(args: argparse.Namespace, root: Path, outputs: Path, operator: dict) -> int:
    """Continue a batch: each ticker's recorded parameters are data (re-checked), its hooks and extra_features
    the operator's (``operator``), as for a single run's resume."""
    from aapl_lib.errors import ParameterError
    from aapl_lib.io.iorw import read_json
    from aapl_lib.pipeline.trust import adopt
    from aapl_lib.store.runs import unfinished_batch_run

    manifest = read_json(layout.batch_dir(outputs, args.run_id) / layout.MANIFEST)
    per_ticker: PerTicker = {}
    for ticker in manifest["tickers"]:
        run_id = manifest["runs"].get(ticker, {}).get("run_id")
        run_dir = layout.run_dir(outputs, run_id) if run_id else unfinished_batch_run(outputs, args.run_id, ticker)
        params = (
            read_json(run_dir / layout.MANIFEST)["params"]
            if run_dir is not None and (run_dir / layout.MANIFEST).is_file()
            else (manifest.get("ticker_params") or {}).get(ticker)
        )
        error = (
            None
            if params
            else (manifest.get("ticker_errors") or {}).get(ticker)
            or manifest["runs"].get(ticker, {}).get("message", "never started")
        )
        if params:
            try:
                what = f"batch {args.run_id}'s record of {ticker}"
                params = adopt(params, operator, what, follow_up(f"resume {args.run_id}", outputs))
            except ParameterError as exc:
                params, error = None, str(exc)
        per_ticker[ticker] = (params, error)
    return _batch(args, root, outputs, per_ticker, batch_id=args.run_id, operator=operator)
