"""Measuring what a recurrent layer costs: timers, FLOP counts and activation memory.

Introduced in the Performance chapter (``chapters/12_performance.ipynb``), which measures the
time and memory of recurrent layers against the sequence length, the batch, the width and the
implementation. The helpers here are small on purpose; the chapter shows how they are used.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "SavedTensorBytes",
    "fit_power_law",
    "gemm_gflops",
    "lstm_gemm_flops",
    "median_time",
]


def median_time(
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], Any] | None = None,
) -> float:
    """The median wall time of ``fn()`` in seconds, over ``repeats`` calls after ``warmup``.

    ``sync`` is called before the clock starts and before it stops: pass
    ``torch.cuda.synchronize`` when ``fn`` launches GPU work, which returns before the GPU has
    finished. The median, not the mean, so that one call slowed by another process does not
    move the result.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lstm_gemm_flops(B: int, T: int, D: int, H: int, *, backward: bool = True) -> int:
    """Floating-point operations of the matrix products of one LSTM layer over a sequence.

    The forward pass multiplies ``(B, D)`` by ``(D, 4H)`` and ``(B, H)`` by ``(H, 4H)`` at every
    step: ``2 B T 4H (D + H)`` operations (a multiply and an add per term). The backward pass
    needs two products of the same size for each forward one (the gradient of the inputs and
    states, and of the weights), so forward plus backward is three times the forward. The
    element-wise gate arithmetic, ``O(B T H)``, is left out: it does not grow with ``H^2``.
    """
    for name, value in {"B": B, "T": T, "D": D, "H": H}.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    forward = 2 * B * T * 4 * H * (D + H)
    return 3 * forward if backward else forward


def gemm_gflops(n: int = 2048, *, library: str = "numpy", repeats: int = 5) -> float:
    """This machine's float32 matrix-product rate (GFLOP/s) for one ``(n, n) @ (n, n)`` product.

    The rate of one large, square product is the practical ceiling of a CPU: every smaller or
    thinner product, and everything element-wise, runs slower. ``library`` is ``"numpy"`` (its
    BLAS, e.g. OpenBLAS) or ``"torch"`` (PyTorch's CPU kernels). The rate of the fastest of
    ``repeats`` runs is returned: a ceiling is what the machine can do, so a run slowed by
    another process must not lower it.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    if library == "numpy":
        x, y = a, b
    elif library == "torch":
        import torch

        x, y = torch.from_numpy(a), torch.from_numpy(b)
    else:
        raise ValueError(f"library must be 'numpy' or 'torch', got {library!r}")
    x @ y  # warm-up: thread start, first touch of the output
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        x @ y
        seconds.append(time.perf_counter() - start)
    return 2 * n**3 / min(seconds) / 1e9  # a ceiling: the best run, not the typical one


def fit_power_law(x: Any, y: Any) -> tuple[float, float]:
    """Fit ``y = a * x**k`` by least squares on ``log y`` against ``log x``; return ``(k, a)``.

    A scaling exponent read off a log-log plot by eye is a guess; this is the fitted one.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"need two 1-D arrays of equal length >= 2, got {x.shape}, {y.shape}")
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("a power law is fitted to positive values only")
    k, log_a = np.polyfit(np.log(x), np.log(y), 1)
    return float(k), float(np.exp(log_a))


class SavedTensorBytes:
    """Count the bytes autograd keeps for the backward pass while the block runs.

    ``with SavedTensorBytes() as saved: loss = model(x)`` then ``saved.bytes``. Every tensor
    that a forward operation saves for its backward passes through
    ``torch.autograd.graph.saved_tensors_hooks``; the counter adds the size of each distinct
    storage once (a view of a tensor already saved costs nothing more). This is the activation
    cache of backpropagation through time, measured exactly and on any device, unlike the
    process's memory, which also holds the allocator's cache and everything else.
    """

    def __init__(self) -> None:
        self.bytes = 0
        self._seen: set[tuple[int, str]] = set()
        self._hooks: Any = None

    def _pack(self, tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        key = (storage.data_ptr(), str(tensor.device))
        if key not in self._seen:
            self._seen.add(key)
            self.bytes += storage.nbytes()
        return tensor

    def __enter__(self) -> SavedTensorBytes:
        import torch

        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.__exit__(*exc)
