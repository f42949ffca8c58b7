"""Tests for rnn_tutorial.gradcheck, the finite-difference checker of chapter 2."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tutorial.gradcheck import check_gradients, numerical_gradient, relative_error


def f_poly(inputs):
    a, b = inputs["a"], inputs["b"]
    return float(np.sum(a**3) + np.sum(a * b) + np.sum(np.sin(b)))


def grad_poly(inputs):
    a, b = inputs["a"], inputs["b"]
    return {"a": 3 * a**2 + b, "b": a + np.cos(b)}


@pytest.fixture
def inputs():
    rng = np.random.default_rng(0)
    return {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=(3, 4))}


def test_numerical_gradient_matches_analytic(inputs):
    numeric = numerical_gradient(f_poly, inputs)
    exact = grad_poly(inputs)
    for k in inputs:
        assert numeric[k].shape == inputs[k].shape
        np.testing.assert_allclose(numeric[k], exact[k], rtol=1e-7, atol=1e-8)


def test_numerical_gradient_leaves_inputs_unchanged(inputs):
    before = {k: v.copy() for k, v in inputs.items()}
    numerical_gradient(f_poly, inputs)
    for k in inputs:
        np.testing.assert_array_equal(inputs[k], before[k])


def test_numerical_gradient_restricted_keys(inputs):
    numeric = numerical_gradient(f_poly, inputs, keys=["b"])
    assert list(numeric) == ["b"]


def test_numerical_gradient_of_scalar_and_vector_shapes():
    def f(d):
        return float(d["s"] ** 2 * np.sum(d["v"]))

    out = numerical_gradient(f, {"s": np.array(3.0), "v": np.arange(4.0)})
    np.testing.assert_allclose(out["s"], 2 * 3.0 * 6.0, rtol=1e-8)
    np.testing.assert_allclose(out["v"], np.full(4, 9.0), rtol=1e-8)


def test_central_difference_error_is_second_order():
    """Halving eps cuts the truncation error of a central difference by about 4."""
    x0 = {"x": np.array([0.7])}

    def f(d):
        return float(np.exp(d["x"][0]))

    errs = [abs(numerical_gradient(f, x0, eps=eps)["x"][0] - np.exp(0.7)) for eps in (1e-2, 5e-3)]
    assert 3.5 < errs[0] / errs[1] < 4.5


def test_numerical_gradient_rejects_float32_and_unknown_keys(inputs):
    with pytest.raises(ValueError, match="float64"):
        numerical_gradient(f_poly, {**inputs, "a": inputs["a"].astype(np.float32)})
    with pytest.raises(ValueError, match="unknown keys"):
        numerical_gradient(f_poly, inputs, keys=["c"])


def test_relative_error_values():
    a = np.array([1.0, 0.0])
    b = np.array([0.0, 1.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(a, b) == pytest.approx(np.sqrt(2) / 2)
    assert relative_error(a, -a) == pytest.approx(1.0)  # the largest possible value
    assert relative_error(a, 2 * a) == pytest.approx(1 / 3)
    assert relative_error(a, b) == relative_error(b, a)
    # Scale-invariant: a tiny gradient is judged relative to its own size.
    assert relative_error(1e-12 * a, 1.1e-12 * a) == pytest.approx(0.1 / 2.1)


def test_relative_error_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(np.zeros(3), np.zeros((3, 1)))


def test_check_gradients_accepts_correct_and_flags_wrong(inputs):
    good = check_gradients(f_poly, inputs, grad_poly(inputs))
    assert set(good) == {"a", "b"}
    assert max(good.values()) < 1e-8
    wrong = grad_poly(inputs)
    wrong["b"] = wrong["b"] - np.cos(inputs["b"]) + np.sin(inputs["b"])  # a classic sign slip
    errors = check_gradients(f_poly, inputs, wrong)
    assert errors["a"] < 1e-8
    assert errors["b"] > 1e-2
    # A single wrong entry is caught too.
    one_off = grad_poly(inputs)
    one_off["a"][1, 2] += 1e-3
    assert check_gradients(f_poly, inputs, one_off)["a"] > 1e-5


def test_check_gradients_subset_of_keys(inputs):
    errors = check_gradients(f_poly, inputs, {"a": grad_poly(inputs)["a"]})
    assert list(errors) == ["a"]


def test_check_gradients_rejects_bad_analytic(inputs):
    with pytest.raises(ValueError, match="unknown inputs"):
        check_gradients(f_poly, inputs, {"c": np.zeros(1)})
    with pytest.raises(ValueError, match=r"must have shape \(3, 4\)"):
        check_gradients(f_poly, inputs, {"a": np.zeros((4, 3))})
