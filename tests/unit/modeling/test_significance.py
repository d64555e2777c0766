"""The Diebold–Mariano p-value the gate, the champion comparison and the track record use, checked against
computations that share no code with ``aapl_lib.modeling.significance``: scipy's one-sample t-test and the
formula written out by hand, on a small series whose figures are known."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from scipy import stats

from aapl_lib.modeling.significance import diebold_mariano

# Ten days of returns, a forecast that mostly calls them right, and the zero-return forecast.
ACTUAL = np.array([0.012, -0.004, 0.007, -0.015, 0.003, 0.009, -0.006, 0.011, -0.002, 0.005])
FORECAST = np.array([0.004, 0.001, 0.002, -0.006, -0.002, 0.005, 0.001, 0.003, 0.002, 0.001])
ZERO = np.zeros(len(ACTUAL))
# One-sided p of "the forecast beats zero": t = -1.97034 on 9 degrees of freedom, the lower tail of Student's t
# (computed once from the loss differences below, outside the project's code, and written down here).
EXPECTED_P = 0.0401489


def test_the_one_day_dm_p_value_is_the_t_test_of_the_loss_differences():
    """With a one-day horizon, the Harvey–Leybourne–Newbold corrected statistic is the one-sample t statistic of
    the squared-error differences, read against Student's t with n - 1 degrees of freedom (not the normal)."""
    losses = [(a - f) ** 2 - a**2 for a, f in zip(ACTUAL.tolist(), FORECAST.tolist(), strict=True)]
    n = len(losses)
    by_hand = statistics.fmean(losses) / (statistics.stdev(losses) / math.sqrt(n))
    result = diebold_mariano(ACTUAL, FORECAST, ZERO)
    assert result["n"] == n and result["mean_loss_difference"] == pytest.approx(statistics.fmean(losses), rel=1e-12)
    assert result["statistic"] == pytest.approx(by_hand, rel=1e-10)
    assert result["statistic"] == pytest.approx(-1.9703425, abs=1e-6)

    one_sided = stats.ttest_1samp(losses, 0.0, alternative="less")
    assert result["p_value_a_better"] == pytest.approx(one_sided.pvalue, rel=1e-9)
    assert result["p_value_a_better"] == pytest.approx(EXPECTED_P, abs=1e-6)
    assert result["p_value_two_sided"] == pytest.approx(stats.ttest_1samp(losses, 0.0).pvalue, rel=1e-9)
    assert result["p_value_two_sided"] == pytest.approx(2 * EXPECTED_P, abs=2e-6)
    # a normal reading would have said 0.024: small samples are where the correction matters
    assert abs(stats.norm.cdf(by_hand) - EXPECTED_P) > 0.01


def test_swapping_the_forecasts_mirrors_the_p_value():
    forward = diebold_mariano(ACTUAL, FORECAST, ZERO)
    backward = diebold_mariano(ACTUAL, ZERO, FORECAST)
    assert backward["statistic"] == pytest.approx(-forward["statistic"], rel=1e-12)
    assert backward["p_value_a_better"] == pytest.approx(1 - EXPECTED_P, abs=1e-6)
