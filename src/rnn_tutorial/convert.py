"""Weight converters between the book's NumPy parameters, PyTorch modules and Keras layers.

The chapter "One model, three frameworks" introduces this module and derives every step of it.
The book's parameter dicts (``book/notation.md``) are the hub: every conversion goes through them,
so ``torch -> keras`` is ``from_torch`` followed by ``to_keras``.

=========  ====================================  ===================================
cell       the book's params (``cell`` name)     gate order, book / Keras / PyTorch
=========  ====================================  ===================================
``"rnn"``  ``W_xh (D, H)``, ``W_hh (H, H)``,     one block
           ``b_h (H,)``
``"lstm"`` ``W_x (D, 4H)``, ``W_h (H, 4H)``,     i f g o / i f c o / i f g o
           ``b (4H,)``
``"gru"``  ``W_x (D, 3H)``, ``W_h (H, 3H)``,     r z n / **z r h** / r z n
           ``b_x (3H,)``, ``b_h (3H,)``
=========  ====================================  ===================================

Two layers of functions:

- **Array converters**, pure NumPy, no framework needed: :func:`to_torch_arrays`,
  :func:`from_torch_arrays`, :func:`to_keras_arrays`, :func:`from_keras_arrays`. They hold all
  the logic (transposes, gate reordering, bias splitting and merging).
- **Framework converters**, which read or write the weights of a live object:
  :func:`to_torch` / :func:`from_torch` for ``torch.nn.RNN``, ``LSTM``, ``GRU`` and their
  ``*Cell`` versions; :func:`to_keras` / :func:`from_keras` for ``keras.layers.SimpleRNN``,
  ``LSTM``, ``GRU``, their ``*Cell`` versions and ``keras.layers.RNN`` around one such cell;
  :func:`torch_to_keras` / :func:`keras_to_torch` go through the book's params and also check
  that the activations agree. :func:`cell_type` names the cell of a module or layer.

Choices (documented in "One model, three frameworks"):

- ``cell`` is ``"rnn"``, ``"lstm"`` or ``"gru"``; when omitted it is inferred from the module or
  layer, and when given it must agree with it (and with the keys of ``params``).
- PyTorch's double bias: ``from_*`` returns ``b = bias_ih + bias_hh`` for the RNN and the LSTM
  (only the sum enters the computation); ``to_torch`` writes ``bias_ih = b``, ``bias_hh = 0``.
  For the GRU the two biases are different parameters: ``b_x = bias_ih``, ``b_h = bias_hh``.
  *Gradients* are not summed: ``dL/db = dL/dbias_ih = dL/dbias_hh``, so
  ``from_torch(module, grad=True)`` returns ``bias_ih.grad``.
- Keras' GRU stores its gate blocks in the order z, r, h; with ``reset_after=True`` (the default)
  its bias is ``(2, 3H)``: row 0 the input bias ``b_x``, row 1 the recurrent bias ``b_h``.
  A Keras GRU with ``reset_after=False`` computes the reset-before GRU of Cho et al. (2014)
  (``gru_forward(..., reset_after=False)``), which PyTorch does not have. ``from_keras`` and
  ``to_keras`` refuse such a layer unless ``allow_reset_before=True``; :func:`keras_to_torch`
  and :func:`torch_to_keras` always refuse it.
- Only single-layer, unidirectional modules (``num_layers=1``, ``bidirectional=False``,
  ``proj_size=0``). ``batch_first`` does not affect the weights, so either value is accepted.
- Layers or modules without biases (``use_bias=False``, ``bias=False``) read as zero biases and
  accept only zero biases.
- Values keep the dtype of where they come from: ``from_torch`` of a float32 module returns
  float32 arrays; ``to_torch`` and ``to_keras`` cast to the module's or layer's dtype (and device).
- Every shape error names the shape given and the shape needed, e.g. ``W_x has shape (3, 8) but
  the torch LSTM needs (3, 16) for D=3, H=4``.

``import rnn_tutorial.convert`` is cheap: torch and Keras are imported inside the functions that
need them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CELL_KEYS",
    "GATES",
    "book_param_shapes",
    "cell_type",
    "from_keras",
    "from_keras_arrays",
    "from_torch",
    "from_torch_arrays",
    "keras_to_torch",
    "to_keras",
    "to_keras_arrays",
    "to_torch",
    "to_torch_arrays",
    "torch_to_keras",
]

#: The keys of the book's parameter dict for each cell (``book/notation.md``).
CELL_KEYS: dict[str, tuple[str, ...]] = {
    "rnn": ("W_xh", "W_hh", "b_h"),
    "lstm": ("W_x", "W_h", "b"),
    "gru": ("W_x", "W_h", "b_x", "b_h"),
}

#: Number of gate blocks stacked along the last axis of each cell's weights.
GATES: dict[str, int] = {"rnn": 1, "lstm": 4, "gru": 3}

_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_KERAS_NAMES = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
_A = {"rnn": "an RNN", "lstm": "an LSTM", "gru": "a GRU"}  # with the right article

Params = Mapping[str, Any]


# ----------------------------------------------------------------------------------------------
# Shapes and checks
# ----------------------------------------------------------------------------------------------


def _check_cell(cell: str) -> str:
    if cell not in CELL_KEYS:
        raise ValueError(f"cell must be one of {list(CELL_KEYS)}, got {cell!r}")
    return cell


def book_param_shapes(cell: str, input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the book's parameters of ``cell`` for ``D = input_size``, ``H = hidden_size``.

    ``"rnn"``: ``W_xh (D, H)``, ``W_hh (H, H)``, ``b_h (H,)``; ``"lstm"``: ``W_x (D, 4H)``,
    ``W_h (H, 4H)``, ``b (4H,)``; ``"gru"``: ``W_x (D, 3H)``, ``W_h (H, 3H)``, ``b_x (3H,)``,
    ``b_h (3H,)`` ("One model, three frameworks").
    """
    _check_cell(cell)
    D, H = int(input_size), int(hidden_size)
    G = GATES[cell]
    w_x, w_h, *biases = CELL_KEYS[cell]
    shapes = {w_x: (D, G * H), w_h: (H, G * H)}
    shapes.update({b: (G * H,) for b in biases})
    return shapes


