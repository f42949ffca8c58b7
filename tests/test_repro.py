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
