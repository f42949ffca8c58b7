"""Static checks of the application chapters (Sequential MNIST, sentiment analysis).

They read the notebooks' code, in code cells and in the code blocks of the exercise solutions,
and need no execution:

- Keras clips gradients by their global norm: ``global_clipnorm=``, never ``clipnorm=``, which
  clips each weight tensor on its own (the "Training well" chapter shows the difference).
- Every size that differs between the CPU and the GPU run comes from ``choose_config``, so the
  GPU code path runs in CI (``make gpu-smoke``); no cell branches on the device for it.
- No ``assert`` reads a test-set metric: the test set is evaluated once and reported.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
APPLICATIONS = [
    ROOT / "chapters" / "13_sequential_mnist.ipynb",
    ROOT / "chapters" / "14_sentiment.ipynb",
]
PER_TENSOR_CLIPNORM = re.compile(r"(?<![\w.])clipnorm\s*=")
FENCED_CODE = re.compile(r"```python\n(.*?)```", re.DOTALL)
# Inputs and labels of the test split may appear in sanity checks; metrics may not.
TEST_DATA_NAMES = {"x_test", "y_test", "len_test", "x_test_raw", "rating_test"}


def _code_cells(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _all_code(path: Path) -> list[str]:
    """Code cells plus the fenced Python blocks of the markdown cells (exercise solutions)."""
    nb = nbformat.read(path, as_version=4)
    blocks = _code_cells(path)
    for c in nb.cells:
        if c.cell_type == "markdown":
            blocks += FENCED_CODE.findall(c.source)
    return blocks


@pytest.mark.parametrize("path", APPLICATIONS, ids=lambda p: p.name)
def test_keras_clips_by_the_global_norm(path: Path):
    code = "\n".join(_all_code(path))
    assert not PER_TENSOR_CLIPNORM.findall(code), (
        f"{path.name}: use global_clipnorm= (one norm over all gradients), not clipnorm="
    )
    assert "global_clipnorm=" in code


def test_the_per_tensor_pattern_is_caught():
    assert PER_TENSOR_CLIPNORM.search("keras.optimizers.Adam(1e-3, clipnorm=1.0)")
    assert PER_TENSOR_CLIPNORM.search("Adam(schedule,clipnorm = 1)")
    assert not PER_TENSOR_CLIPNORM.search("keras.optimizers.Adam(1e-3, global_clipnorm=1.0)")


@pytest.mark.parametrize("path", APPLICATIONS, ids=lambda p: p.name)
def test_configurations_come_from_choose_config(path: Path):
    code = "\n".join(_code_cells(path))
    assert "choose_config(" in code
    assert "on_gpu" not in code and "cuda.is_available" not in code
    for line in code.splitlines():
        if 'device.type == "cuda"' in line:  # device mechanics only
            assert line.strip().startswith("if ") and "synchronize" in code


def _asserted_names(source: str) -> set[str]:
    """Names and string keys that appear in the assert statements of a code cell."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assert):
            for sub in ast.walk(node.test):
                if isinstance(sub, ast.Name):
                    found.add(sub.id)
                elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    found.add(sub.value)
    return found


@pytest.mark.parametrize("path", APPLICATIONS, ids=lambda p: p.name)
def test_no_assert_reads_a_test_metric(path: Path):
    for source in _code_cells(path):
        for name in _asserted_names(source) - TEST_DATA_NAMES:
            assert name != "test" and not name.endswith("_test"), (
                f"{path.name}: an assert reads {name!r}; assert on validation metrics only"
            )
