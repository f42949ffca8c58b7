"""rnn_tutorial.perf and rnn_tutorial.ddp_lstm: the Performance chapter's measuring tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from rnn_tutorial.perf import (
    SavedTensorBytes,
    fit_power_law,
    gemm_gflops,
    lstm_gemm_flops,
    median_time,
)


def test_median_time_calls_warmup_plus_repeats_and_syncs():
    calls, syncs = [], []
    seconds = median_time(
        lambda: calls.append(1), repeats=4, warmup=2, sync=lambda: syncs.append(1)
    )
    assert len(calls) == 6 and len(syncs) == 8  # before and after each timed call
    assert seconds >= 0


def test_median_time_rejects_bad_counts():
    with pytest.raises(ValueError, match="repeats"):
        median_time(lambda: None, repeats=0)


def test_lstm_gemm_flops_counts_the_products():
    # Forward: per step (B, D) x (D, 4H) and (B, H) x (H, 4H), 2 FLOP per multiply-add.
    B, T, D, H = 3, 5, 7, 11
    forward = T * (2 * B * D * 4 * H + 2 * B * H * 4 * H)
    assert lstm_gemm_flops(B, T, D, H, backward=False) == forward
    assert lstm_gemm_flops(B, T, D, H) == 3 * forward
    with pytest.raises(ValueError, match="positive integer"):
        lstm_gemm_flops(0, T, D, H)


def test_fit_power_law_recovers_exponent_and_scale():
    x = np.array([10.0, 20.0, 40.0, 80.0])
    k, a = fit_power_law(x, 3.0 * x**1.5)
    assert k == pytest.approx(1.5) and a == pytest.approx(3.0)
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1.0, 2.0], [1.0, -1.0])
    with pytest.raises(ValueError, match="equal length"):
        fit_power_law([1.0, 2.0, 3.0], [1.0, 2.0])


def test_gemm_gflops_is_a_positive_rate():
    assert gemm_gflops(128, library="numpy", repeats=1) > 0
    assert gemm_gflops(128, library="torch", repeats=1) > 0
    with pytest.raises(ValueError, match="library"):
        gemm_gflops(128, library="cupy")


def test_saved_tensor_bytes_counts_each_storage_once():
    x = torch.randn(4, 8, requires_grad=True)
    with SavedTensorBytes() as saved:
        y = x * x  # saves x twice (both operands): one storage
    assert saved.bytes == x.numel() * 4
    y.sum().backward()  # the hooks leave autograd working
    assert torch.allclose(x.grad, 2 * x)


def test_saved_tensor_bytes_of_an_lstm_grow_linearly_in_T():
    # The fused CPU kernel's workspace is rounded up to an aligned size, so the increments are
    # exactly proportional only once the sizes dwarf the alignment: at B = 16, H = 64 they do.
    torch.manual_seed(0)
    lstm = nn.LSTM(16, 64, batch_first=True)

    def cache(T: int) -> int:
        with SavedTensorBytes() as saved:
            lstm(torch.randn(16, T, 16, requires_grad=True))
        return saved.bytes

    c25, c50, c100 = cache(25), cache(50), cache(100)
    assert c50 - c25 > 0
    assert (c100 - c50) / (c50 - c25) == pytest.approx(2.0, rel=1e-3)


def test_ddp_lstm_two_ranks_match_one_process(tmp_path):
    out = tmp_path / "ddp.json"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "rnn_tutorial.ddp_lstm",
        "--steps",
        "2",
        "--T",
        "10",
        "--H",
        "16",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["world_size"] == 2
    assert result["max_relative_grad_difference"] < 1e-4
    assert result["final_weights_equal"] is True
    assert result["sequences_per_second"] > 0


def test_ddp_lstm_refuses_to_run_without_torchrun(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "rnn_tutorial.ddp_lstm", "--out", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "RANK"},
    )
    assert done.returncode != 0 and "torchrun" in done.stderr
