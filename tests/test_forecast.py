"""Tests of rnn_tutorial.forecast (the Time-series forecasting chapter)."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tutorial import forecast as fc


def test_rolling_origins_keep_every_target_inside_the_segment() -> None:
    o = fc.rolling_origins(10, 30, horizon=5, step=4)
    assert o.tolist() == [10, 14, 18, 22]
    assert (o + 5 <= 30).all() and o.dtype == np.int64
    assert fc.rolling_origins(0, 5, horizon=5).tolist() == [0]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((10, 14, 5, 1), "too short"),
        ((10, 30, 0, 1), "horizon"),
        ((10, 30, 5, 0), "step"),
        ((-1, 30, 5, 1), "start"),
        ((10, 30, True, 1), "horizon"),
    ],
)
def test_rolling_origins_rejects_bad_input(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fc.rolling_origins(*args)


def test_windows_cut_history_and_future() -> None:
    y = np.arange(20.0)
    x, target = fc.windows(y, [5, 12], window=3, horizon=2)
    assert x.tolist() == [[2, 3, 4], [9, 10, 11]]
    assert target.tolist() == [[5, 6], [12, 13]]
    x, target = fc.windows(y, [20], window=4, horizon=0)
    assert x.tolist() == [[16, 17, 18, 19]] and target.shape == (1, 0)
    with pytest.raises(ValueError, match="known values before"):
        fc.windows(y, [2], window=3, horizon=1)
    with pytest.raises(ValueError, match="after it"):
        fc.windows(y, [19], window=3, horizon=2)
    with pytest.raises(ValueError, match="integer"):
        fc.windows(y, [2.5], window=1, horizon=1)
    with pytest.raises(ValueError, match="1-D"):
        fc.windows(np.zeros((3, 3)), [1], window=1, horizon=1)


def test_benchmark_forecasts() -> None:
    y = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert fc.naive_forecast(y, [4], 3).tolist() == [[4, 4, 4]]
    # m = 3: step k takes the value one season before, repeating the last season.
    assert fc.seasonal_naive_forecast(y, [6], 7, m=3).tolist() == [[4, 5, 6, 4, 5, 6, 4]]
    # drift: the line through y[0] and y[o - 1], slope (4 - 1) / 3 = 1.
    assert fc.drift_forecast(y, [4], 3).tolist() == [[5, 6, 7]]
    # Only the history is read: values after the origin do not matter.
    z = y.copy()
    z[6:] = -100
    assert (fc.seasonal_naive_forecast(z, [6], 4, m=3) == [[4, 5, 6, 4]]).all()
    with pytest.raises(ValueError, match="known values before"):
        fc.seasonal_naive_forecast(y, [2], 2, m=3)


def test_seasonal_naive_is_exact_on_a_periodic_series() -> None:
    season = np.array([3.0, -1, 2, 0.5])
    y = np.tile(season, 10)
    origins = fc.rolling_origins(4, 40, horizon=9)
    f = fc.seasonal_naive_forecast(y, origins, 9, m=4)
    assert np.array_equal(f, fc.windows(y, origins, 1, 9)[1])


def test_mase_scale_and_mase() -> None:
    y = np.array([1.0, 3, 2, 5, 4])
    assert fc.mase_scale(y, 1) == pytest.approx((2 + 1 + 3 + 1) / 4)
    assert fc.mase_scale(y, 2) == pytest.approx((1 + 2 + 2) / 3)
    truth = np.array([[1.0, 2], [3, 4]])
    pred = np.array([[2.0, 2], [3, 6]])
    assert fc.mase(truth, pred, 2.0) == pytest.approx(3 / 4 / 2)
    assert fc.mase(truth, pred, 0.5, axis=0).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="more than m"):
        fc.mase_scale(y, 5)
    with pytest.raises(ValueError, match="NaN"):
        fc.mase_scale([1.0, np.nan, 2, 3], 1)
    with pytest.raises(ValueError, match="undefined"):
        fc.mase_scale([1.0, 2, 1, 2], 2)
    with pytest.raises(ValueError, match="shapes differ"):
        fc.mase(truth, pred[:1], 1.0)
    with pytest.raises(ValueError, match="scale"):
        fc.mase(truth, pred, 0.0)


def test_pinball_loss() -> None:
    y = np.array([0.0, 10.0])
    q = np.array([[1.0, 2.0], [1.0, 2.0]])  # two quantile levels for each of two values
    # y=0: u = -1, -2 -> (0.1-1)(-1)=0.9, (0.9-1)(-2)=0.2; y=10: u = 9, 8 -> 0.9, 7.2
    assert fc.pinball_loss(y, q, [0.1, 0.9]) == pytest.approx((0.9 + 0.2 + 0.9 + 7.2) / 4)
    # At level 0.5 the pinball loss is half the absolute error.
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert fc.pinball_loss(a, b[:, None], [0.5]) == pytest.approx(0.5 * np.mean(np.abs(a - b)))
    # The empirical quantile minimises the pinball loss of a sample.
    s = rng.normal(size=2001)
    grid = np.linspace(-3, 3, 601)
    losses = [fc.pinball_loss(s, np.full((len(s), 1), g), [0.8]) for g in grid]
    assert grid[int(np.argmin(losses))] == pytest.approx(np.quantile(s, 0.8), abs=0.02)
    with pytest.raises(ValueError, match="levels in"):
        fc.pinball_loss(y, q, [0.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        fc.pinball_loss(y, q[:, :1], [0.1, 0.9])


def test_interval_coverage() -> None:
    y = np.array([0.0, 1, 2, 3])
    assert fc.interval_coverage(y, y - 1, y + 1) == 1.0
    assert fc.interval_coverage(y, np.full(4, 0.5), np.full(4, 2.0)) == 0.5
    with pytest.raises(ValueError, match="crossed"):
        fc.interval_coverage(y, y + 1, y)
    with pytest.raises(ValueError, match="shapes differ"):
        fc.interval_coverage(y, y[:2], y[:2])
    with pytest.raises(ValueError, match="no values"):
        fc.interval_coverage(y[:0], y[:0], y[:0])


def test_block_bootstrap_ci() -> None:
    rng = np.random.default_rng(1)
    e = rng.normal(loc=2.0, size=(400, 3))
    lo, hi = fc.block_bootstrap_ci(e, block=5, n_boot=500, seed=0)
    assert lo.shape == hi.shape == (3,)
    assert (lo < e.mean(0)).all() and (e.mean(0) < hi).all()
    assert (hi - lo < 0.5).all()
    again = fc.block_bootstrap_ci(e, block=5, n_boot=500, seed=0)
    assert np.array_equal(again[0], lo) and np.array_equal(again[1], hi)
    # Correlated rows: blocks give a wider (more honest) band than single-row resampling.
    walk = np.repeat(rng.normal(size=40), 10)[:, None]
    lo1, hi1 = fc.block_bootstrap_ci(walk, block=1, n_boot=2000, seed=0)
    lo10, hi10 = fc.block_bootstrap_ci(walk, block=20, n_boot=2000, seed=0)
    assert (hi10 - lo10)[0] > 1.5 * (hi1 - lo1)[0]
    with pytest.raises(ValueError, match="longer"):
        fc.block_bootstrap_ci(e[:3], block=5)
    with pytest.raises(ValueError, match="level"):
        fc.block_bootstrap_ci(e, block=5, level=1.0)
