"""Tests of rnn_tutorial.lm and rnn_tutorial.generate (the language-model chapter's toolbox)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from rnn_tutorial.generate import (
    beam_search,
    distinct_n,
    filter_logits,
    generate,
    repetition_rate,
    sequence_nll,
)
from rnn_tutorial.lm import (
    RNNLM,
    Vocab,
    batchify,
    chunks,
    evaluate_nll,
    perplexity,
    train_epoch,
)


def test_vocab_orders_by_frequency_and_handles_unknowns():
    v = Vocab("abracadabra")
    assert v.itos == ["a", "b", "r", "c", "d"]  # 5, 2, 2 (b < r), 1, 1
    assert v.decode(v.encode("cab")) == "cab"
    with pytest.raises(KeyError, match="not in the vocabulary"):
        v.encode("abz")
    w = Vocab(["the", "cat", "the", "<unk>"], unk="<unk>")
    assert w.decode(w.encode(["the", "dog"]), sep=" ") == "the <unk>"


def test_batchify_and_chunks_cover_every_target_once():
    ids = np.arange(103)
    streams = batchify(ids, 4)
    assert streams.shape == (4, 25)
    assert streams[1, 0].item() == 25  # row b is the b-th contiguous piece
    targets = []
    for x, y in chunks(streams, 7):
        assert torch.equal(x[:, 1:], y[:, :-1])
        targets.append(y)
    y_all = torch.cat(targets, dim=1)
    assert torch.equal(y_all, streams[:, 1:])
    with pytest.raises(ValueError, match="smaller batch_size"):
        batchify(np.arange(5), 4)


def test_perplexity_against_a_hand_computed_example():
    # two batches: token probabilities (1/2, 1/4) and (1/8, 1/8, 1/8, 1/8)
    batch1 = [math.log(2), math.log(4)]
    batch2 = [math.log(8)] * 4
    # the stream: exp(mean nll) = (2 * 4 * 8**4) ** (1/6) = 2 ** (15 / 6)
    assert perplexity(batch1 + batch2) == pytest.approx(2**2.5)
    assert perplexity(sum(batch1 + batch2), 6) == pytest.approx(2**2.5)
    # the mean of the per-batch perplexities is a different (wrong) number: (sqrt(8) + 8) / 2
    mean_of_batches = (perplexity(batch1) + perplexity(batch2)) / 2
    assert mean_of_batches == pytest.approx((8**0.5 + 8) / 2)
    assert mean_of_batches != pytest.approx(perplexity(batch1 + batch2))
    # with equal batches it is never lower (Jensen): perplexities 2 and 8 average to 5, while
    # the stream's perplexity is their geometric mean, 4
    even = [math.log(2)] * 2 + [math.log(8)] * 2
    assert perplexity(even) == pytest.approx(4.0)
    assert (perplexity(even[:2]) + perplexity(even[2:])) / 2 == pytest.approx(5.0)
    with pytest.raises(ValueError):
        perplexity([])


def test_evaluate_nll_equals_a_single_pass_and_training_lowers_the_loss():
    torch.manual_seed(0)
    text = np.array([0, 1, 2, 3] * 60)
    streams = batchify(text, 3)
    model = RNNLM(4, 5, 8, num_layers=2)
    total, count = evaluate_nll(model, streams, bptt=7)  # state carried across chunks
    model.eval()
    with torch.no_grad():
        logits, _ = model(streams[:, :-1])
        whole = torch.nn.functional.cross_entropy(
            logits.reshape(-1, 4), streams[:, 1:].reshape(-1), reduction="sum"
        )
    assert count == streams[:, 1:].numel()
    assert total == pytest.approx(whole.item(), rel=1e-5)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(15):
        train_epoch(model, streams, 10, optimizer, clip=1.0)
    after, _ = evaluate_nll(model, streams, bptt=7)
    assert after / count < 0.2 * total / count  # a periodic text is learned


def test_tied_weights_and_init_scale():
    model = RNNLM(10, 6, 6, tie=True, init_scale=0.1)
    assert model.out.weight is model.embed.weight
    assert all(p.abs().max() <= 0.1 for p in model.parameters())
    with pytest.raises(ValueError, match="E == H"):
        RNNLM(10, 4, 6, tie=True)


def test_top_k_and_top_p_on_a_known_distribution():
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])
    logits = probs.log()
    kept = torch.isfinite(filter_logits(logits, top_k=2))
    assert kept.tolist() == [False, True, False, True]
    # nucleus 0.7: 0.5 alone is short of 0.7, 0.5 + 0.3 reaches it
    assert torch.isfinite(filter_logits(logits, top_p=0.7)).tolist() == [False, True, False, True]
    # nucleus 0.9: needs 0.5 + 0.3 + 0.15
    assert torch.isfinite(filter_logits(logits, top_p=0.9)).tolist() == [False, True, True, True]
    # a tiny nucleus still keeps the most probable token
    assert torch.isfinite(filter_logits(logits, top_p=0.01)).tolist() == [False, True, False, False]
    renormalised = torch.softmax(filter_logits(logits, top_p=0.7), -1)
    assert renormalised[1].item() == pytest.approx(0.5 / 0.8)
    with pytest.raises(ValueError):
        filter_logits(logits, top_p=0.0)


class _Bigram(torch.nn.Module):
    """A model whose next-token distribution depends on the last token only: known by hand."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(table.log())

    def forward(self, x, state=None):
        return self.logits[x], state


