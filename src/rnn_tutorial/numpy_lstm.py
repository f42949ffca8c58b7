"""The LSTM in plain NumPy: forward and backward through time ("LSTM from scratch").

Conventions are those of ``book/notation.md``: batch-major inputs ``x (B, T, D)``, row vectors,
and a parameter dict ``W_x (D, 4H)``, ``W_h (H, 4H)``, ``b (4H,)`` whose gate blocks are stacked in
the order **i, f, g, o** (input gate, forget gate, candidate, output gate), PyTorch's order.
One step computes::

    [z_i, z_f, z_g, z_o] = x_t W_x + h_{t-1} W_h + b
    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);  g = tanh(z_g)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

The chapter shows a plain implementation line by line; this module is the same computation
written for speed (the benchmark of "LSTM from scratch", ``benchmarks/lstm_numpy_vs_torch.py``):

- one matrix product projects the inputs of all time steps at once, with the bias riding along
  as an extra input column of ones (``[x_t, 1] [W_x; b]``);
- the four gates come from one fused product ``h_{t-1} W_h`` per step, written into a
  preallocated buffer;
- the sigmoid is evaluated as ``(1 + tanh(a / 2)) / 2``: the i, f, o columns of the weights are
  halved once (exact in floating point), so one in-place ``tanh`` call covers all four blocks;
- every buffer is allocated once and updated in place; internally the buffers are time-major
  (``(T, B, ...)``) so that every step reads and writes contiguous memory, and the arrays handed
  back are batch-major views of them;
- the backward pass forms the weight gradients after the time loop as two large matrix
  products, ``dW_h = H_prev^T dZ`` and ``[dW_x; db] = [X, 1]^T dZ``, instead of ``T`` small ones.

The benchmark times these matrix products on their own as well (``matrix_products_only`` in
``benchmarks/lstm_numpy_vs_torch.py`` repeats the same calls on buffers of the same layout):
a change to the products or the layouts here must be made there too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rnn_tutorial.numpy_rnn import _check_keys, check_shape

__all__ = [
    "LSTM_KEYS",
    "lstm_backward",
    "lstm_forward",
    "lstm_init_params",
    "lstm_param_shapes",
]

Params = Mapping[str, np.ndarray]

#: The keys of an LSTM parameter dict ("LSTM from scratch").
LSTM_KEYS: tuple[str, ...] = ("W_x", "W_h", "b")

_CACHE_KEYS = ("x", "h0", "c0", "h", "c", "gates", "params", "_tm")


def lstm_param_shapes(input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the LSTM's parameters: ``W_x (D, 4H)``, ``W_h (H, 4H)``, ``b (4H,)``.

    Their sizes add up to ``4 (D H + H^2 + H)``.
    """
    D, H = int(input_size), int(hidden_size)
    return {"W_x": (D, 4 * H), "W_h": (H, 4 * H), "b": (4 * H,)}


def lstm_init_params(
    input_size: int,
    hidden_size: int,
    rng: np.random.Generator,
    forget_bias: float = 0.0,
    dtype: Any = np.float64,
) -> dict[str, np.ndarray]:
    """Random LSTM parameters as PyTorch draws them, optionally with a forget-gate bias.

    Every weight and bias is drawn from ``U(-1/sqrt(H), 1/sqrt(H))`` (``torch.nn.LSTM``'s
    default). ``forget_bias`` is then *added* to the forget-gate block ``b[H:2H]``; "LSTM from
    scratch" measures the effect of ``forget_bias=1`` (Jozefowicz et al., 2015).
    """
    D, H = int(input_size), int(hidden_size)
    if D < 1 or H < 1:
        raise ValueError(f"input_size and hidden_size must be positive, got {D} and {H}")
    bound = 1.0 / np.sqrt(H)
    params = {
        k: rng.uniform(-bound, bound, size=s).astype(dtype)
        for k, s in lstm_param_shapes(D, H).items()
    }
    params["b"][H : 2 * H] += forget_bias
    return params


def _check_state(state: Any) -> tuple[Any, Any]:
    if not isinstance(state, tuple | list) or len(state) != 2:
        raise ValueError("state must be a pair (h0, c0) of arrays of shape (B, H)")
    return state[0], state[1]


