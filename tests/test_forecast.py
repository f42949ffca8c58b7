"""Tests of rnn_tutorial.forecast (the Time-series forecasting chapter)."""

from __future__ import annotations

import re
from collections.abc import Callable

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


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((10.5, 30, 5, 1), "start must be an integer >= 0, got 10.5 of type float"),
        ((10, 30.7, 5, 1), "stop must be an integer, got 30.7 of type float"),
        ((10.0, 30, 5, 1), "start must be an integer"),  # whole floats are refused too
        ((10, 30, 5.0, 1), "horizon must be an integer >= 1"),
        ((10, 30, 5, 2.0), "step must be an integer >= 1"),
        ((True, 30, 5, 1), "start must be an integer"),
        ((np.float64(10), 30, 5, 1), "start must be an integer"),
        ((10, np.bool_(True), 5, 1), "stop must be an integer"),
    ],
)
def test_rolling_origins_never_floors_a_float_position(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=re.escape(match)):
        fc.rolling_origins(*args)


def test_positions_accept_numpy_integers() -> None:
    o = fc.rolling_origins(np.int64(10), np.int32(30), np.int16(5), np.uint8(4))
    assert o.tolist() == fc.rolling_origins(10, 30, 5, 4).tolist()
    y = np.arange(20.0)
    x, target = fc.windows(y, np.array([5, 12], dtype=np.int32), np.int64(3), np.int64(2))
    assert x.tolist() == [[2, 3, 4], [9, 10, 11]] and target.tolist() == [[5, 6], [12, 13]]
    f = fc.seasonal_naive_forecast(y, [6], np.int64(4), m=np.int32(3))
    assert f.tolist() == [[3, 4, 5, 3]]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda y: fc.windows(y, [5], 3.0, 1), "window must be an integer >= 1"),
        (lambda y: fc.windows(y, [5], 3, 1.0), "horizon must be an integer >= 0"),
        (lambda y: fc.windows(y, [5], True, 1), "window must be an integer >= 1"),
        (lambda y: fc.naive_forecast(y, [5], 2.0), "horizon must be an integer"),
        (lambda y: fc.seasonal_naive_forecast(y, [5], 2, m=2.0), "m must be an integer"),
        (lambda y: fc.drift_forecast(y, [5], 2.5), "horizon must be an integer"),
        (lambda y: fc.mase_scale(y, 52.18), "m must be an integer"),
        (lambda y: fc.block_bootstrap_ci(y[:, None], block=2.0), "block must be an integer"),
        (lambda y: fc.block_bootstrap_ci(y[:, None], 2, n_boot=100.0), "n_boot must be"),
    ],
)
def test_float_positions_and_counts_are_refused(call: Callable, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(np.arange(20.0))


def test_benchmarks_and_windows_refuse_nan_or_inf_in_the_values_they_read() -> None:
    y = np.arange(20.0)
    y[8] = np.nan
    y[15] = np.inf
    gap = "y contains 1 NaN value(s) at positions [8]; fill the gaps"
    with pytest.raises(ValueError, match=re.escape(gap)):
        fc.windows(y, [10], 3, 1)  # window y[7:10]
    with pytest.raises(ValueError, match=re.escape(gap)):
        fc.windows(y, [6], 1, 3)  # target y[6:9]
    both = "y contains 1 NaN value(s) and 1 infinite value(s) at positions [8, 15]"
    with pytest.raises(ValueError, match=re.escape(both)):
        fc.windows(y, [10, 17], 3, 1)
    with pytest.raises(ValueError, match=re.escape(gap)):
        fc.naive_forecast(y, [9], 2)
    with pytest.raises(ValueError, match=re.escape("infinite value(s) at positions [15]")):
        fc.seasonal_naive_forecast(y, [18], 4, m=3)
    with pytest.raises(ValueError, match=re.escape(gap)):
        fc.drift_forecast(y, [9], 2)
    z = np.arange(20.0)
    z[0] = np.nan  # drift reads y[0] at every origin
    with pytest.raises(ValueError, match=re.escape("NaN value(s) at positions [0]")):
        fc.drift_forecast(z, [5], 2)
    # Values that are never read may be missing: the future after the last origin, say.
    w = np.arange(20.0)
    w[15:] = np.nan
    assert fc.naive_forecast(w, [10], 3).tolist() == [[9, 9, 9]]
    assert fc.windows(w, [10], 3, 5)[1].tolist() == [[10, 11, 12, 13, 14]]
    assert fc.seasonal_naive_forecast(w, [12], 2, m=4).tolist() == [[8, 9]]


def test_mase_scale_refuses_inf() -> None:
    with pytest.raises(ValueError, match=re.escape("y_train contains 1 infinite value(s)")):
        fc.mase_scale([1.0, 2, np.inf, 3], 1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("which", ["y_true", "y_pred"])
def test_mase_refuses_nan_and_inf(bad: float, which: str) -> None:
    args = {"y_true": np.array([[1.0, 2], [3, 4]]), "y_pred": np.array([[2.0, 2], [3, 6]])}
    args[which][1, 0] = bad
    kind = "NaN" if np.isnan(bad) else "infinite"
    message = f"{which} contains 1 {kind} value(s) at positions [(1, 0)]; drop or fill them"
    with pytest.raises(ValueError, match=re.escape(message)):
        fc.mase(args["y_true"], args["y_pred"], 1.0)
    with pytest.raises(ValueError, match=re.escape(message)):
        fc.mase(args["y_true"], args["y_pred"], 1.0, axis=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("which", ["y_true", "q_pred"])
def test_pinball_loss_refuses_nan_and_inf(bad: float, which: str) -> None:
    args = {"y_true": np.array([0.0, 10.0]), "q_pred": np.array([[1.0, 2.0], [1.0, 2.0]])}
    args[which][1] = bad
    with pytest.raises(ValueError, match=f"{which} contains .* at positions"):
        fc.pinball_loss(args["y_true"], args["q_pred"], [0.1, 0.9])
    with pytest.raises(ValueError, match="levels in"):
        fc.pinball_loss(np.zeros(2), np.zeros((2, 2)), [0.1, np.nan])


def test_interval_coverage_refuses_nan_and_inf() -> None:
    # The review's example: the NaN target used to count as a miss (coverage 0.5).
    message = "y_true contains 1 NaN value(s) at positions [1]; drop or fill them before scoring"
    with pytest.raises(ValueError, match=re.escape(message)):
        fc.interval_coverage([1, np.nan], [0, 0], [2, 2])
    with pytest.raises(ValueError, match=re.escape("lower contains 1 NaN value(s)")):
        fc.interval_coverage([1, 1], [0, np.nan], [2, 2])
    with pytest.raises(ValueError, match=re.escape("upper contains 1 NaN value(s)")):
        fc.interval_coverage([1, 1], [0, 0], [np.nan, 2])
    with pytest.raises(ValueError, match=re.escape("upper contains 1 infinite value(s)")):
        fc.interval_coverage([1, 1], [0, 0], [np.inf, 2])
    with pytest.raises(ValueError, match=re.escape("y_true contains 2 infinite value(s)")):
        fc.interval_coverage([np.inf, -np.inf], [0, 0], [2, 2])
    with pytest.raises(ValueError, match="shapes differ"):
        fc.interval_coverage([1, 1], [0, 0], [2, 2, 2])


def test_block_bootstrap_ci_refuses_nan_and_inf() -> None:
    e = np.ones((10, 3))
    e[4, 2] = np.nan
    message = "errors contains 1 NaN value(s) at positions [(4, 2)]"
    with pytest.raises(ValueError, match=re.escape(message)):
        fc.block_bootstrap_ci(e, block=2)
    e[4, 2] = np.inf
    with pytest.raises(ValueError, match=re.escape("errors contains 1 infinite value(s)")):
        fc.block_bootstrap_ci(e, block=2)


def test_many_bad_positions_are_listed_briefly() -> None:
    y_true = np.full(30, np.nan)
    message = "30 NaN value(s) at positions [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] and 20 more"
    with pytest.raises(ValueError, match=re.escape(message)):
        fc.mase(y_true, np.zeros(30), 1.0)
