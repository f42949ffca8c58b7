"""Tests for rnn_tutorial.numpy_lstm (chapter 4): shapes, bad input, gradients, torch equality."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tutorial.gradcheck import check_gradients
from rnn_tutorial.numpy_lstm import (
    LSTM_KEYS,
    lstm_backward,
    lstm_forward,
    lstm_init_params,
    lstm_param_shapes,
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


def reference_forward(x, h0, c0, params):
    """A line-by-line LSTM, independent of the package's optimised one."""
    H = h0.shape[1]
    h, c = h0, c0
    hs, cs = [], []
    for t in range(x.shape[1]):
        z = x[:, t] @ params["W_x"] + h @ params["W_h"] + params["b"]
        i, f = sigmoid(z[:, :H]), sigmoid(z[:, H : 2 * H])
        g, o = np.tanh(z[:, 2 * H : 3 * H]), sigmoid(z[:, 3 * H :])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, axis=1), np.stack(cs, axis=1)


def make(B, T, D, H, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = lstm_init_params(D, H, rng, forget_bias=0.5, dtype=dtype)
    x = rng.standard_normal((B, T, D)).astype(dtype)
    h0 = rng.standard_normal((B, H)).astype(dtype)
    c0 = rng.standard_normal((B, H)).astype(dtype)
    return rng, params, x, h0, c0


def test_param_shapes_and_count():
    shapes = lstm_param_shapes(3, 5)
    assert shapes == {"W_x": (3, 20), "W_h": (5, 20), "b": (20,)}
    assert sum(int(np.prod(s)) for s in shapes.values()) == 4 * (3 * 5 + 5 * 5 + 5)
    params = lstm_init_params(3, 5, np.random.default_rng(0), forget_bias=1.0)
    assert tuple(params) == LSTM_KEYS
    assert np.all(params["b"][5:10] > 1.0 - 1.0 / np.sqrt(5) - 1e-12)
    assert np.all(np.abs(params["W_h"]) <= 1.0 / np.sqrt(5))


@pytest.mark.parametrize("B,T,D,H", SHAPES)
def test_forward_matches_reference(B, T, D, H):
    _, params, x, h0, c0 = make(B, T, D, H)
    h, cache = lstm_forward(x, (h0, c0), params)
    h_ref, c_ref = reference_forward(x, h0, c0, params)
    assert h.shape == (B, T, H)
    assert cache["c"].shape == (B, T, H)
    assert cache["gates"].shape == (B, T, 4 * H)
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(cache["c"], c_ref, rtol=1e-12, atol=1e-13)
    # the gates are [i, f, g, o]: i, f, o in (0, 1), g in (-1, 1)
    gates = cache["gates"]
    assert np.all((gates[..., : 2 * H] > 0) & (gates[..., : 2 * H] < 1))
    assert np.all(np.abs(gates[..., 2 * H : 3 * H]) < 1)


@pytest.mark.parametrize("B,T,D,H", SHAPES)
def test_gradients_match_finite_differences(B, T, D, H):
    rng, params, x, h0, c0 = make(B, T, D, H, seed=1)
    w = rng.standard_normal((B, T, H))  # L = sum(w * h) + sum(w_c * c_T)
    w_c = rng.standard_normal((B, H))

    def loss(inputs):
        p = {k: inputs[k] for k in LSTM_KEYS}
        h, cache = lstm_forward(inputs["x"], (inputs["h0"], inputs["c0"]), p)
        return float(np.sum(w * h) + np.sum(w_c * cache["c"][:, -1]))

    h, cache = lstm_forward(x, (h0, c0), params)
    grads, dx, (dh0, dc0) = lstm_backward(w, cache, dc_final=w_c)
    assert dx.shape == x.shape and dh0.shape == h0.shape and dc0.shape == c0.shape
    errors = check_gradients(
        loss, {**params, "x": x, "h0": h0, "c0": c0}, {**grads, "x": dx, "h0": dh0, "c0": dc0}
    )
    assert max(errors.values()) < 1e-7, errors


def test_float32_stays_float32_and_agrees_with_float64():
    _, params, x, h0, c0 = make(3, 5, 4, 6, dtype=np.float64)
    h64, cache64 = lstm_forward(x, (h0, c0), params)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    h32, cache32 = lstm_forward(
        x.astype(np.float32), (h0.astype(np.float32), c0.astype(np.float32)), p32
    )
    assert h32.dtype == np.float32
    np.testing.assert_allclose(h32, h64, atol=1e-5)
    dh = np.ones_like(h64)
    g64, dx64, _ = lstm_backward(dh, cache64)
    g32, dx32, _ = lstm_backward(dh.astype(np.float32), cache32)
    assert g32["W_h"].dtype == np.float32 and dx32.dtype == np.float32
    np.testing.assert_allclose(g32["W_h"], g64["W_h"], atol=1e-4)


def test_cache_exposes_final_state_for_carrying():
    """Running two halves with the carried (h, c) equals running the whole sequence."""
    _, params, x, h0, c0 = make(2, 6, 3, 4)
    h_full, _ = lstm_forward(x, (h0, c0), params)
    h1, cache1 = lstm_forward(x[:, :3], (h0, c0), params)
    h2, _ = lstm_forward(x[:, 3:], (h1[:, -1], cache1["c"][:, -1]), params)
    np.testing.assert_allclose(np.concatenate([h1, h2], axis=1), h_full, rtol=1e-13)


def test_torch_equality():
    torch = pytest.importorskip("torch")
    B, T, D, H = 3, 7, 4, 5
    rng, params, x, h0, c0 = make(B, T, D, H, seed=2)
    dh = rng.standard_normal((B, T, H))
    lstm = torch.nn.LSTM(D, H, batch_first=True).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(params["W_x"].T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(params["W_h"].T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(params["b"]))
        lstm.bias_hh_l0.zero_()
    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.from_numpy(h0)[None].requires_grad_()
    c0t = torch.from_numpy(c0)[None].requires_grad_()
    y, (h_n, c_n) = lstm(xt, (h0t, c0t))
    y.backward(torch.from_numpy(dh))

    h, cache = lstm_forward(x, (h0, c0), params)
    grads, dx, (dh0, dc0) = lstm_backward(dh, cache)
    np.testing.assert_allclose(h, y.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(cache["c"][:, -1], c_n[0].detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["W_x"], lstm.weight_ih_l0.grad.numpy().T, atol=1e-12)
    np.testing.assert_allclose(grads["W_h"], lstm.weight_hh_l0.grad.numpy().T, atol=1e-12)
    np.testing.assert_allclose(grads["b"], lstm.bias_ih_l0.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(dh0, h0t.grad[0].numpy(), atol=1e-12)
    np.testing.assert_allclose(dc0, c0t.grad[0].numpy(), atol=1e-12)


def test_bad_input_is_rejected_with_clear_errors():
    _, params, x, h0, c0 = make(2, 3, 4, 5)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, D\)"):
        lstm_forward(x[0], (h0, c0), params)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 5\)"):
        lstm_forward(x, (h0[:1], c0), params)
    with pytest.raises(ValueError, match=r"c0 must have shape \(2, 5\)"):
        lstm_forward(x, (h0, c0.T), params)
    with pytest.raises(ValueError, match=r"pair \(h0, c0\)"):
        lstm_forward(x, h0, params)
    with pytest.raises(ValueError, match=r"W_h must have shape \(5, 20\)"):
        lstm_forward(x, (h0, c0), {**params, "W_h": params["W_h"][:, :10]})
    with pytest.raises(ValueError, match=r"W_x must have shape \(4, 4H\)"):
        lstm_forward(x, (h0, c0), {**params, "W_x": params["W_x"].T})
    with pytest.raises(ValueError, match="multiple of 4"):
        lstm_forward(x, (h0, c0), {**params, "W_x": params["W_x"][:, :-1]})
    with pytest.raises(ValueError, match=r"b must have shape \(20,\)"):
        lstm_forward(x, (h0, c0), {**params, "b": params["b"][:5]})
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        lstm_forward(x, (h0, c0), {k: params[k] for k in ("W_x", "W_h")})
    with pytest.raises(ValueError, match=r"unexpected \['W_xh'\]"):
        lstm_forward(x, (h0, c0), {**params, "W_xh": params["W_x"]})
    h, cache = lstm_forward(x, (h0, c0), params)
    with pytest.raises(ValueError, match=r"dh must have shape \(2, 3, 5\)"):
        lstm_backward(h[:, :2], cache)
    with pytest.raises(ValueError, match=r"dc_final must have shape \(2, 5\)"):
        lstm_backward(h, cache, dc_final=h)
    with pytest.raises(ValueError, match="cache must be the dict returned by lstm_forward"):
        lstm_backward(h, {"x": x})
