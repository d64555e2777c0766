"""Where the leakage guard cuts the prices, and how close a recomputed feature must be to count as equal.

Cut days come from four rules (:func:`cut_plan`); values are compared relative to each feature's own scale
(:func:`feature_scale`), so a look-ahead of tiny magnitude cannot hide under an absolute tolerance.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from aapl_lib.pipeline.parameters import default

DEFAULT_SEED = int(default("random_seed"))  # the guard's random cut days, unless the run gives its own

# Truncation invariance: equal within RTOL of the value plus ATOL_FRACTION of the feature's full-sample std.
# Rolling sums and EWMs repeat their float steps exactly on cut prices; what differs by rounding (an FFT
# convolution, a solver) differs by ~1e-15 of the feature's scale. A fixed absolute tolerance would let a
# look-ahead of magnitude 1e-13 through, which a StandardScaler then blows up into a perfect signal.
RTOL = 1e-9
ATOL_FRACTION = 1e-9
CUT_DEFAULTS = {"samples": 8, "last_days": 5, "largest_moves": 10, "random_days": 8, "min_rows": 80}
RULE_NAMES = {  # rule -> how the summary names it
    "evenly spaced": "evenly spaced",
    "last days": "last",
    "before the largest moves": "before the largest moves",
    "random": "random",
}


def cut_plan(
    close: pd.Series,
    seed: int = DEFAULT_SEED,
    samples: int = 8,
    last_days: int = 5,
    largest_moves: int = 10,
    random_days: int = 8,
    min_rows: int = 80,
) -> dict[int, list[str]]:
    """Row positions to cut the prices after, each with the rules that chose it: ``samples`` evenly spaced
    days; each of the last ``last_days`` days (a look-ahead shows first where the future is shortest); the day
    before each of the ``largest_moves`` largest absolute close-to-close returns (a feature that knows a rare
    event shows it only there); ``random_days`` days drawn with ``numpy.random.default_rng(seed)`` (no fixed
    day to dodge). Cuts keep at least ``min_rows`` rows (the features' look-back) and at least one day after the cut."""
    n = len(close)
    if n <= min_rows + 1:
        return {}
    plan: dict[int, list[str]] = {}

    def add(positions: Iterable[int], rule: str) -> None:
        for pos in positions:
            if rule not in plan.setdefault(int(pos), []):
                plan[int(pos)].append(rule)

    add(np.linspace(min_rows, n - 2, samples).astype(int), "evenly spaced")
    add((n - 1 - k for k in range(1, last_days + 1) if n - 1 - k >= min_rows), "last days")
    moves = close.pct_change().abs().to_numpy()[min_rows + 1 :]  # the move on day p+1, for a cut after day p
    order = np.argsort(-np.nan_to_num(moves, nan=-1.0), kind="stable")[:largest_moves]
    add((min_rows + int(i) for i in order if np.isfinite(moves[i])), "before the largest moves")
    candidates = np.arange(min_rows, n - 1)
    drawn = np.random.default_rng(seed).choice(candidates, size=min(random_days, len(candidates)), replace=False)
    add(drawn, "random")
    return dict(sorted(plan.items()))


def feature_scale(values: np.ndarray) -> float:
    """The feature's full-sample std (NaN ignored), computed on values divided by their largest magnitude so
    that a tiny feature does not underflow to 0; its largest magnitude when it is constant; 0 when all zero."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return 0.0
    peak = float(np.max(np.abs(finite)))
    if peak == 0.0:
        return 0.0
    std = float(np.std(finite / peak)) * peak
    return std if std > 0 else peak