def lstm_forward(
    x: np.ndarray, state: tuple[np.ndarray, np.ndarray], params: Params
) -> tuple[np.ndarray, dict[str, Any]]:
    """Run an LSTM over a batch of sequences ("LSTM from scratch").

    Args:
        x: inputs, shape ``(B, T, D)``.
        state: the initial state ``(h0, c0)``, each of shape ``(B, H)``.
        params: ``W_x (D, 4H)``, ``W_h (H, 4H)``, ``b (4H,)``, gate blocks in the order
            i, f, g, o.

    Returns:
        ``(h, cache)``. ``h`` holds every hidden state, shape ``(B, T, H)``. ``cache`` holds what
        :func:`lstm_backward` needs and, for the reader:

        - ``cache["c"]``: every cell state, shape ``(B, T, H)``; the final state to carry into
          the next chunk of a long sequence (truncated BPTT, as in "A character-level
          language model in NumPy") is
          ``(h[:, -1], cache["c"][:, -1])``;
        - ``cache["gates"]``: the gate activations ``[i, f, g, o]`` of every step, shape
          ``(B, T, 4H)``;
        - ``cache["x"]``, ``cache["h0"]``, ``cache["c0"]``, ``cache["params"]``.

        ``h``, ``cache["c"]`` and ``cache["gates"]`` are batch-major views of time-major
        buffers (not C-contiguous); do not write into them.

    The computation runs in the dtype of the inputs (float32 stays float32).
    """
    _check_keys(params, LSTM_KEYS, "LSTM")
    h0, c0 = _check_state(state)
    x = check_shape("x", x, ("B", "T", "D"))
    B, T, D = x.shape
    W_x = check_shape("W_x", params["W_x"], (D, "4H"))
    if W_x.shape[1] % 4 or W_x.shape[1] == 0:
        raise ValueError(
            f"W_x must have shape (D, 4H) with 4H a positive multiple of 4, got {W_x.shape}"
        )
    H = W_x.shape[1] // 4
    W_h = check_shape("W_h", params["W_h"], (H, 4 * H))
    b = check_shape("b", params["b"], (4 * H,))
    h0 = check_shape("h0", h0, (B, H))
    c0 = check_shape("c0", c0, (B, H))
    if T == 0:
        raise ValueError("x must hold at least one time step (T >= 1)")
    dtype = np.result_type(x, h0, c0, W_x, W_h, b, np.float32)

    # sigmoid(a) = (1 + tanh(a / 2)) / 2. Halving the columns of the i, f, o blocks (an exact
    # operation in floating point) lets one tanh call cover all four gate blocks per step.
    half = np.full(4 * H, 0.5, dtype=dtype)
    half[2 * H : 3 * H] = 1.0
    shift = np.full(4 * H, 0.5, dtype=dtype)
    shift[2 * H : 3 * H] = 0.0
    W_hs = W_h.astype(dtype) * half
    # The bias rides along as an extra input that is always 1: [x_t, 1] [W_x; b] = x_t W_x + b.
    W_xbs = np.concatenate([W_x.astype(dtype), b.astype(dtype)[None]]) * half[None]

    # Time-major copy of the inputs plus a column of ones: row t*B + b of x1 is [x[b, t], 1].
    x1 = np.empty((T, B, D + 1), dtype=dtype)
    x1[:, :, :D] = x.transpose(1, 0, 2)
    x1[:, :, D] = 1.0
    # One big input projection for every step; the gates are then finished in place.
    gates = (x1.reshape(T * B, D + 1) @ W_xbs).reshape(T, B, 4 * H)
    hs = np.empty((T + 1, B, H), dtype=dtype)  # hs[0] = h0, hs[t] = h_t
    cs = np.empty((T + 1, B, H), dtype=dtype)  # cs[0] = c0, cs[t] = c_t
    hs[0] = h0
    cs[0] = c0
    rec = np.empty((B, 4 * H), dtype=dtype)
    tmp = np.empty((B, H), dtype=dtype)
    for t in range(T):
        a = gates[t]
        np.matmul(hs[t], W_hs, out=rec)
        a += rec
        np.tanh(a, out=a)
        a *= half
        a += shift  # a = [i, f, g, o]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c = cs[t + 1]
        np.multiply(f, cs[t], out=c)
        np.multiply(i, g, out=tmp)
        c += tmp  # c_t = f * c_{t-1} + i * g
        np.tanh(c, out=tmp)
        np.multiply(o, tmp, out=hs[t + 1])  # h_t = o * tanh(c_t)

    h = hs[1:].transpose(1, 0, 2)
    cache = {
        "x": x,
        "h0": h0,
        "c0": c0,
        "h": h,
        "c": cs[1:].transpose(1, 0, 2),
        "gates": gates.transpose(1, 0, 2),
        "params": dict(params),
        "_tm": {"x1": x1, "hs": hs, "cs": cs, "gates": gates},
    }
    return h, cache


