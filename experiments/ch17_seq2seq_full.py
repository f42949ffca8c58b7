"""Recorded runs: the seq2seq chapter's full-size French-to-English models
(chapters/17_seq2seq.ipynb).

Both runs use the chapter's code (:mod:`rnn_tutorial.seq2seq`) and data: the Tatoeba pairs,
normalised and split by French sentence (3% of the sources for validation, 5% for test, seed 0),
so that no test source is seen in training. SentencePiece unigram vocabularies (6,000 French and
4,000 English pieces) are trained on the training sentences only.

The model is a bidirectional GRU encoder (embedding 256, 192 units each way) and a GRU decoder
of 384 units with a ``tanh`` read-out over ``[c_t; s_t]``. ``--attention general`` (the default)
makes ``c_t`` Luong's "general" attention over the encoder annotations; ``--attention none``
makes it the encoder's fixed-size summary at every step, and changes nothing else. Training:
Adam, peak learning rate 2e-3 with 300 warm-up steps and a cosine decay to 5% of it, batches of
128 pairs, 6 epochs, dropout 0.1, label smoothing 0.1, global-norm clipping at 1; training pairs
with more than 40 pieces on either side are left out (test pairs never are). Nothing is chosen on
the test set: the schedule is fixed, the beam width reported as "best" is the one with the best
validation BLEU, and the test set is decoded once per beam width after the last epoch.

Run from the repository root::

    RNN_TUTORIAL_DATA=/path/to/data python experiments/ch17_seq2seq_full.py --threads 1
    python experiments/ch17_seq2seq_full.py --attention none --threads 1
    python experiments/ch17_seq2seq_full.py --smoke   # tiny sizes, results in a temporary folder
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnn_tutorial import seq2seq as s2
from rnn_tutorial.data import fetch
from rnn_tutorial.recorded import record
from rnn_tutorial.repro import set_seed

CFG = dict(
    E=256,
    H=192,
    attention="general",
    src_vocab=6000,
    tgt_vocab=4000,
    max_train_pieces=40,
    batch=128,
    lr=2e-3,
    warmup=300,
    final_lr_fraction=0.05,
    epochs=6,
    clip=1.0,
    dropout=0.1,
    label_smoothing=0.1,
    alpha=0.6,
    beams=[1, 2, 4, 8],
    valid=0.03,
    test=0.05,
    seed=0,
)


def unique_sources(pairs: list[tuple[str, str]]) -> list[str]:
    """The distinct sources of ``pairs`` in order of first appearance."""
    return list(dict.fromkeys(fr for fr, _ in pairs))


def score(pairs: list[tuple[str, str]], translations: dict[str, str]) -> dict:
    """sacreBLEU BLEU and chrF of one translation per source, scored pair by pair."""
    import sacrebleu

    hyps = [translations[fr] for fr, _ in pairs]
    refs = [[en for _, en in pairs]]
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    return {
        "bleu": round(bleu.corpus_score(hyps, refs).score, 3),
        "chrf": round(chrf.corpus_score(hyps, refs).score, 3),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def run(cfg: dict, smoke: bool) -> dict:
    set_seed(cfg["seed"], deterministic=True)
    split = s2.fra_eng_split(cfg["valid"], cfg["test"], cfg["seed"])
    train, valid, test = split["train"], split["valid"], split["test"]
    if smoke:
        train, valid, test = train[:3000], valid[:200], test[:200]
    fr_tok = s2.SubwordTokenizer([fr for fr, _ in train], cfg["src_vocab"])
    en_tok = s2.SubwordTokenizer([en for _, en in train], cfg["tgt_vocab"])
    src = fr_tok.encode([fr for fr, _ in train])
    tgt = en_tok.encode([en for _, en in train])
    keep = [
        i
        for i in range(len(src))
        if len(src[i]) <= cfg["max_train_pieces"] and len(tgt[i]) <= cfg["max_train_pieces"]
    ]
    src, tgt = [src[i] for i in keep], [tgt[i] for i in keep]
    valid_batches = s2.make_batches(
        fr_tok.encode([fr for fr, _ in valid]),
        en_tok.encode([en for _, en in valid]),
        256,
        shuffle=False,
    )
    attention = None if cfg["attention"] == "none" else cfg["attention"]
    model = s2.Seq2Seq(len(fr_tok), len(en_tok), cfg["E"], cfg["H"], attention, cfg["dropout"])
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    steps_per_epoch = math.ceil(len(src) / cfg["batch"])
    total = steps_per_epoch * cfg["epochs"]
    floor = cfg["final_lr_fraction"]

    def lr_factor(k: int) -> float:
        if k < cfg["warmup"]:
            return (k + 1) / cfg["warmup"]
        progress = min(k - cfg["warmup"], total) / max(total - cfg["warmup"], 1)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)

    class Stepper:  # steps the schedule after every batch, through train_epoch's bar hook
        def update(self, n: int) -> None:
            schedule.step()

    valid_sources = unique_sources(valid)
    curves: dict[str, list[float]] = {
        "train_nats": [],
        "valid_nats": [],
        "valid_bleu": [],
        "seconds": [],
    }
    start = time.perf_counter()
    for epoch in range(1, cfg["epochs"] + 1):
        batches = s2.make_batches(src, tgt, cfg["batch"], shuffle=True, seed=cfg["seed"] + epoch)
        nats = s2.train_epoch(
            model,
            batches,
            optimizer,
            cfg["clip"],
            label_smoothing=cfg["label_smoothing"],
            bar=Stepper(),
        )
        valid_nats = s2.evaluate_nll(model, valid_batches)
        hyps = s2.translate(model, fr_tok, en_tok, valid_sources)
        valid_bleu = score(valid, dict(zip(valid_sources, hyps, strict=True)))["bleu"]
        for key, value in (
            ("train_nats", nats),
            ("valid_nats", valid_nats),
            ("valid_bleu", valid_bleu),
            ("seconds", time.perf_counter() - start),
        ):
            curves[key].append(round(value, 4))
        print(
            f"epoch {epoch}  train {nats:.4f}  valid {valid_nats:.4f} nats/token  "
            f"valid BLEU {valid_bleu:.2f}  {time.perf_counter() - start:6.0f} s",
            flush=True,
        )
    train_seconds = time.perf_counter() - start

    # beam widths: BLEU on validation (to choose one) and on test (reported), and the time
    test_sources = unique_sources(test)
    by_width: dict[str, dict] = {}
    test_hyps: dict[int, list[str]] = {}
    for width in cfg["beams"]:
        hyps_v = s2.translate(
            model, fr_tok, en_tok, valid_sources, beam_width=width, alpha=cfg["alpha"]
        )
        t0 = time.perf_counter()
        hyps_t = s2.translate(
            model, fr_tok, en_tok, test_sources, beam_width=width, alpha=cfg["alpha"]
        )
        seconds = time.perf_counter() - t0
        test_hyps[width] = hyps_t
        by_width[str(width)] = {
            "valid_bleu": score(valid, dict(zip(valid_sources, hyps_v, strict=True)))["bleu"],
            "test": score(test, dict(zip(test_sources, hyps_t, strict=True))),
            "test_seconds": round(seconds, 2),
            "test_sentences_per_second": round(len(test_sources) / seconds, 2),
        }
        print(f"beam {width}: {by_width[str(width)]}", flush=True)
    best = max(cfg["beams"], key=lambda w: (by_width[str(w)]["valid_bleu"], -w))

    # attention maps for four test sentences of 6 to 12 words
    maps = []
    if attention is not None:
        rng = np.random.default_rng(cfg["seed"])
        pool = [s for s in test_sources if 6 <= len(s.split()) <= 12]
        chosen = [pool[i] for i in sorted(rng.choice(len(pool), 4, replace=False))]
        ids = fr_tok.encode(chosen)
        src_b, len_b = s2.pad(ids)
        out, weights = s2.greedy_decode(model, src_b, len_b, max_len=60)
        for sentence, src_ids, out_ids, w in zip(chosen, ids, out, weights, strict=True):
            maps.append(
                {
                    "source": sentence,
                    "source_pieces": [fr_tok.sp.id_to_piece(i) for i in src_ids],
                    "output_pieces": [en_tok.sp.id_to_piece(i) for i in [*out_ids, s2.EOS]],
                    "weights": np.round(w.astype(np.float64), 4).tolist(),
                }
            )
    metrics = {
        "best_width": best,
        "test_best": by_width[str(best)]["test"],
        "by_width": by_width,
        "train_pairs": len(src),
        "valid_pairs": len(valid),
        "test_pairs": len(test),
        "test_sources": len(test_sources),
        "n_params": s2.n_params(model),
        "train_seconds": round(train_seconds, 1),
        "test_hyps_greedy": test_hyps[1],
        "test_hyps_best": test_hyps[best],
        "attention_maps": maps,
    }
    return {"metrics": metrics, "curves": curves}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--attention", choices=["general", "dot", "additive", "none"], default="general"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, temporary folder")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = dict(CFG, attention=args.attention)
    if args.smoke:
        cfg.update(epochs=1, src_vocab=300, tgt_vocab=300, E=16, H=16)
    name = f"ch17_fra_eng_{'noattn' if args.attention == 'none' else args.attention}"
    files = fetch("fra-eng")
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
        if args.smoke:
            print(Path(path).read_text()[:3000])
        print(f"wrote {path}" + (" (smoke run: discarded)" if args.smoke else ""))


if __name__ == "__main__":
    main()
