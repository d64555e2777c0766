#!/usr/bin/env python3
"""Mutation audit of the promises: plant one deliberate bug at a time and check that the tests docs/PROMISES.md
names for that promise catch it.

    .venv/bin/python bench/mutants.py [--only ID]... [--list] [--check] [--workers N] [--timeout S]

Each mutant replaces one exact piece of source (it must occur exactly once) in a scratch copy of the project,
then runs, in that copy, the tests the PROMISES rows it names point at (``-x``: the first failure is enough). A
mutant is *killed* when a test fails by assertion or error, *survived* when every test passes, *timed out* when
the tests take longer than ``--timeout`` (reported apart: a timeout is not a proof). Prints one line per mutant and
``killed K/N``; exits 1 when any mutant survived or timed out, 2 when a mutant no longer applies (the code it
names changed: update it here). ``--check`` only verifies that every mutant applies (seconds; the unit tests run
it). Long: minutes per mutant on 2 cores. Run by ``make mutants`` (not part of ``make test``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


@dataclass(frozen=True)
class Mutant:
    """One deliberate bug: in ``path``, ``old`` (found exactly once) becomes ``new``; the PROMISES rows whose
    tests must catch it."""

    id: str
    what: str
    path: str
    old: str
    new: str
    promises: tuple[int, ...]


MUTANTS: tuple[Mutant, ...] = (
    # ---- data
    Mutant(
        "csv-accepts-inf",
        "the CSV reader lets inf through as a price (cleaning then treats it as a missing value)",
        "aapl_lib/data/sources/csv_file.py",
        "absurd = numbers.notna() & ~numbers.abs().le(limit)",
        "absurd = numbers.notna() & (numbers.abs() > limit) & numbers.abs().lt(float('inf'))",
        (29,),
    ),
    Mutant(
        "cleaning-keeps-duplicate-dates",
        "rows sharing a date with different values are all kept",
        "aapl_lib/data/cleaning.py",
        'date_dupes = frame.index.duplicated(keep="last")',
        "date_dupes = frame.index.duplicated(keep=False) & False",
        (31,),
    ),
    Mutant(
        "forecast-for-the-last-price-day",
        "the forecast is dated the last price row's day instead of the next NYSE session",
        "aapl_lib/data/trading_calendar.py",
        'position = days.searchsorted(_day(day), side="right")',
        'position = days.searchsorted(_day(day), side="left")',
        (40, 67),
    ),
    # ---- leakage and the model
    Mutant(
        "leakage-guard-never-stops",
        "the leakage guard reports offenders but never stops the run",
        "aapl_lib/features/leakage.py",
        '    for report in reports:\n        if not report["passed"]:',
        '    for report in reports:\n        if not report["passed"] and False:',
        (33, 114),
    ),
    Mutant(
        "sandbox-allows-reads",
        "a feature function may read any file (the sandbox refuses nothing it records)",
        "aapl_lib/features/sandbox.py",
        "    if state.refused is None or state.busy:\n        return",
        "    if True:\n        return",
        (112,),
    ),
    Mutant(
        "no-split-gap",
        "the held-out window starts right after the last training row (the target's horizon leaks)",
        "aapl_lib/modeling/training.py",
        "test=labelled.iloc[n_train + gap :]",
        "test=labelled.iloc[n_train:]",
        (35,),
    ),
    Mutant(
        "split-gap-zero-by-default",
        "the split's gap defaults to no row at all (the split reports the gap it kept, so a test deriving the "
        "expected gap from it passes)",
        "aapl_lib/modeling/training.py",
        "    gap: int = HORIZON,",
        "    gap: int = 0,",
        (35,),
    ),
    # ---- money: the gate and the track record
    Mutant(
        "plausibility-never-implausible",
        "a too-good-to-be-true result is never marked implausible",
        "aapl_lib/modeling/plausibility.py",
        'return {"implausible": bool(reasons), "reasons": reasons, **record}',
        'return {"implausible": False, "reasons": [], **record}',
        (38, 107, 110),
    ),
    Mutant(
        "no-bonferroni",
        "the gate ignores how many configurations were tried on the window",
        "aapl_lib/promotion/gate.py",
        'count = int((tries or {}).get("count") or 1)',
        "count = 1",
        (126,),
    ),
    Mutant(
        "dm-p-value-read-against-the-normal",
        "the Diebold-Mariano p-value is read against the normal, not Student's t (small samples look significant)",
        "aapl_lib/modeling/significance.py",
        '"p_value_a_better": float(stats.t.cdf(stat, df=n - 1)),',
        '"p_value_a_better": float(stats.norm.cdf(stat)),',
        (80, 127),
    ),
    Mutant(
        "late-score-uses-the-last-close",
        "a forecast scored late is scored against the scoring run's last close, not its own day's",
        "aapl_lib/tracking/scoring.py",
        "base, final = float(close[made_day]), float(close[for_day])",
        "base, final = float(close[made_day]), float(close.iloc[-1])",
        (76, 81),
    ),
    Mutant(
        "ledger-appends-twice",
        "a forecast already in the ledger is appended again",
        "aapl_lib/tracking/ledger.py",
        "        (skipped if key in have else fresh).append(row)",
        "        fresh.append(row)",
        (77, 81),
    ),
    # ---- recovery
    Mutant(
        "resume-oldest",
        "plain `resume` continues the oldest unfinished run instead of the newest",
        "aapl_lib/store/runs.py",
        "    for run in scan_runs(outputs_dir):\n        if run.manifest is None:\n            continue  # a damaged",
        "    for run in reversed(list(scan_runs(outputs_dir))):\n        if run.manifest is None:\n"
        "            continue  # a damaged",
        (10,),
    ),
    # ---- trust
    Mutant(
        "model-format-not-checked",
        "a model file in another format than skops is read",
        "aapl_lib/modeling/persistence.py",
        '    allowed. Any other format (a legacy joblib pickle above all) is refused before the file is read."""\n'
        "    check_format(path)",
        '    allowed. Any other format (a legacy joblib pickle above all) is refused before the file is read."""',
        (39, 73, 102),
    ),
    Mutant(
        "plain-name-accepts-dotdot",
        "a champion record may name ../ paths",
        "aapl_lib/io/containment.py",
        'name in (".", "..") or "/" in name',
        'name in (".",) or name.startswith("/")',
        (103, 122),
    ),
)


