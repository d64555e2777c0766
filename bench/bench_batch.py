#!/usr/bin/env python3
"""Batch benchmark: wall time of 1, 2 and 4 tickers run sequentially (one worker) and in parallel
(``--workers``, default 2), side by side in one invocation, with the speed-up and the cost per ticker.

    .venv/bin/python bench/bench_batch.py [--workers N] [--executor local|dask] [-- RUNNER ARGS]

Every measurement writes to its own throw-away outputs folder, so nothing is reused between them.
Target: 4 tickers in parallel on 2 cores at least 1.7x faster than sequentially.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKERS = ["AAPL", "MSFT", "IBM", "GOOG"]


def batch(tickers: list[str], workers: int, executor: str, extra: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="aapl-bench-batch-") as out:
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                str(ROOT / "runner.py"),
                "--tickers",
                *tickers,
                "--workers",
                str(workers),
                "--executor",
                executor,
                "--outputs",
                out,
                *extra,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "AAPL_OUTPUTS_DIR": out},
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"batch failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1]}")
        return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--executor", choices=["local", "dask"], default="local")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    print(f"cores: {os.cpu_count()}, executor: {args.executor}, parallel workers: {args.workers}")
    print(
        f"{'tickers':<9}{'sequential s':>14}{'parallel s':>12}{'speed-up':>10}{'s/ticker seq':>14}{'s/ticker par':>14}"
    )
    results = {}
    for n in (1, 2, 4):
        seq = batch(TICKERS[:n], 1, args.executor, extra)
        par = batch(TICKERS[:n], args.workers, args.executor, extra)
        results[n] = (seq, par)
        print(f"{n:<9}{seq:>14.1f}{par:>12.1f}{seq / par:>9.2f}x{seq / n:>14.1f}{par / n:>14.1f}")
    seq, par = results[4]
    print(
        f"\n4 tickers in parallel >= 1.7x faster than sequential: {'met' if seq / par >= 1.7 else 'NOT met'} "
        f"({seq / par:.2f}x)"
    )


if __name__ == "__main__":
    main()
