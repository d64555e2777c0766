"""Is a forecast's edge real? Diebold–Mariano on squared-error differences, and the Pesaran–Timmermann test
of directional accuracy against the chance level that the forecast's own up-call rate and the up-day rate
imply — not against a coin: in a rising market a forecast that mostly says "up" is right more than half the
time without any skill, and so is the ``always_up`` baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from aapl_lib.modeling.metrics import directional_accuracy


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
        return {
            "statistic": 0.0,
            "p_value_two_sided": 1.0,
            "p_value_a_better": 0.5,
            "n": n,
            "mean_loss_difference": float(mean),
        }
    dm = mean / np.sqrt(var / n)
    correction = np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    stat = float(dm * correction)
    return {
        "statistic": stat,
        "p_value_two_sided": float(2 * stats.t.sf(abs(stat), df=n - 1)),
        "p_value_a_better": float(stats.t.cdf(stat, df=n - 1)),
        "n": n,
        "mean_loss_difference": float(mean),
    }


def direction_test(actual: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Pesaran–Timmermann (1992) test that the predicted sign matches the actual sign more often than it would
    if the two were independent (days where either is zero are left out).

    The chance level is ``p_up_pred * p_up_actual + (1 - p_up_pred) * (1 - p_up_actual)``: what a forecast
    with the same share of "up" calls would score by luck. ``p_value`` is one-sided ("better than chance");
    it is None when the forecast never changes its call (a constant direction has no timing to test) or when
    nothing has a sign, and ``why`` then says which.

    This is the project's one direction test: the held-out tables, the gate, the batch page and the live track
    record all call it, so a constant "up" call is never significant anywhere (a binomial test against 50 %
    would call a rising market skill)."""
    actual, pred = np.asarray(actual, float), np.asarray(pred, float)
    mask = (actual != 0) & (pred != 0)
    n = int(mask.sum())
    if n == 0:
        return {
            "hits": 0,
            "n": 0,
            "accuracy": None,
            "chance_level": None,
            "up_call_rate": None,
            "up_day_rate": None,
            "statistic": None,
            "p_value": None,
            "why": "no day where both the forecast and the outcome have a sign",
        }
    up_actual, up_pred = actual[mask] > 0, pred[mask] > 0
    hits = int((up_actual == up_pred).sum())
    accuracy = hits / n
    py, px = float(up_actual.mean()), float(up_pred.mean())
    chance = py * px + (1 - py) * (1 - px)
    var_hits = chance * (1 - chance) / n
    var_chance = (
        (2 * py - 1) ** 2 * px * (1 - px) / n
        + (2 * px - 1) ** 2 * py * (1 - py) / n
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    )
    out = {
        "hits": hits,
        "n": n,
        "accuracy": accuracy,
        "chance_level": chance,
        "up_call_rate": px,
        "up_day_rate": py,
        "statistic": None,
        "p_value": None,
        "why": None,
    }
    if not 0 < px < 1:
        out["why"] = "no timing to test: the forecast makes the same call every day"
    elif var_hits - var_chance > 1e-15:
        stat = (accuracy - chance) / np.sqrt(var_hits - var_chance)
        out.update(statistic=float(stat), p_value=float(stats.norm.sf(stat)))
    else:
        out["why"] = "no variation to test: every day moved the same way"
    return out


def sharpe_standard_error(sharpe_per_period: float, n: int) -> float:
    """Standard error of a Sharpe ratio estimated from ``n`` i.i.d. returns (Lo, 2002):
    ``sqrt((1 + sharpe² / 2) / n)``, in the same per-period units as ``sharpe_per_period``."""
    return float(np.sqrt((1 + 0.5 * sharpe_per_period**2) / n)) if n > 1 else float("nan")


def predictor_tests(
    actual: np.ndarray, pred: np.ndarray, predictions: dict[str, np.ndarray], best_baseline: str, name: str
) -> dict[str, Any]:
    """The tests shown for predictor ``name`` among ``predictions`` (which hold every baseline): one-sided
    Diebold–Mariano against the zero return and against the best naive baseline, Pesaran–Timmermann for its
    direction calls against chance, that chance level, and its directional edge over ``always_up`` on the
    same days (percentage points as a fraction; None for a forecast without a sign)."""
    direction = direction_test(actual, pred)
    accuracy = directional_accuracy(actual, pred)
    always_up = directional_accuracy(actual, predictions["always_up"])
    return {
        "dm_vs_zero_return_p": None
        if name == "zero_return"
        else diebold_mariano(actual, pred, predictions["zero_return"])["p_value_a_better"],
        "dm_vs_best_baseline_p": None
        if name == best_baseline
        else diebold_mariano(actual, pred, predictions[best_baseline])["p_value_a_better"],
        "direction_p": direction["p_value"],
        "direction_chance": direction["chance_level"],
        "direction_edge_vs_always_up": None if accuracy is None or always_up is None else accuracy - always_up,
    }
