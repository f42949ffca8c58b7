"""Sequence to sequence with attention in PyTorch: subword tokenisation, source-grouped splits,
an encoder-decoder with optional attention, training, greedy and batched beam-search decoding.

Introduced in the chapter "Sequence to sequence with attention"
(``chapters/17_seq2seq.ipynb``), which translates French into English on the Tatoeba pairs of
:func:`rnn_tutorial.data.load_fra_eng`. The recorded full-size run
(``experiments/ch17_seq2seq_full.py``) uses the same code.

Conventions: batch-major ``(B, S)`` source and ``(B, T)`` target ids, padded with id 0;
``mask`` is ``True`` at real (non-pad) source positions. Target sequences are
``<bos> y_1 ... y_n <eos>``: the decoder reads ``<bos> y_1 ... y_n`` (teacher forcing) and is
trained to emit ``y_1 ... y_n <eos>``. Losses are in nats per target token.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = [
    "ATTENTION_KINDS",
    "Attention",
    "Seq2Seq",
    "SubwordTokenizer",
    "beam_search",
    "bleu_by_length",
    "evaluate_nll",
    "fra_eng_split",
    "grouped_split",
    "greedy_decode",
    "make_batches",
    "normalize_text",
    "pad",
    "train_epoch",
    "translate",
]

PAD, UNK, BOS, EOS = 0, 1, 2, 3
ATTENTION_KINDS = ("dot", "general", "additive")

_SPACES = {"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " "}
_QUOTES = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"'}


def normalize_text(text: str) -> str:
    """Unicode NFC (one code point per accented letter: ``e`` + combining acute becomes ``é``),
    typographic apostrophes and quotes made plain, no-break spaces made spaces, runs of white
    space collapsed. Case is kept: the scores are case-sensitive, as sacreBLEU's are."""
    text = unicodedata.normalize("NFC", text)
    for table in (_SPACES, _QUOTES):
        for old, new in table.items():
            text = text.replace(old, new)
    return " ".join(text.split())


