"""Data-parallel training of an LSTM with ``torch.distributed`` (DDP), launched by ``torchrun``.

Introduced in the Performance chapter (``chapters/12_performance.ipynb``), section "When one
device is not enough". Run it with, for example::

    python -m torch.distributed.run --standalone --nproc-per-node 2 \\
        -m rnn_tutorial.ddp_lstm --out ddp.json

Every process (a *rank*) holds a full copy of the model and trains on its own shard of each
global batch. ``DistributedDataParallel`` averages the gradients of all ranks with an
all-reduce during the backward pass, so after ``optimizer.step()`` every copy holds the same
weights. The script measures three things and writes them, from rank 0, as JSON:

- the gradient check: the averaged gradients of the first step against the gradients that one
  process computes on the whole global batch (rank 0 recomputes them with a plain copy of the
  initial model);
- the training throughput (sequences per second over the global batch);
- the cost of the two parts of a step: the computation alone (``no_sync``, no all-reduce), and
  an all-reduce of as many numbers as the model has parameters.

The backend is ``gloo``, which runs on CPUs; on GPUs one passes ``nccl`` and puts each rank on
its own device (``--backend nccl``; the script then uses ``cuda:<local rank>``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from rnn_tutorial.tasks import adding_problem

__all__ = ["AddingLSTM", "main"]


class AddingLSTM(nn.Module):
    """An LSTM and a linear read-out of its last state: the adding problem's regressor."""

    def __init__(self, D: int = 2, H: int = 128) -> None:
        super().__init__()
        self.rnn = nn.LSTM(D, H, batch_first=True)
        self.head = nn.Linear(H, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])[:, 0]


def _global_batch(step: int, batch: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same global batch on every rank: drawn from a generator seeded by the step."""
    x, y = adding_problem(batch, T, rng=np.random.default_rng(1000 + step))
    return torch.from_numpy(x).float(), torch.from_numpy(y[:, 0]).float()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--global-batch", type=int, default=64)
    parser.add_argument("--T", type=int, default=50, help="sequence length")
    parser.add_argument("--H", type=int, default=128, help="hidden units")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run on every rank; return (and on rank 0 write) the measurements."""
    args = _parse(argv)
    if "RANK" not in os.environ:
        raise SystemExit(
            "rnn_tutorial.ddp_lstm runs under torchrun, e.g.\n"
            "  python -m torch.distributed.run --standalone --nproc-per-node 2 \\\n"
            "      -m rnn_tutorial.ddp_lstm --out ddp.json"
        )
    dist.init_process_group(args.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    n, steps = args.global_batch, args.steps
    if n % world:
        raise SystemExit(f"--global-batch {n} is not divisible by {world} ranks")
    if args.backend == "nccl":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
        sync: Any = torch.cuda.synchronize
    else:
        device, sync = torch.device("cpu"), (lambda: None)
    shard = slice(rank * n // world, (rank + 1) * n // world)  # this rank's rows

    torch.manual_seed(0)  # the same initial weights on every rank
    model = AddingLSTM(H=args.H).to(device)
    reference = copy.deepcopy(model) if rank == 0 else None
    ddp = DistributedDataParallel(model)
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)

    def shard_loss(step: int) -> torch.Tensor:
        x, y = _global_batch(step, n, args.T)
        return loss_fn(ddp(x[shard].to(device)), y[shard].to(device))

    # 1. The averaged shard gradients against one process's gradients.
    shard_loss(0).backward()
    result: dict[str, Any] = {"world_size": world, "global_batch": n}
    result["threads"] = torch.get_num_threads()
    if reference is not None:
        x, y = _global_batch(0, n, args.T)
        loss_fn(reference(x.to(device)), y.to(device)).backward()
        pairs = zip(model.parameters(), reference.parameters(), strict=True)
        grads = [(p.grad, q.grad) for p, q in pairs]
        result["max_relative_grad_difference"] = max(
            ((a - b).abs().max() / b.abs().max()).item() for a, b in grads
        )
    optimizer.zero_grad()

    # 2. Throughput: whole training steps, all-reduce included.
    def train_steps(first: int, no_sync: bool = False) -> float:
        sync()
        dist.barrier()
        start = time.perf_counter()
        for step in range(first, first + steps):
            if no_sync:  # the computation alone: DDP skips the all-reduce
                with ddp.no_sync():
                    shard_loss(step).backward()
            else:
                shard_loss(step).backward()
                optimizer.step()
            optimizer.zero_grad()
        sync()
        return (time.perf_counter() - start) / steps

    train_steps(1)  # warm-up
    result["seconds_per_step"] = train_steps(1 + steps)
    result["sequences_per_second"] = n / result["seconds_per_step"]

    # 3. The parts of a step: the computation alone, one all-reduce.
    result["compute_seconds_per_step"] = train_steps(1 + steps, no_sync=True)
    n_params = sum(p.numel() for p in model.parameters())
    flat = torch.ones(n_params, device=device)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        dist.all_reduce(flat)
    sync()
    result["allreduce_seconds"] = (time.perf_counter() - start) / steps
    result["parameters"] = n_params
    result["final_weights_equal"] = _weights_equal(model, world)

    if rank == 0:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    dist.destroy_process_group()
    return result


def _weights_equal(model: nn.Module, world: int) -> bool:
    """Whether every rank holds the same weights after training (DDP's promise)."""
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    return all(torch.equal(gathered[0], g) for g in gathered[1:])


if __name__ == "__main__":
    main()
