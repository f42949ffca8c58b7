"""Recorded run: pixel-by-pixel MNIST at the Sequential MNIST chapter's full size (``gpu_config``).

The chapter (chapters/13_sequential_mnist.ipynb) trains its row-by-row models at full size
within its budget; only its pixel-by-pixel experiment needs more. This script runs that
experiment's ``gpu_config`` with the chapter's code (:mod:`rnn_tutorial.mnist_models`,
:mod:`rnn_tutorial.train`): an LSTM with H = 128 reads each image as 784 single pixels, three
runs (reading order with PyTorch's default initialisation and with chrono initialisation;
a fixed permuted order with chrono initialisation), 54,000 training images, 8 epochs, batches
of 256. Each run keeps the weights of its epoch with the best validation accuracy and
evaluates the test set once, at the end. Run from the repository root::

    RNN_TUTORIAL_DATA=/path/to/data python experiments/ch13_mnist_full.py
    python experiments/ch13_mnist_full.py --smoke          # tiny sizes, temporary folder
    python experiments/ch13_mnist_full.py --time-batches 5  # measure, project, record nothing
    python experiments/ch13_mnist_full.py --run "pixel chrono" --threads 2  # one run only

The full run writes ``results/runs/ch13_mnist_full.json`` (see CONTRIBUTING.md, "Recorded
runs"). On a 2-core CPU it takes hours (``--time-batches`` prints the projection); it is meant
for a GPU. ``--run`` records one of the three runs on its own, in
``results/runs/ch13_mnist_full_<run>.json`` (e.g. ``ch13_mnist_full_pixel_chrono``), so that a
CPU can record them one at a time.
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

NAME = "ch13_mnist_full"

# The chapter's gpu_config for pixel-by-pixel MNIST.
CONFIG = dict(
    px_runs=["pixel default", "pixel chrono", "permuted chrono"],
    px_n_train=54_000,
    px_epochs=8,
    px_batch=256,
    px_H=128,
    px_n_val=6000,
    px_n_test=10_000,
    px_max_lr=2e-3,
    seed=0,
    flush_denormal=True,  # as the chapter does (its section "Denormal numbers")
)
# The chapter's smoke overrides (sizes only).
SMOKE = dict(px_n_train=512, px_epochs=1, px_H=32, px_n_val=500, px_n_test=500)


def prepare() -> dict:
    """The chapter's data cell: the validation split and the standardisation."""
    from rnn_tutorial.data import load_mnist
    from rnn_tutorial.mnist_models import split_indices, standardise

    (x_train_all, y_train_all), (x_test_raw, y_test) = load_mnist()
    train_idx, val_idx = split_indices(len(x_train_all), np.random.default_rng(0))
    mean = float((x_train_all[train_idx] / 255.0).mean())
    std = float((x_train_all[train_idx] / 255.0).std())
    return dict(
        x_train=standardise(x_train_all[train_idx], mean, std),
        y_train=y_train_all[train_idx],
        x_val=standardise(x_train_all[val_idx], mean, std),
        y_val=y_train_all[val_idx],
        x_test=standardise(x_test_raw, mean, std),
        y_test=y_test,
    )


