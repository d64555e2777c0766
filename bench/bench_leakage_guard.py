#!/usr/bin/env python3
"""The leakage guard's cost on the default run's data (a figure, not a test).

    .venv/bin/python bench/bench_leakage_guard.py [--repeat N] [--start 2003-01-01] [--end 2012-12-31]

Prints the best of ``--repeat`` wall times of :func:`aapl_lib.features.leakage.build_and_guard` on AAPL from
the offline sample (the default run's window), with the number of cut days per rule; issue 23 bounds it at 2 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    from aapl_lib.data.cleaning import clean_prices
    from aapl_lib.data.sources import load_sample
    from aapl_lib.features import leakage

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--start", default="2003-01-01")
    parser.add_argument("--end", default="2012-12-31")
    args = parser.parse_args()
    cleaned, _ = clean_prices(load_sample("AAPL", args.start, args.end))
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        _, names, reports = leakage.build_and_guard(cleaned)
        times.append(time.perf_counter() - started)
    truncation = reports[0]
    cuts = len(truncation["cut_dates"])
    print(f"{len(cleaned)} rows, {len(names)} features, {cuts} cut days {truncation['cuts_per_rule']}")
    print(f"build_and_guard: best {min(times):.2f} s of {args.repeat} (all: {', '.join(f'{t:.2f}' for t in times)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
