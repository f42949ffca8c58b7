"""Decoding a language model: temperature, top-k, nucleus (top-p), greedy and beam search, and
measures of the generated text.

Introduced in the chapter "Language models and text generation"
(``chapters/16_language_models.ipynb``). The chapter "Sequence to sequence with attention"
reuses its ideas but not its code: a decoder that reads an encoder's output does not have the
model interface below, so :mod:`rnn_tutorial.seq2seq` has its own
:func:`~rnn_tutorial.seq2seq.greedy_decode` and batched :func:`~rnn_tutorial.seq2seq.beam_search`.

A *model* here is anything with the interface of :class:`rnn_tutorial.lm.RNNLM`:
``model(x, state) -> (logits, state)`` with ``x`` of shape ``(B, T)`` (token ids), ``logits`` of
shape ``(B, T, V)`` and ``state`` a tuple of tensors whose batch dimension is dimension 1 (the
``(h, c)`` of ``nn.LSTM``), or ``None`` for the initial state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "Hypothesis",
    "beam_search",
    "distinct_n",
    "filter_logits",
    "generate",
    "repetition_rate",
    "sequence_nll",
]


def filter_logits(
    logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """``logits`` ``(..., V)`` with every token outside the allowed set set to ``-inf``.

    ``top_k`` keeps the ``k`` most probable tokens (Fan et al. 2018). ``top_p`` keeps the smallest
    set of most probable tokens whose total probability reaches ``top_p`` (nucleus sampling,
    Holtzman et al. 2020); the most probable token is always kept. Ties at the boundary are
    broken by the sort order.
    """
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        k = min(top_k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p is not None:
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = probs.cumsum(dim=-1) - probs  # mass of the tokens ranked above each token
        drop_sorted = before >= top_p  # the nucleus is complete before this token
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, -math.inf)
    return logits


def _prompt_batch(prompt: Any, n_samples: int, device: Any) -> torch.Tensor:
    """A prompt as a ``(N, P)`` batch: a 1-D prompt repeated ``n_samples`` times, or a 2-D one."""
    prompt = torch.as_tensor(prompt, dtype=torch.long, device=device)
    if prompt.numel() == 0 or prompt.ndim not in (1, 2):
        raise ValueError("prompt must be non-empty token ids, shape (P,) or (N, P)")
    if prompt.ndim == 2:
        if n_samples != 1:
            raise ValueError("with a 2-D prompt (one row per sample) leave n_samples at 1")
        return prompt
    return prompt.expand(n_samples, -1)


def _select(state: Any, index: torch.Tensor) -> Any:
    """Rows ``index`` of a recurrent state (batch on dimension 1)."""
    if state is None:
        return None
    return tuple(s.index_select(1, index) for s in state)


@torch.no_grad()
def generate(
    model: Any,
    prompt: torch.Tensor | Sequence[int],
    n_new: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    n_samples: int = 1,
    seed: int | None = None,
    eos: int | None = None,
    state: Any = None,
) -> torch.Tensor:
    """Continue ``prompt`` by ``n_new`` tokens: a 1-D prompt ``n_samples`` times in a batch, or
    each row of a 2-D prompt ``(N, P)`` once (prompts of equal length).

    Each step samples from ``softmax(logits / temperature)`` restricted by ``top_k``/``top_p``
    (:func:`filter_logits`), or takes the arg-max with ``greedy=True``. ``seed`` makes the draws
    reproducible (a private generator: the global random state is untouched). After ``eos`` a
    row keeps emitting ``eos``. ``state`` is an initial recurrent state for the prompt (e.g. an
    encoder's summary). Returns the new tokens, shape ``(n_samples, n_new)``.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive (use greedy=True for 0), got {temperature}")
    device = next(model.parameters()).device
    x = _prompt_batch(prompt, n_samples, device)
    n_samples = len(x)
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.randint(2**31, ()).item()))
    finished = torch.zeros(n_samples, dtype=torch.bool, device=device)
    out = []
    for _ in range(n_new):
        logits, state = model(x, state)
        last = logits[:, -1].float()
        if greedy:
            nxt = last.argmax(dim=-1)
        else:
            probs = torch.softmax(filter_logits(last / temperature, top_k, top_p), dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        if eos is not None:
            nxt = torch.where(finished, torch.full_like(nxt, eos), nxt)
            finished |= nxt == eos
        out.append(nxt)
        x = nxt[:, None]
    model.train(was_training)
    return torch.stack(out, dim=1)


@dataclass
class Hypothesis:
    """One finished beam: its tokens, summed log-probability and length-normalised score."""

    tokens: list[int]
    log_prob: float
    score: float


def _normalise(log_prob: float, length: int, alpha: float) -> float:
    """Length normalisation of Wu et al. (2016): log p / ((5 + length) / 6) ** alpha."""
    return log_prob / ((5 + length) / 6) ** alpha


@torch.no_grad()
def beam_search(
    model: Any,
    prompt: torch.Tensor | Sequence[int],
    n_new: int,
    beam_width: int,
    *,
    eos: int | None = None,
    alpha: float = 0.0,
    state: Any = None,
) -> list[Hypothesis]:
    """Beam search for the continuation of ``prompt`` with the highest score, all beams in one
    batch. A hypothesis ends at ``eos`` (counted in its length) or after ``n_new`` tokens.

    The score is the summed log-probability, length-normalised with ``alpha`` (0: none; Wu et
    al. 2016). Returns the finished hypotheses, best first (at most ``beam_width`` of them).
    With ``beam_width=1`` this is greedy decoding.
    """
    if beam_width < 1 or n_new < 1:
        raise ValueError(f"beam_width and n_new must be at least 1, got {beam_width}, {n_new}")
    device = next(model.parameters()).device
    prompt = torch.as_tensor(prompt, dtype=torch.long, device=device)
    was_training = model.training
    model.eval()
    logits, state = model(prompt[None], state)
    log_probs = torch.log_softmax(logits[:, -1].float(), dim=-1)  # (1, V)
    beams: list[list[int]] = [[]]
    scores = torch.zeros(1, device=device)
    finished: list[Hypothesis] = []
    for step in range(n_new):
        V = log_probs.shape[-1]
        total = (scores[:, None] + log_probs).reshape(-1)  # (beams * V,)
        top = torch.topk(total, min(2 * beam_width, total.numel()))
        keep_rows, keep_tokens, keep_scores = [], [], []
        for value, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            row, token = divmod(flat, V)
            tokens = [*beams[row], token]
            if (eos is not None and token == eos) or step == n_new - 1:
                finished.append(Hypothesis(tokens, value, _normalise(value, len(tokens), alpha)))
            else:
                keep_rows.append(row)
                keep_tokens.append(token)
                keep_scores.append(value)
            if len(keep_rows) == beam_width:
                break
        finished.sort(key=lambda h: h.score, reverse=True)
        finished = finished[:beam_width]
        if not keep_rows:
            break
        # stop when no live beam can still beat the worst kept finished hypothesis: scores only
        # fall as tokens are added, and without normalisation a longer beam scores no higher
        if len(finished) == beam_width and alpha == 0.0 and max(keep_scores) <= finished[-1].score:
            break
        rows = torch.tensor(keep_rows, device=device)
        beams = [[*beams[r], t] for r, t in zip(keep_rows, keep_tokens, strict=True)]
        scores = torch.tensor(keep_scores, device=device)
        x = torch.tensor(keep_tokens, device=device)[:, None]
        logits, state = model(x, _select(state, rows))
        log_probs = torch.log_softmax(logits[:, -1].float(), dim=-1)
    model.train(was_training)
    return finished


@torch.no_grad()
def sequence_nll(
    model: Any, prompt: torch.Tensor | Sequence[int], continuations: torch.Tensor
) -> torch.Tensor:
    """Mean negative log-likelihood (nats/token) that ``model`` (at temperature 1, unfiltered)
    assigns to each row of ``continuations`` ``(N, L)`` after ``prompt`` (1-D, shared, or 2-D,
    one row per continuation): shape ``(N,)``."""
    device = next(model.parameters()).device
    continuations = torch.as_tensor(continuations, dtype=torch.long, device=device)
    if continuations.ndim == 1:
        continuations = continuations[None]
    prompt = torch.as_tensor(prompt, dtype=torch.long, device=device)
    prompt = prompt if prompt.ndim == 2 else prompt.expand(len(continuations), -1)
    x = torch.cat([prompt, continuations], dim=1)
    was_training = model.training
    model.eval()
    logits, _ = model(x[:, :-1], None)
    model.train(was_training)
    log_probs = torch.log_softmax(logits[:, prompt.shape[1] - 1 :].float(), dim=-1)
    picked = log_probs.gather(-1, continuations[..., None]).squeeze(-1)
    return -picked.mean(dim=1)


def _ngrams(tokens: Sequence[Any], n: int) -> list[tuple[Any, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(samples: Sequence[Sequence[Any]], n: int) -> float:
    """Distinct-n (Li et al. 2016): distinct n-grams over all n-grams, pooled over ``samples``."""
    grams = [g for s in samples for g in _ngrams(list(s), n)]
    if not grams:
        raise ValueError(f"the samples hold no {n}-gram: generate longer samples")
    return len(set(grams)) / len(grams)


def repetition_rate(sample: Sequence[Any], n: int = 4) -> float:
    """The fraction of a sample's n-grams that already occurred earlier in the same sample: 0
    for text that never repeats itself, near 1 for a loop."""
    grams = _ngrams(list(sample), n)
    if not grams:
        raise ValueError(f"a sample of {len(sample)} tokens holds no {n}-gram")
    seen: set[tuple[Any, ...]] = set()
    repeats = 0
    for g in grams:
        repeats += g in seen
        seen.add(g)
    return repeats / len(grams)
