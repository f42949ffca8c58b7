"""IMDB sentiment analysis: the split, the preprocessing and the two bidirectional GRU models.

Introduced in the sentiment chapter, chapters/14_sentiment.ipynb, which teaches the models and
shows them in full; the chapter and the recorded full-size run
(``experiments/ch14_imdb_full.py``) both use this module, so that they prepare the data and
build the models in exactly the same way:

- :func:`review_metadata` reads the movie and the star rating of every review from the IMDB
  archive, and :func:`movie_split` splits the training half into training and validation
  reviews **by movie** (the data set's test half has its own movies, so validation must too);
- :func:`clean`, :func:`tokenise`, :func:`build_vocabulary` and :func:`encode` turn reviews
  into right-padded integer sequences that keep the *last* ``T`` tokens;
- :func:`keras_sentiment_model` and :class:`BiGRUClassifier` (PyTorch) are the same model:
  an embedding, channel dropout, a bidirectional GRU over the real tokens only (a mask in
  Keras, packing in PyTorch) and a linear read-out of one logit;
- :func:`length_batches` (tf.data, batches of similar length), :func:`review_loader`
  (PyTorch), :func:`keras_prob` and :func:`torch_prob` feed and evaluate them.

TensorFlow, Keras and PyTorch are imported inside the functions that need them, so importing
this module is cheap. For the same reason ``BiGRUClassifier`` is defined in the private module
:mod:`rnn_tutorial._sentiment_torch` and imported from there on first access (a module-level
``__getattr__``).
"""

from __future__ import annotations

import re
import tarfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_DROPOUT",
    "PAD",
    "TOKEN",
    "UNK",
    "build_vocabulary",
    "bucket_boundaries",
    "clean",
    "encode",
    "keras_prob",
    "keras_sentiment_model",
    "length_batches",
    "movie_split",
    "review_loader",
    "review_metadata",
    "tokenise",
    "torch_prob",
]

