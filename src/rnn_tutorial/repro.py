"""Reproducibility and device selection (introduced in the setup cell of "Sequences and the
recurrent idea", the first chapter).

Every notebook starts with::

    from rnn_tutorial.repro import set_seed, torch_device, print_environment
    set_seed(0)
    print_environment()
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import os
import platform
import random
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "GPU_SMOKE_ENV",
    "RunConfig",
    "choose_config",
    "cpu_model",
    "environment_report",
    "gpu_smoke",
    "print_environment",
    "set_seed",
    "torch_device",
]

# The book's one switch for exercising GPU-only code on the CPU (see :func:`choose_config`).
GPU_SMOKE_ENV = "RNN_TUTORIAL_GPU_SMOKE"

_REPORTED_PACKAGES = ("numpy", "torch", "tensorflow", "keras", "matplotlib", "scikit-learn")


def _installed(module: str) -> bool:
    return module in sys.modules or importlib.util.find_spec(module) is not None


@contextlib.contextmanager
def _stderr_captured() -> Iterator[None]:
    """Redirect the process's stderr (file descriptor 2) while the block runs; if it raises,
    print what was captured with the error."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _prepare_tensorflow(tf: Any) -> None:
    """Probe the devices, ask every GPU to grow its memory on demand, and run the one op that
    logs a oneDNN note, before any chapter's op (call it with stderr captured)."""
    # Probes CUDA now, while stderr is captured, and asks every GPU to grow its memory on
    # demand before the first op below starts the GPU runtime.
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    # Keras transposes every mask; the first boolean transpose logs a oneDNN note once per
    # process. Trigger it here, silently.
    tf.transpose(tf.zeros((1, 1), dtype=tf.bool))


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
    # TensorFlow reserves almost all of a GPU's memory when its GPU runtime starts, which would
    # starve PyTorch in the same process. Growth-on-demand must be set before the first op;
    # the environment variable covers a reader who imports TensorFlow before calling set_seed.
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    with _stderr_captured():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            _prepare_tensorflow(tf)  # set_memory_growth, then the first op (tf.transpose)
    return keras


