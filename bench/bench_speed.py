#!/usr/bin/env python3
"""The runner against the obvious alternatives, side by side in one invocation (figures, not a test).

    .venv/bin/python bench/bench_speed.py [--repeat N] [--tickers N] [--skip-batch]

Prints, each as a median of ``--repeat`` whole-process wall times on this machine:

* floor: the six notebooks' code cells executed in ONE plain Python process (the stack imported once);
* naive: six ``papermill`` CLI calls in a loop, same notebooks, same run folder;
* runner cold: ``runner.py --force`` on the offline default (warm kernels) with no warm process kept from an
  earlier run (``-p warm_kernels_keep_seconds 0``: each run imports the stack once, as on a fresh machine),
  with the warm process an earlier run kept (the default, from the second run on), and with
  ``-p warm_kernels false`` (ordinary kernel starts);
* no-op: ``runner.py`` again with nothing changed;
* edit 05: notebook 05 edited, then ``runner.py`` (tasks 5 and 6 run again);
* history: a 1-year against a 24-year CSV (a seeded random walk the bench writes), ``--force``;
* batch: ``--tickers`` of ``--tickers`` per-ticker CSV files (written from the offline sample) with 2 workers,
  as wall time per ticker.

Each figure is printed with its ratio to what it is measured against and the target of issue 14.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def timed(cmd: list[str], **kw) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - started
    if proc.returncode not in (0,):
        sys.exit(f"{' '.join(cmd[:4])}… failed ({proc.returncode}): {proc.stderr.strip()[-600:]}")
    return wall


def median(fn, repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def project_copy(base: Path) -> Path:
    """A copy of the project (code, notebooks, params) to run and edit without touching this checkout."""
    root = base / "project"
    for name in ("aapl_lib", "notebooks", "params"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "runner.py", root / "runner.py")
    return root


def env_for(root: Path, outputs: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(root), "AAPL_OUTPUTS_DIR": str(outputs), "MPLBACKEND": "Agg"}


def floor(root: Path, work: Path) -> float:
    """The notebooks' code, top to bottom, in one process, each notebook in a namespace of its own."""
    run_dir = work / "floor-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    script = work / "floor.py"
    script.write_text(
        "import json, sys\nfrom IPython.display import display\n"
        f"for path in {[str(root / 'notebooks' / nb.name) for nb in NOTEBOOKS]!r}:\n"
        "    cells = [''.join(c['source']) for c in json.load(open(path))['cells'] if c['cell_type'] == 'code']\n"
        "    ns = {'display': display, '__name__': '__main__'}\n"
        f"    exec(cells[0], ns); ns['run_dir'] = {str(run_dir)!r}\n"
        "    for cell in cells[1:]:\n"
        "        exec(compile(cell, path, 'exec'), ns)\n"
    )
    return timed([sys.executable, str(script)], cwd=root / "notebooks", env=env_for(root, work / "floor-out"))


def naive(root: Path, work: Path) -> float:
    """Six papermill CLI calls, as a shell loop would make them."""
    run_dir = work / "naive-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    started = time.perf_counter()
    for nb in NOTEBOOKS:
        timed(
            [sys.executable, "-m", "papermill", str(root / "notebooks" / nb.name), str(run_dir / nb.name),
             "-p", "run_dir", str(run_dir), "--cwd", str(root / "notebooks"), "--no-progress-bar"],
            env=env_for(root, work / "naive-out"),
        )  # fmt: skip
    return time.perf_counter() - started


def runner(root: Path, outputs: Path, *args: str) -> float:
    command = [sys.executable, str(root / "runner.py"), "--outputs", str(outputs), *args]
    return timed(command, env=env_for(root, outputs), cwd=root)  # the runner finds its project from cwd


def task_seconds(outputs: Path, names: tuple[str, ...]) -> float:
    newest = max((outputs / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    tasks = json.loads((newest / "manifest.json").read_text())["tasks"]
    return sum(tasks[n].get("duration_s", 0.0) for n in names)


def random_walk_csv(path: Path, years: int, short: Path, seed: int = 7) -> tuple[str, str]:
    """A seeded price history of ``years`` years of business days, in Yahoo's classic layout, and its last year
    alone in ``short``; returns the first and last dates."""
    import numpy as np
    import pandas as pd

    days = pd.bdate_range("1990-01-02", periods=252 * years)
    rng = np.random.default_rng(seed)
    close = 20 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, len(days))))
    spread = np.abs(rng.normal(0, 0.006, len(days)))
    frame = pd.DataFrame(
        {
            "Date": days.strftime("%Y-%m-%d"),
            "Open": close * (1 + rng.normal(0, 0.003, len(days))),
            "High": close * (1 + spread + 0.004),
            "Low": close * (1 - spread - 0.004),
            "Close": close,
            "Adj Close": close,
            "Volume": rng.integers(1_000_000, 9_000_000, len(days)),
        }
    )
    frame["High"] = frame[["Open", "High", "Close"]].max(axis=1)
    frame["Low"] = frame[["Open", "Low", "Close"]].min(axis=1)
    frame.to_csv(path, index=False, float_format="%.4f")
    frame.tail(252).to_csv(short, index=False, float_format="%.4f")
    return frame["Date"].iloc[0], frame["Date"].iloc[-1]