PAD, UNK = 0, 1  # the ids of <pad> and <unk>
DEFAULT_DROPOUT = 0.4  # the fraction of embedding channels dropped during training
TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?]")
_MEMBER = re.compile(r"^(?:\./)?aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_URLS = re.compile(r"aclImdb/(train|test)/urls_(pos|neg)\.txt$")


# --- the data: movies, ratings and the validation split ------------------------------------


def review_metadata(archive: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (movie, rating), "test": (movie, rating)}`` of every review in the archive.

    ``movie`` holds IMDb ids such as ``"tt0453418"`` (from the archive's ``urls_*.txt`` files,
    whose line ``i`` belongs to review ``i``), ``rating`` the star rating of the file name
    (1-4 negative, 7-10 positive). Both are in the order of :func:`rnn_tutorial.data.load_imdb`
    (sorted member names).
    """
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
        urls = {}
        for name in names:
            if m := _URLS.search(name):
                member = tar.extractfile(name)
                assert member is not None
                urls[m[1], m[2]] = member.read().decode().split()
    out: dict[str, tuple[list[str], list[int]]] = {"train": ([], []), "test": ([], [])}
    for name in sorted(n for n in names if _MEMBER.match(n)):
        split, label, review_id, rating = _MEMBER.match(name).groups()  # type: ignore[union-attr]
        out[split][0].append(urls[split, label][int(review_id)].split("/")[-2])
        out[split][1].append(int(rating))
    return {split: (np.array(m), np.array(r)) for split, (m, r) in out.items()}


def movie_split(
    movies: np.ndarray, rng: np.random.Generator, n_val: int = 5000
) -> tuple[np.ndarray, np.ndarray, int]:
    """Split reviews into training and validation by movie: ``(train_idx, val_idx, n_movies)``.

    Whole movies are drawn at random (``rng.permutation``) until the validation split holds
    ``n_val`` reviews or more; ``val_idx`` is sorted, ``train_idx`` shuffled (``load_imdb``
    lists the negative reviews first). ``n_movies`` is the number of validation movies. No movie
    has reviews on both sides.
    """
    unique, per_movie = np.unique(movies, return_counts=True)
    shuffled = rng.permutation(len(unique))
    taken = shuffled[: np.searchsorted(np.cumsum(per_movie[shuffled]), n_val) + 1]
    is_val = np.isin(movies, unique[taken])
    val_idx = np.flatnonzero(is_val)
    train_idx = rng.permutation(np.flatnonzero(~is_val))
    return train_idx, val_idx, len(taken)


# --- preprocessing -------------------------------------------------------------------------


def clean(text: str) -> str:
    """Lower-case, and replace the HTML line breaks the reviews contain by spaces."""
    return text.replace("<br />", " ").lower()


def tokenise(text: str) -> list[str]:
    """Words with their contractions ("don't") and the marks ``!`` and ``?`` of cleaned text."""
    return TOKEN.findall(clean(text))


def build_vocabulary(token_lists: Sequence[Sequence[str]], V: int = 20_002) -> list[str]:
    """``itos``: ``<pad>``, ``<unk>`` and the ``V - 2`` most frequent tokens, most frequent
    first. Build it from the training split only."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    return ["<pad>", "<unk>"] + [token for token, _ in counts.most_common(V - 2)]


def encode(
    token_lists: Sequence[Sequence[str]], stoi: dict[str, int], T: int
) -> tuple[np.ndarray, np.ndarray]:
    """Token lists -> right-padded ids ``(N, T)`` int64 and lengths ``(N,)``: the last ``T``
    tokens of each list, unknown tokens as ``<unk>``; an empty list becomes one ``<unk>``."""
    ids = np.zeros((len(token_lists), T), dtype=np.int64)
    lengths = np.zeros(len(token_lists), dtype=np.int64)
    for b, tokens in enumerate(token_lists):
        seq = [stoi.get(token, UNK) for token in tokens][-T:] or [UNK]
        ids[b, : len(seq)] = seq
        lengths[b] = len(seq)
    return ids, lengths


# --- the models ----------------------------------------------------------------------------


def keras_sentiment_model(V: int, E: int, H: int, dropout: float = DEFAULT_DROPOUT) -> Any:
    """Keras: ``Embedding(mask_zero=True)``, ``SpatialDropout1D``, ``Bidirectional(GRU(H))``,
    ``Dense(1)``: one logit per review, of shape ``(B, 1)``, for ids of shape ``(B, T)``."""
    import keras

    return keras.Sequential(
        [
            keras.Input((None,), dtype="int64"),
            keras.layers.Embedding(V, E, mask_zero=True, name="embedding"),
            keras.layers.SpatialDropout1D(dropout, name="dropout"),
            keras.layers.Bidirectional(keras.layers.GRU(H), name="bigru"),
            keras.layers.Dense(1, name="head"),
        ],
        name="keras_bigru",
    )


def __getattr__(name: str) -> Any:
    """``BiGRUClassifier`` is imported on first access from :mod:`rnn_tutorial._sentiment_torch`,
    where it is defined at module level, so that importing this module does not import PyTorch."""
    if name == "BiGRUClassifier":
        from rnn_tutorial._sentiment_torch import BiGRUClassifier

        return BiGRUClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- batches and predictions ---------------------------------------------------------------


def bucket_boundaries(T: int, width: int = 50) -> list[int]:
    """The bucket edges of :func:`length_batches`: ``width``, ``2 * width``, ..., up to ``T``."""
    return list(range(width, T + 1, width))


def length_batches(
    x: np.ndarray,
    lengths: np.ndarray,
    y: np.ndarray,
    *,
    batch: int,
    shuffle: bool = False,
    seed: int = 0,
) -> Any:
    """tf.data batches of ``(ids, label)``: each review cut to its own length, batched with
    reviews of similar length (buckets of 50 tokens) and padded with 0 to the batch's longest.

    With ``shuffle=True`` the reviews are reshuffled every epoch (seeded), so the batches come
    in random order. The dataset knows its number of batches, so Keras ends epochs cleanly.
    """
    import tensorflow as tf

    boundaries = bucket_boundaries(x.shape[1])
    # Every bucket ends an epoch with a partial batch: count batches bucket by bucket.
    per_bucket = np.bincount(np.digitize(lengths, boundaries), minlength=len(boundaries) + 1)
    n_batches = int(np.sum(np.ceil(per_bucket / batch)))
    data = tf.data.Dataset.from_tensor_slices((x, lengths, y.astype("float32")))
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    data = data.map(lambda ids, n, label: (ids[:n], label))
    data = data.bucket_by_sequence_length(
        lambda ids, label: tf.shape(ids)[0], boundaries, [batch] * (len(boundaries) + 1)
    )
    return data.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(2)


def review_loader(
    x: np.ndarray, lengths: np.ndarray, y: np.ndarray, *, batch_size: int, shuffle: bool = False
) -> Any:
    """A PyTorch ``DataLoader`` of ``(ids, lengths, label)`` batches (labels float32)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(
        torch.tensor(x), torch.tensor(lengths), torch.tensor(y, dtype=torch.float32)
    )
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle)


def keras_prob(model: Any, x: np.ndarray, lengths: np.ndarray, chunk: int = 500) -> np.ndarray:
    """P(positive) per review from a Keras model, predicted in chunks of similar length.

    Each chunk is cut to its longest review rounded up to a multiple of 50 tokens, so that
    Keras compiles few distinct shapes; the mask makes the cut exact.
    """
    T = x.shape[1]
    order = np.argsort(lengths, kind="stable")
    logits = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), chunk):
        idx = order[start : start + chunk]
        width = min(T, 50 * int(np.ceil(lengths[idx].max() / 50)))
        logits[idx] = np.asarray(model.predict_on_batch(x[idx, :width]))[:, 0]
    return 1 / (1 + np.exp(-logits))


def torch_prob(
    model: Any, x: np.ndarray, lengths: np.ndarray, device: Any = None, batch_size: int = 1000
) -> np.ndarray:
    """P(positive) per review from a PyTorch model (evaluation mode, no gradients)."""
    from rnn_tutorial.train import predict

    loader = review_loader(x, lengths, np.zeros(len(x)), batch_size=batch_size)
    return 1 / (1 + np.exp(-predict(model, loader, device)))
