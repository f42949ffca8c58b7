"""Forecast evaluation the way forecasters do it (introduced in the Time-series forecasting
chapter).

Conventions. A series is a 1-D array ``y``. A *forecast origin* ``o`` is an index: the
forecaster knows ``y[:o]`` and forecasts ``y[o], ..., y[o + horizon - 1]``, the horizon steps
``1, ..., horizon``. Forecasts for many origins are stacked into arrays of shape
``(N, horizon)``, one row per origin, so that errors can be averaged per horizon step.

Bad input raises ``ValueError`` instead of giving a quietly wrong number: a NaN or inf among the
values a function reads (fill the gaps first, e.g. by interpolation), shapes that do not match,
and positions (origins, ``start``, ``stop``, ``window``, ``horizon``, ...) that are not integers.
Python and NumPy integers are accepted; a float or bool position is never rounded.

- :func:`rolling_origins` lists the origins of a rolling-origin (walk-forward) evaluation;
- :func:`windows` cuts the input windows and targets at given origins;
- :func:`naive_forecast`, :func:`seasonal_naive_forecast`, :func:`drift_forecast`: the
  benchmark forecasts every method must beat;
- :func:`mase_scale`, :func:`mase`: the mean absolute scaled error of Hyndman and Koehler
  (2006), scaled by the in-sample MAE of the seasonal naive forecast;
- :func:`pinball_loss`, :func:`interval_coverage`: scoring quantile forecasts and intervals;
- :func:`block_bootstrap_ci`: an uncertainty band for a per-horizon mean error over origins whose
  errors are correlated (neighbouring origins share most of their targets).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "block_bootstrap_ci",
    "drift_forecast",
    "interval_coverage",
    "mase",
    "mase_scale",
    "naive_forecast",
    "pinball_loss",
    "rolling_origins",
    "seasonal_naive_forecast",
    "windows",
]


def _integer(value: object, name: str, minimum: int | None = 1) -> int:
    """``value`` as an ``int``: a Python or NumPy integer (not a bool) of at least ``minimum``.

    A float is refused, never floored, even when it is whole (``10.0``).
    """
    bound = "" if minimum is None else f" >= {minimum}"
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise ValueError(
            f"{name} must be an integer{bound}, got {value!r} of type {type(value).__name__}; "
            "pass an int (a float is never rounded)"
        )
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer{bound}, got {value!r}")
    return int(value)


def _check_finite(
    values: np.ndarray, name: str, hint: str, where: np.ndarray | None = None
) -> None:
    """Raise ``ValueError`` naming ``name`` and the positions of its NaN and inf values.

    ``where`` (1-D ``values`` only) gives each value's position in the caller's array; by
    default a value's position is its own index (a tuple for an array of more than one axis).
    """
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    if where is not None:
        positions: list = [int(i) for i in where[bad]]
    elif values.ndim == 1:
        positions = [int(i) for i in np.flatnonzero(bad)]
    else:
        positions = [tuple(int(i) for i in p) for p in np.argwhere(bad)]
    n_nan = int(np.isnan(values).sum())
    counts = ((n_nan, "NaN"), (int(bad.sum()) - n_nan, "infinite"))
    what = " and ".join(f"{n} {kind} value(s)" for n, kind in counts if n)
    more = f" and {len(positions) - 10} more" if len(positions) > 10 else ""
    raise ValueError(f"{name} contains {what} at positions {positions[:10]}{more}; {hint}")


_FILL = "fill the gaps (e.g. by interpolation) first"


def _check_read(y: np.ndarray, index: np.ndarray) -> None:
    """Check that the values ``y[index]`` a forecast reads are finite (positions in ``y``)."""
    read = np.unique(index)
    _check_finite(y[read], "y", _FILL, where=read)


def _series(y: object) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"the series must be 1-D, got shape {y.shape}")
    return y


def _origins(origins: object, y: np.ndarray, horizon: int, history: int) -> np.ndarray:
    """Origins as int64, checked: ``history <= o`` and ``o + horizon <= len(y)``."""
    o = np.asarray(origins)
    if o.ndim != 1 or not np.issubdtype(o.dtype, np.integer):
        raise ValueError(f"origins must be a 1-D integer array, got {o.dtype} {o.shape}")
    o = o.astype(np.int64)
    if o.size and (o.min() < history or o.max() + horizon > len(y)):
        raise ValueError(
            f"every origin o needs {history} known values before it and {horizon} after it "
            f"(o in [{history}, {len(y) - horizon}] for a series of length {len(y)}); "
            f"got origins from {o.min()} to {o.max()}"
        )
    return o


def rolling_origins(start: int, stop: int, horizon: int, step: int = 1) -> np.ndarray:
    """The origins ``o = start, start + step, ...`` whose targets all lie before ``stop``.

    Every returned origin satisfies ``o + horizon <= stop``, so a rolling-origin evaluation on
    the segment ``[start, stop)`` never scores a forecast against a value outside it. Origins are
    fixed in advance and never shuffled. Raises ``ValueError`` for a non-positive ``horizon`` or
    ``step``, a negative ``start``, a ``start`` or ``stop`` that is not an integer (a float is
    not floored), or a segment too short for one forecast.
    """
    horizon, step = _integer(horizon, "horizon"), _integer(step, "step")
    start, stop = _integer(start, "start", 0), _integer(stop, "stop", None)
    if start + horizon > stop:
        raise ValueError(
            f"the segment [{start}, {stop}) is too short for one forecast of horizon {horizon}"
        )
    return np.arange(start, stop - horizon + 1, step, dtype=np.int64)


def windows(
    y: Sequence[float] | np.ndarray, origins: Sequence[int] | np.ndarray, window: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """The input windows ``y[o - window : o]`` and targets ``y[o : o + horizon]`` at each origin.

    Returns ``x`` of shape ``(N, window)`` and ``target`` of shape ``(N, horizon)`` (float64);
    ``horizon=0`` gives an empty target. Add a feature axis (``x[..., None]``) for the book's
    ``(B, T, D)`` layout. Raises ``ValueError`` when an origin lacks history or future, or
    when a value in a window or target is NaN or inf.
    """
    y = _series(y)
    window = _integer(window, "window")
    horizon = _integer(horizon, "horizon", 0)
    o = _origins(origins, y, horizon, window)
    x_index = o[:, None] + np.arange(-window, 0)
    target_index = o[:, None] + np.arange(horizon)
    _check_read(y, np.concatenate([x_index.ravel(), target_index.ravel()]))
    x = y[x_index]
    target = y[target_index]
    return x, target


def naive_forecast(
    y: Sequence[float] | np.ndarray, origins: Sequence[int] | np.ndarray, horizon: int
) -> np.ndarray:
    """The naive forecast: the last known value ``y[o - 1]`` at every step, shape (N, horizon).

    Only ``y[:o]`` is read for origin ``o``, so ``y`` may extend past the origins. Raises
    ``ValueError`` when a value read (``y[o - 1]``) is NaN or inf.
    """
    y = _series(y)
    horizon = _integer(horizon, "horizon")
    o = _origins(origins, y, 0, 1)
    _check_read(y, o - 1)
    return np.repeat(y[o - 1][:, None], horizon, axis=1)


def seasonal_naive_forecast(
    y: Sequence[float] | np.ndarray, origins: Sequence[int] | np.ndarray, horizon: int, m: int
) -> np.ndarray:
    """The seasonal naive forecast: the value one season ``m`` earlier, shape (N, horizon).

    Step ``k = 1, ..., horizon`` gets ``y[o + k - 1 - m * ceil(k / m)]``, the last observed value
    in the same season, so horizons beyond one season repeat the last known season. Raises
    ``ValueError`` when a value read is NaN or inf.
    """
    y = _series(y)
    horizon, m = _integer(horizon, "horizon"), _integer(m, "m")
    o = _origins(origins, y, 0, m)
    k = np.arange(1, horizon + 1)
    lag = m * ((k + m - 1) // m)
    index = o[:, None] + k - 1 - lag
    _check_read(y, index)
    return y[index]


def drift_forecast(
    y: Sequence[float] | np.ndarray, origins: Sequence[int] | np.ndarray, horizon: int
) -> np.ndarray:
    """The drift forecast: the line through ``y[0]`` and ``y[o - 1]``, extended, (N, horizon).

    Step ``k`` gets ``y[o - 1] + k * (y[o - 1] - y[0]) / (o - 1)`` (FPP3's drift method).
    Raises ``ValueError`` when a value read (``y[0]`` or ``y[o - 1]``) is NaN or inf.
    """
    y = _series(y)
    horizon = _integer(horizon, "horizon")
    o = _origins(origins, y, 0, 2)
    if o.size:
        _check_read(y, np.append(o - 1, 0))
    slope = (y[o - 1] - y[0]) / (o - 1)
    return y[o - 1][:, None] + slope[:, None] * np.arange(1, horizon + 1)


def mase_scale(y_train: Sequence[float] | np.ndarray, m: int) -> float:
    """The in-sample MAE of the seasonal naive forecast, ``mean |y[t] - y[t - m]|``.

    Computed on the training part only; it is the denominator of :func:`mase`. Raises
    ``ValueError`` for a series not longer than ``m``, a NaN or inf in it, or a zero scale (a
    series that repeats its season exactly).
    """
    y = _series(y_train)
    m = _integer(m, "m")
    if len(y) <= m:
        raise ValueError(f"the training series needs more than m={m} values, got {len(y)}")
    _check_finite(y, "y_train", "fill or drop the gaps before computing the scale")
    scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    if scale == 0.0:
        raise ValueError("the seasonal naive forecast is exact in-sample: MASE is undefined")
    return scale


def mase(
    y_true: np.ndarray, y_pred: np.ndarray, scale: float, axis: int | None = None
) -> float | np.ndarray:
    """The mean absolute scaled error, ``mean |y_true - y_pred| / scale`` over ``axis``.

    With forecasts of shape ``(N, horizon)``, ``axis=0`` gives the MASE per horizon step and
    ``axis=None`` one number. Below 1 means better than the in-sample seasonal naive forecast.
    Raises ``ValueError`` for mismatched shapes, a NaN or inf in ``y_true`` or ``y_pred``, or a
    scale that is not a positive finite number.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"shapes differ: y_true {y_true.shape}, y_pred {y_pred.shape}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    _check_finite(y_true, "y_true", "drop or fill them before scoring")
    _check_finite(y_pred, "y_pred", "drop or fill them before scoring")
    out = np.mean(np.abs(y_true - y_pred), axis=axis) / scale
    return float(out) if axis is None else out


def pinball_loss(
    y_true: np.ndarray, q_pred: np.ndarray, quantiles: Sequence[float] | np.ndarray
) -> float:
    """The mean pinball (quantile) loss of quantile forecasts.

    ``q_pred`` has shape ``(*y_true.shape, Q)``, one forecast per quantile level in
    ``quantiles`` (each strictly between 0 and 1). For level ``tau`` and error
    ``u = y - q`` the loss is ``max(tau * u, (tau - 1) * u)``; its expectation is smallest at
    the true ``tau``-quantile. Raises ``ValueError`` for levels outside (0, 1), a ``q_pred``
    of the wrong shape, or a NaN or inf in ``y_true`` or ``q_pred``.
    """
    y_true, q_pred = np.asarray(y_true, dtype=np.float64), np.asarray(q_pred, dtype=np.float64)
    tau = np.asarray(quantiles, dtype=np.float64)
    if tau.ndim != 1 or not np.all((tau > 0) & (tau < 1)):
        raise ValueError(f"quantiles must be a 1-D list of levels in (0, 1), got {quantiles!r}")
    if q_pred.shape != (*y_true.shape, len(tau)):
        raise ValueError(
            f"q_pred must have shape {(*y_true.shape, len(tau))} (y_true's shape plus one axis "
            f"of {len(tau)} quantiles), got {q_pred.shape}"
        )
    _check_finite(y_true, "y_true", "drop or fill them before scoring")
    _check_finite(q_pred, "q_pred", "drop or fill them before scoring")
    u = y_true[..., None] - q_pred
    return float(np.mean(np.maximum(tau * u, (tau - 1) * u)))


def interval_coverage(y_true: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """The fraction of ``y_true`` inside ``[lower, upper]`` (the empirical coverage).

    Raises ``ValueError`` for mismatched shapes, a NaN or inf in any argument (which would
    otherwise count as a miss), or an interval whose lower end is above its upper end anywhere
    (crossed quantiles must be fixed, e.g. by sorting, before scoring).
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    if not (y_true.shape == lower.shape == upper.shape):
        raise ValueError(
            f"shapes differ: y_true {y_true.shape}, lower {lower.shape}, upper {upper.shape}"
        )
    if y_true.size == 0:
        raise ValueError("no values to score")
    for values, name in ((y_true, "y_true"), (lower, "lower"), (upper, "upper")):
        _check_finite(values, name, "drop or fill them before scoring")
    if np.any(lower > upper):
        raise ValueError("some intervals have lower > upper (crossed quantiles)")
    return float(np.mean((y_true >= lower) & (y_true <= upper)))


def block_bootstrap_ci(
    errors: np.ndarray,
    block: int,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A moving-block bootstrap interval for the mean of ``errors`` over its first axis.

    ``errors`` has shape ``(N, ...)``, e.g. absolute errors ``(N origins, horizon)``. Blocks
    of ``block`` consecutive origins are resampled with replacement (a circular moving-block
    bootstrap), which keeps the correlation between neighbouring origins that an ordinary
    bootstrap would destroy. Returns ``(lower, upper)``, each of shape ``errors.shape[1:]``.
    Raises ``ValueError`` for fewer than 2 rows, a NaN or inf in ``errors``, a ``block``
    longer than the rows, or a ``level`` outside (0, 1).
    """
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim < 1 or len(e) < 2:
        raise ValueError(f"errors needs at least 2 rows, got shape {e.shape}")
    block, n_boot = _integer(block, "block"), _integer(n_boot, "n_boot")
    if block > len(e):
        raise ValueError(f"block={block} is longer than the {len(e)} rows of errors")
    _check_finite(e, "errors", "drop or fill them before bootstrapping")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    n = len(e)
    n_blocks = -(-n // block)
    starts = rng.integers(0, n, size=(n_boot, n_blocks))
    idx = ((starts[:, :, None] + np.arange(block)) % n).reshape(n_boot, -1)[:, :n]
    means = e[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lower, upper = np.quantile(means, [alpha, 1 - alpha], axis=0)
    return lower, upper