def grouped_split(
    groups: Sequence[str], valid: float, test: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices ``(train, valid, test)`` such that equal ``groups`` (e.g. equal source sentences)
    fall in the same part, so no validation or test source is ever seen in training.
    ``valid`` and ``test`` are fractions of the distinct groups. Uses scikit-learn's
    ``GroupShuffleSplit`` twice."""
    from sklearn.model_selection import GroupShuffleSplit

    if not (0 < valid < 1 and 0 < test < 1 and valid + test < 1):
        raise ValueError(f"valid and test must be fractions summing below 1, got {valid}, {test}")
    groups_arr = np.asarray(groups, dtype=object)
    index = np.arange(len(groups_arr))
    outer = GroupShuffleSplit(n_splits=1, test_size=test, random_state=seed)
    rest, test_idx = next(outer.split(index, groups=groups_arr))
    inner = GroupShuffleSplit(n_splits=1, test_size=valid / (1 - test), random_state=seed + 1)
    tr, va = next(inner.split(rest, groups=groups_arr[rest]))
    return np.sort(rest[tr]), np.sort(rest[va]), np.sort(test_idx)


def fra_eng_split(
    valid: float = 0.03, test: float = 0.05, seed: int = 0, *, leaky: bool = False
) -> dict[str, list[tuple[str, str]]]:
    """The French-to-English pairs ``(french, english)`` of :func:`rnn_tutorial.data.load_fra_eng`,
    normalised (:func:`normalize_text`) and split into ``train``, ``valid`` and ``test``.

    By default the split is grouped by French sentence (:func:`grouped_split`): every
    translation of a held-out source is held out with it. ``leaky=True`` splits the pairs at
    random instead (the common mistake), with the same fractions of pairs."""
    from rnn_tutorial.data import load_fra_eng

    pairs = [(normalize_text(fr), normalize_text(en)) for en, fr in load_fra_eng()]
    if leaky:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(pairs))
        n_test, n_valid = round(test * len(pairs)), round(valid * len(pairs))
        parts = (order[n_test + n_valid :], order[n_test : n_test + n_valid], order[:n_test])
    else:
        parts = grouped_split([fr for fr, _ in pairs], valid, test, seed)
    return {
        name: [pairs[i] for i in np.sort(idx)]
        for name, idx in zip(("train", "valid", "test"), parts, strict=True)
    }


class SubwordTokenizer:
    """A SentencePiece unigram model (Kudo 2018) trained in memory on one language's training
    sentences. Ids 0-3 are ``<pad>``, ``<unk>``, ``<s>`` (bos) and ``</s>`` (eos).
    :meth:`decode` returns detokenised text, as sacreBLEU expects."""

    def __init__(self, texts: Sequence[str], vocab_size: int) -> None:
        import sentencepiece as spm

        if not texts:
            raise ValueError("SubwordTokenizer needs training sentences; got none")
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=model,
            vocab_size=vocab_size,
            model_type="unigram",
            character_coverage=1.0,
            pad_id=PAD,
            unk_id=UNK,
            bos_id=BOS,
            eos_id=EOS,
            num_threads=1,
            shuffle_input_sentence=False,
            input_sentence_size=0,
            minloglevel=2,
        )
        self.proto = model.getvalue()
        self.sp = spm.SentencePieceProcessor(model_proto=self.proto)

    def __len__(self) -> int:
        return int(self.sp.get_piece_size())

    def encode(self, texts: Sequence[str], eos: bool = True, bos: bool = False) -> list[list[int]]:
        """Token ids for each text, with ``</s>`` appended (and ``<s>`` prepended) on request."""
        ids = self.sp.encode(list(texts), out_type=int)
        return [([BOS] if bos else []) + x + ([EOS] if eos else []) for x in ids]

    def pieces(self, text: str) -> list[str]:
        """The subword pieces of one text (``▁`` marks the start of a word)."""
        return list(self.sp.encode(text, out_type=str))

    def decode(self, ids: Sequence[Sequence[int]]) -> list[str]:
        """Texts from id lists; special ids (pad, bos, eos) are dropped."""
        return [self.sp.decode([int(i) for i in x if int(i) > EOS]) for x in ids]


def pad(seqs: Sequence[Sequence[int]], device: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids (B, L), lengths (B,))``, right-padded with 0."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    if int(lengths.min()) < 1:
        raise ValueError("pad: every sequence needs at least one token (empty sequence given)")
    out = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out.to(device), lengths


@dataclass
class Batch:
    """One training batch: ``src (B, S)``, ``src_len (B,)``, decoder input ``tgt_in (B, T)``
    (starting with bos) and output ``tgt_out (B, T)`` (ending with eos)."""

    src: torch.Tensor
    src_len: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor


def make_batches(
    src: Sequence[Sequence[int]],
    tgt: Sequence[Sequence[int]],
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    device: Any = None,
) -> list[Batch]:
    """Batches of pairs of similar source length (less padding). ``tgt`` ids end with eos and
    have no bos (as :meth:`SubwordTokenizer.encode` gives them). With ``shuffle`` the pairs
    are shuffled before the length sort and the batches are shuffled, both from ``seed``."""
    if len(src) != len(tgt):
        raise ValueError(f"{len(src)} sources but {len(tgt)} targets")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(src)) if shuffle else np.arange(len(src))
    order = sorted(order, key=lambda i: len(src[i]))
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        s, s_len = pad([src[i] for i in idx], device)
        t, _ = pad([[BOS, *tgt[i]] for i in idx], device)
        batches.append(Batch(s, s_len.to(device), t[:, :-1], t[:, 1:]))
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class Attention(nn.Module):
    """Score, mask and average: ``weights = softmax(score(query, keys))`` over the real source
    positions, ``context = weights @ keys``.

    ``kind``: ``"dot"`` (Luong: ``s · h``), ``"general"`` (Luong: ``s W_a hᵀ``) or
    ``"additive"`` (Bahdanau: ``v · tanh(W_q s + W_k h)``).
    """

    def __init__(self, kind: str, query_size: int, key_size: int, attn_size: int = 0) -> None:
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"attention kind must be one of {ATTENTION_KINDS}, got {kind!r}")
        if kind == "dot" and query_size != key_size:
            raise ValueError(
                f"dot attention needs query_size == key_size, got {query_size}, {key_size}"
            )
        self.kind = kind
        if kind == "general":
            self.W_a = nn.Linear(key_size, query_size, bias=False)
        if kind == "additive":
            attn_size = attn_size or query_size
            self.W_q = nn.Linear(query_size, attn_size, bias=False)
            self.W_k = nn.Linear(key_size, attn_size, bias=False)
            self.v = nn.Linear(attn_size, 1, bias=False)

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Unmasked scores ``(B, T, S)`` for queries ``(B, T, Dq)`` and keys ``(B, S, Dk)``."""
        if self.kind == "dot":
            return query @ keys.transpose(1, 2)
        if self.kind == "general":
            return query @ self.W_a(keys).transpose(1, 2)
        hidden = torch.tanh(self.W_q(query)[:, :, None, :] + self.W_k(keys)[:, None, :, :])
        return self.v(hidden).squeeze(-1)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(context (B, T, Dk), weights (B, T, S))``; ``mask (B, S)`` is True at real tokens."""
        e = self.scores(query, keys).masked_fill(~mask[:, None, :], float("-inf"))
        weights = torch.softmax(e, dim=-1)
        return weights @ keys, weights


@dataclass
class Encoded:
    """What the decoder needs from the encoder: ``memory (B, S, 2H)``, ``mask (B, S)``,
    the fixed-size ``summary (B, 2H)`` and the decoder's initial ``state (1, B, D)``."""

    memory: torch.Tensor
    mask: torch.Tensor
    summary: torch.Tensor
    state: torch.Tensor

    def select(self, index: torch.Tensor) -> Encoded:
        """The rows ``index`` (e.g. each sentence repeated once per beam)."""
        return Encoded(
            self.memory[index], self.mask[index], self.summary[index], self.state[:, index]
        )


class Seq2Seq(nn.Module):
    """A bidirectional GRU encoder and a GRU decoder (Cho et al. 2014; Luong et al. 2015).

    The encoder reads the source both ways (packed, so padding is never read) and gives one
    annotation ``h_j = [h_fwd_j; h_bwd_j]`` (size ``2H``) per source token; its two final states
    make the fixed-size ``summary``, and ``tanh(W_init summary)`` is the decoder's first state.
    At every target step the decoder GRU (size ``D = 2H``) reads the previous target token,
    then the read-out combines its state ``s_t`` with a context vector ``c_t``:
    ``s~_t = tanh(W_c [c_t; s_t])``, ``logits = W_o s~_t``. With ``attention=None``, ``c_t`` is the
    summary at every step (the fixed-size bottleneck); otherwise it is the attention average of
    the annotations with ``s_t`` as the query (Luong's global attention, without input feeding,
    so the decoder GRU runs over all target steps at once in training).
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        E: int = 256,
        H: int = 256,
        attention: str | None = "general",
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        D = 2 * H
        self.H, self.D, self.attention_kind = H, D, attention
        self.src_embed = nn.Embedding(src_vocab, E, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab, E, padding_idx=PAD)
        self.encoder = nn.GRU(E, H, batch_first=True, bidirectional=True)
        self.init = nn.Linear(2 * H, D)
        self.decoder = nn.GRU(E, D, batch_first=True)
        self.attention = Attention(attention, D, 2 * H) if attention else None
        self.combine = nn.Linear(2 * H + D, D)
        self.out = nn.Linear(D, tgt_vocab)
        self.drop = nn.Dropout(dropout)

    def encode(self, src: torch.Tensor, src_len: torch.Tensor) -> Encoded:
        """Annotations, mask, summary and initial decoder state for a padded source batch."""
        x = self.drop(self.src_embed(src))
        packed = pack_padded_sequence(x, src_len.cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        summary = torch.cat([h_n[0], h_n[1]], dim=-1)  # forward final, backward final
        state = torch.tanh(self.init(summary))[None]
        return Encoded(memory, src != PAD, summary, state)

    def decode(
        self, tgt_in: torch.Tensor, state: torch.Tensor, enc: Encoded
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(logits (B, T, V), state (1, B, D), weights (B, T, S) or None)`` for decoder inputs
        ``tgt_in (B, T)`` from ``state``: all T steps at once in training, one at a time in
        decoding."""
        s, state = self.decoder(self.drop(self.tgt_embed(tgt_in)), state)
        if self.attention is None:
            context, weights = enc.summary[:, None, :].expand(-1, s.shape[1], -1), None
        else:
            context, weights = self.attention(s, enc.memory, enc.mask)
        s_tilde = torch.tanh(self.combine(torch.cat([context, s], dim=-1)))
        return self.out(self.drop(s_tilde)), state, weights

    def forward(
        self, src: torch.Tensor, src_len: torch.Tensor, tgt_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced logits ``(B, T, V)`` and attention weights."""
        enc = self.encode(src, src_len)
        logits, _, weights = self.decode(tgt_in, enc.state, enc)
        return logits, weights


def train_epoch(
    model: Seq2Seq,
    batches: Sequence[Batch],
    optimizer: torch.optim.Optimizer,
    clip: float,
    *,
    label_smoothing: float = 0.0,
    bar: Any = None,
) -> float:
    """One pass of teacher-forced training; returns the mean cross-entropy in nats per target
    token (with label smoothing, the smoothed loss). Gradients are clipped by global norm."""
    model.train()
    total, count = 0.0, 0
    for batch in batches:
        logits, _ = model(batch.src, batch.src_len, batch.tgt_in)
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            batch.tgt_out.reshape(-1),
            ignore_index=PAD,
            label_smoothing=label_smoothing,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        n = int((batch.tgt_out != PAD).sum())
        total, count = total + float(loss.detach()) * n, count + n
        if bar is not None:
            bar.update(1)
    return total / count


@torch.no_grad()
def evaluate_nll(model: Seq2Seq, batches: Sequence[Batch]) -> float:
    """Teacher-forced cross-entropy in nats per target token (no label smoothing)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches:
        logits, _ = model(batch.src, batch.src_len, batch.tgt_in)
        total += float(
            nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                batch.tgt_out.reshape(-1),
                ignore_index=PAD,
                reduction="sum",
            )
        )
        count += int((batch.tgt_out != PAD).sum())
    model.train(was_training)
    return total / count


def _strip(tokens: list[int]) -> list[int]:
    return tokens[: tokens.index(EOS)] if EOS in tokens else tokens


@torch.no_grad()
def greedy_decode(
    model: Seq2Seq, src: torch.Tensor, src_len: torch.Tensor, max_len: int
) -> tuple[list[list[int]], list[np.ndarray | None]]:
    """Greedy decoding of a source batch: at each step the most probable token, fed back in.
    Returns the token lists (without eos) and, with attention, each sentence's weights
    ``(output length + 1, source length)`` (the last row is the step that emitted eos)."""
    was_training = model.training
    model.eval()
    enc = model.encode(src, src_len)
    B = src.shape[0]
    y = torch.full((B, 1), BOS, dtype=torch.long, device=src.device)
    state, steps, maps = enc.state, [], []
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        logits, state, weights = model.decode(y, state, enc)
        y = logits[:, -1].argmax(-1, keepdim=True)
        steps.append(y[:, 0])
        if weights is not None:
            maps.append(weights[:, 0])
        done |= y[:, 0] == EOS
        if bool(done.all()):
            break
    model.train(was_training)
    tokens = torch.stack(steps, 1).tolist()
    out = [_strip(t) for t in tokens]
    attn: list[np.ndarray | None] = [None] * B
    if maps:
        w = torch.stack(maps, 1).cpu().numpy()
        lengths = src_len.tolist()
        attn = [w[b, : len(out[b]) + 1, : lengths[b]] for b in range(B)]
    return out, attn


def _length_penalty(length: torch.Tensor | float, alpha: float) -> torch.Tensor | float:
    """Wu et al. (2016): ``((5 + length) / 6) ** alpha``; 1 when ``alpha = 0``."""
    return ((5 + length) / 6) ** alpha


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    src: torch.Tensor,
    src_len: torch.Tensor,
    beam_width: int,
    max_len: int,
    alpha: float = 0.0,
) -> list[tuple[list[int], float]]:
    """Batched beam search: every sentence of the batch keeps ``beam_width`` live hypotheses,
    all ``B × beam_width`` of them advanced by one decoder call per step.

    A hypothesis ends when it emits eos (counted in its length) or reaches ``max_len`` tokens.
    Its score is its summed log-probability divided by Wu et al.'s length penalty
    ``((5 + length) / 6) ** alpha``. At each step the ``2 × beam_width`` best extensions of a
    sentence's live beams are ranked; those among the best ``beam_width`` that end in eos
    join the finished list, and the best ``beam_width`` that do not stay live. A sentence
    stops when no live beam can still beat its best finished one (log-probabilities only fall,
    and the penalty is at most that of ``max_len``).
    Returns, per sentence, the best hypothesis (tokens without eos) and its score. With
    ``beam_width = 1`` and ``alpha = 0`` this is greedy decoding.
    """
    if beam_width < 1 or max_len < 1:
        raise ValueError(f"beam_width and max_len must be at least 1, got {beam_width}, {max_len}")
    was_training = model.training
    model.eval()
    device = src.device
    B, W = src.shape[0], beam_width
    enc = model.encode(src, src_len).select(torch.arange(B, device=device).repeat_interleave(W))
    state = enc.state
    y = torch.full((B * W, 1), BOS, dtype=torch.long, device=device)
    # only the first beam of each sentence is live at the start (the others would duplicate it)
    scores = torch.full((B, W), float("-inf"), device=device)
    scores[:, 0] = 0.0
    tokens = torch.zeros(B, W, 0, dtype=torch.long, device=device)
    best: list[tuple[list[int], float]] = [([], float("-inf"))] * B
    active = torch.ones(B, dtype=torch.bool, device=device)
    for step in range(max_len):
        logits, state, _ = model.decode(y, state, enc)
        logp = torch.log_softmax(logits[:, -1].float(), dim=-1)  # (B*W, V)
        V = logp.shape[-1]
        total = (scores.reshape(-1, 1) + logp).reshape(B, W * V)
        k = min(2 * W, W * V)
        top_val, top_idx = total.topk(k, dim=-1)  # (B, k)
        beam_of, token_of = top_idx // V, top_idx % V
        length = step + 1
        last = step == max_len - 1
        ends = (token_of == EOS) | last
        # finished candidates: update each sentence's best
        norm = top_val / _length_penalty(float(length), alpha)
        # as in fairseq, an eos candidate finishes only if it ranks among the best W, so that
        # beam_width = 1 with alpha = 0 is exactly greedy decoding
        in_top_w = torch.arange(k, device=device)[None, :] < W
        fin_norm = torch.where(ends & in_top_w & torch.isfinite(top_val), norm, float("-inf"))
        fin_best, fin_pos = fin_norm.max(dim=-1)
        for b in torch.nonzero(active & (fin_best > float("-inf"))).flatten().tolist():
            score = float(fin_best[b])
            if score > best[b][1]:
                pos = int(fin_pos[b])
                seq = tokens[b, int(beam_of[b, pos])].tolist() + [int(token_of[b, pos])]
                best[b] = (_strip(seq), score)
        if last:
            break
        # live candidates: the best W that did not end (ranked by summed log-probability)
        live_val = torch.where(ends, float("-inf"), top_val)
        keep_val, keep_pos = live_val.topk(W, dim=-1)  # (B, W)
        keep_beam = beam_of.gather(1, keep_pos)
        keep_tok = token_of.gather(1, keep_pos)
        # a sentence is done when its best finished score beats every live beam's bound
        bound = keep_val.max(dim=-1).values / _length_penalty(float(max_len), alpha)
        bound = torch.maximum(bound, keep_val.max(dim=-1).values)  # alpha = 0: no penalty
        best_t = torch.tensor([s for _, s in best], device=device)
        active &= ~(best_t >= bound) & torch.isfinite(keep_val.max(dim=-1).values)
        if not bool(active.any()):
            break
        keep_val = torch.where(active[:, None], keep_val, float("-inf"))
        rows = (torch.arange(B, device=device)[:, None] * W + keep_beam).reshape(-1)
        tokens = torch.cat(
            [tokens[torch.arange(B, device=device)[:, None], keep_beam], keep_tok[:, :, None]],
            dim=-1,
        )
        scores = keep_val
        state = state[:, rows]
        y = keep_tok.reshape(-1, 1)
    model.train(was_training)
    return best


