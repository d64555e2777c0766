#!/usr/bin/env python3
"""Time a full pipeline run on the offline default and show each task's share of it.

    .venv/bin/python bench/bench_run.py [--repeat N] [-- RUNNER ARGS...]

Runs ``runner.py`` as a subprocess (as ``make run`` does) into a throw-away outputs folder, ``--repeat``
times, and prints wall time per run plus, from the manifest, each task's duration and share. Figures are
measured side by side in one invocation; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(extra: list[str]) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="aapl-bench-") as out:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(ROOT / "runner.py"), "--outputs", out, *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "AAPL_OUTPUTS_DIR": out},
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"run failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1]}")
        run_dir = next((Path(out) / "runs").iterdir())
        return wall, json.loads((run_dir / "manifest.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    walls, per_task = [], {}
    for i in range(args.repeat):
        wall, manifest = one_run(extra)
        walls.append(wall)
        for name, rec in manifest["tasks"].items():
            per_task.setdefault(name, []).append(rec.get("duration_s", 0.0))
        print(f"run {i + 1}: {wall:6.2f} s wall (runner's own total {manifest['duration_s']:.2f} s)")
    total = statistics.median(walls)
    print(f"\nmedian wall time of a full run: {total:.2f} s over {args.repeat} run(s)")
    print(f"{'task':<22}{'median s':>10}{'share':>8}")
    for name, values in per_task.items():
        med = statistics.median(values)
        print(f"{name:<22}{med:>10.2f}{100 * med / total:>7.1f}%")
    overhead = total - sum(statistics.median(v) for v in per_task.values())
    print(f"{'runner overhead':<22}{overhead:>10.2f}{100 * overhead / total:>7.1f}%  (start-up, params, manifest)")


if __name__ == "__main__":
    main()
