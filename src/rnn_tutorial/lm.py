"""Language models in PyTorch: vocabularies, token streams, stateful truncated BPTT, perplexity.

Introduced in the chapter "Language models and text generation"
(``chapters/16_language_models.ipynb``), which trains a character model on Tiny Shakespeare and
the word model of Zaremba et al. (2014) on the Penn Treebank. The recorded full-size runs
(``experiments/ch16_*.py``) use the same code.

Conventions: batch-major ``(B, T)`` token ids; a text is read as ``B`` parallel **streams**
(:func:`batchify`), walked along in chunks of ``bptt`` steps (:func:`chunks`) with the LSTM state
carried from chunk to chunk and detached (truncated BPTT, chapter "Backpropagation through time").
Losses are in nats per token; perplexity is ``exp`` of the mean over **all tokens of the stream**
(:func:`perplexity`), never the mean of per-batch perplexities.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "RNNLM",
    "Vocab",
    "batchify",
    "chunks",
    "detach",
    "evaluate_nll",
    "perplexity",
    "train_epoch",
]

State = tuple[torch.Tensor, torch.Tensor]


class Vocab:
    """A fixed token vocabulary: ids by decreasing training frequency, ties alphabetically.

    ``unk`` names the token that stands for every token not in the vocabulary. Without it (the
    character models), :meth:`encode` refuses unknown tokens with a message that names them.
    """

    def __init__(self, tokens: Iterable[str], unk: str | None = None) -> None:
        counts = Counter(tokens)
        if not counts:
            raise ValueError("Vocab needs at least one token; got an empty training text")
        self.itos: list[str] = sorted(counts, key=lambda t: (-counts[t], t))
        if unk is not None and unk not in counts:
            self.itos.append(unk)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.unk = unk

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Token ids (int64). Unknown tokens map to ``unk``, or raise ``KeyError`` without one."""
        tokens = list(tokens)
        if self.unk is None:
            unknown = sorted({t for t in tokens if t not in self.stoi})
            if unknown:
                raise KeyError(
                    f"{len(unknown)} token(s) not in the vocabulary, e.g. {unknown[:5]}: build "
                    "the vocabulary from a text that contains them, or give Vocab an unk token"
                )
            return np.array([self.stoi[t] for t in tokens], dtype=np.int64)
        u = self.stoi[self.unk]
        return np.array([self.stoi.get(t, u) for t in tokens], dtype=np.int64)

    def decode(self, ids: Iterable[int], sep: str = "") -> str:
        """The tokens of ``ids`` joined with ``sep`` ("" for characters, " " for words)."""
        return sep.join(self.itos[int(i)] for i in ids)


def batchify(ids: Sequence[int] | np.ndarray, batch_size: int) -> torch.Tensor:
    """Cut a token stream into ``batch_size`` equal streams: a ``(B, L)`` int64 tensor whose row
    ``b`` is the ``b``-th contiguous piece of the text. The tail that does not fill a row is
    dropped (fewer than ``batch_size`` tokens)."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1:
        raise ValueError(f"batchify expects a 1-D token stream, got shape {ids.shape}")
    length = len(ids) // batch_size
    if batch_size < 1 or length < 2:
        raise ValueError(
            f"a stream of {len(ids)} tokens cannot make {batch_size} streams of at least 2 "
            "tokens: use a smaller batch_size"
        )
    return torch.from_numpy(ids[: batch_size * length].reshape(batch_size, length).copy())


def chunks(streams: torch.Tensor, bptt: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive ``(x, y)`` chunks of ``bptt`` steps along the streams; ``y`` is ``x`` shifted
    by one token. The last chunk may be shorter. Every token but the first of each stream is a
    target exactly once."""
    if bptt < 1:
        raise ValueError(f"bptt must be at least 1, got {bptt}")
    length = streams.shape[1]
    for start in range(0, length - 1, bptt):
        stop = min(start + bptt, length - 1)
        yield streams[:, start:stop], streams[:, start + 1 : stop + 1]


def detach(state: State | None) -> State | None:
    """The state with its history cut off: truncated BPTT between chunks."""
    return None if state is None else (state[0].detach(), state[1].detach())


