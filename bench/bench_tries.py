#!/usr/bin/env python3
"""Tries benchmark: 40 configurations tried through the CLI on one held-out window of a random walk (no
configuration can have real skill), as an analyst searching for a promotion would try them.

    .venv/bin/python bench/bench_tries.py [--tries 40] [--keep DIR]

The first run is the whole pipeline; every other one starts at model_training with other hyperparameters (ridge
alphas, gradient-boosting depths and learning rates, seeds). Prints, per try, the tries count the gate corrected
for and its decision, and at the end how many were promoted, how many the uncorrected gate (every p-value
against ``auto_max_p_value`` itself, as before the tries ledger) would have promoted, and the wall time.
Target: no promotion, whatever the uncorrected gate says; the count ends at the number of tries.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

COMMON = ["-p", "source", "csv", "-p", "ticker", "RWX", "-p", "start", "2004-01-01", "-p", "end", "2008-12-31"]
COMMON += ["-p", "approval_policy", "auto", "-p", "walk_forward_folds", "3", "-p", "gb_n_estimators", "30"]


def configurations(n: int) -> list[list[str]]:
    """``n`` distinct configurations: ridge over a grid of alphas, gradient boosting over depths, learning
    rates and seeds (the first is the profile's defaults)."""
    out: list[list[str]] = [[]]
    alphas = [0.003, 0.01, 0.03, 0.1, 0.3, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0]
    for alpha in alphas:
        out.append(["-p", "candidates", "ridge", "-p", "ridge_alpha", str(alpha)])
    for depth in (1, 2, 3):
        for rate in (0.02, 0.05, 0.1):
            for seed in (1, 2, 3):
                out.append(["-p", "candidates", "gradient_boosting", "-p", "gb_max_depth", str(depth)]
                           + ["-p", "gb_learning_rate", str(rate), "-p", "random_seed", str(seed)])  # fmt: skip
    if n > len(out):
        raise SystemExit(f"at most {len(out)} configurations are defined; asked for {n}")
    return out[:n]


def uncorrected_decision(gate: dict) -> str:
    """What the gate would have said without the tries correction: every p-value check against the profile's
    ``auto_max_p_value`` (0.05), every other check as it was."""
    passed = []
    for c in gate["checks"]:
        if "p-value" in c["check"]:
            passed.append(c["value"] is not None and c["value"] < 0.05)
        else:
            passed.append(c["passed"])
    return "promote" if all(passed) else "keep"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=40)
    parser.add_argument("--keep", type=Path, default=None, help="outputs folder to keep (default: a temporary one)")
    args = parser.parse_args()
    from helpers import ar_prices, write_classic_yahoo  # the tests' writer: an AR(0) series is a random walk

    with tempfile.TemporaryDirectory(prefix="aapl-bench-tries-") as tmp:
        outputs = args.keep or Path(tmp) / "outputs"
        csv = write_classic_yahoo(Path(tmp) / "RW.csv", ar_prices(0.0))
        started = time.perf_counter()
        promoted = uncorrected = 0
        configs = configurations(args.tries)
        for i, config in enumerate(configs, 1):
            start = [] if i == 1 else ["--start-task", "model_training"]
            proc = subprocess.run(
                [sys.executable, str(ROOT / "runner.py"), *COMMON, "-p", "csv_path", str(csv), *config, *start,
                 "--outputs", str(outputs)],
                cwd=ROOT, capture_output=True, text=True,
            )  # fmt: skip
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-2000:])
                return 1
            run_dir = (outputs / "latest").resolve()
            gate = json.loads((run_dir / "reports" / "gate.json").read_text())
            decision = json.loads((run_dir / "reports" / "decision.json").read_text())["decision"]
            promoted += decision == "promoted"
            uncorrected += uncorrected_decision(gate) == "promote"
            p_values = {c["check"].split(" p-value")[0]: c["value"] for c in gate["checks"] if "p-value" in c["check"]}
            print(f"try {i:2d}: count {gate['tries']['count']:2d}, {decision:9s} {' '.join(config) or '(defaults)'}; "
                  f"p-values {p_values}", flush=True)  # fmt: skip
        seconds = time.perf_counter() - started
    print(
        f"{len(configs)} configurations on one random-walk window: {promoted} promoted with the tries correction, "
        f"{uncorrected} would have been promoted by the uncorrected gate; tries count at the end "
        f"{gate['tries']['count']}; {seconds:.0f} s ({seconds / len(configs):.1f} s per try)"
    )
    return 0 if promoted == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
