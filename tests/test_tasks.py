"""Tests for rnn_tutorial.tasks (chapter 6): shapes, the task definitions, statistics, errors."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tutorial.tasks import adding_problem, recall_task


@pytest.mark.parametrize(("B", "T"), [(1, 2), (5, 3), (7, 10), (64, 201)])
def test_adding_problem_shapes_and_definition(B, T):
    x, y = adding_problem(B, T, np.random.default_rng(0))
    assert x.shape == (B, T, 2) and y.shape == (B, 1)
    assert x.dtype == np.float64 and y.dtype == np.float64
    values, markers = x[..., 0], x[..., 1]
    assert np.all((values >= 0.0) & (values <= 1.0))
    assert set(np.unique(markers)) <= {0.0, 1.0}
    half = T // 2
    # exactly one marker in each half
    assert np.all(markers[:, :half].sum(axis=1) == 1.0)
    assert np.all(markers[:, half:].sum(axis=1) == 1.0)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=1))


def test_adding_problem_statistics():
    x, y = adding_problem(200_000, 20, np.random.default_rng(1))
    # target = sum of two independent U(0, 1): mean 1, variance 1/6
    assert abs(y.mean() - 1.0) < 0.01
    assert abs(((y - 1.0) ** 2).mean() - 1.0 / 6.0) < 0.005
    # marker positions are uniform within each half
    first = x[:, :10, 1].argmax(axis=1)
    second = x[:, 10:, 1].argmax(axis=1)
    for pos in (first, second):
        counts = np.bincount(pos, minlength=10) / len(pos)
        np.testing.assert_allclose(counts, 0.1, atol=0.01)


def test_tasks_are_reproducible_and_seed_dependent():
    a = adding_problem(4, 9, np.random.default_rng(3))
    b = adding_problem(4, 9, np.random.default_rng(3))
    c = adding_problem(4, 9, np.random.default_rng(4))
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    r1 = recall_task(4, 9, np.random.default_rng(3))
    r2 = recall_task(4, 9, np.random.default_rng(3))
    assert all(np.array_equal(u, v) for u, v in zip(r1, r2, strict=True))


@pytest.mark.parametrize(("B", "T", "K"), [(1, 1, 2), (3, 5, 4), (16, 50, 8), (2, 7, 10)])
def test_recall_task_shapes_and_definition(B, T, K):
    x, y = recall_task(B, T, np.random.default_rng(0), n_symbols=K)
    assert x.shape == (B, T, K + 1) and y.shape == (B,)
    assert np.issubdtype(y.dtype, np.integer)
    assert np.all((y >= 0) & (y < K))
    # one symbol per step, one-hot in the first K channels
    np.testing.assert_array_equal(x[..., :K].sum(axis=-1), np.ones((B, T)))
    # the marker is on the first step only
    np.testing.assert_array_equal(x[:, 0, K], np.ones(B))
    assert not x[:, 1:, K].any()
    # the target is the first step's symbol
    np.testing.assert_array_equal(y, x[:, 0, :K].argmax(axis=-1))


def test_recall_task_statistics():
    x, y = recall_task(100_000, 6, np.random.default_rng(2), n_symbols=5)
    np.testing.assert_allclose(np.bincount(y, minlength=5) / len(y), 0.2, atol=0.01)
    # distractors are uniform too, and independent of the target
    later = x[:, 1:, :5].argmax(axis=-1)
    np.testing.assert_allclose(np.bincount(later.ravel(), minlength=5) / later.size, 0.2, atol=0.01)
    assert np.mean(later[:, -1] == y) == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda rng: adding_problem(0, 10, rng), "batch_size must be an integer >= 1"),
        (lambda rng: adding_problem(4, 1, rng), "T must be an integer >= 2"),
        (lambda rng: adding_problem(4, 10.0, rng), "T must be an integer >= 2"),
        (lambda rng: adding_problem(4, 10, 0), "rng must be a numpy.random.Generator"),
        (lambda rng: recall_task(4, 0, rng), "T must be an integer >= 1"),
        (lambda rng: recall_task(4, 5, rng, n_symbols=1), "n_symbols must be an integer >= 2"),
        (lambda rng: recall_task(True, 5, rng), "batch_size must be an integer >= 1"),
    ],
)
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.random.default_rng(0))
