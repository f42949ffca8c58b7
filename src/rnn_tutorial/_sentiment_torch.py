"""The PyTorch model of :mod:`rnn_tutorial.sentiment`: :class:`BiGRUClassifier`.

It lives in this module, which imports PyTorch, so that it is an ordinary module-level class
(whole models pickle, with :func:`pickle.dumps` or ``torch.save(model)``) while importing
:mod:`rnn_tutorial.sentiment` still imports neither PyTorch nor TensorFlow. Import it from
there: ``from rnn_tutorial.sentiment import BiGRUClassifier``.
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pack_padded_sequence

from rnn_tutorial.sentiment import DEFAULT_DROPOUT, PAD

__all__ = ["BiGRUClassifier"]


class BiGRUClassifier(torch.nn.Module):
    """Embedding, channel dropout, packed bidirectional GRU, linear read-out.

    ``model(x, lengths)`` with ids ``x`` of shape ``(B, T)`` and ``lengths`` ``(B,)`` returns
    one logit per review, shape ``(B,)``. The PyTorch twin of
    :func:`rnn_tutorial.sentiment.keras_sentiment_model`, with the same parameters. Introduced
    in the sentiment chapter, chapters/14_sentiment.ipynb.
    """

    def __init__(self, V: int, E: int, H: int, dropout: float = DEFAULT_DROPOUT) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(V, E, padding_idx=PAD)
        self.dropout = torch.nn.Dropout1d(dropout)  # on (B, E, T): whole channels
        self.rnn = torch.nn.GRU(E, H, batch_first=True, bidirectional=True)
        self.head = torch.nn.Linear(2 * H, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        e = self.dropout(self.embedding(x).transpose(1, 2)).transpose(1, 2)  # (B, T, E)
        packed = pack_padded_sequence(e, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)  # (2, B, H): forward and backward final states
        return self.head(torch.cat([h_n[0], h_n[1]], dim=-1)).squeeze(-1)