def _cell_from_keys(params: Params) -> str | None:
    keys = set(params)
    for cell, required in CELL_KEYS.items():
        if keys == set(required):
            return cell
    return None


def _as_array(name: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU or requiring grad
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as err:  # pragma: no cover - defensive
        raise ValueError(f"{name} cannot be turned into a NumPy array: {err}") from err


def _check_params(params: Params, cell: str, target: str) -> dict[str, np.ndarray]:
    """Check that ``params`` has exactly the keys of ``cell``; return them as arrays."""
    if not isinstance(params, Mapping):
        raise ValueError(
            f"params must be a dict with the keys {list(CELL_KEYS[cell])}, got {type(params)}"
        )
    required = CELL_KEYS[cell]
    if set(params) != set(required):
        found = _cell_from_keys(params)
        what = (
            f"the keys of {_A[found]} ({', '.join(CELL_KEYS[found])})"
            if found
            else f"the keys {sorted(params)}"
        )
        raise ValueError(f"params have {what} but {target} needs the keys {', '.join(required)}")
    return {k: _as_array(k, params[k]) for k in required}


def _infer_sizes(arrays: Mapping[str, np.ndarray], cell: str) -> tuple[int, int]:
    """``(D, H)`` from the book's input and recurrent weight matrices of ``cell``."""
    w_x, w_h = CELL_KEYS[cell][:2]
    G = GATES[cell]
    a_x, a_h = arrays[w_x], arrays[w_h]
    if a_h.ndim != 2 or a_h.shape[0] == 0:
        raise ValueError(f"{w_h} must be a matrix of shape (H, {G}H), got shape {a_h.shape}")
    H = a_h.shape[0]
    if a_x.ndim != 2:
        raise ValueError(f"{w_x} must be a matrix of shape (D, {G}H), got shape {a_x.shape}")
    return a_x.shape[0], H


def _check_shapes(
    arrays: Mapping[str, np.ndarray],
    want: Mapping[str, tuple[int, ...]],
    needs: str,
    D: int,
    H: int,
) -> None:
    for k, shape in want.items():
        got = tuple(arrays[k].shape)
        if got != tuple(shape):
            raise ValueError(
                f"{k} has shape {got} but {needs} needs {tuple(shape)} for D={D}, H={H}"
            )


def _swap_rz(a: np.ndarray) -> np.ndarray:
    """Swap the first two of three gate blocks along the last axis: r z n <-> z r h.

    The swap is its own inverse, so it converts the GRU in both directions ("One model,
    three frameworks").
    """
    r, z, n = np.split(a, 3, axis=-1)
    return np.concatenate([z, r, n], axis=-1)


# ----------------------------------------------------------------------------------------------
# Array converters (pure NumPy)
# ----------------------------------------------------------------------------------------------


def to_torch_arrays(params: Params, cell: str) -> dict[str, np.ndarray]:
    """The book's params -> PyTorch's ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``.

    PyTorch stores ``(out, in)`` matrices and computes ``x W^T``, so the weights are transposed;
    the gate order (i f g o, r z n) is the book's. For the RNN and the LSTM the single bias goes
    to ``bias_ih`` and ``bias_hh`` is zero; for the GRU ``bias_ih = b_x``, ``bias_hh = b_h``.
    See "One model, three frameworks".
    """
    _check_cell(cell)
    p = _check_params(params, cell, _A[cell])
    D, H = _infer_sizes(p, cell)
    _check_shapes(p, book_param_shapes(cell, D, H), f"{_A[cell]}", D, H)
    w_x, w_h, *biases = CELL_KEYS[cell]
    out = {"weight_ih": p[w_x].T.copy(), "weight_hh": p[w_h].T.copy()}
    if cell == "gru":
        out["bias_ih"], out["bias_hh"] = p["b_x"].copy(), p["b_h"].copy()
    else:
        out["bias_ih"] = p[biases[0]].copy()
        out["bias_hh"] = np.zeros_like(out["bias_ih"])
    return out


def from_torch_arrays(
    arrays: Mapping[str, Any], cell: str, *, grad: bool = False
) -> dict[str, np.ndarray]:
    """PyTorch's ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` -> the book's params.

    The inverse of :func:`to_torch_arrays`, except for the RNN's and LSTM's double bias: the book
    has one bias ``b = bias_ih + bias_hh``. With ``grad=True`` the arrays are *gradients* with
    respect to PyTorch's parameters; then ``dL/db = dL/dbias_ih`` (which equals
    ``dL/dbias_hh``), not their sum. Missing or ``None`` biases (``bias=False``) read as zeros.
    See "One model, three frameworks".
    """
    _check_cell(cell)
    for k in ("weight_ih", "weight_hh"):
        if k not in arrays:
            raise ValueError(f"arrays must have the keys weight_ih, weight_hh (and biases); no {k}")
    a = {k: _as_array(k, v) for k, v in arrays.items() if v is not None}
    G = GATES[cell]
    w_ih, w_hh = a["weight_ih"], a["weight_hh"]
    if w_hh.ndim != 2 or w_ih.ndim != 2:
        raise ValueError(
            f"weight_ih and weight_hh must be matrices ({G}H, D) and ({G}H, H), "
            f"got shapes {w_ih.shape} and {w_hh.shape}"
        )
    H, D = w_hh.shape[1], w_ih.shape[1]
    dtype = np.result_type(w_ih, w_hh)
    for k in ("bias_ih", "bias_hh"):
        a.setdefault(k, np.zeros(G * H, dtype=dtype))
    want = {
        "weight_ih": (G * H, D),
        "weight_hh": (G * H, H),
        "bias_ih": (G * H,),
        "bias_hh": (G * H,),
    }
    _check_shapes(a, want, f"a torch {_NAMES[cell]}", D, H)
    w_x, w_h, *biases = CELL_KEYS[cell]
    params = {w_x: w_ih.T.copy(), w_h: w_hh.T.copy()}
    if cell == "gru":
        params["b_x"], params["b_h"] = a["bias_ih"].copy(), a["bias_hh"].copy()
    elif grad:
        params[biases[0]] = a["bias_ih"].copy()
    else:
        params[biases[0]] = a["bias_ih"] + a["bias_hh"]
    return params


def to_keras_arrays(
    params: Params, cell: str, *, reset_after: bool = True
) -> dict[str, np.ndarray]:
    """The book's params -> Keras' ``kernel``, ``recurrent_kernel``, ``bias``.

    Keras stores ``(in, out)`` matrices like the book. The LSTM's gate order is the same
    (Keras calls the candidate c); the GRU's blocks are reordered from r z n to Keras' z r h,
    and its bias is ``(2, 3H)``: ``[b_x; b_h]`` (``reset_after=True``). With
    ``reset_after=False`` the params are read as those of the reset-before GRU
    (``gru_forward(..., reset_after=False)``), where only ``b_x + b_h`` matters, and the Keras
    bias is that sum, shape ``(3H,)``. See "One model, three frameworks".
    """
    _check_cell(cell)
    p = _check_params(params, cell, _A[cell])
    D, H = _infer_sizes(p, cell)
    _check_shapes(p, book_param_shapes(cell, D, H), f"{_A[cell]}", D, H)
    w_x, w_h, *biases = CELL_KEYS[cell]
    if cell != "gru":
        return {
            "kernel": p[w_x].copy(),
            "recurrent_kernel": p[w_h].copy(),
            "bias": p[biases[0]].copy(),
        }
    out = {"kernel": _swap_rz(p["W_x"]), "recurrent_kernel": _swap_rz(p["W_h"])}
    if reset_after:
        out["bias"] = _swap_rz(np.stack([p["b_x"], p["b_h"]]))
    else:
        out["bias"] = _swap_rz(p["b_x"] + p["b_h"])
    return out


def from_keras_arrays(
    arrays: Mapping[str, Any], cell: str, *, reset_after: bool = True
) -> dict[str, np.ndarray]:
    """Keras' ``kernel``, ``recurrent_kernel``, ``bias`` -> the book's params.

    The inverse of :func:`to_keras_arrays`. The same function converts *gradients* with respect
    to the Keras weights (every step is a permutation or a reshape, so gradients move exactly
    like the weights). A missing or ``None`` bias (``use_bias=False``) reads as zeros. For a
    reset-before Keras GRU (``reset_after=False``) the bias ``(3H,)`` becomes ``b_x`` and
    ``b_h`` is zero; run those params with ``gru_forward(..., reset_after=False)``. See "One
    model, three frameworks".
    """
    _check_cell(cell)
    for k in ("kernel", "recurrent_kernel"):
        if k not in arrays:
            raise ValueError(
                f"arrays must have the keys kernel, recurrent_kernel (and bias); no {k}"
            )
    a = {k: _as_array(k, v) for k, v in arrays.items() if v is not None}
    G = GATES[cell]
    kernel, rec = a["kernel"], a["recurrent_kernel"]
    if kernel.ndim != 2 or rec.ndim != 2:
        raise ValueError(
            f"kernel and recurrent_kernel must be matrices (D, {G}H) and (H, {G}H), "
            f"got shapes {kernel.shape} and {rec.shape}"
        )
    D, H = kernel.shape[0], rec.shape[0]
    two_biases = cell == "gru" and reset_after
    bias_shape = (2, G * H) if two_biases else (G * H,)
    a.setdefault("bias", np.zeros(bias_shape, dtype=np.result_type(kernel, rec)))
    want = {"kernel": (D, G * H), "recurrent_kernel": (H, G * H), "bias": bias_shape}
    variant = "" if cell != "gru" else f" (reset_after={bool(reset_after)})"
    _check_shapes(a, want, f"a Keras {_KERAS_NAMES[cell]}{variant}", D, H)
    w_x, w_h, *biases = CELL_KEYS[cell]
    if cell != "gru":
        return {w_x: kernel.copy(), w_h: rec.copy(), biases[0]: a["bias"].copy()}
    params = {"W_x": _swap_rz(kernel), "W_h": _swap_rz(rec)}
    bias = _swap_rz(a["bias"])
    if reset_after:
        params["b_x"], params["b_h"] = bias[0].copy(), bias[1].copy()
    else:
        params["b_x"], params["b_h"] = bias.copy(), np.zeros_like(bias)
    return params


# ----------------------------------------------------------------------------------------------
# PyTorch
# ----------------------------------------------------------------------------------------------


def _torch_info(module: Any) -> tuple[str, str, int, int]:
    """``(cell, kind, D, H)`` of a supported torch module; ``kind`` is ``"layer"`` or ``"cell"``."""
    import torch.nn as nn

    if isinstance(module, nn.RNNBase):
        mode = module.mode
        cell = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}.get(mode)
        if cell is None:  # pragma: no cover - torch has no other modes
            raise ValueError(f"unsupported torch RNN mode {mode!r}")
        if module.num_layers != 1:
            raise ValueError(
                f"only single-layer modules can be converted; this torch {_NAMES[cell]} has "
                f"num_layers={module.num_layers} (convert each layer's weights_*_l<k> separately)"
            )
        if module.bidirectional:
            raise ValueError(
                f"only unidirectional modules can be converted; this torch {_NAMES[cell]} is "
                "bidirectional (its reverse direction has separate *_reverse weights)"
            )
        if getattr(module, "proj_size", 0):
            raise ValueError(
                f"a torch LSTM with proj_size={module.proj_size} has no counterpart in the book "
                "or in Keras"
            )
        return cell, "layer", module.input_size, module.hidden_size
    types = {nn.RNNCell: "rnn", nn.LSTMCell: "lstm", nn.GRUCell: "gru"}
    for cls, cell in types.items():
        if isinstance(module, cls):
            return cell, "cell", module.input_size, module.hidden_size
    raise ValueError(
        "expected a torch.nn.RNN, LSTM or GRU (or RNNCell, LSTMCell, GRUCell), "
        f"got {type(module).__name__}"
    )


