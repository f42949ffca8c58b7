"""The PyTorch model of :mod:`rnn_tutorial.mnist_models`: :class:`RNNClassifier`.

It lives in this module, which imports PyTorch, so that it is an ordinary module-level class
(whole models pickle, with :func:`pickle.dumps` or ``torch.save(model)``) while importing
:mod:`rnn_tutorial.mnist_models`, whose data helpers need NumPy only, still does not import
PyTorch. Import it from there: ``from rnn_tutorial.mnist_models import RNNClassifier``.
"""

from __future__ import annotations

import torch

__all__ = ["RNNClassifier"]


class RNNClassifier(torch.nn.Module):
    """One LSTM or GRU layer over ``(B, T, D)`` and a linear read-out of the last state.

    ``RNNClassifier(cell, D, H, K)`` with ``cell`` ``"lstm"`` or ``"gru"``; ``forward`` gives
    logits ``(B, K)``, ``logits_every_step`` the read-out of every state, ``(B, T, K)``.
    Introduced in the Sequential MNIST chapter, chapters/13_sequential_mnist.ipynb.
    """

    def __init__(self, cell: str, D: int = 28, H: int = 128, K: int = 10) -> None:
        super().__init__()
        layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.rnn = layer(D, H, batch_first=True)
        self.head = torch.nn.Linear(H, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)  # (B, T, H): the state after every step
        return self.head(h[:, -1])

    def logits_every_step(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)
        return self.head(h)
