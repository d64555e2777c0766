#!/usr/bin/env python3
"""Fault injection: kill a forced run with SIGKILL at many moments, then type plain ``resume``.

    .venv/bin/python bench/faults.py [--trials 20] [--seed 7] [-- RUNNER ARGS]

A reference run is timed first; its timeline (each task's start and end, the approval gate, the final writes)
is cut into segments and the kill moments are spread over them, a random moment inside each. Every trial runs
``runner.py --force`` into a fresh outputs folder, kills the runner (only the runner: its kernel must end by
itself), checks that no kernel of it is left, runs ``runner.py resume`` with no run id, and compares raw,
cleaned, features, model, predictions and the walk-forward report with the reference byte for byte. Prints a
line per trial and ``N/N identical``. Not part of ``make test`` (about half a minute a trial on 2 cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["-p", "start", "2004-06-01", "-p", "end", "2006-12-31", "-p", "gb_n_estimators", "25",
        "-p", "walk_forward_folds", "3"]
COMPARED = ["data/raw.csv", "data/cleaned.csv", "data/features.csv", "model/model.joblib", "data/predictions.csv",
            "reports/walk_forward.json"]


def runner(outputs: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "AAPL_OUTPUTS_DIR": str(outputs), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(ROOT / "runner.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


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
            if b"aapl_lib.kernel_launcher" in argv and str(pid).encode() in argv and "zombie" not in state:
                count += 1
    return count


def timeline(run_dir: Path, started: float, wall: float) -> list[tuple[str, float, float]]:
    """Segments of the reference run in seconds from its start: each task, the gate, the final writes."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    created = dt.datetime.fromisoformat(manifest["created_at"]).timestamp()
    offset = created - started  # process start -> manifest creation (imports, validation)
    segments = [("start-up", 0.3, max(offset, 0.4))]
    from aapl_lib.tasks import TASK_NAMES  # DAG order (the manifest's keys are sorted by name)

    for name in TASK_NAMES:
        rec = manifest["tasks"][name]
        # the manifest's times are to the second: keep each segment inside the run and after start-up
        begin = max(dt.datetime.fromisoformat(rec["started_at"]).timestamp() - started, segments[-1][2])
        end = max(dt.datetime.fromisoformat(rec["ended_at"]).timestamp() - started, begin + 0.2)
        if name == "reporting":
            segments.append(("approval gate", max(begin - 0.4, segments[-1][1]), begin + 0.1))
        segments.append((name, begin, end))
    segments.append(("final writes", segments[-1][2], max(wall, segments[-1][2] + 0.2)))
    return segments


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
        segments = timeline(reference, started, wall)
        print(f"reference run: {wall:.1f} s; kill moments spread over {len(segments)} segments: "
              + ", ".join(f"{name} {a:.1f}-{b:.1f}" for name, a, b in segments))
        identical = 0
        for trial in range(1, args.trials + 1):
            name, low, high = segments[(trial - 1) % len(segments)]
            moment = rng.uniform(low, high)
            outputs = work / f"trial{trial:02d}"
            victim = runner(outputs, "--force", *extra)
            time.sleep(max(moment, 0.0))
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
            if run_dir is None or "nothing to resume" in r_out:  # killed before the run existed: run again
                again = runner(outputs, "--force", *extra)
                again.communicate()
                run_dir = only_run(outputs)
            same = [rel for rel in COMPARED if (run_dir / rel).is_file()
                    and (run_dir / rel).read_bytes() == (reference / rel).read_bytes()]
            ok = resume.returncode == 0 and len(same) == len(COMPARED) and orphans == 0
            identical += ok
            print(f"trial {trial:2d}: killed at {moment:5.1f} s ({name}; {state}); resume exit "
                  f"{resume.returncode}; {len(same)}/{len(COMPARED)} artifacts identical; orphan kernels "
                  f"{orphans} -> {'ok' if ok else 'DIFFERENT'}"
                  + ("" if resume.returncode == 0 else f"\n    {r_err.strip()[-300:]}"))
            shutil.rmtree(outputs, ignore_errors=True)
        print(f"{identical}/{args.trials} identical")
        return 0 if identical == args.trials else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
