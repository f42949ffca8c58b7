"""Optimisers and gradient clipping over dicts of NumPy arrays.

Introduced in "Backpropagation through time" to train the NumPy RNN (Adam and clipping by
norm); "Vanishing and exploding gradients" adds SGD and compares the two clipping rules; later
NumPy chapters reuse them. Parameters and gradients are dicts with the same keys and shapes
(``params["W_hh"]`` and ``grads["W_hh"]``), as returned by the layers in
:mod:`rnn_tutorial.numpy_rnn`.

The update rules are PyTorch's (:class:`torch.optim.SGD`, :class:`torch.optim.Adam`,
:func:`torch.nn.utils.clip_grad_norm_`, :func:`torch.nn.utils.clip_grad_value_`), and
``tests/test_optim.py`` checks them against torch on the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import numpy as np

__all__ = ["SGD", "Adam", "clip_grad_norm", "clip_grad_value", "global_norm"]

Arrays = Mapping[str, np.ndarray]


def _check_grads_like(params: Arrays, grads: Arrays) -> None:
    """Raise ``ValueError`` unless ``grads`` has exactly the keys and shapes of ``params``."""
    missing = [k for k in params if k not in grads]
    extra = [k for k in grads if k not in params]
    if missing or extra:
        raise ValueError(
            f"grads must have exactly the keys of params {list(params)}; "
            f"missing {missing}, unexpected {extra}"
        )
    for k, p in params.items():
        if np.shape(grads[k]) != np.shape(p):
            raise ValueError(
                f"grads[{k!r}] must have shape {np.shape(p)} (the shape of params[{k!r}]), "
                f"got {np.shape(grads[k])}"
            )


def _check_params(params: Arrays) -> None:
    for k, p in params.items():
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            raise ValueError(
                f"params[{k!r}] must be a floating-point ndarray (it is updated in place), "
                f"got {type(p).__name__} of dtype {getattr(p, 'dtype', None)}"
            )


class SGD:
    """Stochastic gradient descent with optional momentum, updating ``params`` in place.

    ``v <- momentum * v + g`` (``v = g`` on the first step), ``p <- p - lr * v``: the rule of
    ``torch.optim.SGD`` without dampening, Nesterov or weight decay. Used in "Vanishing and
    exploding gradients".
    """

    def __init__(self, lr: float, momentum: float = 0.0) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.velocity: dict[str, np.ndarray] = {}

    def step(self, params: MutableMapping[str, np.ndarray], grads: Arrays) -> None:
        """Apply one update to every array of ``params`` (in place) using ``grads``."""
        _check_params(params)
        _check_grads_like(params, grads)
        for k, p in params.items():
            g = np.asarray(grads[k])
            if self.momentum:
                if k in self.velocity:
                    self.velocity[k] = self.momentum * self.velocity[k] + g
                else:
                    self.velocity[k] = g.copy()
                g = self.velocity[k]
            p -= self.lr * g


class Adam:
    """Adam (Kingma and Ba, 2015) with PyTorch's bias correction, updating ``params`` in place.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2`` and
    ``p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``, exactly as
    ``torch.optim.Adam`` computes it. Introduced in "Backpropagation through time".
    """

    def __init__(
        self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be a pair (beta1, beta2) in [0, 1), got {betas}")
        if not eps >= 0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def step(self, params: MutableMapping[str, np.ndarray], grads: Arrays) -> None:
        """Apply one update to every array of ``params`` (in place) using ``grads``."""
        _check_params(params)
        _check_grads_like(params, grads)
        b1, b2 = self.betas
        self.t += 1
        bias1 = 1.0 - b1**self.t
        bias2 = 1.0 - b2**self.t
        for k, p in params.items():
            g = np.asarray(grads[k])
            if k not in self.m:
                self.m[k] = np.zeros_like(p)
                self.v[k] = np.zeros_like(p)
            self.m[k] = b1 * self.m[k] + (1.0 - b1) * g
            self.v[k] = b2 * self.v[k] + (1.0 - b2) * g * g
            denom = np.sqrt(self.v[k]) / np.sqrt(bias2) + self.eps
            p -= (self.lr / bias1) * self.m[k] / denom


def global_norm(grads: Arrays) -> float:
    """The Euclidean norm of all arrays of ``grads`` taken together, as one long vector."""
    if not isinstance(grads, Mapping) or not grads:
        raise ValueError("grads must be a non-empty dict of arrays")
    return float(
        np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values()))
    )


def clip_grad_norm(grads: Arrays, max_norm: float) -> tuple[dict[str, np.ndarray], float]:
    """Rescale all gradients together so that their global norm is at most ``max_norm``.

    Every array is multiplied by the same factor ``min(1, max_norm / (norm + 1e-6))`` (the
    ``1e-6`` is torch's :func:`~torch.nn.utils.clip_grad_norm_`), so the direction of the full
    gradient is kept. Returns new arrays and the norm *before* clipping. Introduced in
    "Backpropagation through time"; compared with :func:`clip_grad_value` in "Vanishing and
    exploding gradients".
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    total = global_norm(grads)
    scale = min(1.0, max_norm / (total + 1e-6))
    return {k: np.asarray(g) * scale for k, g in grads.items()}, total


def clip_grad_value(grads: Arrays, clip_value: float) -> dict[str, np.ndarray]:
    """Clip every gradient entry to ``[-clip_value, clip_value]`` (what Keras' ``clipvalue`` does).

    Unlike :func:`clip_grad_norm` this changes the direction of the gradient whenever some but
    not all entries are clipped; "Vanishing and exploding gradients" measures by how much.
    """
    if not isinstance(grads, Mapping) or not grads:
        raise ValueError("grads must be a non-empty dict of arrays")
    if not clip_value > 0:
        raise ValueError(f"clip_value must be positive, got {clip_value}")
    return {k: np.clip(np.asarray(g), -clip_value, clip_value) for k, g in grads.items()}