def test_sampling_frequencies_match_the_filtered_distribution():
    table = torch.tensor([[0.05, 0.5, 0.15, 0.3]] * 4)
    model = _Bigram(table)
    out = generate(model, [0], 1, top_p=0.7, n_samples=20_000, seed=1)
    freq = torch.bincount(out[:, 0], minlength=4).float() / out.numel()
    assert freq[0] == 0 and freq[2] == 0
    assert freq[1].item() == pytest.approx(0.625, abs=0.015)
    again = generate(model, [0], 1, top_p=0.7, n_samples=20_000, seed=1)
    assert torch.equal(out, again)  # seeded: reproducible
    greedy = generate(model, [0], 3, greedy=True)
    assert greedy.tolist() == [[1, 1, 1]]
    rows = generate(model, [[0, 1], [2, 3]], 2, greedy=True)  # one row per prompt
    assert rows.tolist() == [[1, 1], [1, 1]]
    with pytest.raises(ValueError, match="n_samples"):
        generate(model, [[0], [1]], 2, n_samples=3)


def _brute_force(model, prompt, n_new, eos, alpha):
    """Best score over every continuation that ends at eos or after n_new tokens."""
    best = (-math.inf, None)
    V = model.out.out_features
    for length in range(1, n_new + 1):
        for seq in itertools.product(range(V), repeat=length):
            if eos is not None and (eos in seq[:-1] or (length < n_new and seq[-1] != eos)):
                continue
            if eos is None and length < n_new:
                continue
            nll = sequence_nll(model, prompt, torch.tensor([seq]))[0].item() * length
            score = -nll / ((5 + length) / 6) ** alpha
            best = max(best, (score, list(seq)))
    return best


@pytest.mark.parametrize("eos, alpha", [(None, 0.0), (2, 0.0), (2, 1.0)])
def test_beam_search_with_a_wide_beam_equals_brute_force(eos, alpha):
    torch.manual_seed(3)
    model = RNNLM(3, 4, 5)
    with torch.no_grad():
        model.out.weight.mul_(4)  # peakier distributions, so that greedy is not optimal
    prompt, n_new = [0, 1], 4
    best_score, best_tokens = _brute_force(model, prompt, n_new, eos, alpha)
    hyps = beam_search(model, prompt, n_new, beam_width=27, eos=eos, alpha=alpha)
    assert hyps[0].tokens == best_tokens
    assert hyps[0].score == pytest.approx(best_score, abs=1e-4)
    narrow = beam_search(model, prompt, n_new, beam_width=1, eos=eos, alpha=alpha)
    greedy = generate(model, prompt, n_new, greedy=True, eos=eos)[0].tolist()
    assert narrow[0].tokens == greedy[: len(narrow[0].tokens)]


def test_sequence_nll_matches_the_chain_rule():
    table = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    model = _Bigram(table)
    nll = sequence_nll(model, [0], torch.tensor([[1, 0], [0, 0]]))
    assert nll.tolist() == pytest.approx(
        [-(math.log(0.75) + math.log(0.5)) / 2, -(math.log(0.25) * 2) / 2]
    )
    per_row = sequence_nll(model, [[1], [0]], [[0, 1], [1, 1]])  # a prompt per row
    assert per_row.tolist() == pytest.approx(
        [-(math.log(0.5) + math.log(0.75)) / 2, -(math.log(0.75) + math.log(0.5)) / 2]
    )


def test_distinct_n_and_repetition_rate():
    assert distinct_n([[1, 2, 3], [1, 2, 4]], 2) == pytest.approx(3 / 4)
    assert repetition_rate([1, 2, 1, 2, 1, 2], n=2) == pytest.approx(3 / 5)
    assert repetition_rate(list(range(10)), n=4) == 0.0
    with pytest.raises(ValueError):
        repetition_rate([1, 2], n=4)


def test_glued_reads_a_stored_value_and_names_missing_keys():
    from pathlib import Path

    from rnn_tutorial.glued import glued

    chapter = Path(__file__).resolve().parents[1] / "chapters" / "07_char_lm_numpy.ipynb"
    assert glued(chapter, "ch07_V") == 65
    assert 1.0 < glued(chapter, "ch07_val_nats") < 2.5
    assert glued("07_char_lm_numpy.ipynb", "ch07_V") == 65  # a name in chapters/
    with pytest.raises(KeyError, match="no value named"):
        glued(chapter, "ch07_missing")
    with pytest.raises(FileNotFoundError, match="chapters/"):
        glued("no_such_chapter.ipynb", "ch07_V")
