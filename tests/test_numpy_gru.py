"""Tests for rnn_tutorial.numpy_gru (chapter 5): both conventions, gradients, torch equality."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tutorial.gradcheck import check_gradients
from rnn_tutorial.numpy_gru import (
    GRU_KEYS,
    gru_backward,
    gru_forward,
    gru_init_params,
    gru_param_shapes,
)

SHAPES = [  # (B, T, D, H)
    (2, 4, 3, 5),
    (1, 1, 3, 2),  # T = 1, B = 1
    (3, 1, 4, 4),
    (1, 6, 5, 3),  # B = 1, H != D
    (4, 3, 2, 7),
]


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def reference_forward(x, h0, params, reset_after):
    """A line-by-line GRU in either convention, independent of the package's optimised one."""
    H = h0.shape[1]
    W_x, W_h, b_x, b_h = (params[k] for k in GRU_KEYS)
    h = h0
    hs = []
    for t in range(x.shape[1]):
        a = x[:, t] @ W_x + b_x
        r = sigmoid(a[:, :H] + h @ W_h[:, :H] + b_h[:H])
        z = sigmoid(a[:, H : 2 * H] + h @ W_h[:, H : 2 * H] + b_h[H : 2 * H])
        if reset_after:
            n = np.tanh(a[:, 2 * H :] + r * (h @ W_h[:, 2 * H :] + b_h[2 * H :]))
        else:
            n = np.tanh(a[:, 2 * H :] + (r * h) @ W_h[:, 2 * H :] + b_h[2 * H :])
        h = (1 - z) * n + z * h
        hs.append(h)
    return np.stack(hs, axis=1)


