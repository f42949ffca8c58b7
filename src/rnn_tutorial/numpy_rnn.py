"""Recurrent layers in plain NumPy, batch-major, row-vector convention.

Every function here follows ``book/notation.md``: inputs are ``x`` of shape ``(B, T, D)``,
hidden states are ``(B, T, H)``, and a time step computes ``x_t @ W_xh + h_prev @ W_hh + b_h``
with row vectors, so weight matrices have shape ``(in, out)`` exactly like Keras kernels.

"Sequences and the recurrent idea" introduces :func:`rnn_forward`; "Backpropagation through
time" adds :func:`rnn_backward` and :func:`rnn_state_gradients`, the total gradients
``delta_t = dL/dh_t`` that "Vanishing and exploding gradients" plots against the lag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "check_shape",
    "rnn_backward",
    "rnn_forward",
    "rnn_param_shapes",
    "rnn_state_gradients",
]

Params = Mapping[str, np.ndarray]

#: Activation name -> (function, derivative expressed through the activation's output).
#: "Sequences and the recurrent idea" uses ``tanh``; "Vanishing and exploding gradients"
#: compares ``identity`` and ``relu``.
ACTIVATIONS: dict[
    str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]
] = {
    "tanh": (np.tanh, lambda h: 1.0 - h * h),
    "identity": (lambda a: a, np.ones_like),
    "relu": (lambda a: np.maximum(a, 0.0), lambda h: (h > 0).astype(h.dtype)),
}


def check_shape(name: str, array: Any, expected: tuple[int | str, ...]) -> np.ndarray:
    """Return ``array`` as an ndarray after checking its shape, else raise ``ValueError``.

    ``expected`` mixes integers (must match) and symbolic names such as ``"B"`` (any size).
    Introduced with :func:`rnn_forward`; every NumPy layer uses it so that a wrong shape gives an
    error naming the expected shape instead of a broadcasting surprise later on.
    """
    arr = np.asarray(array)
    ok = arr.ndim == len(expected) and all(
        isinstance(e, str) or int(e) == s for e, s in zip(expected, arr.shape, strict=False)
    )
    if not ok:
        want = "(" + ", ".join(str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(arr.shape)}")
    return arr


def _check_keys(params: Params, required: tuple[str, ...], what: str) -> None:
    """Raise ``ValueError`` unless ``params`` is a mapping with exactly the ``required`` keys.

    Shared by the NumPy RNN, LSTM and GRU layers."""
    if not isinstance(params, Mapping):
        raise ValueError(f"{what} params must be a dict with keys {list(required)}")
    missing = [k for k in required if k not in params]
    extra = [k for k in params if k not in required]
    if missing or extra:
        raise ValueError(
            f"{what} params must have exactly the keys {list(required)}; "
            f"missing {missing}, unexpected {extra}"
        )


def rnn_param_shapes(input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the vanilla RNN's parameters: ``W_xh (D, H)``, ``W_hh (H, H)``, ``b_h (H,)``."""
    return {
        "W_xh": (input_size, hidden_size),
        "W_hh": (hidden_size, hidden_size),
        "b_h": (hidden_size,),
    }


