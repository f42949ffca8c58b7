"""rnn_tutorial.sentiment: the sentiment chapter's split, preprocessing and models."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rnn_tutorial.sentiment import (
    bucket_boundaries,
    build_vocabulary,
    clean,
    encode,
    movie_split,
    tokenise,
)


def test_import_is_cheap():
    code = (
        "import sys, rnn_tutorial.sentiment; "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_clean_and_tokenise():
    assert clean("Great<br />FILM") == "great film"
    assert tokenise("I don't like it!<br />Why? 10/10") == [
        "i",
        "don't",
        "like",
        "it",
        "!",
        "why",
        "?",
        "10",
        "10",
    ]


def test_vocabulary_and_encode_keep_the_last_tokens_and_pad_right():
    tokens = [["a", "b", "a"], ["c", "a"], []]
    itos = build_vocabulary(tokens, V=4)
    assert itos == ["<pad>", "<unk>", "a", "b"]  # "a" is the most frequent
    stoi = {t: i for i, t in enumerate(itos)}
    ids, lengths = encode(tokens, stoi, T=2)
    assert ids.dtype == np.int64 and ids.shape == (3, 2)
    assert ids.tolist() == [[3, 2], [1, 2], [1, 0]]  # the last 2 tokens; c is <unk>
    assert lengths.tolist() == [2, 2, 1]  # an empty review becomes one <unk>
    ids, lengths = encode(tokens, stoi, T=5)
    assert ids.tolist()[1] == [1, 2, 0, 0, 0] and lengths.tolist() == [3, 2, 1]


def test_movie_split_shares_no_movie():
    rng = np.random.default_rng(0)
    movies = np.repeat([f"tt{i:07d}" for i in range(200)], rng.integers(1, 30, 200))
    train_idx, val_idx, n_movies = movie_split(movies, np.random.default_rng(0), n_val=500)
    assert not set(movies[train_idx]) & set(movies[val_idx])
    assert sorted(np.concatenate([train_idx, val_idx]).tolist()) == list(range(len(movies)))
    assert 500 <= len(val_idx) < 530 and n_movies == len(set(movies[val_idx]))
    again = movie_split(movies, np.random.default_rng(0), n_val=500)
    assert np.array_equal(again[0], train_idx) and np.array_equal(again[1], val_idx)


def test_bucket_boundaries():
    assert bucket_boundaries(400) == [50, 100, 150, 200, 250, 300, 350, 400]
    assert bucket_boundaries(48) == []


def test_torch_model_shapes_and_padding():
    torch = pytest.importorskip("torch")
    from rnn_tutorial.sentiment import BiGRUClassifier

    torch.manual_seed(0)
    model = BiGRUClassifier(V=30, E=6, H=5, dropout=0.0).eval()
    assert sum(p.numel() for p in model.rnn.parameters()) == 2 * 3 * (6 * 5 + 5 * 5 + 2 * 5)
    x = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 2]])
    lengths = torch.tensor([3, 5])
    with torch.no_grad():
        out = model(x, lengths)
        alone = model(x[:1, :3], lengths[:1])
    assert out.shape == (2,)
    assert torch.allclose(out[0], alone[0], atol=1e-6)  # packing ignores the padding


def test_keras_model_shapes_and_loaders():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    from rnn_tutorial.sentiment import (
        keras_prob,
        keras_sentiment_model,
        length_batches,
        review_loader,
    )

    keras.utils.set_random_seed(0)
    model = keras_sentiment_model(V=30, E=6, H=5, dropout=0.1)
    assert model.get_layer("bigru").count_params() == 2 * 3 * (6 * 5 + 5 * 5 + 2 * 5)
    x = np.array([[3, 4, 5, 0], [6, 7, 8, 9], [2, 0, 0, 0]], dtype=np.int64)
    lengths = np.array([3, 4, 1])
    y = np.array([1, 0, 1])
    assert np.asarray(model(x)).shape == (3, 1)
    p = keras_prob(model, x, lengths, chunk=2)
    alone = 1 / (1 + np.exp(-np.asarray(model(x[:1, :3]))[0, 0]))
    assert p.shape == (3,) and abs(p[0] - alone) < 1e-5  # the mask ignores the padding
    batches = list(length_batches(x, lengths, y, batch=2))
    assert sum(len(ids) for ids, _ in batches) == 3
    assert all(int(ids.shape[1]) <= 4 for ids, _ in batches)
    loader = review_loader(x, lengths, y, batch_size=2)
    ids, n, label = next(iter(loader))
    assert tuple(ids.shape) == (2, 4) and n.tolist() == [3, 4] and label.dtype.is_floating_point


def _padded_batch(torch, V, g):
    lengths = torch.tensor([9, 3, 1, 6])
    x = torch.randint(2, V, (4, 9), generator=g)
    for i, n in enumerate(lengths.tolist()):
        x[i, n:] = 0
    return x, lengths


@pytest.mark.parametrize("dropout", [0.0, None])  # None: the default, DEFAULT_DROPOUT
def test_torch_model_is_its_layers_bit_for_bit(dropout):
    """Same seed, same parameters, outputs (dropout masks included) and training as the bare
    layers built in the same order: moving the class to module level changed nothing."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence

    from rnn_tutorial.sentiment import DEFAULT_DROPOUT, PAD, BiGRUClassifier

    V, E, H = 40, 6, 5
    torch.manual_seed(0)
    if dropout is None:
        model, dropout = BiGRUClassifier(V, E, H), DEFAULT_DROPOUT
    else:
        model = BiGRUClassifier(V, E, H, dropout=dropout)
    assert model.dropout.p == dropout
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(V, E, padding_idx=PAD)
    drop = torch.nn.Dropout1d(dropout)
    rnn = torch.nn.GRU(E, H, batch_first=True, bidirectional=True)
    head = torch.nn.Linear(2 * H, 1)
    layers = {"embedding": embedding, "rnn": rnn, "head": head}
    reference = [(f"{k}.{n}", q) for k, m in layers.items() for n, q in m.named_parameters()]
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in reference]
    for (_, p), (_, q) in zip(model.named_parameters(), reference, strict=True):
        assert torch.equal(p, q)

    def forward(x, lengths):
        e = drop(embedding(x).transpose(1, 2)).transpose(1, 2)
        packed = pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        _, h_n = rnn(packed)
        return head(torch.cat([h_n[0], h_n[1]], dim=-1)).squeeze(-1)

    g = torch.Generator().manual_seed(1)
    x, lengths = _padded_batch(torch, V, g)
    y = torch.randint(0, 2, (4,), generator=g).float()
    opt_model = torch.optim.Adam(model.parameters(), lr=0.01)
    opt_ref = torch.optim.Adam([q for _, q in reference], lr=0.01)
    for step in range(3):  # training mode: the same dropout masks from the same seed
        for opt, fn in ((opt_model, model), (opt_ref, forward)):
            torch.manual_seed(step)
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(fn(x, lengths), y).backward()
            opt.step()
    for (_, p), (_, q) in zip(model.named_parameters(), reference, strict=True):
        assert torch.equal(p, q)
    model.eval()
    drop.eval()
    with torch.no_grad():
        assert torch.equal(model(x, lengths), forward(x, lengths))


def test_torch_model_pickles_whole():
    """A module-level class: pickle and ``torch.save(model)`` round-trip the whole model."""
    import io
    import pickle

    torch = pytest.importorskip("torch")
    from rnn_tutorial.sentiment import BiGRUClassifier

    torch.manual_seed(0)
    model = BiGRUClassifier(V=30, E=6, H=5).eval()
    x, lengths = _padded_batch(torch, 30, torch.Generator().manual_seed(1))
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for loaded in (
        pickle.loads(pickle.dumps(model)),
        torch.load(buffer, weights_only=False),
    ):
        assert type(loaded) is BiGRUClassifier and loaded is not model
        assert loaded.dropout.p == model.dropout.p and not loaded.training
        with torch.no_grad():
            assert torch.equal(loaded(x, lengths), model(x, lengths))
