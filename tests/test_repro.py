from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from rnn_tutorial.repro import environment_report, print_environment, set_seed, torch_device


def _draws() -> tuple:
    import keras

    return (
        random.random(),
        np.random.rand(),  # noqa: NPY002  (the legacy global generator is what set_seed seeds)
        torch.rand(1).item(),
        float(keras.random.uniform((1,))[0]),
    )


def test_set_seed_makes_python_numpy_torch_and_keras_repeatable():
    set_seed(123)
    first = _draws()
    set_seed(123)
    assert _draws() == first
    set_seed(124)
    assert _draws() != first


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True, None])
def test_set_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        set_seed(bad)


def test_torch_device_prefers_available_accelerators():
    device = torch_device()
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert device.type == expected
    assert torch_device("cpu").type == "cpu"


def test_torch_device_errors_are_clear():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        torch_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="'cuda' was requested but is not available"):
            torch_device("cuda")


def test_environment_report_lists_versions_device_and_threads(capsys):
    report = environment_report()
    assert report["numpy"] == np.__version__
    assert report["torch"] == torch.__version__
    assert report["torch device"].startswith(torch_device().type)
    assert int(report["torch threads"]) == torch.get_num_threads()
    print_environment()
    out = capsys.readouterr().out
    assert "torch device" in out and "tensorflow" in out


# --- GPU safety (TF memory growth, TF32 policy) and the GPU smoke switch ----------------------


