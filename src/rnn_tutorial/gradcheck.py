"""Finite-difference gradient checking for any function of a dict of arrays.

Introduced in "Backpropagation through time"; every later chapter that derives a
backward pass checks it with :func:`check_gradients`.

The checker uses central differences, ``(f(θ + ε e_i) − f(θ − ε e_i)) / 2ε``, whose error is
``O(ε²)``. Run it in float64: in float32 the rounding error of ``f`` divided by ``ε`` swamps the
comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["check_gradients", "numerical_gradient", "relative_error"]

Inputs = Mapping[str, np.ndarray]


def numerical_gradient(
    f: Callable[[dict[str, np.ndarray]], float],
    inputs: Inputs,
    eps: float = 1e-6,
    keys: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """Central-difference gradient of the scalar ``f(inputs)`` with respect to each array.

    ``f`` receives a dict with the same keys as ``inputs``; the arrays are perturbed in place
    one entry at a time and restored afterwards, so ``inputs`` is unchanged on return.
    ``keys`` restricts the check to some entries (all by default).
    """
    arrays = {k: np.asarray(v) for k, v in inputs.items()}
    for k, v in arrays.items():
        if v.dtype != np.float64:
            raise ValueError(
                f"input {k!r} has dtype {v.dtype}; gradient checks need float64 arrays "
                "(cast with .astype(np.float64))"
            )
    unknown = sorted(set(keys or []) - set(arrays))
    if unknown:
        raise ValueError(f"unknown keys {unknown}; inputs have {sorted(arrays)}")
    work = {k: v.copy() for k, v in arrays.items()}
    grads: dict[str, np.ndarray] = {}
    for k in keys or list(work):
        theta = work[k]
        g = np.zeros_like(theta)
        flat_theta, flat_g = theta.reshape(-1), g.reshape(-1)
        for i in range(flat_theta.size):
            old = flat_theta[i]
            flat_theta[i] = old + eps
            f_plus = float(f(work))
            flat_theta[i] = old - eps
            f_minus = float(f(work))
            flat_theta[i] = old
            flat_g[i] = (f_plus - f_minus) / (2.0 * eps)
        grads[k] = g
    return grads


def relative_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-30) -> float:
    """Relative error of two arrays, ``‖a − b‖ / (‖a‖ + ‖b‖)``, with Frobenius norms.

    A norm-wise error is used rather than the worst element-wise ratio: entries where both
    gradients are tiny would otherwise turn harmless rounding noise into a large "error".
    ``floor`` keeps two all-zero arrays from dividing by zero (their error is 0).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / max(denom, floor))


def check_gradients(
    f: Callable[[dict[str, np.ndarray]], float],
    inputs: Inputs,
    analytic: Mapping[str, np.ndarray],
    eps: float = 1e-6,
) -> dict[str, float]:
    """Compare analytic gradients with finite differences; return the worst relative error per key.

    ``analytic`` maps a subset of the keys of ``inputs`` to gradients of the same shapes. A
    correct float64 backward pass typically gives errors below ``1e-7``.
    """
    missing = sorted(set(analytic) - set(inputs))
    if missing:
        raise ValueError(
            f"analytic gradients for unknown inputs {missing}; inputs have {sorted(inputs)}"
        )
    for k, g in analytic.items():
        if np.shape(g) != np.shape(inputs[k]):
            raise ValueError(
                f"gradient for {k!r} must have shape {np.shape(inputs[k])}, got {np.shape(g)}"
            )
    numeric = numerical_gradient(f, inputs, eps=eps, keys=list(analytic))
    return {k: relative_error(analytic[k], numeric[k]) for k in analytic}
