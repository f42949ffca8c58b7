"""The seq2seq toolbox (chapter "Sequence to sequence with attention"): splits, tokeniser,
attention against NumPy, masking, and batched beam search against brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from rnn_tutorial import seq2seq as s2


def test_normalize_text() -> None:
    assert s2.normalize_text("Ce\u0301cile  l\u2019a\u00a0vu !") == "Cécile l'a vu !"
    assert s2.normalize_text("  «\u202fOui\u202f» ") == '" Oui "'


def test_grouped_split_keeps_groups_together() -> None:
    groups = [f"s{i % 37}" for i in range(500)]
    tr, va, te = s2.grouped_split(groups, 0.1, 0.2, seed=3)
    assert sorted([*tr, *va, *te]) == list(range(500))
    seen = [{groups[i] for i in part} for part in (tr, va, te)]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert len(seen[2]) == round(0.2 * 37) or abs(len(seen[2]) - 0.2 * 37) < 1
    with pytest.raises(ValueError, match="fractions"):
        s2.grouped_split(groups, 0.5, 0.6)


def test_tokenizer_round_trip() -> None:
    texts = [f"Je vois {w} chat{'s' * (i % 2)} ici." for i, w in enumerate(["le", "un", "ce"] * 40)]
    tok = s2.SubwordTokenizer(texts, vocab_size=20)
    ids = tok.encode(texts[:5])
    assert all(x[-1] == s2.EOS and min(x[:-1]) > s2.EOS for x in ids)
    assert tok.encode(texts[:1], bos=True)[0][0] == s2.BOS
    assert tok.decode(ids) == texts[:5]
    assert "".join(tok.pieces(texts[0])).replace("\u2581", " ").strip() == texts[0]


def _numpy_attention(kind, q, K, mask, params):
    if kind == "dot":
        e = q @ K.T
    elif kind == "general":
        e = q @ params["W_a"] @ K.T
    else:
        hidden = np.tanh((q @ params["W_q"].T)[:, None, :] + (K @ params["W_k"].T)[None])
        e = (hidden @ params["v"])[..., 0]
    e = np.where(mask[None, :], e, -np.inf)
    a = np.exp(e - e.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    return a @ K, a


@pytest.mark.parametrize("kind", s2.ATTENTION_KINDS)
def test_attention_matches_numpy_and_masks(kind: str) -> None:
    torch.manual_seed(0)
    Dq = Dk = 6
    att = s2.Attention(kind, Dq, Dk, attn_size=5).double()
    q = torch.randn(2, 3, Dq, dtype=torch.float64)
    K = torch.randn(2, 4, Dk, dtype=torch.float64)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    ctx, w = att(q, K, mask)
    params = {}
    if kind == "general":
        params["W_a"] = att.W_a.weight.detach().numpy()
    if kind == "additive":
        params = {
            "W_q": att.W_q.weight.detach().numpy(),
            "W_k": att.W_k.weight.detach().numpy(),
            "v": att.v.weight.detach().numpy().T,
        }
    for b in range(2):
        c_np, a_np = _numpy_attention(kind, q[b].numpy(), K[b].numpy(), mask[b].numpy(), params)
        np.testing.assert_allclose(w[b].detach().numpy(), a_np, atol=1e-12)
        np.testing.assert_allclose(ctx[b].detach().numpy(), c_np, atol=1e-12)
    assert float(w[1, :, 2:].detach().abs().max()) == 0.0


def test_attention_rejects_bad_kind() -> None:
    with pytest.raises(ValueError, match="attention kind"):
        s2.Attention("cosine", 4, 4)
    with pytest.raises(ValueError, match="query_size == key_size"):
        s2.Attention("dot", 4, 6)


def _tiny(attention: str | None = "general", V: int = 6, seed: int = 0) -> s2.Seq2Seq:
    torch.manual_seed(seed)
    model = s2.Seq2Seq(7, V, E=5, H=4, attention=attention, dropout=0.3)
    with torch.no_grad():  # sharper distributions, so that beams disagree with greedy
        model.out.weight.mul_(6.0)
    return model.eval()


SRC = [[4, 5, 6, s2.EOS], [6, s2.EOS], [5, 4, s2.EOS]]


@pytest.mark.parametrize("attention", [None, "dot", "general", "additive"])
def test_padding_does_not_change_outputs(attention: str | None) -> None:
    model = _tiny(attention)
    src, src_len = s2.pad(SRC)
    tgt_in = torch.tensor([[s2.BOS, 4, 5]] * 3)
    batched, _ = model(src, src_len, tgt_in)
    for b, s in enumerate(SRC):
        alone, _ = model(*s2.pad([s]), tgt_in[:1])
        torch.testing.assert_close(batched[b], alone[0], atol=1e-6, rtol=1e-6)


def _brute_force(model: s2.Seq2Seq, src: list[int], max_len: int, alpha: float):
    """Every output sequence up to max_len: the best by length-normalised log-probability."""
    V = model.out.out_features
    best, best_score = None, -math.inf
    for L in range(1, max_len + 1):
        for seq in itertools.product(range(V), repeat=L):
            if s2.EOS in seq[:-1] or (L < max_len and seq[-1] != s2.EOS):
                continue
            tgt_in = torch.tensor([[s2.BOS, *seq[:-1]]])
            logits, _ = model(*s2.pad([src]), tgt_in)
            logp = torch.log_softmax(logits[0].double(), -1)
            total = float(logp[torch.arange(L), torch.tensor(seq)].sum().detach())
            score = total / ((5 + L) / 6) ** alpha
            if score > best_score:
                best, best_score = list(seq), score
    return s2._strip(best), best_score


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("attention", [None, "general"])
def test_full_width_beam_equals_brute_force(alpha: float, attention: str | None) -> None:
    model = _tiny(attention)
    max_len = 3
    src, src_len = s2.pad(SRC)
    beams = s2.beam_search(model, src, src_len, beam_width=36, max_len=max_len, alpha=alpha)
    for b, s in enumerate(SRC):
        tokens, score = _brute_force(model, s, max_len, alpha)
        assert beams[b][0] == tokens
        assert beams[b][1] == pytest.approx(score, abs=1e-5)


def test_width_one_is_greedy_and_batching_changes_nothing() -> None:
    model = _tiny("additive", V=9, seed=2)
    src, src_len = s2.pad(SRC)
    greedy, maps = s2.greedy_decode(model, src, src_len, max_len=6)
    beam1 = s2.beam_search(model, src, src_len, beam_width=1, max_len=6)
    assert [h for h, _ in beam1] == greedy
    for b, (tokens, _) in enumerate(beam1):
        assert maps[b].shape[1] == len(SRC[b])
        np.testing.assert_allclose(maps[b].sum(-1), 1.0, atol=1e-6)
        assert tokens == greedy[b]
    wide = s2.beam_search(model, src, src_len, beam_width=4, max_len=6, alpha=0.6)
    for b, s in enumerate(SRC):
        alone = s2.beam_search(model, *s2.pad([s]), beam_width=4, max_len=6, alpha=0.6)
        assert alone[0][0] == wide[b][0]
        assert alone[0][1] == pytest.approx(wide[b][1], abs=1e-5)


def test_beam_search_rejects_bad_width() -> None:
    model = _tiny()
    with pytest.raises(ValueError, match="beam_width"):
        s2.beam_search(model, *s2.pad(SRC), beam_width=0, max_len=3)


def test_bleu_by_length_bins() -> None:
    hyps = ["the cat sat", "a dog", "the cat sat on the mat"]
    refs = ["the cat sat", "the dog", "the cat sat on the mat"]
    rows = s2.bleu_by_length(hyps, refs, [3, 2, 6], [1, 4, 10])
    assert [r["n"] for r in rows] == [2, 1]
    assert rows[1]["bleu"] == pytest.approx(100.0)
