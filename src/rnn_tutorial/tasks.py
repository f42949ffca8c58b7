"""Synthetic long-range memory tasks (stated in "Long-range memory"; "Vanishing and exploding
gradients" already trains on the adding problem).

Both generators return batch-major NumPy arrays (``book/notation.md``) drawn from the
``np.random.Generator`` they are given, so a fixed seed gives a fixed batch:

- :func:`adding_problem`: the adding problem of Hochreiter and Schmidhuber (1997) in the form
  of Le, Jaitly and Hinton (2015): sum the two marked numbers of a sequence (regression).
- :func:`recall_task`: remember the marked first symbol of a sequence across ``T - 1`` random
  distractor symbols and name it at the end (classification).
"""

from __future__ import annotations

import numpy as np

__all__ = ["adding_problem", "recall_task"]


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng)}"
        )
    return rng


def _check_positive(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def adding_problem(
    batch_size: int, T: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A batch of the adding problem (first used in "Vanishing and exploding gradients").

    Each sequence has two input channels. Channel 0 holds ``T`` numbers drawn uniformly from
    ``[0, 1]``; channel 1 is a marker that is 1 at exactly two steps, one drawn uniformly from the
    first half (steps ``0 .. T//2 - 1``) and one from the second half (``T//2 .. T - 1``), and 0
    elsewhere. The target is the sum of the two marked numbers. Predicting the constant 1 (the
    target's mean) gives a mean squared error of ``Var(u1 + u2) = 2/12 = 1/6``.

    Args:
        batch_size: number of sequences ``B``.
        T: sequence length, at least 2.
        rng: the random generator to draw from.

    Returns:
        ``(x, y)`` with ``x`` of shape ``(B, T, 2)`` and ``y`` of shape ``(B, 1)``, float64.
    """
    B = _check_positive("batch_size", batch_size, 1)
    T = _check_positive("T", T, 2)
    rng = _check_rng(rng)
    values = rng.uniform(0.0, 1.0, size=(B, T))
    half = T // 2
    rows = np.arange(B)
    first = rng.integers(0, half, size=B)
    second = rng.integers(half, T, size=B)
    markers = np.zeros((B, T))
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1)
    y = (values[rows, first] + values[rows, second])[:, None]
    return x, y


def recall_task(
    batch_size: int, T: int, rng: np.random.Generator, n_symbols: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """A batch of the recall task (introduced in "Long-range memory"): name the first symbol
    after ``T - 1`` distractors.

    Every step shows one of ``K = n_symbols`` symbols, one-hot in channels ``0 .. K-1``, drawn
    uniformly and independently. Channel ``K`` marks the symbol to remember: it is 1 at the first
    step only. The target is the index of the first step's symbol, so the lag between the
    evidence and the answer is ``T - 1`` steps, filled with random symbols of the same alphabet.
    Guessing gives an accuracy of ``1/K`` and a cross-entropy of ``ln K``.

    Args:
        batch_size: number of sequences ``B``.
        T: sequence length, at least 1.
        rng: the random generator to draw from.
        n_symbols: alphabet size ``K``, at least 2.

    Returns:
        ``(x, y)``: ``x`` of shape ``(B, T, K + 1)`` (float64) and integer targets ``y`` of
        shape ``(B,)`` with values in ``0 .. K-1``.
    """
    B = _check_positive("batch_size", batch_size, 1)
    T = _check_positive("T", T, 1)
    K = _check_positive("n_symbols", n_symbols, 2)
    rng = _check_rng(rng)
    symbols = rng.integers(0, K, size=(B, T))
    x = np.zeros((B, T, K + 1))
    x[np.arange(B)[:, None], np.arange(T)[None, :], symbols] = 1.0
    x[:, 0, K] = 1.0
    return x, symbols[:, 0].copy()