def lstm_backward(
    dh: np.ndarray, cache: Mapping[str, Any], dc_final: np.ndarray | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Backpropagate through an LSTM run by :func:`lstm_forward` ("LSTM from scratch").

    Args:
        dh: upstream gradients ``∂L/∂h_t`` on every hidden state, shape ``(B, T, H)`` (the
            direct effect of each ``h_t`` on the loss; zeros where a state is not used).
        cache: the cache returned by :func:`lstm_forward`.
        dc_final: optional upstream gradient on the final cell state ``c_T``, shape ``(B, H)``,
            for when ``c_T`` itself feeds a later computation (e.g. an encoder handing its
            state to a decoder). ``None`` means zero.

    Returns:
        ``(grads, dx, (dh0, dc0))``: ``grads`` has the keys and shapes of the parameters,
        ``dx`` the shape of ``x`` and ``dh0``, ``dc0`` the shape ``(B, H)``. All are total
        derivatives of the loss. The recursion carries both ``dL/dh_t`` and ``dL/dc_t`` back
        through time.
    """
    if not isinstance(cache, Mapping) or any(k not in cache for k in _CACHE_KEYS):
        raise ValueError(
            f"cache must be the dict returned by lstm_forward (keys {list(_CACHE_KEYS)})"
        )
    tm = cache["_tm"]
    x1, hs, cs, gates = tm["x1"], tm["hs"], tm["cs"], tm["gates"]
    T, B, D1 = x1.shape
    H = hs.shape[2]
    dtype = hs.dtype
    dh = check_shape("dh", dh, (B, T, H))
    if dc_final is not None:
        dc_final = check_shape("dc_final", dc_final, (B, H))
    params = cache["params"]
    W_x = np.asarray(params["W_x"], dtype=dtype)
    W_hT = np.ascontiguousarray(np.asarray(params["W_h"], dtype=dtype).T)

    da = np.empty((T, B, 4 * H), dtype=dtype)  # dL/da_t for every step, gate blocks i, f, g, o
    dh_next = np.zeros((B, H), dtype=dtype)  # dL/dh_t, total, flowing back from step t + 1
    dc = np.zeros((B, H), dtype=dtype)  # dL/dc_t, total, flowing back from step t + 1
    if dc_final is not None:
        dc += dc_final
    deriv = np.empty((B, 4 * H), dtype=dtype)  # activation derivatives of the four blocks
    tanh_c = np.empty((B, H), dtype=dtype)
    tmp = np.empty((B, H), dtype=dtype)
    for t in range(T - 1, -1, -1):
        a = gates[t]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        da_t = da[t]
        dh_next += dh[:, t]  # now the total derivative dL/dh_t
        # sigmoid' = s (1 - s) for i, f, o; tanh' = 1 - g^2 for the candidate.
        np.multiply(a, a, out=deriv)
        np.subtract(a, deriv, out=deriv)
        d_g = deriv[:, 2 * H : 3 * H]
        np.multiply(g, g, out=d_g)
        np.subtract(1.0, d_g, out=d_g)
        # dL/dc_t (total) = dc from step t + 1 + dL/dh_t * o * (1 - tanh(c_t)^2)
        np.tanh(cs[t + 1], out=tanh_c)
        np.multiply(hs[t + 1], tanh_c, out=tmp)  # h_t tanh(c_t) = o tanh^2(c_t)
        np.subtract(o, tmp, out=tmp)  # o (1 - tanh^2(c_t))
        tmp *= dh_next
        dc += tmp
        # Gradients on the gate activations, then on the pre-activations z_t.
        np.multiply(dc, g, out=da_t[:, :H])  # dL/di
        np.multiply(dc, cs[t], out=da_t[:, H : 2 * H])  # dL/df
        np.multiply(dc, i, out=da_t[:, 2 * H : 3 * H])  # dL/dg
        np.multiply(dh_next, tanh_c, out=da_t[:, 3 * H :])  # dL/do
        da_t *= deriv
        dc *= f  # dL/dc_{t-1} through c_t = f * c_{t-1} + i * g
        np.matmul(da_t, W_hT, out=dh_next)  # dL/dh_{t-1} through the gates of step t

    # Weight gradients: one big product each instead of T small ones. The column of ones in
    # x1 turns the bias gradient (the sum of da over all rows) into the last row of dW.
    da2 = da.reshape(T * B, 4 * H)
    dW = x1.reshape(T * B, D1).T @ da2
    grads = {
        "W_x": dW[: D1 - 1],
        "W_h": hs[:-1].reshape(T * B, H).T @ da2,
        "b": dW[D1 - 1],
    }
    dx = (da2 @ W_x.T).reshape(T, B, D1 - 1).transpose(1, 0, 2)
    return grads, dx, (dh_next, dc)
