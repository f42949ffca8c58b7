"""Recorded run: the sentiment chapter's full-size configuration (its ``gpu_config``) on IMDB.

The chapter (chapters/14_sentiment.ipynb) trains a small model within its 3-minute CPU budget.
This script trains the full-size configuration, with the same data preparation, split and
models (all from :mod:`rnn_tutorial.sentiment`):

- the bag-of-words baseline (TF-IDF on words and bigrams, logistic regression, ``C`` chosen on
  validation);
- the Keras bidirectional GRU, E = H = 128, the last 400 tokens, 3 epochs;
- the PyTorch twin (packed), E = H = 128, the last 400 tokens, 3 epochs, batches of 256.

Every choice is made on the validation split only: each model keeps the weights of its epoch
with the best validation accuracy, and the test set is evaluated once, at the end, for the
chosen models. Run from the repository root::

    RNN_TUTORIAL_DATA=/path/to/data python experiments/ch14_imdb_full.py
    python experiments/ch14_imdb_full.py --smoke   # tiny sizes, results in a temporary folder

The full run writes ``results/runs/ch14_imdb_full.json`` (see CONTRIBUTING.md, "Recorded runs").

On a 2-core CPU the PyTorch twin alone takes about 100 minutes at this size (its packed backward
pass grows like T^2 on a CPU; the chapter measures it). ``--no-twin`` runs the baseline and the
Keras model only and records them under their own name, ``ch14_imdb_keras_full``::

    python experiments/ch14_imdb_full.py --no-twin
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rnn_tutorial.recorded import record
from rnn_tutorial.repro import set_seed, torch_device

NAME = "ch14_imdb_full"
NAME_NO_TWIN = "ch14_imdb_keras_full"  # baseline and Keras only

# The chapter's gpu_config, plus the settings the chapter fixes in its cells.
CONFIG = dict(
    n_train=None,  # None: every review of the split
    n_val=None,
    n_test=None,
    T=400,
    E=128,
    H=128,
    keras_epochs=3,
    torch_T=400,
    torch_epochs=3,
    torch_batch=256,
    torch_lr=3e-3,
    V=20_002,
    keras_batch=128,
    keras_lr=3e-3,
    dropout=0.4,  # Keras only; the twin trains without dropout, as in the chapter
    baseline_C=[1, 4, 16],
    seed=0,
)
# The chapter's smoke overrides (sizes only).
SMOKE = dict(n_train=1000, n_val=1000, n_test=1000, E=16, H=16, keras_epochs=1, torch_epochs=1)


def prepare(config: dict) -> dict:
    """The chapter's data cell and configuration cell: split by movie, subset, tokenise."""
    from rnn_tutorial.data import fetch, load_imdb
    from rnn_tutorial.sentiment import movie_split, review_metadata, tokenise

    (train_texts_all, train_labels_all), (test_texts, y_test) = load_imdb()
    (archive,) = fetch("imdb").values()
    meta = review_metadata(archive)
    movie_all, rating_all = meta["train"]
    assert np.array_equal(rating_all >= 7, train_labels_all == 1)
    rng = np.random.default_rng(0)
    train_idx, val_idx, n_movies = movie_split(movie_all, rng)
    assert not set(movie_all[train_idx]) & set(movie_all[val_idx])
    train_texts = [train_texts_all[i] for i in train_idx][: config["n_train"]]
    y_train = train_labels_all[train_idx][: config["n_train"]]
    val_texts = [train_texts_all[i] for i in val_idx]
    y_val = train_labels_all[val_idx]
    subset_rng = np.random.default_rng(1)  # the full configuration keeps every review
    keep = np.sort(subset_rng.permutation(len(val_texts))[: config["n_val"]])
    val_texts, y_val = [val_texts[i] for i in keep], y_val[keep]
    keep = np.sort(subset_rng.permutation(len(test_texts))[: config["n_test"]])
    test_texts, y_test = [test_texts[i] for i in keep], y_test[keep]
    print(
        f"reviews: {len(train_texts):,} training, {len(val_texts):,} validation "
        f"({n_movies} movies), {len(test_texts):,} test",
        flush=True,
    )
    return dict(
        archive=archive,
        texts=(train_texts, val_texts, test_texts),
        y=(y_train, y_val, y_test),
        tokens=tuple(
            [tokenise(t) for t in texts] for texts in (train_texts, val_texts, test_texts)
        ),
        n_val_movies=n_movies,
    )


