"""NumPy LSTM against torch.nn.LSTM on the CPU: forward plus backward, float32 (chapter 4).

Usage::

    python benchmarks/lstm_numpy_vs_torch.py            # B=64, T=100, D=H=256, print results
    python benchmarks/lstm_numpy_vs_torch.py --record --other-kernel
        # ... also measure with OpenBLAS's other kernel family forced (AVX2 "Haswell" where it
        # picked AVX-512 "SkylakeX", and the reverse), and write results/lstm_numpy_vs_torch.txt
    python benchmarks/lstm_numpy_vs_torch.py --other-kernel --repeats 12 --rounds 4
        # a shorter run of both kernel families, for a notebook that parses the output

The output is ``# comment`` lines and ``key: value`` lines, one per measured quantity; with
``--other-kernel`` the keys of the second kernel family carry the prefix ``other_`` (for
example ``ratio_median`` and ``other_ratio_median``), and ``other_kernel`` names that family.

Both sides compute the same thing: the hidden states of every step from zero initial states,
then, given an upstream gradient on every state, the gradients of all weights, of the inputs
and of the initial states. The timed runs alternate between the two libraries in blocks
(``--rounds`` blocks of ``--repeats / --rounds`` runs each), so that slow drifts in the load of
the machine affect both, with a pause and an untimed run before each block: both OpenBLAS and
PyTorch's OpenMP keep their worker threads spinning for a while after a call, and on a small
machine a library timed right after the other would compete with those threads. The ratio is
taken between the medians; the minima are reported too, and the lowest and highest ratio of
the block medians within one round show how much the ratio moves from block to block. The goal
(``goal_ratio``, ``GOAL`` below) is a ratio of the medians of at most 1.3, on both kernel
families (``goal_met`` and ``other_goal_met``).

A third contestant in every round, ``matmul_only``, runs just the matrix products of the NumPy
LSTM (the same calls, shapes, memory layouts and ``out=`` buffers as ``lstm_forward`` and
``lstm_backward``) without any element-wise work. Its median (``numpy_matmul_only_median_ms``)
is the part of the NumPy time that the BLAS library decides; ``numpy_matmul_share`` is its
fraction of the whole, and ``matmul_only_ratio`` compares it with PyTorch's complete forward and
backward pass: no change to the element-wise NumPy code can bring the ratio below that.

GFLOP/s counts only the matrix products, which are all of the arithmetic that grows with
``H^2``: the forward pass multiplies ``(BT, D)`` by ``(D, 4H)`` and ``(B, H)`` by ``(H, 4H)`` at
every step, ``2 B T 4H (D + H)`` FLOP; the backward pass needs twice that (the gradients of
the inputs and states, and of the weights). The ceiling is the rate of one large
``np.matmul`` (4096 x 4096 x 4096) on this machine, in float32 (sgemm) and float64 (dgemm).

OpenBLAS picks its kernels by the CPU it finds, and on CPUs it does not recognise it may choose
older kernels than the CPU could run (on an AMD EPYC where an earlier result was recorded,
``results/lstm_numpy_vs_torch_amd-epyc_2026-11-22.txt``, it picked its AVX2 "Haswell" kernels
although the CPU has AVX-512). ``--other-kernel`` repeats the measurement in a child process
with ``OPENBLAS_CORETYPE`` set to the other family, ``Haswell`` (AVX2) where OpenBLAS chose an
AVX-512 kernel and ``SkylakeX`` (AVX-512) where it chose another one on a CPU with AVX-512, and
reports both. How much the family matters depends on the CPU: where a core executes two
512-bit fused multiply-adds per cycle, the AVX2 kernels reach about half of the AVX-512 sgemm
rate, and the NumPy LSTM, most of whose time is matrix products, slows down with them, while
PyTorch (MKL and oneDNN, which choose their own kernels) does not; where the 512-bit
instructions run as two 256-bit halves (AMD's Zen 4), both families reach about the same rate.
The first (default) configuration is what a reader's NumPy does out of the box. A line in the
header reports how much CPU time other processes used during the measurement: timings taken on
a busy machine are not comparable.

The recorded results file is quoted by chapter 4; its ``key: value`` lines are read by the
notebook, so no number is typed by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rnn_tutorial.cpu import cpu_description, model_name
from rnn_tutorial.numpy_lstm import lstm_backward, lstm_forward, lstm_init_params

RESULTS = Path(__file__).resolve().parent / "results" / "lstm_numpy_vs_torch.txt"
PAUSE = 0.5  # seconds of idle time before each block of timed runs
GOAL = 1.3  # the goal: NumPy's median time at most this many times PyTorch's
# Lines of a child run (--other-kernel) that describe the setup shared with the parent.
SHARED = {"batch", "steps", "input_size", "hidden_size", "repeats", "gflop_per_run"}


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            i = info[0]
            return (
                f"{i.get('internal_api')} {i.get('version')}, {i.get('num_threads')} threads, "
                f"kernel {i.get('architecture')}"
            )
    except ImportError:
        pass
    return "unknown"


def busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine since boot (all cores, from /proc/stat)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU seconds used by this process (all its threads)."""
    t = os.times()
    return t.user + t.system


