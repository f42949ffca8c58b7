"""Reproducibility and device selection (introduced in chapter 1's setup cell).

Every notebook starts with::

    from rnn_tutorial.repro import set_seed, torch_device, print_environment
    set_seed(0)
    print_environment()
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import random
import sys
import tempfile
from typing import Any

import numpy as np

__all__ = ["environment_report", "print_environment", "set_seed", "torch_device"]

_REPORTED_PACKAGES = ("numpy", "torch", "tensorflow", "keras", "matplotlib", "scikit-learn")


def _installed(module: str) -> bool:
    return module in sys.modules or importlib.util.find_spec(module) is not None


def _import_keras_quietly() -> Any:
    """Import Keras (and TensorFlow, its backend) with the C++ start-up logs silenced.

    TensorFlow writes informational lines (oneDNN notes, CUDA probing) straight to the process's
    stderr, before its logging is configured, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them and
    they would clutter every stored notebook output. The file descriptor is redirected while
    Keras is imported and the devices are probed; if the import fails, the captured text is
    printed with the error.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                tf.config.list_physical_devices()  # probes CUDA now, while stderr is captured
                # Keras transposes every mask; the first boolean transpose logs a oneDNN note
                # once per process. Trigger it here, silently.
                tf.transpose(tf.zeros((1, 1), dtype=tf.bool))
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return keras


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy, torch and TensorFlow/Keras (whichever are installed).

    Only this call decides the random numbers a chapter draws, so re-running a notebook gives
    the same outputs on the same machine and library versions. GPU kernels may still be
    non-deterministic; the chapters that care say so.
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (seeds the legacy global generator readers may use)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses; this process's hash seed is fixed
    if _installed("torch"):
        import torch

        torch.manual_seed(seed)  # seeds the CPU and every CUDA device
    if _installed("keras"):
        keras = _import_keras_quietly()
        keras.utils.set_random_seed(seed)  # seeds Python, NumPy and the backend (TensorFlow)
    elif _installed("tensorflow"):
        import tensorflow as tf

        tf.random.set_seed(seed)


def torch_device(prefer: str | None = None) -> Any:
    """Pick the torch device for a chapter: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` ("cuda", "mps" or "cpu") forces one, with a clear error if it is unavailable.
    A cell that calls this runs on the CPU in CI and on the GPU where one is present.
    """
    import torch

    available = {
        "cuda": torch.cuda.is_available(),
        "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if prefer is not None:
        if prefer not in available:
            raise ValueError(f"unknown device {prefer!r}; choose one of {list(available)}")
        if not available[prefer]:
            raise RuntimeError(f"device {prefer!r} was requested but is not available here")
        return torch.device(prefer)
    for name in ("cuda", "mps", "cpu"):
        if available[name]:
            return torch.device(name)
    raise AssertionError("unreachable: the CPU is always available")


def environment_report() -> dict[str, str]:
    """Versions, device and thread count, as a dict (see :func:`print_environment`)."""
    report: dict[str, str] = {"python": platform.python_version()}
    for package in _REPORTED_PACKAGES:
        try:
            report[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            report[package] = "not installed"
    report["cpu cores"] = str(os.cpu_count())
    if _installed("torch"):
        import torch

        device = torch_device()
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
        report["torch device"] = f"{device.type} ({name})"
        report["torch threads"] = str(torch.get_num_threads())
    return report


def print_environment() -> None:
    """Print the environment report; every notebook's setup cell calls this (chapter 1)."""
    report = environment_report()
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}} : {value}")