def promise_tests(numbers: tuple[int, ...]) -> list[str]:
    """The ``path::test`` ids PROMISES.md names for these rows."""
    rows = {
        int(line.split("|")[1]): line
        for line in (ROOT / "docs" / "PROMISES.md").read_text(encoding="utf-8").splitlines()
        if re.match(r"^\| \d+ \|", line)
    }
    found = []
    for number in numbers:
        found += [f"{path}::{name}" for path, name in REFERENCE.findall(rows[number]) if f"{path}::{name}" not in found]
    return found


def apply(mutant: Mutant, root: Path) -> None:
    """Plant ``mutant`` in the project at ``root``; ValueError when its piece of code is not there exactly once."""
    path = root / mutant.path
    source = path.read_text(encoding="utf-8")
    count = source.count(mutant.old)
    if count != 1:
        raise ValueError(f"mutant {mutant.id}: {mutant.path} holds its code {count} times, not once: update it")
    path.write_text(source.replace(mutant.old, mutant.new), encoding="utf-8")


def scratch_copy(into: Path) -> Path:
    """The project's tracked files (the working tree's version) copied under ``into``."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, listed.decode().split("\0")):
        source = ROOT / rel
        if source.is_file():
            target = into / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def run_mutant(mutant: Mutant, workers: int, timeout: float) -> tuple[str, str, float]:
    """``(outcome, detail, seconds)``: killed / survived / timed out, and the first failing test."""
    tests = promise_tests(mutant.promises)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.id}-") as folder:
        copy = scratch_copy(Path(folder) / "project")
        apply(mutant, copy)
        env = {**os.environ, "PYTHONPATH": str(copy)}  # the copy's aapl_lib before the installed one
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", str(workers), *tests]
        try:
            proc = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "timed out", f"after {timeout:.0f} s", time.perf_counter() - started
    seconds = time.perf_counter() - started
    if proc.returncode == 0:
        return "SURVIVED", f"{len(tests)} tests passed", seconds
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.MULTILINE)
    return "killed", f"by {failed[0] if failed else 'exit ' + str(proc.returncode)}", seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=[], metavar="ID", help="run just this mutant; repeatable")
    parser.add_argument("--list", action="store_true", help="list the mutants and the tests that must catch each")
    parser.add_argument("--check", action="store_true", help="only check that every mutant still applies")
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="pytest-xdist workers per mutant")
    parser.add_argument("--timeout", type=float, default=1200, metavar="S", help="seconds per mutant (default 1200)")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if not args.only or m.id in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.id}: {m.what} (promises {', '.join(map(str, m.promises))})")
            for test in promise_tests(m.promises):
                print(f"    {test}")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        stale = []
        for m in chosen:
            try:
                apply(m, scratch_copy(Path(folder) / m.id))
            except ValueError as exc:
                stale.append(str(exc))
            if not promise_tests(m.promises):
                stale.append(f"mutant {m.id}: PROMISES rows {m.promises} name no test")
        if stale or args.check:
            print("\n".join(stale) or f"all {len(chosen)} mutants apply")
            return 2 if stale else 0
    killed = 0
    for m in chosen:
        outcome, detail, seconds = run_mutant(m, args.workers, args.timeout)
        killed += outcome == "killed"
        print(f"{outcome:>9}  {m.id:<34} {detail} ({seconds:.0f} s)", flush=True)
    print(f"killed {killed}/{len(chosen)}")
    return 0 if killed == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