def translate(
    model: Seq2Seq,
    src_tok: SubwordTokenizer,
    tgt_tok: SubwordTokenizer,
    sentences: Sequence[str],
    *,
    beam_width: int = 1,
    alpha: float = 0.0,
    batch_size: int = 128,
    device: Any = None,
) -> list[str]:
    """Translations of ``sentences`` (in their order): greedy with ``beam_width=1``, else
    batched beam search. Sentences are batched by length; at most ``2 S + 10`` target tokens
    are generated for a batch whose longest source has ``S`` tokens."""
    ids = src_tok.encode(sentences)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: list[list[int]] = [[] for _ in ids]
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        src, src_len = pad([ids[i] for i in idx], device)
        max_len = 2 * src.shape[1] + 10
        if beam_width == 1:
            hyps, _ = greedy_decode(model, src, src_len.to(device), max_len)
        else:
            hyps = [
                h
                for h, _ in beam_search(model, src, src_len.to(device), beam_width, max_len, alpha)
            ]
        for i, h in zip(idx, hyps, strict=True):
            out[i] = h
    return tgt_tok.decode(out)


def bleu_by_length(
    hyps: Sequence[str], refs: Sequence[str], lengths: Sequence[int], edges: Sequence[int]
) -> list[dict[str, float]]:
    """Corpus BLEU (sacreBLEU, default settings) of the pairs whose source length falls in each
    bin ``[edges[i], edges[i+1])``; each entry gives the bin, its number of pairs and BLEU."""
    import sacrebleu

    rows = []
    lengths_arr = np.asarray(lengths)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = np.flatnonzero((lengths_arr >= lo) & (lengths_arr < hi))
        if len(sel) == 0:
            continue
        score = sacrebleu.corpus_bleu([hyps[i] for i in sel], [[refs[i] for i in sel]]).score
        rows.append({"lo": int(lo), "hi": int(hi), "n": int(len(sel)), "bleu": float(score)})
    return rows


def n_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
