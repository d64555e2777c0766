"""Is a forecast's edge real? Diebold–Mariano on squared-error differences and a binomial test of
directional accuracy against a coin flip."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


def diebold_mariano(actual: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, horizon: int = 1) -> dict[str, Any]:
    """Diebold–Mariano test of equal squared-error loss of forecasts a and b (Harvey–Leybourne–Newbold small-sample
    correction, Newey–West variance with ``horizon - 1`` lags). ``statistic < 0`` means a has the lower loss;
    ``p_value_a_better`` is the one-sided p-value of "a is more accurate than b"."""
    actual, pred_a, pred_b = (np.asarray(x, float) for x in (actual, pred_a, pred_b))
    d = (actual - pred_a) ** 2 - (actual - pred_b) ** 2
    n = len(d)
    mean = d.mean()
    gamma0 = np.mean((d - mean) ** 2)
    var = gamma0 + 2 * sum(np.mean((d[k:] - mean) * (d[:-k] - mean)) for k in range(1, horizon))
    if n < 3 or var <= 0:
        return {"statistic": 0.0, "p_value_two_sided": 1.0, "p_value_a_better": 0.5, "n": n,
                "mean_loss_difference": float(mean)}
    dm = mean / np.sqrt(var / n)
    correction = np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    stat = float(dm * correction)
    return {"statistic": stat, "p_value_two_sided": float(2 * stats.t.sf(abs(stat), df=n - 1)),
            "p_value_a_better": float(stats.t.cdf(stat, df=n - 1)), "n": n, "mean_loss_difference": float(mean)}


def direction_test(actual: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """One-sided binomial test that the sign is called right more often than 50 % (days where either is zero
    are left out). ``p_value`` is None when the forecast never has a sign."""
    actual, pred = np.asarray(actual, float), np.asarray(pred, float)
    mask = (actual != 0) & (pred != 0)
    n = int(mask.sum())
    if n == 0:
        return {"hits": 0, "n": 0, "accuracy": None, "p_value": None}
    hits = int((np.sign(actual[mask]) == np.sign(pred[mask])).sum())
    return {"hits": hits, "n": n, "accuracy": hits / n,
            "p_value": float(stats.binomtest(hits, n, 0.5, alternative="greater").pvalue)}
