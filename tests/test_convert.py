"""Tests for rnn_tutorial.convert (chapter 10): every converter, both directions, three cells."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from rnn_tutorial.repro import set_seed

set_seed(0)  # imports Keras quietly (TensorFlow's start-up logs silenced) before the imports below

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402

from rnn_tutorial.convert import (  # noqa: E402
    CELL_KEYS,
    book_param_shapes,
    cell_type,
    from_keras,
    from_keras_arrays,
    from_torch,
    from_torch_arrays,
    keras_to_torch,
    to_keras,
    to_keras_arrays,
    to_torch,
    to_torch_arrays,
    torch_to_keras,
)
from rnn_tutorial.numpy_gru import gru_backward, gru_forward  # noqa: E402
from rnn_tutorial.numpy_lstm import lstm_backward, lstm_forward  # noqa: E402
from rnn_tutorial.numpy_rnn import rnn_backward, rnn_forward  # noqa: E402

CELLS = ["rnn", "lstm", "gru"]
SHAPES = [  # (B, T, D, H)
    (2, 4, 3, 5),
    (1, 1, 3, 2),  # B = 1, T = 1
    (3, 1, 4, 4),  # T = 1, H = D
    (1, 6, 5, 3),  # B = 1, H != D
]
TORCH_LAYERS = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
TORCH_CELLS = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}
KERAS_LAYERS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
KERAS_CELLS = {
    "rnn": keras.layers.SimpleRNNCell,
    "lstm": keras.layers.LSTMCell,
    "gru": keras.layers.GRUCell,
}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
KERAS_DTYPE = {np.float32: "float32", np.float64: "float64"}


def random_params(cell, D, H, rng, dtype=np.float64, scale=0.5):
    return {
        k: (scale * rng.standard_normal(s)).astype(dtype)
        for k, s in book_param_shapes(cell, D, H).items()
    }


def make(cell, B, T, D, H, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = random_params(cell, D, H, rng, dtype)
    x = rng.standard_normal((B, T, D)).astype(dtype)
    h0 = (0.5 * rng.standard_normal((B, H))).astype(dtype)
    c0 = (0.5 * rng.standard_normal((B, H))).astype(dtype)
    w = rng.standard_normal((B, T, H)).astype(dtype)  # the loss is sum(w * h), so dL/dh = w
    return params, x, h0, c0, w


def numpy_run(cell, x, h0, c0, params, w=None):
    """States (B, T, H) and, if ``w`` is given, gradients of sum(w * h) and dx."""
    if cell == "rnn":
        h, cache = rnn_forward(x, h0, params)
        back = rnn_backward
    elif cell == "lstm":
        h, cache = lstm_forward(x, (h0, c0), params)
        back = lstm_backward
    else:
        h, cache = gru_forward(x, h0, params)
        back = gru_backward
    if w is None:
        return np.array(h), None, None
    grads, dx, _ = back(w, cache)
    return np.array(h), grads, dx


def torch_run(cell, module, x, h0, c0, w=None):
    dtype = next(module.parameters()).dtype
    xt = torch.tensor(x, dtype=dtype, requires_grad=w is not None)
    state = torch.tensor(h0, dtype=dtype)[None]
    if cell == "lstm":
        state = (state, torch.tensor(c0, dtype=dtype)[None])
    h, _ = module(xt, state)
    if w is None:
        return h.detach().numpy(), None
    module.zero_grad()
    (h * torch.tensor(w, dtype=dtype)).sum().backward()
    return h.detach().numpy(), xt.grad.numpy()


def keras_run(cell, layer, x, h0, c0, w=None):
    dtype = layer.dtype
    xk = tf.constant(x.astype(dtype))
    state = [h0.astype(dtype), c0.astype(dtype)] if cell == "lstm" else [h0.astype(dtype)]
    with tf.GradientTape() as tape:
        tape.watch(xk)
        h = layer(xk, initial_state=state)
        loss = tf.reduce_sum(h * w.astype(dtype)) if w is not None else None
    if w is None:
        return np.asarray(h), None, None
    g = tape.gradient(loss, [*layer.trainable_weights, xk])
    return np.asarray(h), g[:-1], g[-1].numpy()


def assert_params_equal(a, b, atol=0.0):
    assert set(a) == set(b)
    for k in a:
        assert a[k].shape == b[k].shape, k
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=atol, err_msg=k)


# ----------------------------------------------------------------------------------------------
# Array converters
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_book_param_shapes_match_the_numpy_layers(cell):
    shapes = book_param_shapes(cell, 3, 5)
    assert tuple(shapes) == CELL_KEYS[cell]
    params, x, h0, c0, _ = make(cell, 2, 3, 3, 5)
    assert {k: v.shape for k, v in params.items()} == shapes
    h, _, _ = numpy_run(cell, x, h0, c0, params)  # the numpy layers accept these shapes
    assert h.shape == (2, 3, 5)
    with pytest.raises(ValueError, match="cell must be one of"):
        book_param_shapes("transformer", 3, 5)


@pytest.mark.parametrize("cell", CELLS)
def test_torch_arrays_layout_and_round_trip(cell):
    D, H = 3, 4
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    params = random_params(cell, D, H, np.random.default_rng(1))
    arrays = to_torch_arrays(params, cell)
    w_x, w_h = CELL_KEYS[cell][:2]
    assert arrays["weight_ih"].shape == (G * H, D) and arrays["weight_hh"].shape == (G * H, H)
    np.testing.assert_array_equal(arrays["weight_ih"], params[w_x].T)
    np.testing.assert_array_equal(arrays["weight_hh"], params[w_h].T)
    if cell == "gru":
        np.testing.assert_array_equal(arrays["bias_ih"], params["b_x"])
        np.testing.assert_array_equal(arrays["bias_hh"], params["b_h"])
    else:
        np.testing.assert_array_equal(arrays["bias_ih"], params[CELL_KEYS[cell][2]])
        assert not np.any(arrays["bias_hh"])
    assert_params_equal(from_torch_arrays(arrays, cell), params)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_torch_double_bias_is_summed_for_values_but_not_for_gradients(cell):
    rng = np.random.default_rng(2)
    arrays = to_torch_arrays(random_params(cell, 3, 2, rng), cell)
    arrays["bias_hh"] = rng.standard_normal(arrays["bias_ih"].shape)
    b = CELL_KEYS[cell][2]
    np.testing.assert_array_equal(
        from_torch_arrays(arrays, cell)[b], arrays["bias_ih"] + arrays["bias_hh"]
    )
    np.testing.assert_array_equal(from_torch_arrays(arrays, cell, grad=True)[b], arrays["bias_ih"])


def test_gru_torch_biases_stay_separate():
    rng = np.random.default_rng(3)
    arrays = to_torch_arrays(random_params("gru", 3, 2, rng), "gru")
    for grad in (False, True):
        params = from_torch_arrays(arrays, "gru", grad=grad)
        np.testing.assert_array_equal(params["b_x"], arrays["bias_ih"])
        np.testing.assert_array_equal(params["b_h"], arrays["bias_hh"])


@pytest.mark.parametrize("cell", CELLS)
def test_keras_arrays_layout_and_round_trip(cell):
    D, H = 3, 4
    params = random_params(cell, D, H, np.random.default_rng(4))
    arrays = to_keras_arrays(params, cell)
    if cell == "gru":  # Keras' blocks are z, r, h; the book's r, z, n
        W_x, W_h = params["W_x"], params["W_h"]
        for keras_block, book_block in ((0, 1), (1, 0), (2, 2)):
            k, b = (
                slice(keras_block * H, (keras_block + 1) * H),
                slice(book_block * H, (book_block + 1) * H),
            )
            np.testing.assert_array_equal(arrays["kernel"][:, k], W_x[:, b])
            np.testing.assert_array_equal(arrays["recurrent_kernel"][:, k], W_h[:, b])
            np.testing.assert_array_equal(arrays["bias"][0, k], params["b_x"][b])
            np.testing.assert_array_equal(arrays["bias"][1, k], params["b_h"][b])
        assert arrays["bias"].shape == (2, 3 * H)
    else:  # same layout as the book
        w_x, w_h, b = CELL_KEYS[cell]
        np.testing.assert_array_equal(arrays["kernel"], params[w_x])
        np.testing.assert_array_equal(arrays["recurrent_kernel"], params[w_h])
        np.testing.assert_array_equal(arrays["bias"], params[b])
    assert_params_equal(from_keras_arrays(arrays, cell), params)


def test_keras_reset_before_arrays():
    params = random_params("gru", 3, 4, np.random.default_rng(5))
    arrays = to_keras_arrays(params, "gru", reset_after=False)
    assert arrays["bias"].shape == (12,)
    back = from_keras_arrays(arrays, "gru", reset_after=False)
    np.testing.assert_allclose(back["b_x"], params["b_x"] + params["b_h"], rtol=0, atol=1e-15)
    assert not np.any(back["b_h"])
    np.testing.assert_array_equal(back["W_x"], params["W_x"])
    # In the reset-before form only b_x + b_h matters: both param sets compute the same states.
    x = np.random.default_rng(6).standard_normal((2, 5, 3))
    h0 = np.zeros((2, 4))
    h1, _ = gru_forward(x, h0, params, reset_after=False)
    h2, _ = gru_forward(x, h0, back, reset_after=False)
    np.testing.assert_allclose(h1, h2, rtol=0, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
def test_missing_biases_read_as_zeros(cell):
    params = random_params(cell, 3, 2, np.random.default_rng(7))
    t = to_torch_arrays(params, cell)
    k = to_keras_arrays(params, cell)
    p_t = from_torch_arrays({"weight_ih": t["weight_ih"], "weight_hh": t["weight_hh"]}, cell)
    p_k = from_keras_arrays(
        {"kernel": k["kernel"], "recurrent_kernel": k["recurrent_kernel"]}, cell
    )
    for p in (p_t, p_k):
        for b in CELL_KEYS[cell][2:]:
            assert p[b].shape == params[b].shape and not np.any(p[b])


# ----------------------------------------------------------------------------------------------
# Framework round trips
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_torch_numpy_round_trip(cell, dtype):
    params = random_params(cell, 3, 5, np.random.default_rng(8), dtype)
    for module in (
        TORCH_LAYERS[cell](3, 5, batch_first=True, dtype=TORCH_DTYPE[dtype]),
        TORCH_LAYERS[cell](3, 5, batch_first=False, dtype=TORCH_DTYPE[dtype]),
        TORCH_CELLS[cell](3, 5, dtype=TORCH_DTYPE[dtype]),
    ):
        assert to_torch(params, module) is module
        assert cell_type(module) == cell
        back = from_torch(module)
        assert all(v.dtype == dtype for v in back.values())
        assert_params_equal(back, params)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_keras_numpy_round_trip(cell, dtype):
    params = random_params(cell, 3, 5, np.random.default_rng(9), dtype)
    layers = [
        KERAS_LAYERS[cell](5, dtype=KERAS_DTYPE[dtype]),  # unbuilt: to_keras builds it
        KERAS_CELLS[cell](5, dtype=KERAS_DTYPE[dtype]),
        keras.layers.RNN(KERAS_CELLS[cell](5, dtype=KERAS_DTYPE[dtype]), dtype=KERAS_DTYPE[dtype]),
    ]
    for layer in layers:
        assert to_keras(params, layer) is layer
        assert cell_type(layer) == cell
        back = from_keras(layer)
        assert all(v.dtype == dtype for v in back.values())
        assert_params_equal(back, params)


@pytest.mark.parametrize("cell", CELLS)
def test_torch_keras_via_numpy(cell):
    rng = np.random.default_rng(10)
    module = TORCH_LAYERS[cell](4, 3, batch_first=True, dtype=torch.float64)
    with torch.no_grad():  # random weights and two different biases, as torch trains them
        for p in module.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))))
    layer = KERAS_LAYERS[cell](3, dtype="float64")
    layer.build((None, None, 4))
    assert torch_to_keras(module, layer) is layer
    assert_params_equal(from_keras(layer), from_torch(module))

    module2 = TORCH_LAYERS[cell](4, 3, batch_first=True, dtype=torch.float64)
    assert keras_to_torch(layer, module2) is module2
    assert_params_equal(from_torch(module2), from_keras(layer))
    # Outputs agree across all three after the trip torch -> keras -> torch.
    params = from_torch(module)
    _, x, h0, c0, _ = make(cell, 2, 5, 4, 3, seed=11)
    h, _, _ = numpy_run(cell, x, h0, c0, params)
    for h_other in (
        torch_run(cell, module, x, h0, c0)[0],
        torch_run(cell, module2, x, h0, c0)[0],
    ):
        np.testing.assert_allclose(h_other, h, rtol=0, atol=1e-12)
    # An unbuilt Keras layer is built by the converter for the torch module's input size.
    layer_seq = torch_to_keras(
        module, KERAS_LAYERS[cell](3, return_sequences=True, dtype="float64")
    )
    np.testing.assert_allclose(keras_run(cell, layer_seq, x, h0, c0)[0], h, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Same outputs and same gradients after conversion
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("B,T,D,H", SHAPES)
def test_outputs_and_gradients_agree_float64(cell, B, T, D, H):
    params, x, h0, c0, w = make(cell, B, T, D, H, seed=12)
    h, grads, dx = numpy_run(cell, x, h0, c0, params, w)

    module = to_torch(params, TORCH_LAYERS[cell](D, H, batch_first=True, dtype=torch.float64))
    h_t, dx_t = torch_run(cell, module, x, h0, c0, w)
    np.testing.assert_allclose(h_t, h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx_t, dx, rtol=0, atol=1e-11)
    assert_params_equal(from_torch(module, grad=True), grads, atol=1e-11)

    layer = to_keras(params, KERAS_LAYERS[cell](H, return_sequences=True, dtype="float64"))
    h_k, g_k, dx_k = keras_run(cell, layer, x, h0, c0, w)
    np.testing.assert_allclose(h_k, h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx_k, dx, rtol=0, atol=1e-11)
    assert_params_equal(from_keras(layer, weights=g_k), grads, atol=1e-11)


@pytest.mark.parametrize("cell", CELLS)
def test_outputs_and_gradients_agree_float32(cell):
    B, T, D, H = 4, 10, 3, 6
    params, x, h0, c0, w = make(cell, B, T, D, H, seed=13, dtype=np.float32)
    h, grads, _ = numpy_run(cell, x, h0, c0, params, w)
    module = to_torch(params, TORCH_LAYERS[cell](D, H, batch_first=True))
    layer = to_keras(params, KERAS_LAYERS[cell](H, return_sequences=True))
    h_t, _ = torch_run(cell, module, x, h0, c0, w)
    h_k, g_k, _ = keras_run(cell, layer, x, h0, c0, w)
    assert np.abs(h_t - h).max() < 1e-5 and np.abs(h_k - h).max() < 1e-5
    for other in (from_torch(module, grad=True), from_keras(layer, weights=g_k)):
        for k in grads:
            assert np.abs(other[k] - grads[k]).max() < 1e-5, k


@pytest.mark.parametrize("cell", CELLS)
def test_torch_cells_match_one_numpy_step(cell):
    params, x, h0, c0, _ = make(cell, 3, 1, 4, 2, seed=14)
    module = to_torch(params, TORCH_CELLS[cell](4, 2, dtype=torch.float64))
    xt, ht = torch.from_numpy(x[:, 0]), torch.from_numpy(h0)
    out = module(xt, (ht, torch.from_numpy(c0))) if cell == "lstm" else module(xt, ht)
    out = out[0] if cell == "lstm" else out
    h, _, _ = numpy_run(cell, x, h0, c0, params)
    np.testing.assert_allclose(out.detach().numpy(), h[:, 0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_any_split_of_the_torch_bias_gives_the_same_model(cell):
    params, x, h0, c0, w = make(cell, 2, 4, 3, 3, seed=15)
    module = to_torch(params, TORCH_LAYERS[cell](3, 3, batch_first=True, dtype=torch.float64))
    split = torch.from_numpy(np.random.default_rng(16).standard_normal(module.bias_hh_l0.shape))
    with torch.no_grad():
        module.bias_ih_l0 -= split
        module.bias_hh_l0 += split
    assert_params_equal(from_torch(module), params, atol=1e-14)
    h, grads, _ = numpy_run(cell, x, h0, c0, params, w)
    h_t, _ = torch_run(cell, module, x, h0, c0, w)
    np.testing.assert_allclose(h_t, h, rtol=0, atol=1e-12)
    # Both bias gradients equal dL/db; summing them would double it.
    np.testing.assert_allclose(module.bias_ih_l0.grad.numpy(), module.bias_hh_l0.grad.numpy())
    b = CELL_KEYS[cell][2]
    np.testing.assert_allclose(from_torch(module, grad=True)[b], grads[b], rtol=0, atol=1e-11)


def test_keras_reset_before_gru_matches_numpy_reset_before():
    params, x, h0, _, _ = make("gru", 2, 5, 3, 4, seed=17)
    layer = keras.layers.GRU(4, reset_after=False, return_sequences=True, dtype="float64")
    to_keras(params, layer, allow_reset_before=True)
    h_ref, _ = gru_forward(x, h0, params, reset_after=False)
    h_k = np.asarray(layer(x, initial_state=[h0]))
    np.testing.assert_allclose(h_k, h_ref, rtol=0, atol=1e-12)
    back = from_keras(layer, allow_reset_before=True)
    h_back, _ = gru_forward(x, h0, back, reset_after=False)
    np.testing.assert_allclose(h_back, h_ref, rtol=0, atol=1e-12)
    # ... and it is a different function from the reset-after GRU of torch and gru_forward.
    h_after, _ = gru_forward(x, h0, params)
    assert np.abs(h_after - h_ref).max() > 1e-3


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


def test_shape_errors_name_both_shapes():
    params = {"W_x": np.zeros((3, 8)), "W_h": np.zeros((4, 16)), "b": np.zeros(16)}
    msg = r"W_x has shape \(3, 8\) but the torch LSTM needs \(3, 16\) for D=3, H=4"
    with pytest.raises(ValueError, match=msg):
        to_torch(params, torch.nn.LSTM(3, 4))
    layer = keras.layers.LSTM(4)
    layer.build((None, None, 3))
    with pytest.raises(
        ValueError, match=r"W_x has shape \(3, 8\) but the Keras LSTM needs \(3, 16\)"
    ):
        to_keras(params, layer)
    with pytest.raises(ValueError, match=r"W_x has shape \(3, 8\) but an LSTM needs \(3, 16\)"):
        to_torch_arrays(params, "lstm")
    good = random_params("gru", 3, 4, np.random.default_rng(18))
    with pytest.raises(
        ValueError, match=r"W_x has shape \(3, 12\) but the torch GRU needs \(5, 12\)"
    ):
        to_torch(good, torch.nn.GRU(5, 4))  # wrong input size D
    with pytest.raises(
        ValueError, match=r"W_h has shape \(4, 12\) but the torch GRU needs \(6, 18\)"
    ):
        to_torch({**good, "W_x": np.zeros((3, 18))}, torch.nn.GRU(3, 6))
    with pytest.raises(ValueError, match=r"bias_hh has shape \(5,\) but a torch GRU needs \(12,\)"):
        from_torch_arrays({**to_torch_arrays(good, "gru"), "bias_hh": np.zeros(5)}, "gru")
    with pytest.raises(
        ValueError,
        match=r"bias has shape \(12,\) but a Keras GRU \(reset_after=True\) needs \(2, 12\)",
    ):
        from_keras_arrays({**to_keras_arrays(good, "gru"), "bias": np.zeros(12)}, "gru")
    with pytest.raises(ValueError, match=r"b_x has shape \(3,\) but a GRU needs \(12,\)"):
        to_keras_arrays({**good, "b_x": np.zeros(3)}, "gru")


def test_cell_type_errors():
    lstm_params = random_params("lstm", 3, 4, np.random.default_rng(19))
    with pytest.raises(
        ValueError, match="params have the keys of an LSTM .* but the torch GRU needs"
    ):
        to_torch(lstm_params, torch.nn.GRU(3, 4))
    with pytest.raises(
        ValueError, match="params have the keys of an LSTM .* but the Keras SimpleRNN needs"
    ):
        to_keras(lstm_params, keras.layers.SimpleRNN(4))
    with pytest.raises(ValueError, match=r"params have the keys \['W', 'b'\]"):
        to_torch({"W": np.zeros(2), "b": np.zeros(2)}, torch.nn.RNN(3, 4))
    with pytest.raises(ValueError, match="cell='gru' but the module is an LSTM"):
        to_torch(lstm_params, torch.nn.LSTM(3, 4), cell="gru")
    with pytest.raises(ValueError, match="cell='rnn' but the layer is an LSTM"):
        from_keras(keras.layers.LSTM(4), cell="rnn")
    with pytest.raises(ValueError, match="cell must be one of"):
        to_torch_arrays(lstm_params, "LSTM")
    with pytest.raises(ValueError, match="expected a torch.nn.RNN, LSTM or GRU"):
        from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="expected a Keras SimpleRNN, LSTM or GRU"):
        from_keras(keras.layers.Dense(4))
    with pytest.raises(ValueError, match="expected a torch.nn RNN/LSTM/GRU module or a Keras"):
        cell_type(np.zeros(3))
    gru = keras.layers.GRU(3)
    gru.build((None, None, 4))
    with pytest.raises(ValueError, match="the Keras layer is a GRU but the torch module an LSTM"):
        keras_to_torch(gru, torch.nn.LSTM(4, 3))
    with pytest.raises(ValueError, match="the torch module is an LSTM but the Keras layer a GRU"):
        torch_to_keras(torch.nn.LSTM(4, 3), gru)


def test_unsupported_configurations_are_refused():
    with pytest.raises(ValueError, match="num_layers=2"):
        from_torch(torch.nn.LSTM(3, 4, num_layers=2))
    with pytest.raises(ValueError, match="bidirectional"):
        from_torch(torch.nn.GRU(3, 4, bidirectional=True))
    with pytest.raises(ValueError, match="proj_size=2"):
        from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match="Bidirectional"):
        from_keras(keras.layers.Bidirectional(keras.layers.LSTM(4)))
    with pytest.raises(ValueError, match="not built"):
        from_keras(keras.layers.GRU(4))
    with pytest.raises(ValueError, match=r"\.grad is None"):
        from_torch(torch.nn.GRU(3, 4), grad=True)
    layer = keras.layers.GRU(4)
    layer.build((None, None, 3))
    with pytest.raises(ValueError, match="aligned with layer.trainable_weights"):
        from_keras(layer, weights=[np.zeros((3, 12))])


def test_reset_before_keras_gru_is_refused_by_default():
    params = random_params("gru", 3, 4, np.random.default_rng(20))
    layer = keras.layers.GRU(4, reset_after=False)
    with pytest.raises(ValueError, match="reset_after=False.*allow_reset_before=True"):
        to_keras(params, layer)
    to_keras(params, layer, allow_reset_before=True)
    with pytest.raises(ValueError, match="reset_after=False.*allow_reset_before=True"):
        from_keras(layer)
    with pytest.raises(ValueError, match="reset_after=False.*no equivalent torch module"):
        keras_to_torch(layer, torch.nn.GRU(3, 4))
    with pytest.raises(ValueError, match="reset_after=False.*reset_after=True to hold torch"):
        torch_to_keras(torch.nn.GRU(3, 4), layer)


def test_activation_mismatch_is_refused_across_frameworks():
    layer = keras.layers.SimpleRNN(4, activation="relu")
    layer.build((None, None, 3))
    with pytest.raises(ValueError, match="activations differ.*'relu'.*'tanh'"):
        keras_to_torch(layer, torch.nn.RNN(3, 4))
    keras_to_torch(layer, torch.nn.RNN(3, 4, nonlinearity="relu"))  # agrees: accepted
    lstm = keras.layers.LSTM(4, recurrent_activation="hard_sigmoid")
    lstm.build((None, None, 3))
    with pytest.raises(ValueError, match="recurrent_activation='hard_sigmoid'"):
        keras_to_torch(lstm, torch.nn.LSTM(3, 4))


@pytest.mark.parametrize("cell", CELLS)
def test_bias_free_modules_and_layers(cell):
    params = random_params(cell, 3, 2, np.random.default_rng(21))
    module = TORCH_LAYERS[cell](3, 2, bias=False)
    layer = KERAS_LAYERS[cell](2, use_bias=False)
    with pytest.raises(ValueError, match="bias=False, so it cannot hold nonzero biases"):
        to_torch(params, module)
    with pytest.raises(ValueError, match="use_bias=False, so it cannot hold nonzero biases"):
        to_keras(params, layer)
    zero_bias = {k: (np.zeros_like(v) if k.startswith("b") else v) for k, v in params.items()}
    to_torch(zero_bias, module)
    to_keras(zero_bias, layer)
    assert_params_equal(from_torch(module), zero_bias, atol=1e-7)
    assert_params_equal(from_keras(layer), zero_bias, atol=1e-7)


def test_import_does_not_load_the_frameworks():
    code = (
        "import sys, rnn_tutorial.convert; "
        "print(any(m in sys.modules for m in ('torch', 'keras', 'tensorflow')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class _TensorOnAnotherDevice:
    """Stands in for a backend tensor on a GPU: NumPy can read it, but ``.numpy()`` raises.

    That is how a CUDA tensor behaves under Keras' torch backend; ``from_keras`` once called
    ``.numpy()`` on gradients and failed there.
    """

    def __init__(self, array):
        self._array = np.asarray(array)

    def __array__(self, dtype=None, copy=None):
        return self._array if dtype is None else self._array.astype(dtype)

    def numpy(self):
        raise TypeError("can't convert cuda:0 device type tensor to numpy")


@pytest.mark.parametrize("cell", CELLS)
def test_from_keras_reads_gradients_without_calling_numpy(cell):
    params, x, h0, c0, w = make(cell, 2, 4, 3, 5, seed=21)
    _, grads, _ = numpy_run(cell, x, h0, c0, params, w)
    layer = to_keras(params, KERAS_LAYERS[cell](5, return_sequences=True, dtype="float64"))
    _, g_k, _ = keras_run(cell, layer, x, h0, c0, w)
    elsewhere = [_TensorOnAnotherDevice(g) for g in g_k]
    assert_params_equal(from_keras(layer, weights=elsewhere), grads, atol=1e-11)


def test_from_keras_on_the_torch_backend_with_gradients_that_require_grad():
    # Under KERAS_BACKEND=torch, tensor.numpy() raises for a tensor on a GPU or one that
    # requires grad (the case a CPU can show); keras.ops.convert_to_numpy handles both.
    code = """
import numpy as np, torch, keras
from rnn_tutorial.convert import book_param_shapes, from_keras, to_keras
assert keras.backend.backend() == "torch"
rng = np.random.default_rng(0)
params = {k: rng.standard_normal(s) for k, s in book_param_shapes("gru", 3, 4).items()}
layer = to_keras(params, keras.layers.GRU(4, return_sequences=True, dtype="float64"))
assert all(np.array_equal(v, params[k]) for k, v in from_keras(layer).items())
x = torch.tensor(rng.standard_normal((2, 5, 3)))
weights = [v.value for v in layer.trainable_weights]
grads = torch.autograd.grad(layer(x).sum(), weights, create_graph=True)
assert all(g.requires_grad for g in grads)
try:
    grads[0].numpy()
except RuntimeError:
    pass
else:
    raise AssertionError("expected tensor.numpy() to raise for a tensor that requires grad")
g = from_keras(layer, weights=grads)
assert set(g) == set(params) and all(v.shape == params[k].shape for k, v in g.items())
print("ok")
"""
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "ok"
