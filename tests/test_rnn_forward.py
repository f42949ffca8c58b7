"""rnn_forward (chapter 1) against PyTorch and Keras with the same weights, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnn_tutorial.numpy_rnn import rnn_forward, rnn_param_shapes


def _params(rng, D, H, dtype=np.float64):
    return {k: rng.normal(0, 0.5, s).astype(dtype) for k, s in rnn_param_shapes(D, H).items()}


@pytest.mark.parametrize(("B", "T", "D", "H"), [(1, 1, 1, 1), (2, 5, 3, 4), (4, 7, 6, 2)])
def test_rnn_forward_matches_torch(B, T, D, H):
    rng = np.random.default_rng(0)
    params = _params(rng, D, H)
    x, h0 = rng.normal(size=(B, T, D)), rng.normal(size=(B, H))
    h, cache = rnn_forward(x, h0, params)
    assert h.shape == (B, T, H) and cache["h"] is h

    rnn = torch.nn.RNN(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(params["W_xh"].T))
        rnn.weight_hh_l0.copy_(torch.from_numpy(params["W_hh"].T))
        rnn.bias_ih_l0.copy_(torch.from_numpy(params["b_h"]))
        rnn.bias_hh_l0.zero_()
        out, h_n = rnn(torch.from_numpy(x), torch.from_numpy(h0)[None])
    np.testing.assert_allclose(h, out.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(h[:, -1], h_n[0].numpy(), rtol=0, atol=1e-12)


def test_rnn_forward_matches_keras():
    import keras

    rng = np.random.default_rng(1)
    B, T, D, H = 3, 6, 4, 5
    params = _params(rng, D, H, np.float32)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    h0 = rng.normal(size=(B, H)).astype(np.float32)
    layer = keras.layers.SimpleRNN(H, return_sequences=True)
    layer.build((None, T, D))
    layer.set_weights([params["W_xh"], params["W_hh"], params["b_h"]])
    out = keras.ops.convert_to_numpy(layer(x, initial_state=[h0]))
    h, _ = rnn_forward(x, h0, params)
    np.testing.assert_allclose(h, out, rtol=0, atol=1e-5)


@pytest.mark.parametrize("activation", ["identity", "relu"])
def test_rnn_forward_other_activations(activation):
    rng = np.random.default_rng(2)
    params = _params(rng, 2, 3)
    x, h0 = rng.normal(size=(2, 4, 2)), rng.normal(size=(2, 3))
    h, _ = rnn_forward(x, h0, params, activation=activation)
    act = (lambda a: a) if activation == "identity" else (lambda a: np.maximum(a, 0))
    h_prev = h0
    for t in range(4):
        h_prev = act(x[:, t] @ params["W_xh"] + h_prev @ params["W_hh"] + params["b_h"])
        np.testing.assert_allclose(h[:, t], h_prev, atol=1e-12)


def test_rnn_forward_rejects_bad_input():
    rng = np.random.default_rng(3)
    params = _params(rng, 3, 4)
    x, h0 = rng.normal(size=(2, 5, 3)), np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, D\), got \(5, 3\)"):
        rnn_forward(x[0], h0, params)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 4\), got \(2, 3\)"):
        rnn_forward(x, np.zeros((2, 3)), params)
    with pytest.raises(ValueError, match=r"W_xh must have shape \(3, H\), got \(2, 4\)"):
        rnn_forward(x, h0, {**params, "W_xh": np.zeros((2, 4))})
    with pytest.raises(ValueError, match=r"W_hh must have shape \(4, 4\)"):
        rnn_forward(x, h0, {**params, "W_hh": np.zeros((4, 3))})
    with pytest.raises(ValueError, match=r"b_h must have shape \(4,\)"):
        rnn_forward(x, h0, {**params, "b_h": np.zeros((1, 4))})
    with pytest.raises(ValueError, match=r"missing \['b_h'\], unexpected \['bias'\]"):
        rnn_forward(x, h0, {"W_xh": params["W_xh"], "W_hh": params["W_hh"], "bias": params["b_h"]})
    with pytest.raises(ValueError, match="unknown activation 'sigmoid'"):
        rnn_forward(x, h0, params, activation="sigmoid")
