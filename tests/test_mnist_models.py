"""rnn_tutorial.mnist_models: the Sequential MNIST chapter's split, pixel orders and model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rnn_tutorial.mnist_models import (
    PIXELS,
    as_pixels,
    pixel_permutation,
    split_indices,
    standardise,
)


def test_import_is_cheap():
    code = "import sys, rnn_tutorial.mnist_models; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_split_indices_is_one_permutation():
    train_idx, val_idx = split_indices(100, np.random.default_rng(0), n_val=10)
    order = np.random.default_rng(0).permutation(100)
    assert np.array_equal(val_idx, order[:10]) and np.array_equal(train_idx, order[10:])
    assert not set(train_idx) & set(val_idx)


def test_standardise():
    images = np.array([[[0, 255]], [[255, 0]]], dtype=np.uint8)
    out = standardise(images, mean=0.5, std=0.5)
    assert out.dtype == np.float32 and out.tolist() == [[[-1.0, 1.0]], [[1.0, -1.0]]]


def test_as_pixels_orders():
    x = np.arange(2 * 28 * 28, dtype=np.float32).reshape(2, 28, 28)
    reading = as_pixels(x, "pixel-by-pixel")
    assert reading.shape == (2, PIXELS, 1) and reading.flags.c_contiguous
    assert np.array_equal(reading[1, :, 0], x[1].ravel())
    permuted = as_pixels(x, "permuted")
    assert np.array_equal(permuted[:, :, 0], reading[:, pixel_permutation(), 0])
    assert sorted(pixel_permutation().tolist()) == list(range(PIXELS))
    with pytest.raises(ValueError, match="variant"):
        as_pixels(x, "rows")


def test_rnn_classifier_shapes_and_loader():
    torch = pytest.importorskip("torch")
    from rnn_tutorial.mnist_models import RNNClassifier, tensor_loader

    for cell in ("lstm", "gru"):
        model = RNNClassifier(cell, D=1, H=8, K=10)
        x = torch.zeros(3, 5, 1)
        assert model(x).shape == (3, 10)
        assert model.logits_every_step(x).shape == (3, 5, 10)
        assert torch.allclose(model.logits_every_step(x)[:, -1], model(x))
    x, y = next(iter(tensor_loader(np.zeros((4, 5, 1), np.float32), np.arange(4), batch_size=3)))
    assert tuple(x.shape) == (3, 5, 1) and y.dtype == torch.long


def _reference_classifier(torch, cell, D, H, K):
    """The model from first principles: the layers ``RNNClassifier`` creates, in its order."""
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](D, H, batch_first=True)
    return rnn, torch.nn.Linear(H, K)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_classifier_is_its_layers_bit_for_bit(cell):
    """Same seed, same parameters, outputs and training as the bare layers built in the same
    order: moving the class to module level changed nothing a seeded notebook computes."""
    torch = pytest.importorskip("torch")
    from rnn_tutorial.mnist_models import RNNClassifier

    D, H, K = 3, 7, 4
    torch.manual_seed(0)
    model = RNNClassifier(cell, D=D, H=H, K=K)
    torch.manual_seed(0)
    rnn, head = _reference_classifier(torch, cell, D, H, K)
    reference = [*rnn.named_parameters(), *head.named_parameters()]
    assert [n for n, _ in model.named_parameters()] == [
        *(f"rnn.{n}" for n, _ in rnn.named_parameters()),
        *(f"head.{n}" for n, _ in head.named_parameters()),
    ]
    for (_, p), (_, q) in zip(model.named_parameters(), reference, strict=True):
        assert torch.equal(p, q)

    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 6, D, generator=g)
    y = torch.randint(0, K, (5,), generator=g)
    with torch.no_grad():
        h, _ = rnn(x)
        assert torch.equal(model(x), head(h[:, -1]))
        assert torch.equal(model.logits_every_step(x), head(h))

    opt_model = torch.optim.Adam(model.parameters(), lr=0.01)
    opt_ref = torch.optim.Adam([q for _, q in reference], lr=0.01)
    for _ in range(3):
        for opt, logits in ((opt_model, model(x)), (opt_ref, head(rnn(x)[0][:, -1]))):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(logits, y).backward()
            opt.step()
    for (_, p), (_, q) in zip(model.named_parameters(), reference, strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_classifier_pickles_whole(cell):
    """A module-level class: pickle and ``torch.save(model)`` round-trip the whole model."""
    import io
    import pickle

    torch = pytest.importorskip("torch")
    from rnn_tutorial.mnist_models import RNNClassifier

    torch.manual_seed(0)
    model = RNNClassifier(cell, D=2, H=5, K=3).eval()
    x = torch.randn(4, 6, 2)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for loaded in (
        pickle.loads(pickle.dumps(model)),
        torch.load(buffer, weights_only=False),
    ):
        assert type(loaded) is RNNClassifier and loaded is not model
        with torch.no_grad():
            assert torch.equal(loaded(x), model(x))
            assert torch.equal(loaded.logits_every_step(x), model.logits_every_step(x))