def make(B, T, D, H, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = gru_init_params(D, H, rng, dtype=dtype)
    x = rng.standard_normal((B, T, D)).astype(dtype)
    h0 = rng.standard_normal((B, H)).astype(dtype)
    return rng, params, x, h0


def test_param_shapes_and_count():
    shapes = gru_param_shapes(3, 5)
    assert shapes == {"W_x": (3, 15), "W_h": (5, 15), "b_x": (15,), "b_h": (15,)}
    assert sum(int(np.prod(s)) for s in shapes.values()) == 3 * (3 * 5 + 5 * 5 + 2 * 5)
    params = gru_init_params(3, 5, np.random.default_rng(0))
    assert tuple(params) == GRU_KEYS
    assert all(np.all(np.abs(v) <= 1 / np.sqrt(5)) for v in params.values())


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("B,T,D,H", SHAPES)
def test_forward_matches_reference(B, T, D, H, reset_after):
    _, params, x, h0 = make(B, T, D, H)
    h, cache = gru_forward(x, h0, params, reset_after=reset_after)
    assert h.shape == (B, T, H) and cache["gates"].shape == (B, T, 3 * H)
    np.testing.assert_allclose(h, reference_forward(x, h0, params, reset_after), atol=1e-13)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("B,T,D,H", SHAPES)
def test_gradients_match_finite_differences(B, T, D, H, reset_after):
    rng, params, x, h0 = make(B, T, D, H, seed=1)
    w = rng.standard_normal((B, T, H))

    def loss(inputs):
        p = {k: inputs[k] for k in GRU_KEYS}
        return float(np.sum(w * gru_forward(inputs["x"], inputs["h0"], p, reset_after)[0]))

    _, cache = gru_forward(x, h0, params, reset_after=reset_after)
    grads, dx, dh0 = gru_backward(w, cache)
    assert dx.shape == x.shape and dh0.shape == h0.shape
    errors = check_gradients(loss, {**params, "x": x, "h0": h0}, {**grads, "x": dx, "h0": dh0})
    assert max(errors.values()) < 1e-7, errors


def test_reset_before_uses_only_the_sum_of_the_candidate_biases():
    """In the reset-before form b_x^n and b_h^n enter as a sum; in reset-after they do not."""
    _, params, x, h0 = make(2, 5, 3, 4)
    H = 4
    moved = {k: v.copy() for k, v in params.items()}
    moved["b_x"][2 * H :] += 0.3
    moved["b_h"][2 * H :] -= 0.3
    np.testing.assert_allclose(
        gru_forward(x, h0, moved, reset_after=False)[0],
        gru_forward(x, h0, params, reset_after=False)[0],
        atol=1e-14,
    )
    assert not np.allclose(gru_forward(x, h0, moved)[0], gru_forward(x, h0, params)[0])
    grads, _, _ = gru_backward(np.ones((2, 5, H)), gru_forward(x, h0, params, False)[1])
    np.testing.assert_allclose(grads["b_x"], grads["b_h"], atol=1e-14)


def test_float32_stays_float32():
    _, params, x, h0 = make(3, 4, 2, 5)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    for reset_after in (True, False):
        h, cache = gru_forward(x.astype(np.float32), h0.astype(np.float32), p32, reset_after)
        assert h.dtype == np.float32
        np.testing.assert_allclose(h, gru_forward(x, h0, params, reset_after)[0], atol=1e-5)
        grads, dx, dh0 = gru_backward(np.ones_like(h), cache)
        assert grads["W_h"].dtype == np.float32 and dx.dtype == np.float32


def test_torch_equality_reset_after():
    torch = pytest.importorskip("torch")
    B, T, D, H = 3, 7, 4, 5
    rng, params, x, h0 = make(B, T, D, H, seed=2)
    dh = rng.standard_normal((B, T, H))
    gru = torch.nn.GRU(D, H, batch_first=True).double()
    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch.from_numpy(params["W_x"].T))
        gru.weight_hh_l0.copy_(torch.from_numpy(params["W_h"].T))
        gru.bias_ih_l0.copy_(torch.from_numpy(params["b_x"]))
        gru.bias_hh_l0.copy_(torch.from_numpy(params["b_h"]))
    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.from_numpy(h0)[None].requires_grad_()
    y, _ = gru(xt, h0t)
    y.backward(torch.from_numpy(dh))

    h, cache = gru_forward(x, h0, params)
    grads, dx, dh0 = gru_backward(dh, cache)
    np.testing.assert_allclose(h, y.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["W_x"], gru.weight_ih_l0.grad.numpy().T, atol=1e-12)
    np.testing.assert_allclose(grads["W_h"], gru.weight_hh_l0.grad.numpy().T, atol=1e-12)
    np.testing.assert_allclose(grads["b_x"], gru.bias_ih_l0.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["b_h"], gru.bias_hh_l0.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(dh0, h0t.grad[0].numpy(), atol=1e-12)


def test_bad_input_is_rejected_with_clear_errors():
    _, params, x, h0 = make(2, 3, 4, 5)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, D\)"):
        gru_forward(x[:, :, 0], h0, params)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 5\)"):
        gru_forward(x, h0[None], params)
    with pytest.raises(ValueError, match=r"W_h must have shape \(5, 15\)"):
        gru_forward(x, h0, {**params, "W_h": params["W_h"].T})
    with pytest.raises(ValueError, match="multiple of 3"):
        gru_forward(x, h0, {**params, "W_x": params["W_x"][:, :-1]})
    with pytest.raises(ValueError, match=r"b_h must have shape \(15,\)"):
        gru_forward(x, h0, {**params, "b_h": params["b_h"].reshape(3, 5)})
    with pytest.raises(ValueError, match=r"missing \['b_h'\], unexpected \['b'\]"):
        gru_forward(x, h0, {"W_x": params["W_x"], "W_h": params["W_h"], "b_x": 0, "b": 0})
    with pytest.raises(ValueError, match="reset_after must be True or False"):
        gru_forward(x, h0, params, reset_after="yes")
    h, cache = gru_forward(x, h0, params)
    with pytest.raises(ValueError, match=r"dh must have shape \(2, 3, 5\)"):
        gru_backward(h[:, :, :2], cache)
    with pytest.raises(ValueError, match="cache must be the dict returned by gru_forward"):
        gru_backward(h, {})