def batch_files(folder: Path, count: int) -> list[str]:
    """``count`` per-ticker CSV files from the offline sample (AAPL, MSFT, IBM, GOOG, each price series
    scaled by the ticker's number so that no two are the same)."""
    sys.path.insert(0, str(ROOT))
    from aapl_lib.data.sources import load_sample

    folder.mkdir(parents=True, exist_ok=True)
    bases = [load_sample(t, "2004-09-01", "2012-12-31") for t in ("AAPL", "MSFT", "IBM", "GOOG")]
    tickers = []
    for i in range(count):
        ticker = "T" + chr(65 + i // 26) + chr(65 + i % 26)
        frame = bases[i % len(bases)].copy()
        frame[["open", "high", "low", "close", "adj_close"]] *= 1 + i / 100
        frame.rename(columns=str.capitalize).rename(columns={"Adj_close": "Adj Close"}).rename_axis("Date").to_csv(
            folder / f"{ticker}.csv", float_format="%.4f"
        )
        tickers.append(ticker)
    return tickers


def line(what: str, seconds: float, against: str = "", ratio: float | None = None, target: str = "") -> None:
    text = f"{what:<44}{seconds:>9.2f} s"
    if ratio is not None:
        text += f"   {ratio:5.2f}× {against}"
    if target:
        text += f"   (target {target})"
    print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tickers", type=int, default=24)
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aapl-speed-") as tmp:
        work = Path(tmp)
        root = project_copy(work)
        print(f"{os.cpu_count()} cores; medians of {args.repeat}; project copy in {root}\n", flush=True)
        t_floor = median(lambda: floor(root, work), args.repeat)
        line("floor: notebooks' code in one process", t_floor)
        t_naive = median(lambda: naive(root, work), args.repeat)
        line("naive: six papermill CLI calls", t_naive, "the floor", t_naive / t_floor)
        outputs = work / "outputs"
        t_first = median(lambda: runner(root, outputs, "--force", "-p", "warm_kernels_keep_seconds", "0"), args.repeat)
        line("runner --force, no warm process kept", t_first, "the floor", t_first / t_floor, "≤ 1.5×")
        print(f"{'':<44}{'':>11}   {t_naive / t_first:5.2f}× faster than naive (target ≥ 1.8×)")
        runner(root, outputs, "--force")  # starts the warm process the next runs find
        t_cold = median(lambda: runner(root, outputs, "--force"), args.repeat)
        line("runner --force, warm process kept", t_cold, "the floor", t_cold / t_floor, "≤ 1.5×")
        print(f"{'':<44}{'':>11}   {t_naive / t_cold:5.2f}× faster than naive (target ≥ 1.8×)")
        t_off = median(lambda: runner(root, work / "outputs-off", "--force", "-p", "warm_kernels", "false"), 1)
        line("runner, cold, -p warm_kernels false", t_off, "the floor", t_off / t_floor)
        five_six = task_seconds(outputs, ("model_evaluation", "reporting"))
        t_noop = median(lambda: runner(root, outputs), args.repeat)
        line("no-op rerun", t_noop, "", None, "≤ 0.25 s")
        nb05 = root / "notebooks" / "05_model_evaluation.ipynb"
        original = nb05.read_text()

        def edit_05() -> float:
            nb = json.loads(original)
            nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": f"edited {time.time()}"})
            nb05.write_text(json.dumps(nb))
            return runner(root, outputs)

        t_edit = median(edit_05, args.repeat)
        nb05.write_text(original)
        line("edit notebook 05, rerun", t_edit, f"tasks 5+6 of a cold run ({five_six:.2f} s)", t_edit / five_six,
             f"≤ {five_six + 0.3:.2f} s")  # fmt: skip
        short, long = work / "short.csv", work / "long.csv"
        first, last = random_walk_csv(long, 24, short)
        csv_args = ["-p", "source", "csv", "-p", "end", last, "--force"]
        one_year_start = f"{int(last[:4]) - 1}{last[4:]}"
        t_1y = median(lambda: runner(root, work / "out-1y", *csv_args, "-p", "csv_path", str(short),
                                     "-p", "start", one_year_start), args.repeat)  # fmt: skip
        t_24y = median(lambda: runner(root, work / "out-24y", *csv_args, "-p", "csv_path", str(long),
                                      "-p", "start", first), args.repeat)  # fmt: skip
        line("1-year CSV, --force", t_1y)
        line("24-year CSV, --force", t_24y, "the 1-year run", t_24y / t_1y, "≤ 1.2×")
        if not args.skip_batch:
            tickers = batch_files(work / "prices", args.tickers)
            files = str(work / "prices" / "{ticker}.csv")
            batch_args = ["--tickers", *tickers, "-p", "source", "csv", "-p", "csv_path", files,
                          "-p", "start", "2005-01-03", "--workers", "2"]  # fmt: skip
            t_batch = runner(root, work / "out-batch", *batch_args)
            per = t_batch / len(tickers)
            line(f"batch of {len(tickers)} tickers, 2 workers", t_batch)
            line("  per ticker", per, "the floor", per / t_floor, "≤ 0.6×")
        stop_kept_warm_processes(root)


def stop_kept_warm_processes(root: Path) -> None:
    """The warm processes the bench's runs kept (their PYTHONPATH names the project copy): ended with the bench
    instead of idling on for warm_kernels_keep_seconds."""
    for proc in Path("/proc").iterdir():
        try:
            if (
                proc.name.isdigit()
                and b"aapl_lib.runner.kernels.fork_server" in (proc / "cmdline").read_bytes()
                and str(root).encode() in (proc / "environ").read_bytes()
            ):
                os.kill(int(proc.name), 9)
        except (OSError, ProcessLookupError):
            continue


if __name__ == "__main__":
    main()
