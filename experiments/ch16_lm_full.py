"""Recorded runs: the language-model chapter's full-size models (chapters/16_language_models.ipynb).

Two experiments, both with the chapter's code (:mod:`rnn_tutorial.lm`):

``ptb``
    The "small" configuration of Zaremba et al. (2014) on Mikolov's Penn Treebank: a 10k-word
    vocabulary, 2 LSTM layers of 200 units, 20 unrolled steps, batches of 20, weights drawn from
    U(-0.1, 0.1), SGD with learning rate 1 for 4 epochs then halved after every epoch, 13 epochs,
    gradient-norm clipping at 5, the loss summed over the unrolled steps and averaged over the
    batch, no dropout. Their reported perplexity is 120.7 on validation and 114.5 on test.
    ``--tie`` shares the embedding with the read-out (Press & Wolf 2017; Inan et al. 2017) and
    ``--dropout p`` adds dropout on the non-recurrent connections, each changing only that factor.
    The schedule is fixed: nothing is chosen on validation, and the test set is scored once, after
    the last epoch. Validation and test are read as one stream each (batch 1), with the state
    carried throughout, as in the paper.

``char``
    A character-level LSTM on Tiny Shakespeare with the split of the NumPy chapter (and of
    nanoGPT's Shakespeare-char example): the last 10% of the text is validation. 2 layers of 512
    units, embedding 64, dropout 0.2, batches of 32 streams, 100 unrolled steps, Adam (peak rate
    3e-3) with a half-cosine learning-rate decay over a fixed number of epochs, global-norm
    clipping at 1, float32 throughout (``bf16`` switches bf16 autocast on for the training
    passes). The text has no test split; nothing is chosen on validation (fixed schedule, last epoch
    reported).

Run from the repository root::

    RNN_TUTORIAL_DATA=/path/to/data python experiments/ch16_lm_full.py ptb
    python experiments/ch16_lm_full.py ptb --tie
    python experiments/ch16_lm_full.py char
    python experiments/ch16_lm_full.py ptb --smoke   # tiny sizes, results in a temporary folder
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnn_tutorial.data import fetch, load_ptb, load_tiny_shakespeare
from rnn_tutorial.lm import RNNLM, Vocab, batchify, evaluate_nll, perplexity, train_epoch
from rnn_tutorial.recorded import record
from rnn_tutorial.repro import set_seed

PTB = dict(
    E=200,
    H=200,
    layers=2,
    bptt=20,
    batch=20,
    init_scale=0.1,
    lr=1.0,
    lr_decay=0.5,
    decay_after=4,
    epochs=13,
    clip=5.0,
    dropout=0.0,
    tie=False,
    seed=0,
)
CHAR = dict(
    E=64,
    H=512,
    layers=2,
    bptt=100,
    batch=32,
    lr=3e-3,
    epochs=12,
    clip=1.0,
    dropout=0.2,
    bf16=False,
    seed=0,
)


def run_ptb(cfg: dict, smoke: bool) -> dict:
    data = load_ptb()
    vocab = Vocab(data["train"])
    n = 5_000 if smoke else None
    train = batchify(vocab.encode(data["train"][:n]), cfg["batch"])
    valid = batchify(vocab.encode(data["valid"][:n]), 1)
    test = batchify(vocab.encode(data["test"][:n]), 1)
    set_seed(cfg["seed"], deterministic=True)
    model = RNNLM(
        len(vocab),
        cfg["E"],
        cfg["H"],
        cfg["layers"],
        cfg["dropout"],
        cfg["tie"],
        cfg["init_scale"],
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
    curves: dict[str, list[float]] = {"train_ppl": [], "valid_ppl": [], "lr": [], "seconds": []}
    start = time.perf_counter()
    for epoch in range(1, cfg["epochs"] + 1):
        lr = cfg["lr"] * cfg["lr_decay"] ** max(epoch - cfg["decay_after"], 0)
        for group in optimizer.param_groups:
            group["lr"] = lr
        nats = train_epoch(model, train, cfg["bptt"], optimizer, cfg["clip"], time_summed=True)
        valid_ppl = perplexity(*evaluate_nll(model, valid, bptt=200))
        for key, value in (
            ("train_ppl", math.exp(nats)),
            ("valid_ppl", valid_ppl),
            ("lr", lr),
            ("seconds", time.perf_counter() - start),
        ):
            curves[key].append(round(value, 4))
        print(
            f"epoch {epoch:2d}  lr {lr:.4g}  train ppl {math.exp(nats):7.2f}  "
            f"valid ppl {valid_ppl:7.2f}  {time.perf_counter() - start:6.0f} s",
            flush=True,
        )
    test_ppl = perplexity(*evaluate_nll(model, test, bptt=200))
    print(f"test ppl {test_ppl:.2f}")
    metrics = {
        "valid_ppl": curves["valid_ppl"][-1],
        "test_ppl": round(test_ppl, 4),
        "n_params": sum(p.numel() for p in model.parameters()),
        "train_tokens": int(train.numel()),
    }
    return {"metrics": metrics, "curves": curves}


def run_char(cfg: dict, smoke: bool) -> dict:
    text = load_tiny_shakespeare()
    n_val = len(text) // 10
    train_text, val_text = text[:-n_val], text[-n_val:]
    vocab = Vocab(train_text)
    if smoke:
        train_text, val_text = train_text[:20_000], val_text[:5_000]
    train = batchify(vocab.encode(train_text), cfg["batch"])
    valid = batchify(vocab.encode(val_text), 1)
    set_seed(cfg["seed"], deterministic=True)
    model = RNNLM(len(vocab), cfg["E"], cfg["H"], cfg["layers"], cfg["dropout"])
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    steps_per_epoch = math.ceil((train.shape[1] - 1) / cfg["bptt"])
    total = steps_per_epoch * cfg["epochs"]
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, total) / total))
    )

    curves: dict[str, list[float]] = {"train_nats": [], "valid_nats": [], "seconds": []}
    start = time.perf_counter()
    for epoch in range(1, cfg["epochs"] + 1):
        autocast = (
            torch.autocast("cpu", dtype=torch.bfloat16) if cfg["bf16"] else contextlib.nullcontext()
        )
        with autocast:
            nats = train_epoch(
                model, train, cfg["bptt"], optimizer, cfg["clip"], after_step=schedule.step
            )
        total_nll, count = evaluate_nll(model, valid, bptt=1000)
        valid_nats = total_nll / count
        for key, value in (
            ("train_nats", nats),
            ("valid_nats", valid_nats),
            ("seconds", time.perf_counter() - start),
        ):
            curves[key].append(round(value, 5))
        print(
            f"epoch {epoch:2d}  train {nats:.4f}  valid {valid_nats:.4f} nats/char  "
            f"{time.perf_counter() - start:6.0f} s",
            flush=True,
        )
    metrics = {
        "valid_nats": curves["valid_nats"][-1],
        "valid_bpc": round(curves["valid_nats"][-1] / math.log(2), 5),
        "n_params": sum(p.numel() for p in model.parameters()),
        "V": len(vocab),
    }
    return {"metrics": metrics, "curves": curves}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("which", choices=["ptb", "char"])
    parser.add_argument("--tie", action="store_true", help="ptb: tie embedding and read-out")
    parser.add_argument("--dropout", type=float, default=None, help="override the dropout")
    parser.add_argument("--epochs", type=int, default=None, help="override the epochs")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, temporary folder")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = dict(PTB if args.which == "ptb" else CHAR)
    name = "ch16_ptb_small" if args.which == "ptb" else "ch16_char_lstm"
    if args.tie:
        cfg["tie"], name = True, name + "_tied"
    if args.dropout is not None:
        cfg["dropout"] = args.dropout
        name += f"_dropout{round(args.dropout * 100):02d}"
    if args.epochs is not None:
        cfg["epochs"] = args.epochs
        name += f"_epochs{args.epochs}"
    if args.smoke:
        cfg["epochs"] = 2
    run = run_ptb if args.which == "ptb" else run_char
    files = fetch("ptb" if args.which == "ptb" else "tinyshakespeare")
    with tempfile.TemporaryDirectory() as tmp:
        path = record(
            name,
            lambda: run(cfg, args.smoke),
            config=cfg,
            code_files=[Path(__file__)],
            data_files=list(files.values()),
            results_dir=Path(tmp) if args.smoke else None,
            # a full run also records its smoke configuration's fingerprint
            smoke_argv=None if args.smoke else [*sys.argv[1:], "--smoke"],
        )
        print(f"wrote {path}" + (" (smoke run: discarded)" if args.smoke else ""))


if __name__ == "__main__":
    main()
