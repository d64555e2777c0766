#!/usr/bin/env python3
"""Checkpoint benchmark: cold run, rerun with nothing changed, rerun after a change to task 5's notebook.

    .venv/bin/python bench/bench_checkpoints.py [--repeat N]

Works on a throw-away copy of the project (so the notebook edit never touches the repository) and prints the
three wall times side by side, measured in one invocation, with the targets:
  * a rerun with nothing changed takes <= 0.5 s wall;
  * a rerun after editing notebook 05 costs no more than tasks 5 and 6 of the cold run plus 0.5 s.
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


def copy_project(dest: Path) -> None:
    for name in ("aapl_lib", "notebooks", "params"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "runner.py", dest / "runner.py")


def timed_run(project: Path, env: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(project / "runner.py")], cwd=project, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1]}")
    manifest = json.loads(((project / "outputs" / "latest").resolve() / "manifest.json").read_text())
    return wall, manifest


def edit_notebook(path: Path, n: int) -> None:
    nb = json.loads(path.read_text())
    nb["cells"].insert(
        1,
        {
            "cell_type": "markdown",
            "id": f"bench-{n}",
            "metadata": {},
            "source": f"Reviewer's note {n}: this edit changes the notebook's source.",
        },
    )
    path.write_text(json.dumps(nb, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="no-op and edited reruns per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aapl-bench-ckpt-") as tmp:
        project = Path(tmp)
        copy_project(project)
        env = {**os.environ, "PYTHONPATH": str(project), "AAPL_OUTPUTS_DIR": str(project / "outputs")}
        cold, cold_manifest = timed_run(project, env)
        tasks56 = sum(cold_manifest["tasks"][t]["duration_s"] for t in ("model_evaluation", "reporting"))
        noop = []
        for _ in range(args.repeat):
            wall, manifest = timed_run(project, env)
            assert {t["status"] for t in manifest["tasks"].values()} == {"reused"}, manifest["tasks"]
            noop.append(wall)
        edited, executed = [], set()
        for n in range(args.repeat):
            edit_notebook(project / "notebooks" / "05_model_evaluation.ipynb", n)
            wall, manifest = timed_run(project, env)
            executed |= {name for name, t in manifest["tasks"].items() if t["status"] == "success"}
            edited.append(wall)
    noop_s, edit_s = statistics.median(noop), statistics.median(edited)
    print(f"{'measurement':<44}{'wall s':>8}")
    print(f"{'cold run (6 tasks executed)':<44}{cold:>8.2f}")
    print(f"{f'rerun, nothing changed (median of {args.repeat})':<44}{noop_s:>8.3f}")
    print(f"{'rerun after editing notebook 05 (median)':<44}{edit_s:>8.2f}   executed: {', '.join(sorted(executed))}")
    print(f"{'tasks 5 + 6 in the cold run':<44}{tasks56:>8.2f}")
    print()
    print(
        f"no-op rerun <= 0.5 s: {'met' if noop_s <= 0.5 else 'NOT met'} ({noop_s:.3f} s, "
        f"{cold / noop_s:.0f}x faster than cold)"
    )
    print(
        f"notebook-05 rerun <= tasks 5+6 cold + 0.5 s: {'met' if edit_s <= tasks56 + 0.5 else 'NOT met'} "
        f"({edit_s:.2f} s vs {tasks56 + 0.5:.2f} s)"
    )


if __name__ == "__main__":
    main()