def rnn_forward(
    x: np.ndarray, h0: np.ndarray, params: Params, activation: str = "tanh"
) -> tuple[np.ndarray, dict[str, Any]]:
    """Run a vanilla (Elman) RNN over a batch of sequences ("Sequences and the recurrent idea").

    ``h_t = act(x_t W_xh + h_{t-1} W_hh + b_h)`` for ``t = 1..T``.

    Args:
        x: inputs, shape ``(B, T, D)``.
        h0: initial hidden state, shape ``(B, H)``.
        params: ``W_xh (D, H)``, ``W_hh (H, H)``, ``b_h (H,)``.
        activation: ``"tanh"`` (default), ``"identity"`` or ``"relu"``.

    Returns:
        ``(h, cache)`` where ``h`` holds every hidden state, shape ``(B, T, H)``, and ``cache``
        keeps what the backward pass (:func:`rnn_backward`) needs.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {list(ACTIVATIONS)}")
    _check_keys(params, ("W_xh", "W_hh", "b_h"), "RNN")
    x = check_shape("x", x, ("B", "T", "D"))
    B, T, D = x.shape
    W_xh = check_shape("W_xh", params["W_xh"], (D, "H"))
    H = W_xh.shape[1]
    W_hh = check_shape("W_hh", params["W_hh"], (H, H))
    b_h = check_shape("b_h", params["b_h"], (H,))
    h0 = check_shape("h0", h0, (B, H))

    act, _ = ACTIVATIONS[activation]
    dtype = np.result_type(x, h0, W_xh, W_hh, b_h)
    # The input projection does not depend on the recurrence: one matrix product for all steps.
    xw = (x.reshape(B * T, D) @ W_xh).reshape(B, T, H) + b_h
    h = np.empty((B, T, H), dtype=dtype)
    h_prev = h0
    for t in range(T):
        h_prev = act(xw[:, t] + h_prev @ W_hh)
        h[:, t] = h_prev
    cache = {"x": x, "h0": h0, "h": h, "params": dict(params), "activation": activation}
    return h, cache


_CACHE_KEYS = ("x", "h0", "h", "params", "activation")


def _unpack_cache(dh: np.ndarray, cache: Mapping[str, Any]) -> tuple[Any, ...]:
    """Validate ``dh`` against a cache from :func:`rnn_forward` and return its pieces."""
    if not isinstance(cache, Mapping):
        raise ValueError(f"cache must be the dict returned by rnn_forward, got {type(cache)}")
    missing = [k for k in _CACHE_KEYS if k not in cache]
    if missing:
        raise ValueError(
            f"cache must have the keys {list(_CACHE_KEYS)} (as returned by rnn_forward); "
            f"missing {missing}"
        )
    x, h0, h, params = cache["x"], cache["h0"], cache["h"], cache["params"]
    _check_keys(params, ("W_xh", "W_hh", "b_h"), "RNN")
    if cache["activation"] not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {cache['activation']!r}; choose one of {list(ACTIVATIONS)}"
        )
    B, T, H = h.shape
    dh = check_shape("dh", dh, (B, T, H))
    return x, h0, h, params, dh


def _backward_through_time(
    dh: np.ndarray, h: np.ndarray, W_hh: np.ndarray, activation: str, keep_delta: bool
) -> tuple[np.ndarray | None, np.ndarray]:
    """The backward recursion ``delta_t = dh_t + (delta_{t+1} * phi') W_hh^T``.

    Returns ``(delta, da)``, both ``(B, T, H)``: ``delta[:, t]`` is the total gradient
    ``dL/dh_t`` (``None`` unless ``keep_delta``, to save memory) and
    ``da[:, t] = delta[:, t] * phi'(a_t)`` the gradient on the pre-activation.
    """
    _, dact = ACTIVATIONS[activation]
    B, T, H = h.shape
    dtype = np.result_type(dh, h, W_hh)
    delta = np.empty((B, T, H), dtype=dtype) if keep_delta else None
    da = np.empty((B, T, H), dtype=dtype)
    dh_next = np.zeros((B, H), dtype=dtype)  # (delta_{t+1} * phi'(a_{t+1})) W_hh^T, 0 after T
    for t in range(T - 1, -1, -1):
        delta_t = dh[:, t] + dh_next
        if delta is not None:
            delta[:, t] = delta_t
        da[:, t] = delta_t * dact(h[:, t])  # phi'(a_t), written through h_t = phi(a_t)
        dh_next = da[:, t] @ W_hh.T
    return delta, da


def rnn_state_gradients(dh: np.ndarray, cache: Mapping[str, Any]) -> np.ndarray:
    """Total gradients ``delta_t = dL/dh_t`` on every hidden state.

    ``dh`` holds the *partial* derivatives ``dL_t/dh_t`` (the direct effect of each state on the
    loss, shape ``(B, T, H)``). The result adds every path through later states:
    ``delta_T = dh_T`` and ``delta_t = dh_t + (delta_{t+1} * phi'(a_{t+1})) W_hh^T``.
    This is the same recursion :func:`rnn_backward` runs (it calls the same code);
    "Vanishing and exploding gradients" plots ``||delta_t||`` against the lag ``T - t``.

    Args:
        dh: upstream gradient on every hidden state, shape ``(B, T, H)``.
        cache: the cache returned by :func:`rnn_forward`.

    Returns:
        ``delta``, shape ``(B, T, H)``.
    """
    _, _, h, params, dh = _unpack_cache(dh, cache)
    W_hh = np.asarray(params["W_hh"])
    delta, _ = _backward_through_time(dh, h, W_hh, cache["activation"], keep_delta=True)
    return delta


def rnn_backward(
    dh: np.ndarray, cache: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Backpropagation through time for the vanilla RNN of :func:`rnn_forward`.

    Only the hidden-state recursion loops over time; every parameter gradient is then one
    matrix product over all ``B * T`` rows, because the per-step contributions of the shared
    weights add up: ``dL/dW_xh = sum_t x_t^T da_t``, ``dL/dW_hh = sum_t h_{t-1}^T da_t``,
    ``dL/db_h = sum_t sum_b da_t``.

    Args:
        dh: upstream gradient on every hidden state, shape ``(B, T, H)``: the partial derivative
            of the loss with respect to ``h[:, t]`` (zeros where a step has no loss).
        cache: the cache returned by :func:`rnn_forward`.

    Returns:
        ``(grads, dx, dh0)``: ``grads`` has the keys and shapes of ``params``; ``dx`` has the
        shape of ``x`` ``(B, T, D)`` and ``dh0`` of ``h0`` ``(B, H)``. The total gradients on the
        hidden states themselves are available from :func:`rnn_state_gradients`.
    """
    x, h0, h, params, dh = _unpack_cache(dh, cache)
    W_xh, W_hh = np.asarray(params["W_xh"]), np.asarray(params["W_hh"])
    B, T, H = h.shape
    D = x.shape[2]
    _, da = _backward_through_time(dh, h, W_hh, cache["activation"], keep_delta=False)
    # h_{t-1} for t = 1..T: the initial state followed by all but the last state.
    h_prev = np.concatenate([h0[:, None, :], h[:, :-1]], axis=1)
    da_2d = da.reshape(B * T, H)
    grads = {
        "W_xh": x.reshape(B * T, D).T @ da_2d,
        "W_hh": h_prev.reshape(B * T, H).T @ da_2d,
        "b_h": da_2d.sum(axis=0),
    }
    dx = (da_2d @ W_xh.T).reshape(B, T, D)
    dh0 = da[:, 0] @ W_hh.T
    return grads, dx, dh0