def run_baseline(config: dict, data: dict) -> dict:
    """TF-IDF + logistic regression; ``C`` by validation accuracy; the test set once."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from rnn_tutorial.sentiment import clean

    (train_texts, val_texts, test_texts), (y_train, y_val, y_test) = data["texts"], data["y"]
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, preprocessor=clean)
    bow_train = tfidf.fit_transform(train_texts)
    bow_val = tfidf.transform(val_texts)
    val_acc = {}
    models = {}
    for C in config["baseline_C"]:
        models[C] = LogisticRegression(C=C, max_iter=1000).fit(bow_train, y_train)
        val_acc[C] = float(models[C].score(bow_val, y_val))
        print(f"baseline C = {C:>2}: val_acc {val_acc[C]:.4f}", flush=True)
    best_C = max(val_acc, key=val_acc.get)
    test_acc = float(models[best_C].score(tfidf.transform(test_texts), y_test))
    return {"C": best_C, "val_acc": val_acc[best_C], "test_acc": test_acc}, {
        "baseline_val_acc_by_C": [val_acc[C] for C in config["baseline_C"]]
    }


def run_keras(config: dict, encoded: dict, y: tuple) -> tuple[dict, dict]:
    """The Keras BiGRU; keeps the weights of the epoch with the best validation accuracy."""
    import keras

    from rnn_tutorial.progress import progress
    from rnn_tutorial.sentiment import keras_prob, keras_sentiment_model, length_batches

    (x_train, len_train), (x_val, len_val), (x_test, len_test) = encoded["keras"]
    y_train, y_val, y_test = y
    set_seed(config["seed"], deterministic=True)
    model = keras_sentiment_model(config["V"], config["E"], config["H"], config["dropout"])
    batch = config["keras_batch"]
    train_data = length_batches(x_train, len_train, y_train, batch=batch, shuffle=True)
    val_data = length_batches(x_val, len_val, y_val, batch=1000)
    steps_per_epoch = int(train_data.cardinality())
    epochs = config["keras_epochs"]
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(config["keras_lr"], epochs * steps_per_epoch),
            global_clipnorm=1.0,
        ),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")],
    )

    class Progress(keras.callbacks.Callback):
        """A progress bar over all batches, one line per epoch, and the best epoch's weights."""

        def on_train_begin(self, logs=None):
            self.bar = progress(total=epochs * steps_per_epoch, desc="Keras BiGRU")
            self.best, self.best_epoch, self.best_weights = -1.0, 0, None

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)

        def on_epoch_end(self, epoch, logs=None):
            self.bar.write(
                f"Keras epoch {epoch + 1}/{epochs}: train_loss {logs['loss']:.4f}, "
                f"train_acc {logs['accuracy']:.4f}, val_loss {logs['val_loss']:.4f}, "
                f"val_acc {logs['val_accuracy']:.4f}"
            )
            if logs["val_accuracy"] > self.best:
                self.best, self.best_epoch = logs["val_accuracy"], epoch + 1
                self.best_weights = copy.deepcopy(self.model.get_weights())

        def on_train_end(self, logs=None):
            self.bar.close()

    tracker = Progress()
    start = time.perf_counter()
    log = model.fit(
        train_data,
        epochs=epochs,
        validation_data=val_data,
        shuffle=False,
        verbose=0,
        callbacks=[tracker],
    ).history
    seconds = time.perf_counter() - start
    model.set_weights(tracker.best_weights)  # chosen on validation
    val_acc = float(np.mean((keras_prob(model, x_val, len_val) > 0.5) == y_val))
    test_acc = float(np.mean((keras_prob(model, x_test, len_test) > 0.5) == y_test))
    metrics = {
        "chosen_epoch": tracker.best_epoch,
        "val_acc": val_acc,
        "test_acc": test_acc,
        "train_seconds": round(seconds, 1),
    }
    curves = {
        "keras_train_loss": [float(v) for v in log["loss"]],
        "keras_train_acc": [float(v) for v in log["accuracy"]],
        "keras_val_loss": [float(v) for v in log["val_loss"]],
        "keras_val_acc": [float(v) for v in log["val_accuracy"]],
    }
    return metrics, curves


