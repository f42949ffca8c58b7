"""The GRU in plain NumPy, both conventions, forward and backward ("GRU from scratch").

Conventions are those of ``book/notation.md``: batch-major inputs ``x (B, T, D)``, row vectors,
and a parameter dict ``W_x (D, 3H)``, ``W_h (H, 3H)``, ``b_x (3H,)``, ``b_h (3H,)`` whose gate
blocks are stacked in the order **r, z, n** (reset gate, update gate, candidate), PyTorch's
order. With ``[a_r, a_z, a_n] = x_t W_x + b_x`` and ``[u_r, u_z, u_n] = h_{t-1} W_h + b_h``:

    r = sigmoid(a_r + u_r),   z = sigmoid(a_z + u_z)
    reset after  (default; cuDNN, PyTorch, Keras reset_after=True):
        n = tanh(a_n + r * u_n)                      = tanh(a_n + r * (h_{t-1} W_h^n + b_h^n))
    reset before (Cho et al. 2014):
        n = tanh(a_n + (r * h_{t-1}) W_h^n + b_h^n)
    h_t = (1 - z) * n + z * h_{t-1}

In the reset-before form the recurrent bias of the candidate, ``b_h^n``, is added *outside* the
reset, so there it only ever appears in the sum ``b_x^n + b_h^n`` (as do the r and z biases in
both forms); in the reset-after form the reset gate scales it, so ``b_x^n`` and ``b_h^n`` are two
different parameters. With ``reset_after=True`` the function equals ``torch.nn.GRU`` given the
same weights (transposed).

Like :mod:`rnn_tutorial.numpy_lstm`, the implementation projects all inputs with one matrix
product (the biases riding along as a column of ones), evaluates the sigmoids through ``tanh``,
preallocates time-major buffers, works in place and forms the weight gradients after the time
loop with one large product each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rnn_tutorial.numpy_rnn import _check_keys, check_shape

__all__ = ["GRU_KEYS", "gru_backward", "gru_forward", "gru_init_params", "gru_param_shapes"]

Params = Mapping[str, np.ndarray]

#: The keys of a GRU parameter dict ("GRU from scratch").
GRU_KEYS: tuple[str, ...] = ("W_x", "W_h", "b_x", "b_h")

_CACHE_KEYS = ("x", "h0", "h", "gates", "params", "reset_after", "_tm")


def gru_param_shapes(input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the GRU's parameters ("GRU from scratch"): ``W_x (D, 3H)``, ``W_h (H, 3H)``,
    ``b_x (3H,)``, ``b_h (3H,)``; ``3 (D H + H^2 + 2 H)`` numbers in all."""
    D, H = int(input_size), int(hidden_size)
    return {"W_x": (D, 3 * H), "W_h": (H, 3 * H), "b_x": (3 * H,), "b_h": (3 * H,)}


def gru_init_params(
    input_size: int, hidden_size: int, rng: np.random.Generator, dtype: Any = np.float64
) -> dict[str, np.ndarray]:
    """Random GRU parameters ("GRU from scratch"), drawn like ``torch.nn.GRU``'s.

    Every weight and bias comes from ``U(-1/sqrt(H), 1/sqrt(H))``.
    """
    D, H = int(input_size), int(hidden_size)
    if D < 1 or H < 1:
        raise ValueError(f"input_size and hidden_size must be positive, got {D} and {H}")
    bound = 1.0 / np.sqrt(H)
    return {
        k: rng.uniform(-bound, bound, size=s).astype(dtype)
        for k, s in gru_param_shapes(D, H).items()
    }