def test_tensorflow_starts_with_memory_growth_requested_before_its_first_op():
    """In a fresh process, set_seed must ask for growth-on-demand before TF's GPU runtime starts.

    TF reads TF_FORCE_GPU_ALLOW_GROWTH when it creates a GPU device, at the first op; the
    variable has to be in the environment before that. The test imports nothing but the package
    and checks the environment TF saw, plus the TF32 policy, in a clean interpreter.
    """
    import subprocess
    import sys

    code = (
        "import os\n"
        "from rnn_tutorial.repro import set_seed\n"
        "set_seed(0)\n"
        "import tensorflow as tf, torch\n"
        "print(os.environ.get('TF_FORCE_GPU_ALLOW_GROWTH'))\n"
        "print(tf.config.experimental.tensor_float_32_execution_enabled())\n"
        "print(torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)\n"
        "print([tf.config.experimental.get_memory_growth(g)"
        " for g in tf.config.list_physical_devices('GPU')])\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_FORCE_GPU_ALLOW_GROWTH"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.split("\n")
    assert out[0] == "true"
    assert out[1] == "False", "TF32 must be off in TensorFlow (the book's precision policy)"
    assert out[2] == "False False", "TF32 must be off in PyTorch's matmuls and cuDNN"
    growth = out[3]
    assert "False" not in growth, f"every GPU must grow its memory on demand, got {growth}"


def test_memory_growth_is_set_in_the_import_path_before_any_op():
    """Read the code: set_memory_growth precedes the first TF op on both import paths."""
    import inspect

    from rnn_tutorial import repro

    source = inspect.getsource(repro._import_keras_quietly)
    assert source.index("TF_FORCE_GPU_ALLOW_GROWTH") < source.index("import keras")
    assert source.index("import keras") < source.index("_prepare_tensorflow(tf)")
    source = inspect.getsource(repro._prepare_tensorflow)
    assert source.index("set_memory_growth") < source.index("tf.transpose")
    # On import after set_seed, the TensorFlow module is prepared before anything is seeded.
    source = inspect.getsource(repro._SeedingLoader.exec_module)
    assert source.index("_prepare_tensorflow(module)") < source.index("_seed_tensorflow(module")


def _configs():
    cpu = dict(n=100, epochs=1, H=32)
    gpu = dict(n=10_000, epochs=8, H=128)
    smoke = dict(n=64, epochs=1)
    return cpu, gpu, smoke


def test_choose_config_picks_cpu_gpu_and_smoke(monkeypatch):
    from rnn_tutorial.repro import GPU_SMOKE_ENV, choose_config

    cpu, gpu, smoke = _configs()
    monkeypatch.delenv(GPU_SMOKE_ENV, raising=False)
    config = choose_config(cpu, gpu, smoke, device=torch.device("cpu"))
    assert config == cpu and config.branch == "cpu" and config.full
    config = choose_config(cpu, gpu, smoke, device=torch.device("cuda"))
    assert config == gpu and config.branch == "gpu" and config.full
    monkeypatch.setenv(GPU_SMOKE_ENV, "1")
    config = choose_config(cpu, gpu, smoke, device=torch.device("cpu"))
    assert config == dict(n=64, epochs=1, H=128)
    assert config.branch == "gpu" and config.smoke and not config.full
    assert "reduced size" in repr(config)
    monkeypatch.setenv(GPU_SMOKE_ENV, "0")
    assert choose_config(cpu, gpu, smoke, device=torch.device("cpu")).branch == "cpu"


def test_choose_config_errors_are_clear(monkeypatch):
    from rnn_tutorial.repro import GPU_SMOKE_ENV, choose_config

    cpu, gpu, smoke = _configs()
    monkeypatch.delenv(GPU_SMOKE_ENV, raising=False)
    with pytest.raises(ValueError, match=r"same keys; only in cpu: \[\], only in gpu: \['extra'\]"):
        choose_config(cpu, {**gpu, "extra": 1}, smoke)
    with pytest.raises(ValueError, match=r"lacks: \['epoch'\]"):
        choose_config(cpu, gpu, {"epoch": 1})
    monkeypatch.setenv(GPU_SMOKE_ENV, "yes")
    with pytest.raises(ValueError, match="must be 1 .on. or 0 / unset"):
        choose_config(cpu, gpu, smoke)


def test_make_test_runs_the_gpu_smoke_pass():
    """The Makefile's test target runs gpu-smoke, which sets the switch for nbval."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    makefile = (root / "Makefile").read_text()
    test_rule = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "gpu-smoke" in test_rule
    smoke_rule = makefile.split("\ngpu-smoke:", 1)[1].split("\n\n", 1)[0]
    assert "RNN_TUTORIAL_GPU_SMOKE=1" in smoke_rule and "$(NBVAL)" in smoke_rule
    assert "--nbval-lax" in makefile.split("\nNBVAL :=", 1)[1].split("\n\n", 1)[0]
    sys.path.insert(0, str(root / "tools"))
    import nbtools

    assert nbtools.gpu_notebooks(), "no notebook has a GPU configuration (choose_config)"


def test_book_style_sets_svg_friendly_colour_blind_safe_defaults():
    import matplotlib as mpl

    from rnn_tutorial.figures import COLUMN_INCHES, OKABE_ITO, use_book_style

    params = use_book_style()
    assert mpl.rcParams["figure.figsize"][0] == COLUMN_INCHES
    assert [c.upper() for c in mpl.rcParams["axes.prop_cycle"].by_key()["color"]] == list(OKABE_ITO)
    assert params["font.size"] >= 9


def test_cpu_model_names_the_processor_and_its_cores():
    import os

    from rnn_tutorial.repro import cpu_model

    model = cpu_model()
    assert model.endswith(f", {os.cpu_count()} cores") and len(model) > len(" cores") + 3


# --- set_seed seeds TensorFlow and Keras when a chapter first imports them --------------------

_SEED_PROBE = """
import random, sys
import numpy as np
if sys.argv[1] == "keras-first":
    import keras
from rnn_tutorial.repro import set_seed
set_seed(7)
imported_at_seed = "tensorflow" in sys.modules
drawn = [np.random.rand(), random.random()]
import keras
import tensorflow as tf
drawn += [np.random.rand(), random.random()]
print(repr((imported_at_seed, drawn, keras.random.uniform((3,)).numpy().tolist(),
            keras.layers.Dense(2)(np.ones((1, 2))).numpy().tolist(),
            tf.random.uniform((2,)).numpy().tolist(),
            tf.config.experimental.tensor_float_32_execution_enabled())))
"""


def _seed_probe(order: str) -> tuple[tuple, str]:
    import ast
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _SEED_PROBE, order], capture_output=True, text=True, check=True
    )
    return ast.literal_eval(done.stdout.strip()), done.stderr


def test_set_seed_does_not_import_tensorflow_and_seeds_it_on_import_as_if_it_had():
    """A chapter that never uses Keras must not pay TensorFlow's import (7-12 s); one that
    imports Keras after set_seed must get the same numbers as if Keras had been imported
    first, quietly, with the chapter's own draws since set_seed left where they were."""
    lazy, lazy_stderr = _seed_probe("set-seed-first")
    eager, _ = _seed_probe("keras-first")
    assert lazy[0] is False, "set_seed imported TensorFlow in a chapter that had not"
    assert eager[0] is True
    assert lazy[1:] == eager[1:], "seeding on import must give the numbers eager seeding gives"
    assert lazy[-1] is False, "TF32 must be off after the import, as after an eager set_seed"
    assert "cpu_feature_guard" not in lazy_stderr and "cudart" not in lazy_stderr, lazy_stderr