def run_torch(config: dict, encoded: dict, y: tuple) -> tuple[dict, dict]:
    """The PyTorch twin (packed, no dropout); keeps the best validation epoch's weights."""
    import torch

    from rnn_tutorial.sentiment import BiGRUClassifier, review_loader, torch_prob
    from rnn_tutorial.train import fit

    (x_train, len_train), (x_val, len_val), (x_test, len_test) = encoded["torch"]
    y_train, y_val, y_test = y
    device = torch_device()
    set_seed(config["seed"], deterministic=True)
    model = BiGRUClassifier(config["V"], config["E"], config["H"], dropout=0.0).to(device)
    train_loader = review_loader(
        x_train, len_train, y_train, batch_size=config["torch_batch"], shuffle=True
    )
    val_loader = review_loader(x_val, len_val, y_val, batch_size=1000)
    epochs = config["torch_epochs"]
    optimizer = torch.optim.Adam(model.parameters(), lr=config["torch_lr"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=epochs * len(train_loader)
    )
    history: dict[str, list[float]] = {}
    best, best_epoch, best_state = -1.0, 0, None
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):  # one epoch at a time, to keep the best weights
        log = fit(
            model,
            train_loader,
            val_loader,
            epochs=1,
            optimizer=optimizer,
            loss_fn=torch.nn.BCEWithLogitsLoss(),
            device=device,
            max_grad_norm=1.0,
            scheduler=scheduler,
            scheduler_interval="batch",
            desc=f"PyTorch twin, epoch {epoch}/{epochs}",
        )
        for key, values in log.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        if log["val_acc"][-1] > best:
            best, best_epoch = log["val_acc"][-1], epoch
            best_state = copy.deepcopy(model.state_dict())
    seconds = time.perf_counter() - start
    model.load_state_dict(best_state)  # chosen on validation
    val_acc = float(np.mean((torch_prob(model, x_val, len_val, device) > 0.5) == y_val))
    test_acc = float(np.mean((torch_prob(model, x_test, len_test, device) > 0.5) == y_test))
    metrics = {
        "chosen_epoch": best_epoch,
        "val_acc": val_acc,
        "test_acc": test_acc,
        "train_seconds": round(seconds, 1),
    }
    curves = {f"torch_{key}": values for key, values in history.items() if key != "lr"}
    return metrics, curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes (the chapter's smoke overrides); results go to a temporary folder",
    )
    parser.add_argument(
        "--no-twin",
        action="store_true",
        help=f"skip the PyTorch twin; record the baseline and Keras only, as {NAME_NO_TWIN}",
    )
    args = parser.parse_args()
    config = {**CONFIG, **SMOKE} if args.smoke else dict(CONFIG)
    config["twin"] = not args.no_twin
    set_seed(config["seed"], deterministic=True)
    from rnn_tutorial.data import fetch

    (archive,) = fetch("imdb").values()

    def run() -> dict:
        from rnn_tutorial.sentiment import build_vocabulary, encode

        data = prepare(config)
        train_tokens, val_tokens, test_tokens = data["tokens"]
        itos = build_vocabulary(train_tokens, config["V"])
        stoi = {token: i for i, token in enumerate(itos)}
        encoded = {
            name: tuple(encode(tokens, stoi, T) for tokens in data["tokens"])
            for name, T in (("keras", config["T"]), ("torch", config["torch_T"]))
        }
        baseline, baseline_curves = run_baseline(config, data)
        print(f"baseline: {baseline}", flush=True)
        keras_metrics, keras_curves = run_keras(config, encoded, data["y"])
        print(f"Keras BiGRU: {keras_metrics}", flush=True)
        metrics = {"baseline": baseline, "keras": keras_metrics}
        curves = {**baseline_curves, **keras_curves}
        if config["twin"]:
            metrics["torch"], torch_curves = run_torch(config, encoded, data["y"])
            curves.update(torch_curves)
            print(f"PyTorch twin: {metrics['torch']}", flush=True)
        return {
            "metrics": {
                **metrics,
                "n_train": len(train_tokens),
                "n_val": len(val_tokens),
                "n_test": len(test_tokens),
                "n_val_movies": data["n_val_movies"],
            },
            "curves": curves,
        }

    with tempfile.TemporaryDirectory() as scratch:
        results_dir = Path(scratch) if args.smoke else None
        path = record(
            NAME if config["twin"] else NAME_NO_TWIN,
            run,
            config=config,
            code_files=[__file__],
            data_files=[archive],
            results_dir=results_dir,
            # a full run also records its smoke configuration's fingerprint
            smoke_argv=None if args.smoke else [*sys.argv[1:], "--smoke"],
        )
        print(f"recorded {path}")
        if args.smoke:
            print(path.read_text()[:2000])


if __name__ == "__main__":
    main()