def _seed_tensorflow(tf: Any, seed: int, deterministic: bool) -> None:
    tf.random.set_seed(seed)
    # TensorFlow computes float32 matrix products in TensorFloat-32 (a 10-bit mantissa) on
    # Ampere and newer GPUs; the book's policy is full float32 (see set_seed).
    tf.config.experimental.enable_tensor_float_32_execution(False)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _seed_keras(keras: Any, seed: int, deterministic: bool) -> None:
    """Seed Keras: its global seed generator, Python's and NumPy's generators (layers without
    a seed draw theirs from Python's ``random``), and its backend."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        _seed_tensorflow(sys.modules["tensorflow"], seed, deterministic)


def _generator_states() -> tuple[Any, ...]:
    torch = sys.modules.get("torch")
    return (
        random.getstate(),
        np.random.get_state(),  # noqa: NPY002
        torch.random.get_rng_state() if torch is not None else None,
    )


def _restore_generator_states(states: tuple[Any, ...]) -> None:
    random.setstate(states[0])
    np.random.set_state(states[1])  # noqa: NPY002
    torch = sys.modules.get("torch")
    if torch is not None and states[2] is not None:
        torch.random.set_rng_state(states[2])


class _SeedOnImport(importlib.abc.MetaPathFinder):
    """Seeds TensorFlow and Keras when the chapter first imports them (see :func:`set_seed`).

    Importing TensorFlow takes 7 to 12 seconds, so ``set_seed`` does not import it for a
    chapter that never uses it. This finder is consulted when ``tensorflow`` or ``keras`` is
    first imported; it lets the normal loader import the module with TensorFlow's start-up logs
    silenced, then applies the seed, exactly as ``set_seed`` would have done had the module
    been imported already, except that the generators of Python, NumPy and torch are left
    where the chapter's draws since ``set_seed`` have moved them.
    """

    def __init__(self, seed: int, deterministic: bool) -> None:
        self.seed = seed
        self.deterministic = deterministic
        self.pending = {"tensorflow", "keras"} - set(sys.modules)
        self.saved: tuple[Any, ...] | None = None

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name not in self.pending:
            return None
        self.pending.discard(name)
        if not self.pending and self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _SeedingLoader(spec.loader, self, name)
        return spec


class _SeedingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, finder: _SeedOnImport, name: str) -> None:
        self.loader = loader
        self.finder = finder
        self.name = name

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = module.__spec__.loader = self.loader  # the real loader from now on
        finder = self.finder
        outermost = finder.saved is None  # importing Keras imports TensorFlow inside it
        if outermost:
            finder.saved = _generator_states()
        try:
            with _stderr_captured():
                self.loader.exec_module(module)
                if self.name == "tensorflow":
                    _prepare_tensorflow(module)
                    _seed_tensorflow(module, finder.seed, finder.deterministic)
            if self.name == "keras":
                _seed_keras(module, finder.seed, finder.deterministic)
        finally:
            if outermost:
                # As if the import had drawn nothing: the chapter's draws since set_seed stand.
                _restore_generator_states(finder.saved)
                finder.saved = None


def set_seed(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python's ``random``, NumPy, torch and TensorFlow/Keras (whichever are installed).

    Only this call decides the random numbers a chapter draws. What that makes reproducible:

    - the same code, data, library versions **and CPU** (model and instruction-set extensions:
      oneDNN, MKL and OpenBLAS choose different kernels, which round differently) give the same
      NumPy and PyTorch CPU results from one run to the next;
    - TensorFlow/Keras training is *not* reproducible by seeding alone: its ops may use
      non-deterministic reductions and thread schedules. Two recorded runs of the sentiment
      chapter's full configuration, same seed and code, differed by 0.6 points of test
      accuracy. ``deterministic=True`` switches on TensorFlow's op determinism
      (``tf.config.experimental.enable_op_determinism``) and PyTorch's deterministic
      algorithms (``torch.use_deterministic_algorithms``): slower, and an op without a
      deterministic implementation raises an error instead of running;
    - GPU kernels (cuDNN, cuBLAS) are non-deterministic unless ``deterministic=True``; the
      pinned PyTorch no longer asks for ``CUBLAS_WORKSPACE_CONFIG``, since it gives each
      cuBLAS handle a workspace of its own (see "RNNs in PyTorch");
    - nothing is reproducible across CPU generations, GPUs or library versions bit for bit.

    TensorFlow and Keras are seeded now if they are imported, and otherwise when the chapter
    first imports them (quietly: TensorFlow's start-up logs are silenced; Python's, NumPy's and
    torch's generators are left as the chapter's draws since this call left them), so a chapter
    that never uses Keras does not pay the seconds TensorFlow takes to import. Float32 means
    float32 on every device: TensorFloat-32 is switched off in PyTorch and TensorFlow.

    The recorded runs' smoke fingerprints are taken with determinism on
    (:mod:`rnn_tutorial.executed`), and the scripts pass ``deterministic=True``.
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
        # The book's precision policy: float32 means float32 on every device, so that the
        # cross-framework tolerances hold on a GPU too. PyTorch already computes float32
        # matmuls in full precision, but cuDNN (convolutions and RNNs) may use TF32.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        if deterministic:
            torch.use_deterministic_algorithms(True)
    for finder in [f for f in sys.meta_path if isinstance(f, _SeedOnImport)]:
        sys.meta_path.remove(finder)  # an earlier call's seed no longer applies
    if _installed("tensorflow"):
        # Growth-on-demand must be asked for before TensorFlow's first op (see above).
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    if "tensorflow" in sys.modules:
        _seed_tensorflow(sys.modules["tensorflow"], seed, deterministic)
    if "keras" in sys.modules:
        _seed_keras(sys.modules["keras"], seed, deterministic)
    if {"tensorflow", "keras"} - set(sys.modules) and (
        _installed("keras") or _installed("tensorflow")
    ):
        sys.meta_path.insert(0, _SeedOnImport(seed, deterministic))


def gpu_smoke() -> bool:
    """True when ``$RNN_TUTORIAL_GPU_SMOKE`` asks for the GPU configurations on any device.

    ``make test`` sets it for a second, reduced-size nbval pass over the notebooks that have a
    GPU configuration, so that no code path of the book is one that never ran (see
    :func:`choose_config`).
    """
    value = os.environ.get(GPU_SMOKE_ENV, "").strip()
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    raise ValueError(f"${GPU_SMOKE_ENV} must be 1 (on) or 0 / unset (off), got {value!r}")


class RunConfig(dict):
    """A chapter's run configuration: a dict of settings, plus which branch it came from.

    ``branch`` is ``"cpu"`` or ``"gpu"``: the code path that runs. ``smoke`` is True when the
    GPU configuration runs at reduced size on whatever device is present (the CI smoke pass).
    ``full`` is True when the sizes are the real ones, so asserts about results may apply.
    """

    def __init__(self, values: dict[str, Any], branch: str, smoke: bool) -> None:
        super().__init__(values)
        self.branch = branch
        self.smoke = smoke

    @property
    def full(self) -> bool:
        return not self.smoke

    def __repr__(self) -> str:
        kind = f"{self.branch}, reduced size" if self.smoke else self.branch
        return f"RunConfig({kind}: {dict(self)})"


def choose_config(
    cpu: dict[str, Any],
    gpu: dict[str, Any],
    smoke: dict[str, Any],
    device: Any = None,
) -> RunConfig:
    """Pick a chapter's configuration (first used in "Performance and GPUs").

    - On a CUDA device: ``gpu`` (the full-size run).
    - With ``$RNN_TUTORIAL_GPU_SMOKE=1``: ``gpu`` updated with ``smoke``, which overrides only
      sizes (samples, epochs, widths). The GPU code path then runs on the CPU in minutes.
    - Otherwise: ``cpu``, the configuration that fits the 3-minute CPU budget.

    ``cpu`` and ``gpu`` must have the same keys, and ``smoke`` may only name keys of ``gpu``,
    so a typo cannot silently leave a setting at its full size.
    """
    if set(cpu) != set(gpu):
        only_cpu, only_gpu = sorted(set(cpu) - set(gpu)), sorted(set(gpu) - set(cpu))
        raise ValueError(
            "the cpu and gpu configurations must have the same keys; "
            f"only in cpu: {only_cpu}, only in gpu: {only_gpu}"
        )
    unknown = sorted(set(smoke) - set(gpu))
    if unknown:
        raise ValueError(f"smoke overrides keys that the gpu configuration lacks: {unknown}")
    if device is None:
        device = torch_device() if _installed("torch") else None
    on_cuda = getattr(device, "type", str(device)) == "cuda"
    if gpu_smoke():
        return RunConfig({**gpu, **smoke}, branch="gpu", smoke=True)
    if on_cuda:
        return RunConfig(dict(gpu), branch="gpu", smoke=False)
    return RunConfig(dict(cpu), branch="cpu", smoke=False)


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


def cpu_model() -> str:
    """The CPU's model name and core count, e.g. "AMD EPYC, 2 cores" (for provenance records;
    :func:`rnn_tutorial.cpu.cpu_description` adds the instruction-set extensions)."""
    from rnn_tutorial.cpu import model_name

    return f"{model_name()}, {os.cpu_count()} cores"


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
    """Print the environment report; every notebook's setup cell calls this."""
    report = environment_report()
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}} : {value}")