def _torch_param_names(kind: str) -> dict[str, str]:
    suffix = "_l0" if kind == "layer" else ""
    return {k: k + suffix for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def _resolve_cell(inferred: str, cell: str | None, what: str) -> str:
    if cell is None:
        return inferred
    _check_cell(cell)
    if cell != inferred:
        raise ValueError(f"cell={cell!r} but {what} is {_A[inferred]} ({inferred!r})")
    return cell


def _torch_activation(module: Any) -> str:
    import torch.nn as nn

    if isinstance(module, nn.RNNBase):
        return {"RNN_TANH": "tanh", "RNN_RELU": "relu"}.get(module.mode, "tanh")
    return getattr(module, "nonlinearity", "tanh")


def cell_type(obj: Any) -> str:
    """``"rnn"``, ``"lstm"`` or ``"gru"`` for a supported torch module or Keras layer.

    Raises ``ValueError`` for anything else, including multi-layer or bidirectional modules.
    """
    module_name = type(obj).__module__
    if module_name.startswith("torch"):
        return _torch_info(obj)[0]
    if module_name.startswith("keras"):
        return _keras_info(obj)[0]
    raise ValueError(
        f"expected a torch.nn RNN/LSTM/GRU module or a Keras SimpleRNN/LSTM/GRU layer, "
        f"got {type(obj).__name__}"
    )


def to_torch(params: Params, module: Any, cell: str | None = None) -> Any:
    """Copy the book's params into a torch ``RNN``/``LSTM``/``GRU`` (or ``*Cell``) in place.

    Args:
        params: the book's parameter dict (keys and shapes of ``book/notation.md``).
        module: ``torch.nn.RNN``, ``LSTM``, ``GRU``, ``RNNCell``, ``LSTMCell`` or ``GRUCell``;
            single-layer and unidirectional. Its dtype and device are kept.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``; inferred from ``module`` when omitted.

    Returns:
        ``module``, for chaining. See :func:`to_torch_arrays` for the layout. The RNN's and
        LSTM's bias goes to ``bias_ih`` and ``bias_hh`` becomes zero. Introduced in "One model,
        three frameworks".
    """
    import torch

    inferred, kind, D, H = _torch_info(module)
    cell = _resolve_cell(inferred, cell, "the module")
    target = f"the torch {_NAMES[cell]}"
    p = _check_params(params, cell, target)
    _check_shapes(p, book_param_shapes(cell, D, H), target, D, H)
    arrays = to_torch_arrays(p, cell)
    names = _torch_param_names(kind)
    with torch.no_grad():
        for key, name in names.items():
            dest = getattr(module, name, None)
            if dest is None:
                if key.startswith("bias") and np.any(arrays[key] != 0):
                    raise ValueError(
                        f"{target} was built with bias=False, so it cannot hold nonzero biases"
                    )
                continue
            dest.copy_(torch.as_tensor(arrays[key]).to(dtype=dest.dtype, device=dest.device))
    return module


def from_torch(
    module: Any, cell: str | None = None, *, grad: bool = False
) -> dict[str, np.ndarray]:
    """Read the book's params from a torch ``RNN``/``LSTM``/``GRU`` (or ``*Cell``).

    Args:
        module: a single-layer, unidirectional torch recurrent module or cell.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``; inferred from ``module`` when omitted.
        grad: read the parameters' ``.grad`` instead of their values, converted to the book's
            layout (for the RNN and the LSTM ``dL/db = dL/dbias_ih``, not the sum of the two
            bias gradients). Raises ``ValueError`` if a gradient is missing.

    Returns:
        NumPy arrays on the CPU, in the module's dtype: ``b = bias_ih + bias_hh`` for the RNN and
        the LSTM, ``b_x = bias_ih``, ``b_h = bias_hh`` for the GRU. Introduced in "One model,
        three frameworks".
    """
    inferred, kind, _, _ = _torch_info(module)
    cell = _resolve_cell(inferred, cell, "the module")
    arrays: dict[str, Any] = {}
    for key, name in _torch_param_names(kind).items():
        p = getattr(module, name, None)
        if p is None:
            continue
        if grad:
            if p.grad is None:
                raise ValueError(
                    f"{name}.grad is None: run backward() on a loss computed with the module first"
                )
            p = p.grad
        arrays[key] = p.detach().cpu().numpy()
    return from_torch_arrays(arrays, cell, grad=grad)


# ----------------------------------------------------------------------------------------------
# Keras
# ----------------------------------------------------------------------------------------------


def _backend_to_numpy(value: Any) -> np.ndarray:
    """A Keras variable, a backend tensor or an array as a NumPy array, on any backend.

    A Keras variable's own ``numpy()`` works on every backend and device. A backend tensor's
    may not: on the torch backend a gradient may live on a GPU or require grad, and
    ``tensor.numpy()`` then raises, so tensors go through ``keras.ops.convert_to_numpy``.
    """
    import keras

    if isinstance(value, keras.Variable):
        return np.asarray(value.numpy())
    return np.asarray(keras.ops.convert_to_numpy(value))


def _keras_cell(layer: Any) -> tuple[str, Any]:
    import keras

    cells = {
        keras.layers.SimpleRNNCell: "rnn",
        keras.layers.LSTMCell: "lstm",
        keras.layers.GRUCell: "gru",
    }
    if isinstance(layer, keras.layers.Bidirectional):
        raise ValueError(
            "only unidirectional layers can be converted; convert a Bidirectional layer's "
            "forward_layer and backward_layer separately"
        )
    candidate = layer.cell if isinstance(layer, keras.layers.RNN) else layer
    for cls, cell in cells.items():
        if isinstance(candidate, cls):
            return cell, candidate
    inner = f" around a {type(candidate).__name__}" if candidate is not layer else ""
    raise ValueError(
        "expected a Keras SimpleRNN, LSTM or GRU layer (or SimpleRNNCell, LSTMCell, GRUCell, or "
        f"keras.layers.RNN around one of them), got {type(layer).__name__}{inner}"
    )


def _keras_info(layer: Any) -> tuple[str, Any, int | None, int]:
    """``(cell, keras_cell, D or None if unbuilt, H)``."""
    cell, kcell = _keras_cell(layer)
    D = int(kcell.kernel.shape[0]) if kcell.built else None
    return cell, kcell, D, int(kcell.units)


def _keras_reset_after(cell: str, kcell: Any) -> bool:
    return bool(getattr(kcell, "reset_after", True)) if cell == "gru" else True


_RESET_BEFORE_MSG = (
    "this Keras GRU has reset_after=False: it computes the reset-before GRU of Cho et al. "
    "(2014), n = tanh(x W_x^n + b^n + (r * h) W_h^n), which torch.nn.GRU cannot compute (it "
    "always resets after the product: n = tanh(x W_x^n + b_x^n + r * (h W_h^n + b_h^n)))"
)


def _activation_name(fn: Any) -> str:
    return getattr(fn, "__name__", str(fn))


def to_keras(
    params: Params, layer: Any, cell: str | None = None, *, allow_reset_before: bool = False
) -> Any:
    """Copy the book's params into a Keras ``SimpleRNN``/``LSTM``/``GRU`` layer (or cell).

    Args:
        params: the book's parameter dict.
        layer: ``keras.layers.SimpleRNN``, ``LSTM``, ``GRU``, a ``*Cell``, or
            ``keras.layers.RNN`` around one cell. An unbuilt layer is built for
            ``D = params' input size``. The values are cast to the layer's dtype.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``; inferred from ``layer`` when omitted.
        allow_reset_before: accept a GRU with ``reset_after=False``; ``params`` are then read as
            reset-before params (``gru_forward(..., reset_after=False)``) and the layer's
            single bias becomes ``b_x + b_h``. Refused by default because such a layer computes
            a different function from ``gru_forward``'s default and from ``torch.nn.GRU``.

    Returns:
        ``layer``, for chaining. Introduced in "One model, three frameworks".
    """
    inferred, kcell, D, H = _keras_info(layer)
    cell = _resolve_cell(inferred, cell, "the layer")
    reset_after = _keras_reset_after(cell, kcell)
    if not reset_after and not allow_reset_before:
        raise ValueError(
            _RESET_BEFORE_MSG + "; pass allow_reset_before=True if params are "
            "reset-before GRU params (gru_forward(..., reset_after=False))"
        )
    target = f"the Keras {_KERAS_NAMES[cell]}"
    p = _check_params(params, cell, target)
    if D is None:  # build the layer for the params' input size
        w_x = p[CELL_KEYS[cell][0]]
        if w_x.ndim != 2:
            raise ValueError(
                f"{CELL_KEYS[cell][0]} must be a matrix (D, {GATES[cell]}H), got {w_x.shape}"
            )
        D = int(w_x.shape[0])
        if kcell is layer:
            layer.build((None, D))
        else:
            layer.build((None, None, D))
    _check_shapes(p, book_param_shapes(cell, D, H), target, D, H)
    arrays = to_keras_arrays(p, cell, reset_after=reset_after)
    for key in ("kernel", "recurrent_kernel", "bias"):
        var = getattr(kcell, key, None)
        if var is None:
            if np.any(arrays[key] != 0):
                raise ValueError(
                    f"{target} was built with use_bias=False, so it cannot hold nonzero biases"
                )
            continue
        var.assign(np.asarray(arrays[key], dtype=str(var.dtype)))
    return layer


def from_keras(
    layer: Any,
    cell: str | None = None,
    *,
    weights: Sequence[Any] | None = None,
    allow_reset_before: bool = False,
) -> dict[str, np.ndarray]:
    """Read the book's params from a built Keras ``SimpleRNN``/``LSTM``/``GRU`` (or cell).

    Args:
        layer: a built Keras recurrent layer or cell (see :func:`to_keras`).
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``; inferred from ``layer`` when omitted.
        weights: optional arrays aligned with ``layer.trainable_weights`` to convert instead of
            the layer's values, typically the gradients ``tape.gradient(loss,
            layer.trainable_weights)`` of a ``tf.GradientTape``.
        allow_reset_before: accept a GRU with ``reset_after=False``; its bias becomes ``b_x``
            and ``b_h`` is zero, to be run with ``gru_forward(..., reset_after=False)``.

    Returns:
        The book's params as NumPy arrays in the layer's dtype. Introduced in "One model, three
        frameworks".
    """
    inferred, kcell, D, _ = _keras_info(layer)
    cell = _resolve_cell(inferred, cell, "the layer")
    if D is None:
        raise ValueError(
            "the layer is not built yet: call it on data or build it, e.g. "
            "layer.build((None, None, D)), before reading its weights"
        )
    reset_after = _keras_reset_after(cell, kcell)
    if not reset_after and not allow_reset_before:
        raise ValueError(
            _RESET_BEFORE_MSG + "; pass allow_reset_before=True to read it as "
            "reset-before params for gru_forward(..., reset_after=False)"
        )
    variables = {k: getattr(kcell, k, None) for k in ("kernel", "recurrent_kernel", "bias")}
    if weights is None:
        arrays = {k: (None if v is None else _backend_to_numpy(v)) for k, v in variables.items()}
    else:
        trainable = list(layer.trainable_weights)
        if len(weights) != len(trainable):
            raise ValueError(
                f"weights must be aligned with layer.trainable_weights ({len(trainable)} "
                f"arrays: {[v.name for v in trainable]}), got {len(weights)} arrays"
            )
        arrays = {}
        for key, var in variables.items():
            if var is None:
                arrays[key] = None
                continue
            idx = [i for i, v in enumerate(trainable) if v is var]
            if not idx:
                raise ValueError(f"the layer's {key} is not among layer.trainable_weights")
            w = weights[idx[0]]
            if w is None:
                raise ValueError(f"the entry for {key} in weights is None (no gradient reached it)")
            arrays[key] = _backend_to_numpy(w)
    return from_keras_arrays(arrays, cell, reset_after=reset_after)


# ----------------------------------------------------------------------------------------------
# Across frameworks, through the book's params
# ----------------------------------------------------------------------------------------------


def _check_activations(module: Any, kcell: Any, cell: str) -> None:
    torch_act = _torch_activation(module) if cell == "rnn" else "tanh"
    keras_act = _activation_name(kcell.activation)
    if keras_act != torch_act:
        raise ValueError(
            f"activations differ: the Keras {_KERAS_NAMES[cell]} uses {keras_act!r}, the torch "
            f"{_NAMES[cell]} {torch_act!r}; the two would compute different functions"
        )
    if cell != "rnn":
        rec = _activation_name(kcell.recurrent_activation)
        if rec != "sigmoid":
            raise ValueError(
                f"the Keras {_KERAS_NAMES[cell]} uses recurrent_activation={rec!r}; torch's gates "
                "use 'sigmoid'"
            )


def keras_to_torch(layer: Any, module: Any) -> Any:
    """Copy a Keras layer's weights into a torch module through the book's params.

    Both must be the same cell type with the same activations. A Keras GRU with
    ``reset_after=False`` is refused: PyTorch has no reset-before GRU. Returns ``module``.
    """
    t_cell = _torch_info(module)[0]
    k_cell, kcell, _, _ = _keras_info(layer)
    if t_cell != k_cell:
        raise ValueError(f"the Keras layer is {_A[k_cell]} but the torch module {_A[t_cell]}")
    if not _keras_reset_after(k_cell, kcell):
        raise ValueError(_RESET_BEFORE_MSG + "; there is no equivalent torch module")
    _check_activations(module, kcell, k_cell)
    return to_torch(from_keras(layer), module)


def torch_to_keras(module: Any, layer: Any) -> Any:
    """Copy a torch module's weights into a Keras layer through the book's params.

    Both must be the same cell type with the same activations, and a Keras GRU must have
    ``reset_after=True`` (the form torch computes). Returns ``layer``.
    """
    t_cell = _torch_info(module)[0]
    k_cell, kcell, _, _ = _keras_info(layer)
    if t_cell != k_cell:
        raise ValueError(f"the torch module is {_A[t_cell]} but the Keras layer {_A[k_cell]}")
    if not _keras_reset_after(k_cell, kcell):
        raise ValueError(
            _RESET_BEFORE_MSG + "; build the Keras GRU with reset_after=True to hold torch weights"
        )
    _check_activations(module, kcell, k_cell)
    return to_keras(from_torch(module), layer)