def gru_forward(
    x: np.ndarray, h0: np.ndarray, params: Params, reset_after: bool = True
) -> tuple[np.ndarray, dict[str, Any]]:
    """Run a GRU over a batch of sequences ("GRU from scratch").

    Args:
        x: inputs, shape ``(B, T, D)``.
        h0: initial hidden state, shape ``(B, H)``.
        params: ``W_x (D, 3H)``, ``W_h (H, 3H)``, ``b_x (3H,)``, ``b_h (3H,)``, gate blocks in
            the order r, z, n.
        reset_after: ``True`` (default) for ``n = tanh(a_n + r * (h W_h^n + b_h^n))``, the form
            of cuDNN, PyTorch and Keras ``reset_after=True``; ``False`` for the original
            ``n = tanh(a_n + (r * h) W_h^n + b_h^n)`` of Cho et al. (2014).

    Returns:
        ``(h, cache)``: every hidden state, shape ``(B, T, H)``, and what :func:`gru_backward`
        needs. ``cache["gates"]`` holds ``[r, z, n]`` of every step, shape ``(B, T, 3H)``.
        ``h`` and ``cache["gates"]`` are batch-major views of time-major buffers.
    """
    _check_keys(params, GRU_KEYS, "GRU")
    if not isinstance(reset_after, bool | np.bool_):
        raise ValueError(f"reset_after must be True or False, got {reset_after!r}")
    x = check_shape("x", x, ("B", "T", "D"))
    B, T, D = x.shape
    W_x = check_shape("W_x", params["W_x"], (D, "3H"))
    if W_x.shape[1] % 3 or W_x.shape[1] == 0:
        raise ValueError(
            f"W_x must have shape (D, 3H) with 3H a positive multiple of 3, got {W_x.shape}"
        )
    H = W_x.shape[1] // 3
    W_h = check_shape("W_h", params["W_h"], (H, 3 * H))
    b_x = check_shape("b_x", params["b_x"], (3 * H,))
    b_h = check_shape("b_h", params["b_h"], (3 * H,))
    h0 = check_shape("h0", h0, (B, H))
    if T == 0:
        raise ValueError("x must hold at least one time step (T >= 1)")
    dtype = np.result_type(x, h0, W_x, W_h, b_x, b_h, np.float32)
    W_x, W_h = W_x.astype(dtype, copy=False), W_h.astype(dtype, copy=False)
    b_x, b_h = b_x.astype(dtype, copy=False), b_h.astype(dtype, copy=False)

    # sigmoid(a) = (1 + tanh(a / 2)) / 2: the columns of the r and z blocks are halved once (exact
    # in floating point), so the two gates need one tanh call and two scalar operations per step.
    half = np.ones(3 * H, dtype=dtype)
    half[: 2 * H] = 0.5
    # Biases that are simply added to a pre-activation move into the input projection: those of
    # r and z in both forms, and b_h^n too in the reset-before form (it sits outside the reset).
    bias_in = b_x.copy()
    bias_in[: 2 * H] += b_h[: 2 * H]
    if not reset_after:
        bias_in[2 * H :] += b_h[2 * H :]
    # The bias rides along as an input that is always 1: [x_t, 1] [W_x; bias] = x_t W_x + bias.
    W_xb = np.concatenate([W_x, bias_in[None]]) * half
    W_hs = W_h * half
    x1 = np.empty((T, B, D + 1), dtype=dtype)  # time-major inputs plus a column of ones
    x1[:, :, :D] = x.transpose(1, 0, 2)
    x1[:, :, D] = 1.0
    # gates starts as the input projection of all steps (one product) and becomes [r, z, n].
    gates = (x1.reshape(T * B, D + 1) @ W_xb).reshape(T, B, 3 * H)
    hs = np.empty((T + 1, B, H), dtype=dtype)  # hs[0] = h0, hs[t] = h_t
    hs[0] = h0
    tm: dict[str, np.ndarray] = {"x1": x1, "hs": hs, "gates": gates}
    if reset_after:
        # u[t] = h_{t-1} W_h (r, z columns halved) plus b_h^n on the candidate block; the
        # backward pass needs the candidate block u_n = h_{t-1} W_h^n + b_h^n.
        u = np.empty((T, B, 3 * H), dtype=dtype)
        b_hn = b_h[2 * H :]
        tm["u"] = u
    else:
        rh = np.empty((T, B, H), dtype=dtype)  # r * h_{t-1}, needed by the backward pass
        rec = np.empty((B, 2 * H), dtype=dtype)
        W_hs_rz, W_h_n = W_hs[:, : 2 * H], W_h[:, 2 * H :]
        tm["rh"] = rh
    tmp = np.empty((B, H), dtype=dtype)
    for t in range(T):
        a = gates[t]
        rz, n = a[:, : 2 * H], a[:, 2 * H :]
        r, z = a[:, :H], a[:, H : 2 * H]
        h_prev = hs[t]
        if reset_after:
            u_t = u[t]
            np.matmul(h_prev, W_hs, out=u_t)  # one product for all three blocks
            u_t[:, 2 * H :] += b_hn
            rz += u_t[:, : 2 * H]
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5  # rz = [r, z]
            np.multiply(r, u_t[:, 2 * H :], out=tmp)
            n += tmp  # a_n + r * (h_{t-1} W_h^n + b_h^n)
        else:
            np.matmul(h_prev, W_hs_rz, out=rec)
            rz += rec
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5  # rz = [r, z]
            np.multiply(r, h_prev, out=rh[t])
            np.matmul(rh[t], W_h_n, out=tmp)  # the second product has to wait for r
            n += tmp  # a_n + b_h^n + (r * h_{t-1}) W_h^n
        np.tanh(n, out=n)
        # h_t = (1 - z) n + z h_{t-1} = n + z (h_{t-1} - n)
        h_t = hs[t + 1]
        np.subtract(h_prev, n, out=h_t)
        h_t *= z
        h_t += n

    h = hs[1:].transpose(1, 0, 2)
    cache = {
        "x": x,
        "h0": h0,
        "h": h,
        "gates": gates.transpose(1, 0, 2),
        "params": dict(params),
        "reset_after": bool(reset_after),
        "_tm": tm,
    }
    return h, cache


