#!/usr/bin/env python3
"""Fault injection: kill a forced run with SIGKILL at many moments, then type plain ``resume``.

    .venv/bin/python bench/faults.py [--trials 20] [--seed 7] [-- RUNNER ARGS]

A reference run is timed first. The kill points follow a run's progress (its manifest): start-up; inside each
of the six tasks, a random moment of up to 90 % of that task's reference duration after it starts; just after
evaluation (the approval gate); just after reporting (the final writes). Every trial runs
``runner.py --force`` into a fresh outputs folder, kills the runner (only the runner: its kernel must end by
itself), checks that no kernel of it is left, runs ``runner.py resume`` with no run id, and compares raw,
cleaned, features, model, predictions and the walk-forward report with the reference byte for byte. Prints a
line per trial and ``N/N identical``. Not part of ``make test`` (about half a minute a trial on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "-p",
    "start",
    "2004-06-01",
    "-p",
    "end",
    "2006-12-31",
    "-p",
    "gb_n_estimators",
    "25",
    "-p",
    "walk_forward_folds",
    "3",
]
COMPARED = [
    "data/raw.csv",
    "data/cleaned.csv",
    "data/features.csv",
    "model/model.skops",
    "data/predictions.csv",
    "reports/walk_forward.json",
]


def runner(outputs: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "AAPL_OUTPUTS_DIR": str(outputs), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "runner.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def only_run(outputs: Path) -> Path | None:
    runs = sorted((outputs / "runs").glob("*/manifest.json")) if (outputs / "runs").is_dir() else []
    return runs[-1].parent if runs else None


def kernels_of(pid: int) -> int:
    count = 0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                state = (proc / "status").read_text()
            except OSError:
                continue
            if b"aapl_lib.runner.kernels.launcher" in argv and str(pid).encode() in argv and "zombie" not in state:
                count += 1
    return count


def task_durations(run_dir: Path) -> dict[str, float]:
    """Each task's duration in the reference run (seconds)."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {name: float(rec.get("duration_s") or 1.0) for name, rec in manifest["tasks"].items()}


def _state(outputs: Path) -> dict[str, str]:
    run_dir = only_run(outputs)
    if run_dir is None:
        return {}
    try:
        return {t: r.get("status", "") for t, r in json.loads((run_dir / "manifest.json").read_text())["tasks"].items()}
    except (OSError, ValueError, KeyError):
        return {}


def kill_points(durations: dict[str, float]) -> list[tuple[str, Callable[[dict[str, str]], bool], float, float]]:
    """Where to kill: (name, condition on the run's task states, delay range after the condition holds).
    Moments follow the run's progress, not the clock, so a slower trial still dies where it should."""
    from aapl_lib.pipeline.tasks import TASK_NAMES

    points = [("start-up", lambda s: True, 0.05, 0.35)]
    for name in TASK_NAMES:
        points.append((name, lambda s, n=name: s.get(n) == "running", 0.0, 0.9 * durations.get(name, 1.0)))
    points.insert(len(points) - 1, ("approval gate", lambda s: s.get("model_evaluation") == "success", 0.0, 0.15))
    points.append(("final writes", lambda s: s.get("reporting") == "success", 0.0, 0.3))
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("runner_args", nargs="*", help="after --: arguments for runner.py (default: a short window)")
    args = parser.parse_args(argv)
    extra = args.runner_args or ARGS
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="aapl-faults-"))
    try:
        ref_out = work / "reference"
        started = time.time()
        proc = runner(ref_out, "--force", *extra)
        out, err = proc.communicate()
        wall = time.time() - started
        if proc.returncode != 0:
            print(err, file=sys.stderr)
            return 1
        reference = only_run(ref_out)
        points = kill_points(task_durations(reference))
        print(
            f"reference run: {wall:.1f} s; kill points (by the run's progress): "
            + ", ".join(name for name, *_ in points)
        )
        identical = 0
        for trial in range(1, args.trials + 1):
            name, ready, low, high = points[(trial - 1) % len(points)]
            delay = rng.uniform(low, high)
            outputs = work / f"trial{trial:02d}"
            victim = runner(outputs, "--force", *extra)
            begun = time.time()
            while not ready(_state(outputs)) and victim.poll() is None:
                time.sleep(0.02)
            time.sleep(delay)
            moment = time.time() - begun
            victim.send_signal(signal.SIGKILL)
            victim.communicate()
            time.sleep(1.5)  # the kernel's watcher notices its runner is gone within half a second
            orphans = kernels_of(victim.pid)
            run_dir = only_run(outputs)
            state = "no run folder yet"
            if run_dir is not None:
                manifest = json.loads((run_dir / "manifest.json").read_text())
                running = [t for t, r in manifest["tasks"].items() if r.get("status") == "running"]
                state = f"status {manifest['status']}" + (f", {running[0]} running" if running else "")
            resume = runner(outputs, "resume")
            r_out, r_err = resume.communicate()
            run_dir = only_run(outputs)
            if run_dir is None:  # killed before the run folder existed: nothing to resume, so run again
                again = runner(outputs, "--force", *extra)
                again.communicate()
                run_dir = only_run(outputs)
            same = [
                rel
                for rel in COMPARED
                if (run_dir / rel).is_file() and (run_dir / rel).read_bytes() == (reference / rel).read_bytes()
            ]
            ok = resume.returncode == 0 and len(same) == len(COMPARED) and orphans == 0
            identical += ok
            print(
                f"trial {trial:2d}: killed at {moment:5.1f} s ({name} + {delay:.2f} s; {state}); resume exit "
                f"{resume.returncode}; {len(same)}/{len(COMPARED)} artifacts identical; orphan kernels "
                f"{orphans} -> {'ok' if ok else 'DIFFERENT'}"
                + ("" if resume.returncode == 0 else f"\n    {r_err.strip()[-300:]}")
            )
            shutil.rmtree(outputs, ignore_errors=True)
        print(f"{identical}/{args.trials} identical")
        return 0 if identical == args.trials else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