AVX512_KERNELS = ("SkylakeX", "Cooperlake", "SapphireRapids")


def other_kernel() -> str | None:
    """The OpenBLAS kernel family to compare with, or None (no OpenBLAS, or nothing to compare).

    ``Haswell`` (AVX2) if OpenBLAS chose an AVX-512 kernel by itself; ``SkylakeX`` (AVX-512) if
    it chose another one although the CPU has AVX-512; None on other CPUs.
    """
    info = blas_info()
    if "openblas" not in info:
        return None
    kernel = info.rsplit("kernel ", 1)[-1]
    if kernel in AVX512_KERNELS:
        return "Haswell"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return "SkylakeX" if "avx512f" in flags else None


def gemm_rate(dtype: type, n: int = 4096, repeats: int = 3) -> float:
    """GFLOP/s of one large square np.matmul (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    np.matmul(a, b, out=out)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def matrix_products_only(x: np.ndarray, params: dict[str, np.ndarray], H: int):
    """A function that runs only the matrix products of one NumPy forward plus backward pass.

    The same calls as :func:`lstm_forward` and :func:`lstm_backward` make, with the same
    shapes, memory layouts and ``out=`` buffers, but none of the element-wise work: its time is
    the part of the NumPy LSTM's time that the BLAS library decides, and the rest is NumPy's.
    """
    B, T, D = x.shape
    rng = np.random.default_rng(1)
    x1 = np.ones((T * B, D + 1), dtype=np.float32)
    x1[:, :D] = x.transpose(1, 0, 2).reshape(T * B, D)
    W_xb = np.concatenate([params["W_x"], params["b"][None]])
    W_h = params["W_h"]
    W_hT = np.ascontiguousarray(W_h.T)
    hs = rng.uniform(-1, 1, size=(T + 1, B, H)).astype(np.float32)
    da = rng.standard_normal((T, B, 4 * H)).astype(np.float32)
    rec = np.empty((B, 4 * H), dtype=np.float32)
    dh = np.empty((B, H), dtype=np.float32)

    def run():
        x1 @ W_xb  # forward: the input projection of all steps
        for t in range(T):
            np.matmul(hs[t], W_h, out=rec)  # forward: one step
        for t in range(T - 1, -1, -1):
            np.matmul(da[t], W_hT, out=dh)  # backward: one step
        da2 = da.reshape(T * B, 4 * H)
        x1.T @ da2  # [dW_x; db]
        hs[:-1].reshape(T * B, H).T @ da2  # dW_h
        da2 @ params["W_x"].T  # dx

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per library")
    parser.add_argument("--rounds", type=int, default=6, help="alternating blocks per library")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--record", action="store_true", help=f"write {RESULTS.name}")
    parser.add_argument(
        "--other-kernel",
        action="store_true",
        help="also measure with OpenBLAS's other kernel family (OPENBLAS_CORETYPE=Haswell or "
        "SkylakeX, see the module docstring)",
    )
    args = parser.parse_args()
    B, T, D, H = args.batch, args.steps, args.input_size, args.hidden_size

    rng = np.random.default_rng(0)
    params = lstm_init_params(D, H, rng, dtype=np.float32)
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    h0 = np.zeros((B, H), dtype=np.float32)
    c0 = np.zeros((B, H), dtype=np.float32)
    dh = rng.standard_normal((B, T, H)).astype(np.float32)

    lstm = torch.nn.LSTM(D, H, batch_first=True)  # float32 on the CPU
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(params["W_x"].T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(params["W_h"].T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(params["b"]))
        lstm.bias_hh_l0.zero_()
    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.zeros(1, B, H, requires_grad=True)
    c0t = torch.zeros(1, B, H, requires_grad=True)
    dht = torch.from_numpy(dh)

    def run_numpy():
        h, cache = lstm_forward(x, (h0, c0), params)
        return h, lstm_backward(dh, cache)

    def run_torch():
        lstm.zero_grad(set_to_none=True)
        xt.grad = h0t.grad = c0t.grad = None
        y, _ = lstm(xt, (h0t, c0t))
        y.backward(dht)
        return y

    # Both compute the same numbers (float32 rounding apart).
    h, (grads, dx, (dh0, dc0)) = run_numpy()
    y = run_torch()
    agree = {
        "h": np.abs(h - y.detach().numpy()).max(),
        "dW_h": np.abs(grads["W_h"] - lstm.weight_hh_l0.grad.numpy().T).max(),
        "dx": np.abs(dx - xt.grad.numpy()).max(),
    }
    scale = {"h": 1.0, "dW_h": np.abs(grads["W_h"]).max(), "dx": np.abs(dx).max()}
    for k in agree:
        assert agree[k] <= 1e-4 * max(1.0, scale[k]), (k, agree[k])

    run_gemms = matrix_products_only(x, params, H)
    for _ in range(args.warmup):
        run_numpy()
        run_torch()
        run_gemms()
    busy0, own0, wall0 = busy_seconds(), own_seconds(), time.perf_counter()
    t_numpy, t_torch, t_gemms, round_ratios = [], [], [], []
    per_block = max(1, args.repeats // args.rounds)
    for _ in range(args.rounds):
        for run, times in ((run_numpy, t_numpy), (run_torch, t_torch), (run_gemms, t_gemms)):
            time.sleep(PAUSE)  # let the other library's worker threads stop spinning
            run()  # one untimed run to wake this library's threads
            for _ in range(per_block):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
        round_ratios.append(np.median(t_numpy[-per_block:]) / np.median(t_torch[-per_block:]))
    t_numpy_fwd = []
    time.sleep(PAUSE)
    for _ in range(args.repeats):
        start = time.perf_counter()
        lstm_forward(x, (h0, c0), params)
        t_numpy_fwd.append(time.perf_counter() - start)

    sgemm = gemm_rate(np.float32)
    dgemm = gemm_rate(np.float64)
    wall = time.perf_counter() - wall0
    other_load = (busy_seconds() - busy0 - (own_seconds() - own0)) / (wall * (os.cpu_count() or 1))
    flop = 3 * 2 * B * T * 4 * H * (D + H)
    med_np, med_t = float(np.median(t_numpy)), float(np.median(t_torch))
    min_np, min_t = float(np.min(t_numpy)), float(np.min(t_torch))
    med_gemm = float(np.median(t_gemms))
    goal = GOAL
    ratio = med_np / med_t
    lines = [
        "# NumPy LSTM vs torch.nn.LSTM (CPU), forward + backward, float32",
        f"# recorded: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"# cpu: {model_name()}, {os.cpu_count()} cores",
        f"# cpu extensions: {cpu_description().split('; ', 1)[-1]}",
        f"# numpy {np.__version__} ({blas_info()}); torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)",
        f"# max |numpy - torch|: h {agree['h']:.1e}, dW_h {agree['dW_h']:.1e}, "
        f"dx {agree['dx']:.1e}",
        f"# other processes used {max(other_load, 0):.0%} of the CPU time during the measurement",
        f"batch: {B}",
        f"steps: {T}",
        f"input_size: {D}",
        f"hidden_size: {H}",
        f"repeats: {len(t_numpy)} per library, in {args.rounds} alternating blocks",
        f"gflop_per_run: {flop / 1e9:.3f}",
        f"numpy_median_ms: {med_np * 1e3:.1f}",
        f"numpy_min_ms: {min_np * 1e3:.1f}",
        f"numpy_forward_median_ms: {np.median(t_numpy_fwd) * 1e3:.1f}",
        f"numpy_matmul_only_median_ms: {med_gemm * 1e3:.1f}",
        f"numpy_matmul_share: {med_gemm / med_np:.3f}",
        f"matmul_only_ratio: {med_gemm / med_t:.3f}",
        f"torch_median_ms: {med_t * 1e3:.1f}",
        f"torch_min_ms: {min_t * 1e3:.1f}",
        f"ratio_median: {ratio:.3f}",
        f"ratio_min: {min_np / min_t:.3f}",
        f"ratio_lowest_round: {min(round_ratios):.3f}",
        f"ratio_highest_round: {max(round_ratios):.3f}",
        f"numpy_gflops: {flop / med_np / 1e9:.1f}",
        f"torch_gflops: {flop / med_t / 1e9:.1f}",
        f"sgemm_gflops: {sgemm:.1f}",
        f"dgemm_gflops: {dgemm:.1f}",
        f"numpy_fraction_of_sgemm: {flop / med_np / 1e9 / sgemm:.3f}",
        f"goal_ratio: {goal}",
        f"goal_met: {ratio <= goal}",
    ]
    other = other_kernel() if args.other_kernel else None
    if other is not None:
        # The same measurement in a child process whose OpenBLAS is told to use the other
        # kernel family instead of the one it picks by itself on this CPU.
        cmd = [sys.executable, __file__, "--batch", str(B), "--steps", str(T)]
        cmd += ["--input-size", str(D), "--hidden-size", str(H), "--repeats", str(args.repeats)]
        cmd += ["--rounds", str(args.rounds)]
        env = {**os.environ, "OPENBLAS_CORETYPE": other}
        child = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        lines.append(f"# the same, with OPENBLAS_CORETYPE={other}:")
        lines.append(f"other_kernel: {other}")
        for line in child.splitlines():
            if line.startswith("# numpy") or line.startswith("# other"):
                lines.append(line)
            elif ":" in line and not line.startswith("#") and line.split(":")[0] not in SHARED:
                lines.append("other_" + line)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.record:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
        print(f"wrote {RESULTS.relative_to(RESULTS.parents[2])}")


if __name__ == "__main__":
    main()
