"""Sequential MNIST: the split, the scaling, the pixel orders and the RNN classifier.

Introduced in the Sequential MNIST chapter, chapters/13_sequential_mnist.ipynb, which teaches
the model and shows it in full; the chapter and the full-size script
``experiments/ch13_mnist_full.py`` (pixel-by-pixel MNIST at the chapter's ``gpu_config``) both
use this module:

- :func:`split_indices` and :func:`standardise`: a random validation split of the training
  images, and pixels scaled with the training split's statistics;
- :func:`pixel_permutation` and :func:`as_pixels`: an image as a sequence of 784 single
  pixels, in reading order or in one fixed permuted order (permuted MNIST);
- :class:`RNNClassifier`: one LSTM or GRU layer and a linear read-out of the last state;
- :func:`tensor_loader`: a PyTorch loader of ``(x, y)`` batches.

PyTorch is imported only when it is needed: ``RNNClassifier`` is defined in the private module
:mod:`rnn_tutorial._mnist_torch` and imported from there on first access.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "PIXELS",
    "as_pixels",
    "pixel_permutation",
    "split_indices",
    "standardise",
    "tensor_loader",
]

PIXELS = 28 * 28


def split_indices(
    n: int, rng: np.random.Generator, n_val: int = 6000
) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``: one ``rng.permutation(n)``, whose first ``n_val`` indices are
    the validation split and the rest, in that random order, the training split."""
    order = rng.permutation(n)
    return order[n_val:], order[:n_val]


def standardise(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 images ``(N, 28, 28)`` -> float32 ``(N, T=28, D=28)``: scaled to [0, 1], then
    ``(x - mean) / std`` with the training split's ``mean`` and ``std`` (of the [0, 1] pixels)."""
    return ((images / 255.0 - mean) / std).astype(np.float32)


def pixel_permutation(seed: int = 1) -> np.ndarray:
    """The fixed pixel order of permuted MNIST: ``np.random.default_rng(seed).permutation(784)``."""
    return np.random.default_rng(seed).permutation(PIXELS)


def as_pixels(x: np.ndarray, variant: str, permutation: np.ndarray | None = None) -> np.ndarray:
    """``(N, 28, 28)`` -> ``(N, T=784, D=1)``, in reading order (``variant="pixel-by-pixel"``)
    or in the fixed order ``permutation`` (``variant="permuted"``; default
    :func:`pixel_permutation`)."""
    if variant not in ("pixel-by-pixel", "permuted"):
        raise ValueError(f"variant must be 'pixel-by-pixel' or 'permuted', got {variant!r}")
    flat = x.reshape(len(x), PIXELS)
    if variant == "permuted":
        flat = flat[:, pixel_permutation() if permutation is None else permutation]
    return np.ascontiguousarray(flat[:, :, None])


def tensor_loader(x: np.ndarray, y: np.ndarray, *, batch_size: int, shuffle: bool = False) -> Any:
    """A PyTorch ``DataLoader`` of ``(x, y)`` batches, ``y`` as int64 class indices."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(torch.tensor(x), torch.tensor(y, dtype=torch.long))
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle)


def __getattr__(name: str) -> Any:
    """``RNNClassifier`` is imported on first access from :mod:`rnn_tutorial._mnist_torch`, where
    it is defined at module level, so that importing this module does not import PyTorch."""
    if name == "RNNClassifier":
        from rnn_tutorial._mnist_torch import RNNClassifier

        return RNNClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