def gru_backward(
    dh: np.ndarray, cache: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Backpropagate through a GRU run by :func:`gru_forward`, in either convention.

    Args:
        dh: upstream gradients ``∂L/∂h_t`` on every hidden state, shape ``(B, T, H)``.
        cache: the cache returned by :func:`gru_forward`.

    Returns:
        ``(grads, dx, dh0)``: gradients with the keys and shapes of the parameters, ``dx`` with
        the shape of ``x`` and ``dh0`` with the shape ``(B, H)``, all total derivatives. In the
        reset-before form ``grads["b_h"]`` equals ``grads["b_x"]``: both biases enter only as
        their sum.
    """
    if not isinstance(cache, Mapping) or any(k not in cache for k in _CACHE_KEYS):
        raise ValueError(
            f"cache must be the dict returned by gru_forward (keys {list(_CACHE_KEYS)})"
        )
    tm = cache["_tm"]
    x1, hs, gates = tm["x1"], tm["hs"], tm["gates"]
    T, B, D1 = x1.shape
    H = hs.shape[2]
    dtype = hs.dtype
    dh = check_shape("dh", dh, (B, T, H))
    params = cache["params"]
    W_x = np.asarray(params["W_x"], dtype=dtype)
    W_h = np.asarray(params["W_h"], dtype=dtype)
    reset_after = cache["reset_after"]

    da = np.empty((T, B, 3 * H), dtype=dtype)  # dL/da_t: gradient on the input pre-activations
    d = np.zeros((B, H), dtype=dtype)  # dL/dh_t, total, once dh[:, t] is added
    d_new = np.empty((B, H), dtype=dtype)
    s_rz = np.empty((B, 2 * H), dtype=dtype)  # sigmoid derivatives r (1 - r), z (1 - z)
    tmp = np.empty((B, H), dtype=dtype)
    if reset_after:
        u = tm["u"]
        du = np.empty((T, B, 3 * H), dtype=dtype)  # dL/du_t: on the recurrent pre-activations
        W_hT = np.ascontiguousarray(W_h.T)
    else:
        rh = tm["rh"]
        W_h_rzT = np.ascontiguousarray(W_h[:, : 2 * H].T)
        W_h_nT = np.ascontiguousarray(W_h[:, 2 * H :].T)
        psi = np.empty((B, H), dtype=dtype)
    for t in range(T - 1, -1, -1):
        a = gates[t]
        rz, r, z, n = a[:, : 2 * H], a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
        h_prev = hs[t]
        d += dh[:, t]
        np.multiply(rz, rz, out=s_rz)
        np.subtract(rz, s_rz, out=s_rz)
        # eps_n = d (1 - z)(1 - n^2), written straight into the candidate block of da
        eps_n = da[t, :, 2 * H :]
        np.multiply(n, n, out=eps_n)
        np.subtract(1.0, eps_n, out=eps_n)
        np.subtract(1.0, z, out=tmp)
        eps_n *= tmp
        eps_n *= d
        if reset_after:
            du_t = du[t]
            np.subtract(h_prev, n, out=du_t[:, H : 2 * H])
            du_t[:, H : 2 * H] *= d  # dL/dz
            np.multiply(eps_n, u[t, :, 2 * H :], out=du_t[:, :H])  # dL/dr
            du_t[:, : 2 * H] *= s_rz  # eps_r, eps_z
            np.multiply(eps_n, r, out=du_t[:, 2 * H :])
            da[t, :, : 2 * H] = du_t[:, : 2 * H]
            np.matmul(du_t, W_hT, out=d_new)  # through u_t = h_{t-1} W_h + b_h
        else:
            da_t = da[t]
            np.matmul(eps_n, W_h_nT, out=psi)  # dL/d(r * h_{t-1})
            np.multiply(psi, h_prev, out=da_t[:, :H])  # dL/dr
            np.subtract(h_prev, n, out=da_t[:, H : 2 * H])
            da_t[:, H : 2 * H] *= d  # dL/dz
            da_t[:, : 2 * H] *= s_rz  # eps_r, eps_z
            np.matmul(da_t[:, : 2 * H], W_h_rzT, out=d_new)
            psi *= r
            d_new += psi
        np.multiply(d, z, out=tmp)
        d_new += tmp  # the additive path: h_t = ... + z h_{t-1}
        d, d_new = d_new, d

    # Weight gradients after the loop: one large product each. The column of ones in x1 turns
    # the input bias gradient (the sum of da over all rows) into the last row of dW.
    da2 = da.reshape(T * B, 3 * H)
    dW = x1.reshape(T * B, D1).T @ da2
    h_prev2 = hs[:-1].reshape(T * B, H)
    if reset_after:
        du2 = du.reshape(T * B, 3 * H)
        grads_W_h = h_prev2.T @ du2
        grads_b_h = du2.sum(axis=0)
    else:
        grads_W_h = np.empty((H, 3 * H), dtype=dtype)
        np.matmul(h_prev2.T, da2[:, : 2 * H], out=grads_W_h[:, : 2 * H])
        np.matmul(rh.reshape(T * B, H).T, da2[:, 2 * H :], out=grads_W_h[:, 2 * H :])
        grads_b_h = dW[D1 - 1].copy()
    grads = {"W_x": dW[: D1 - 1], "W_h": grads_W_h, "b_x": dW[D1 - 1], "b_h": grads_b_h}
    dx = (da2 @ W_x.T).reshape(T, B, D1 - 1).transpose(1, 0, 2)
    return grads, dx, d
