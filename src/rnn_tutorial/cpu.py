"""What this CPU can do, detected instead of assumed (introduced in "Performance and GPUs").

The same code takes different paths on different x86 CPUs: oneDNN picks its kernels by the
instruction-set extensions it finds (and fails outright on a bfloat16 LSTM where there are no
bfloat16 instructions), and OpenBLAS picks one of its kernel families. The Performance chapter
names the CPU by its model *and* by these extensions, probes the paths that can fail, and reports
which one ran. Both libraries can be told to behave as on an older CPU, which is how the test
suite exercises the AVX2-only path on any machine (see :data:`ISA_LIMIT_ENV`).
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FEATURES",
    "ISA_LIMIT_ENV",
    "Probe",
    "bf16_path",
    "cpu_description",
    "cpu_features",
    "cpu_flags",
    "isa_limits",
    "model_name",
    "onednn_isa",
    "openblas_kernel",
    "probe_bf16_lstm",
]

# The instruction-set extensions that decide which kernels run, as (Linux flag, name shown).
FEATURES: tuple[tuple[str, str], ...] = (
    ("avx2", "AVX2"),
    ("avx512f", "AVX-512"),
    ("avx512_bf16", "AVX512-BF16"),
    ("amx_bf16", "AMX-BF16"),
)

# Environment variables that make oneDNN and OpenBLAS behave as on an AVX2-only CPU. They are
# read when each library starts, so they must be set before the process imports torch or numpy.
ISA_LIMIT_ENV: dict[str, str] = {"ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"}

_ONEDNN_PROBE = "import torch; torch.nn.LSTM(4, 4)(torch.randn(2, 3, 4))"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo``; empty where that file does not exist."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_features() -> dict[str, bool]:
    """Whether the CPU reports each extension of :data:`FEATURES`, keyed by its shown name."""
    flags = cpu_flags()
    return {name: flag in flags for flag, name in FEATURES}


def model_name() -> str:
    """The CPU's model name, e.g. ``"AMD EPYC"`` (``platform`` where /proc/cpuinfo is missing)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_description() -> str:
    """The CPU by model, core count and extensions, e.g. ``"AMD EPYC, 2 cores; AVX2 yes, ..."``.

    The model name alone cannot tell two CPU generations apart (a virtual machine often reports
    only "AMD EPYC"); the extensions can. Where the flags are unknown (no ``/proc/cpuinfo``,
    e.g. on macOS), it says so instead of reporting "no".
    """
    head = f"{model_name()}, {os.cpu_count()} cores"
    if not cpu_flags():
        return f"{head}; instruction-set extensions unknown"
    shown = ", ".join(f"{name} {'yes' if has else 'no'}" for name, has in cpu_features().items())
    return f"{head}; {shown}"


def isa_limits() -> dict[str, str]:
    """The variables of :data:`ISA_LIMIT_ENV` that are set in this process's environment."""
    return {key: os.environ[key] for key in ISA_LIMIT_ENV if key in os.environ}


def onednn_isa(env: dict[str, str] | None = None, timeout: float = 60.0) -> str:
    """The instruction set oneDNN (PyTorch's CPU kernels) uses, e.g. ``"Intel AVX2"``.

    oneDNN reports it only through its verbose log, so a short child process runs one LSTM
    with ``ONEDNN_VERBOSE=1`` and the line ``...,info,cpu,isa:<name>`` is read. ``env`` adds
    variables to the child's environment (for example :data:`ISA_LIMIT_ENV`). Returns
    ``"unknown"`` if PyTorch has no oneDNN or the line is missing.
    """
    child_env = {**os.environ, **(env or {}), "ONEDNN_VERBOSE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _ONEDNN_PROBE],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"the oneDNN probe failed:\n{done.stderr[-2000:]}")
    match = re.search(r"info,cpu,isa:([^\n]+)", done.stdout + done.stderr)
    return match.group(1).strip() if match else "unknown"


def openblas_kernel() -> str | None:
    """The kernel family NumPy's OpenBLAS chose (e.g. ``"Haswell"``), or None without OpenBLAS."""
    from threadpoolctl import threadpool_info

    importlib.import_module("numpy")  # loads the BLAS library that threadpoolctl inspects

    for info in threadpool_info():
        if info.get("internal_api") == "openblas":
            return str(info.get("architecture"))
    return None


@dataclass(frozen=True)
class Probe:
    """The outcome of trying a code path once on a tiny input: ``ok``, and what happened."""

    ok: bool
    detail: str


def probe_bf16_lstm(device: str | Any = "cpu") -> Probe:
    """Whether ``nn.LSTM`` runs forward and backward in bfloat16 under ``torch.autocast``.

    On the CPU, autocast sends the LSTM to oneDNN's bfloat16 kernel, which exists only where the
    CPU has bfloat16 instructions (AVX512-BF16 or AMX) and oneDNN may use them: elsewhere it
    raises ``RuntimeError: could not create a primitive descriptor``. On a GPU the answer
    depends on the generation. The probe runs a 4-unit layer on 3 steps on ``device`` inside
    ``try``, so that a caller can take another path instead of crashing.
    """
    import torch

    device = torch.device(device)
    layer = torch.nn.LSTM(4, 4, batch_first=True).to(device)
    x = torch.randn(2, 3, 4, device=device, requires_grad=True)
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out, _ = layer(x)
        out.float().sum().backward()
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return Probe(False, f"{type(err).__name__}: {first.split('. ')[0]}")
    if out.dtype != torch.bfloat16:
        return Probe(False, f"autocast left the LSTM in {out.dtype}")
    return Probe(True, f"the bfloat16 LSTM ran forward and backward on {device.type}")


def bf16_path(probe: Probe, device_type: str, what: str) -> str:
    """One sentence for a reader: which bfloat16 path ran on this machine, and why.

    ``probe`` is :func:`probe_bf16_lstm`'s answer on the device of type ``device_type``;
    ``what`` names what was timed in bfloat16 (the whole LSTM pass, or a product alone).
    """
    if device_type != "cpu":
        return f"On this {device_type} device, autocast runs {what} in bfloat16."
    if probe.ok:
        return f"This CPU has bfloat16 instructions, and autocast runs {what} in bfloat16."
    has = cpu_features()["AVX512-BF16"] or cpu_features()["AMX-BF16"]
    limit = isa_limits().get("ONEDNN_MAX_CPU_ISA")
    why = (
        f"oneDNN is limited to {limit} here (ONEDNN_MAX_CPU_ISA)"
        if limit
        else f"this CPU {'has' if has else 'has no'} bfloat16 instructions"
    )
    return (
        f"The bfloat16 LSTM does not run on this machine: {why}, and autocast's LSTM stops "
        f"with oneDNN's error above. So the cell times what does run in bfloat16 on any CPU, "
        f"{what}, and the row-by-row test below trains in float32 only."
    )