def one_run(name: str, config: dict, data: dict, device, time_batches: int = 0) -> dict:
    """One pixel-by-pixel run: train, keep the best validation epoch, test once."""
    import torch

    from rnn_tutorial.mnist_models import RNNClassifier, as_pixels, tensor_loader
    from rnn_tutorial.train import chrono_init_, evaluate, fit

    variant, init = name.split()
    variant = "pixel-by-pixel" if variant == "pixel" else variant
    n, n_val, n_test = config["px_n_train"], config["px_n_val"], config["px_n_test"]
    torch.manual_seed(config["seed"])
    model = RNNClassifier("lstm", D=1, H=config["px_H"]).to(device)
    if init == "chrono":
        chrono_init_(model.rnn, t_max=784)
    train_px = tensor_loader(
        as_pixels(data["x_train"][:n], variant),
        data["y_train"][:n],
        shuffle=True,
        batch_size=config["px_batch"],
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters())
    epochs = config["px_epochs"]
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config["px_max_lr"], total_steps=epochs * len(train_px)
    )
    if time_batches:  # measure the cost of a training step, and stop
        seconds = []
        for step, (x, y) in enumerate(train_px):
            if step == time_batches:
                break
            start = time.perf_counter()
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - start)
        return {"seconds_per_batch": seconds, "batches_per_epoch": len(train_px)}
    val_px = tensor_loader(
        as_pixels(data["x_val"][:n_val], variant), data["y_val"][:n_val], batch_size=500
    )
    history: dict[str, list[float]] = {}
    best, best_epoch, best_state = -1.0, 0, None
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):  # one epoch at a time, to keep the best weights
        log = fit(
            model,
            train_px,
            val_px,
            epochs=1,
            optimizer=optimizer,
            loss_fn=loss_fn,
            device=device,
            max_grad_norm=1.0,
            scheduler=scheduler,
            scheduler_interval="batch",
            desc=f"{name}, epoch {epoch}/{epochs}",
        )
        for key, values in log.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        if log["val_acc"][-1] > best:
            best, best_epoch = log["val_acc"][-1], epoch
            best_state = copy.deepcopy(model.state_dict())
    seconds = time.perf_counter() - start
    model.load_state_dict(best_state)  # chosen on validation
    test_px = tensor_loader(
        as_pixels(data["x_test"][:n_test], variant), data["y_test"][:n_test], batch_size=500
    )
    return {
        "metrics": {
            "chosen_epoch": best_epoch,
            "val_acc": float(best),
            "test_acc": float(evaluate(model, test_px, loss_fn, device)[1]),
            "train_seconds": round(seconds, 1),
        },
        "curves": {key: values for key, values in history.items() if key != "lr"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; temporary folder")
    parser.add_argument(
        "--time-batches",
        type=int,
        default=0,
        help="time this many training steps of the first run, project the total, record nothing",
    )
    parser.add_argument(
        "--run",
        choices=CONFIG["px_runs"],
        default=None,
        help="record only this run, as ch13_mnist_full_<run>",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    config = {**CONFIG, **SMOKE} if args.smoke else dict(CONFIG)
    run_name = NAME
    if args.run is not None:
        config["px_runs"] = [args.run]
        run_name = f"{NAME}_{args.run.replace(' ', '_')}"
    import torch

    # Before torch starts its threads, as in the chapter.
    torch.set_flush_denormal(config["flush_denormal"])
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    set_seed(config["seed"], deterministic=True)
    device = torch_device()
    from rnn_tutorial.data import fetch

    data_files = list(fetch("mnist").values())

    if args.time_batches:
        timing = one_run(config["px_runs"][0], config, prepare(), device, args.time_batches)
        per_batch = float(np.median(timing["seconds_per_batch"]))
        total = per_batch * timing["batches_per_epoch"] * config["px_epochs"]
        total *= len(config["px_runs"])
        print(f"seconds per training step: {[round(s, 2) for s in timing['seconds_per_batch']]}")
        print(
            f"median {per_batch:.2f} s x {timing['batches_per_epoch']} batches x "
            f"{config['px_epochs']} epochs x {len(config['px_runs'])} runs = "
            f"{total / 3600:.1f} h of training (validation and test not counted)"
        )
        return

    def run() -> dict:
        data = prepare()
        metrics: dict = {}
        curves: dict = {}
        for name in config["px_runs"]:
            result = one_run(name, config, data, device)
            key = name.replace(" ", "_")
            metrics[key] = result["metrics"]
            curves.update({f"{key}_{k}": v for k, v in result["curves"].items()})
            print(f"{name}: {result['metrics']}", flush=True)
        return {"metrics": metrics, "curves": curves}

    with tempfile.TemporaryDirectory() as scratch:
        results_dir = Path(scratch) if args.smoke else None
        path = record(
            run_name,
            run,
            config=config,
            code_files=[__file__],
            data_files=data_files,
            results_dir=results_dir,
            # a full run also records its smoke configuration's fingerprint
            smoke_argv=None if args.smoke else [*sys.argv[1:], "--smoke"],
        )
        print(f"recorded {path}")
        if args.smoke:
            print(path.read_text()[:1500])


if __name__ == "__main__":
    main()