class RNNLM(nn.Module):
    """Embedding, a stacked LSTM and a linear read-out to ``V`` logits, batch-major.

    ``dropout`` is applied to the embeddings, between LSTM layers and before the read-out (the
    non-recurrent connections of Zaremba et al. 2014). ``tie=True`` shares the embedding matrix
    with the read-out weights (Press & Wolf 2017; Inan et al. 2017) and needs ``E == H``.
    ``init_scale`` draws every weight from U(-init_scale, init_scale), as Zaremba et al.; without
    it, PyTorch's defaults are kept.
    """

    def __init__(
        self,
        V: int,
        E: int,
        H: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        tie: bool = False,
        init_scale: float | None = None,
    ) -> None:
        super().__init__()
        if tie and E != H:
            raise ValueError(
                f"tie=True shares the embedding with the read-out: needs E == H, got {E}, {H}"
            )
        self.embed = nn.Embedding(V, E)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            E, H, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.out = nn.Linear(H, V)
        if tie:
            self.out.weight = self.embed.weight
        if init_scale is not None:
            for p in self.parameters():
                nn.init.uniform_(p, -init_scale, init_scale)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits ``(B, T, V)`` for token ids ``x`` ``(B, T)``, and the final ``(h, c)``."""
        h, state = self.lstm(self.drop(self.embed(x)), state)
        return self.out(self.drop(h)), state


def evaluate_nll(
    model: nn.Module, streams: torch.Tensor, bptt: int = 256, device: Any = None
) -> tuple[float, int]:
    """Summed cross-entropy (nats) and token count of ``model`` over ``streams`` ``(B, L)``,
    reading each stream from its start with the state carried across chunks. Divide, or call
    :func:`perplexity`, for the per-token figure."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for x, y in chunks(streams, bptt):
            logits, state = model(x.to(device), state)
            total += nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(),
                y.to(device).reshape(-1),
                reduction="sum",
            ).item()
            count += y.numel()
    model.train(was_training)
    return total, count


def perplexity(total_nll: float | Sequence[float], n_tokens: int | None = None) -> float:
    """``exp`` of the mean cross-entropy per token: ``perplexity(sum_of_nll, n_tokens)``, or
    ``perplexity(per_token_nlls)`` with a sequence of per-token values (nats)."""
    if n_tokens is None:
        values = np.asarray(total_nll, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise ValueError("perplexity(per_token_nlls) needs a non-empty 1-D sequence of nats")
        return float(math.exp(values.mean()))
    if n_tokens < 1:
        raise ValueError(f"n_tokens must be positive, got {n_tokens}")
    return float(math.exp(float(total_nll) / n_tokens))


def train_epoch(
    model: nn.Module,
    streams: torch.Tensor,
    bptt: int,
    optimizer: torch.optim.Optimizer,
    clip: float,
    *,
    time_summed: bool = False,
    max_chunks: int | None = None,
    device: Any = None,
    bar: Any = None,
    after_step: Callable[[], None] | None = None,
) -> float:
    """One pass of stateful truncated BPTT over ``streams``; returns the mean training nats/token.

    ``clip`` is the global gradient-norm threshold. ``time_summed=True`` differentiates the loss
    of Zaremba et al.: the mean over the batch of the sum over the chunk's steps, i.e. ``bptt``
    times the per-token mean (their learning rate of 1 is tuned for it). ``max_chunks`` stops
    early; ``bar`` is a progress bar updated once per chunk; ``after_step`` is called after every
    update (e.g. a learning-rate scheduler's ``step``).
    """
    device = device or next(model.parameters()).device
    model.train()
    total, count, state = 0.0, 0, None
    for k, (x, y) in enumerate(chunks(streams, bptt)):
        if max_chunks is not None and k >= max_chunks:
            break
        x, y = x.to(device), y.to(device)
        logits, state = model(x, detach(state))
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        (loss * y.shape[1] if time_summed else loss).backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item() * y.numel()
        count += y.numel()
        if after_step is not None:
            after_step()
        if bar is not None:
            bar.update(1)
    return total / count
