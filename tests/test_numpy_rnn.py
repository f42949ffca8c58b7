"""Tests for rnn_tutorial.numpy_rnn: forward pass (chapter 1) and BPTT (chapter 2)."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tutorial.gradcheck import check_gradients, numerical_gradient
from rnn_tutorial.numpy_rnn import (
    ACTIVATIONS,
    rnn_backward,
    rnn_forward,
    rnn_param_shapes,
    rnn_state_gradients,
)

# (B, T, D, H): includes T = 1, B = 1 and H != D (both H > D and H < D).
SHAPES = [(2, 5, 3, 4), (1, 1, 2, 3), (3, 1, 4, 4), (1, 6, 5, 2), (4, 3, 1, 6)]
PARAM_KEYS = ("W_xh", "W_hh", "b_h")


def make_problem(B, T, D, H, seed=0, scale=0.6):
    rng = np.random.default_rng(seed)
    params = {
        "W_xh": rng.normal(scale=scale, size=(D, H)),
        "W_hh": rng.normal(scale=scale, size=(H, H)),
        "b_h": rng.normal(scale=0.1, size=(H,)),
    }
    x = rng.normal(size=(B, T, D))
    h0 = rng.normal(scale=0.5, size=(B, H))
    R = rng.normal(size=(B, T, H))  # L = sum(h * R), so dL/dh (partial) = R
    return x, h0, params, R


def loss_fn(R, activation):
    def f(inputs):
        params = {k: inputs[k] for k in PARAM_KEYS}
        h, _ = rnn_forward(inputs["x"], inputs["h0"], params, activation)
        return float(np.sum(h * R))

    return f


# ----------------------------------------------------------------------------- forward


def test_param_shapes():
    assert rnn_param_shapes(3, 5) == {"W_xh": (3, 5), "W_hh": (5, 5), "b_h": (5,)}


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_forward_matches_step_by_step_loop(activation):
    x, h0, params, _ = make_problem(2, 4, 3, 5)
    h, cache = rnn_forward(x, h0, params, activation)
    act, _ = ACTIVATIONS[activation]
    h_prev = h0
    for t in range(4):
        h_prev = act(x[:, t] @ params["W_xh"] + h_prev @ params["W_hh"] + params["b_h"])
        np.testing.assert_allclose(h[:, t], h_prev, rtol=1e-12, atol=1e-12)
    assert h.shape == (2, 4, 5) and h.dtype == np.float64
    assert set(cache) >= {"x", "h0", "h", "params", "activation"}


def test_forward_rejects_bad_input():
    x, h0, params, _ = make_problem(2, 4, 3, 5)
    with pytest.raises(ValueError, match=r"\(B, T, D\)"):
        rnn_forward(x[0], h0, params)
    with pytest.raises(ValueError, match=r"\(5, 5\)"):
        rnn_forward(x, h0, {**params, "W_hh": np.zeros((5, 4))})
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        rnn_forward(x, h0[:1], params)
    with pytest.raises(ValueError, match="keys"):
        rnn_forward(x, h0, {**params, "W_hy": np.zeros((5, 2))})
    with pytest.raises(ValueError, match="activation"):
        rnn_forward(x, h0, params, "sigmoid")


# ----------------------------------------------------------------------------- backward


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_gradcheck_float64(shape, activation):
    B, T, D, H = shape
    x, h0, params, R = make_problem(B, T, D, H, seed=sum(shape))
    h, cache = rnn_forward(x, h0, params, activation)
    grads, dx, dh0 = rnn_backward(R, cache)
    assert set(grads) == set(params)
    for k in params:
        assert grads[k].shape == params[k].shape and grads[k].dtype == np.float64
    assert dx.shape == x.shape and dh0.shape == h0.shape
    inputs = {**params, "x": x, "h0": h0}
    errors = check_gradients(loss_fn(R, activation), inputs, {**grads, "x": dx, "h0": dh0})
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("shape", SHAPES)
def test_state_gradients_are_total_derivatives(shape):
    """delta_t = dL/dh_t: perturb h_t, rerun the rest of the sequence, difference the loss."""
    B, T, D, H = shape
    x, h0, params, R = make_problem(B, T, D, H, seed=1 + sum(shape))
    h, cache = rnn_forward(x, h0, params)
    delta = rnn_state_gradients(R, cache)
    assert delta.shape == (B, T, H)
    for t in range(T):

        def f(inputs, t=t):
            h_t = h[:, t] + inputs["e"]
            later, _ = rnn_forward(x[:, t + 1 :], h_t, params) if t + 1 < T else (None, None)
            loss = np.sum(h[:, :t] * R[:, :t]) + np.sum(h_t * R[:, t])
            if later is not None:
                loss += np.sum(later * R[:, t + 1 :])
            return float(loss)

        numeric = numerical_gradient(f, {"e": np.zeros((B, H))})["e"]
        np.testing.assert_allclose(delta[:, t], numeric, rtol=1e-7, atol=1e-8)
    # The last state has no later path: its total and partial derivatives coincide.
    np.testing.assert_array_equal(delta[:, -1], R[:, -1])


def test_state_gradients_consistent_with_backward():
    x, h0, params, R = make_problem(3, 6, 2, 5)
    h, cache = rnn_forward(x, h0, params)
    delta = rnn_state_gradients(R, cache)
    grads, dx, dh0 = rnn_backward(R, cache)
    da = delta * (1 - h**2)
    np.testing.assert_allclose(dx, da @ params["W_xh"].T, rtol=1e-12)
    np.testing.assert_allclose(dh0, da[:, 0] @ params["W_hh"].T, rtol=1e-12)
    np.testing.assert_allclose(grads["b_h"], da.sum(axis=(0, 1)), rtol=1e-12)


def test_loss_on_last_step_only():
    """With a loss on h_T alone, only dh[:, -1] is nonzero, yet every step gets gradient."""
    x, h0, params, R = make_problem(2, 5, 3, 4)
    dh = np.zeros_like(R)
    dh[:, -1] = R[:, -1]
    h, cache = rnn_forward(x, h0, params)
    grads, dx, dh0 = rnn_backward(dh, cache)

    def f(inputs):
        hh, _ = rnn_forward(inputs["x"], inputs["h0"], {k: inputs[k] for k in PARAM_KEYS})
        return float(np.sum(hh[:, -1] * R[:, -1]))

    errors = check_gradients(f, {**params, "x": x, "h0": h0}, {**grads, "x": dx, "h0": dh0})
    assert max(errors.values()) < 1e-7, errors
    assert np.all(np.abs(dx[:, 0]).sum(axis=-1) > 0)


def test_backward_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    B, T, D, H = 3, 7, 4, 5
    x, h0, params, R = make_problem(B, T, D, H, seed=3)
    h, cache = rnn_forward(x, h0, params)
    grads, dx, dh0 = rnn_backward(R, cache)

    rnn = torch.nn.RNN(D, H, batch_first=True, nonlinearity="tanh").double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(params["W_xh"].T))
        rnn.weight_hh_l0.copy_(torch.from_numpy(params["W_hh"].T))
        rnn.bias_ih_l0.copy_(torch.from_numpy(params["b_h"]))
        rnn.bias_hh_l0.zero_()
    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.from_numpy(h0)[None].clone().requires_grad_()
    out, _ = rnn(xt, h0t)
    (out * torch.from_numpy(R)).sum().backward()
    np.testing.assert_allclose(h, out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads["W_xh"], rnn.weight_ih_l0.grad.numpy().T, rtol=1e-10)
    np.testing.assert_allclose(grads["W_hh"], rnn.weight_hh_l0.grad.numpy().T, rtol=1e-10)
    np.testing.assert_allclose(grads["b_h"], rnn.bias_ih_l0.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(grads["b_h"], rnn.bias_hh_l0.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dh0, h0t.grad.numpy()[0], rtol=1e-10, atol=1e-13)


def test_backward_float32_keeps_dtype():
    x, h0, params, R = make_problem(2, 3, 3, 4)
    f32 = {k: v.astype(np.float32) for k, v in params.items()}
    h, cache = rnn_forward(x.astype(np.float32), h0.astype(np.float32), f32)
    grads, dx, dh0 = rnn_backward(R.astype(np.float32), cache)
    assert h.dtype == dx.dtype == dh0.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_backward_rejects_bad_input():
    x, h0, params, R = make_problem(2, 5, 3, 4)
    _, cache = rnn_forward(x, h0, params)
    with pytest.raises(ValueError, match=r"dh must have shape \(2, 5, 4\)"):
        rnn_backward(R[:, :4], cache)
    with pytest.raises(ValueError, match=r"dh must have shape \(2, 5, 4\)"):
        rnn_state_gradients(R[0], cache)
    with pytest.raises(ValueError, match="keys"):
        rnn_backward(R, {k: v for k, v in cache.items() if k != "h0"})
    bad = dict(cache, params={"W_xh": params["W_xh"], "W_hh": params["W_hh"]})
    with pytest.raises(ValueError, match="keys"):
        rnn_backward(R, bad)
    with pytest.raises(ValueError, match="activation"):
        rnn_backward(R, dict(cache, activation="softsign"))
    with pytest.raises(ValueError, match="cache"):
        rnn_backward(R, [1, 2, 3])
