"""Tests for rnn_tutorial.train (Sequential MNIST chapter): training loop, evaluate, predict."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from rnn_tutorial.train import chrono_init_, evaluate, fit, predict  # noqa: E402

CPU = torch.device("cpu")


class GRUClassifier(torch.nn.Module):
    """A GRU over (B, T, D) and a linear head on the last state: logits (B, K)."""

    def __init__(self, D: int = 3, H: int = 16, K: int = 3) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(D, H, batch_first=True)
        self.head = torch.nn.Linear(H, K)

    def forward(self, x):
        _, h_n = self.rnn(x)
        return self.head(h_n[-1])


def make_task(n: int, seed: int, T: int = 6, D: int = 3):
    """Class = the feature with the largest sum over time: a GRU must integrate over time."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, D)).astype(np.float32)
    y = x.sum(axis=1).argmax(axis=1)
    return torch.tensor(x), torch.tensor(y)


def loaders(batch_size: int = 64):
    torch.manual_seed(0)
    train = DataLoader(TensorDataset(*make_task(1024, 0)), batch_size=batch_size, shuffle=True)
    val = DataLoader(TensorDataset(*make_task(512, 1)), batch_size=256)
    return train, val


def test_fit_learns_a_tiny_problem_and_returns_the_history(capsys):
    train, val = loaders()
    torch.manual_seed(0)
    model = GRUClassifier()
    loss_fn = torch.nn.CrossEntropyLoss()
    before_loss, before_acc = evaluate(model, val, loss_fn, CPU)
    history = fit(
        model,
        train,
        val,
        epochs=8,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
        loss_fn=loss_fn,
        device=CPU,
    )
    assert set(history) == {"train_loss", "train_acc", "val_loss", "val_acc", "lr"}
    assert all(len(v) == 8 for v in history.values())
    assert all(math.isfinite(v) for v in sum(history.values(), []))
    assert before_acc < 0.6  # chance is 1/3
    assert history["val_acc"][-1] > 0.9
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_loss"][-1] < before_loss
    # The last val entry is exactly evaluate() on the final weights.
    assert evaluate(model, val, loss_fn, CPU) == pytest.approx(
        (history["val_loss"][-1], history["val_acc"][-1])
    )
    # What a terminal (and the stored notebook output) shows: the text after the last \r.
    lines = [line.rsplit("\r", 1)[-1] for line in capsys.readouterr().out.split("\n")]
    assert sum(line.startswith("epoch ") for line in lines) == 8
    out = "\n".join(lines)
    assert "epoch 8/8: train_loss" in out and "val_acc" in out


def test_fit_without_validation_has_no_val_keys():
    train, _ = loaders()
    model = GRUClassifier()
    history = fit(
        model,
        train,
        epochs=1,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn=torch.nn.CrossEntropyLoss(),
        device=CPU,
        log_epochs=False,
    )
    assert set(history) == {"train_loss", "train_acc", "lr"}
    assert 0.0 <= history["train_acc"][0] <= 1.0


def test_evaluate_matches_a_hand_computation():
    _, val = loaders()
    model = GRUClassifier()
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = val.dataset.tensors
    with torch.no_grad():
        logits = model(x)
    loss, acc = evaluate(model, val, loss_fn, CPU)
    assert loss == pytest.approx(float(loss_fn(logits, y)), rel=1e-5)
    assert acc == pytest.approx(float((logits.argmax(1) == y).float().mean()))


def test_evaluate_and_predict_restore_the_training_mode():
    _, val = loaders()
    model = GRUClassifier()
    model.train()
    evaluate(model, val, torch.nn.CrossEntropyLoss(), CPU)
    assert model.training
    predict(model, val, CPU)
    assert model.training
    model.eval()
    evaluate(model, val, torch.nn.CrossEntropyLoss(), CPU)
    assert not model.training


def test_predict_returns_the_outputs_in_order():
    _, val = loaders()
    model = GRUClassifier()
    x, _ = val.dataset.tensors
    with torch.no_grad():
        expected = model(x).numpy()
    got = predict(model, val, CPU)
    assert got.shape == (512, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # Inputs only: a loader of bare tensors, and one of 1-tuples.
    bare = DataLoader(x, batch_size=100)
    np.testing.assert_allclose(predict(model, bare, CPU, targets=False), expected, atol=1e-6)
    single = [(x[:7],), (x[7:],)]
    np.testing.assert_allclose(predict(model, single, CPU, targets=False), expected, atol=1e-6)


class PackedBinary(torch.nn.Module):
    """Batches (x, lengths, y): packs, returns one logit per sequence (binary accuracy path)."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(1, 8, batch_first=True)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x, lengths):
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, h_n = self.rnn(packed)
        return self.head(h_n[-1]).squeeze(-1)


def test_several_inputs_and_a_binary_target():
    """(x, lengths, y) batches; the label is whether the sum of the real steps is positive."""
    rng = np.random.default_rng(3)
    n, T = 512, 9
    lengths = rng.integers(1, T + 1, size=n)
    x = rng.standard_normal((n, T, 1)).astype(np.float32)
    x[np.arange(T)[None, :] >= lengths[:, None]] = 0.0  # right padding
    y = (x.sum(axis=(1, 2)) > 0).astype(np.float32)
    data = TensorDataset(torch.tensor(x), torch.tensor(lengths), torch.tensor(y))
    torch.manual_seed(0)
    train = DataLoader(data, batch_size=32, shuffle=True)
    model = PackedBinary()
    history = fit(
        model,
        train,
        DataLoader(data, batch_size=128),
        epochs=6,
        optimizer=torch.optim.Adam(model.parameters(), lr=2e-2),
        loss_fn=torch.nn.BCEWithLogitsLoss(),
        device=CPU,
        log_epochs=False,
    )
    assert history["val_acc"][-1] > 0.9
    logits = predict(model, DataLoader(data, batch_size=128), CPU)
    assert logits.shape == (n,)
    assert np.mean((logits > 0) == y) == pytest.approx(history["val_acc"][-1])


def test_gradient_clipping_bounds_the_step():
    train, _ = loaders(batch_size=1024)  # one batch, one step
    model = GRUClassifier()
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    fit(
        model,
        train,
        epochs=1,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
        loss_fn=torch.nn.CrossEntropyLoss(),
        device=CPU,
        max_grad_norm=1e-3,
        log_epochs=False,
    )
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float((after - before).norm()) == pytest.approx(1e-3, rel=1e-3)


@pytest.mark.parametrize("interval, expected", [("epoch", [0.05, 0.025, 0.0125]), ("batch", None)])
def test_scheduler_steps_per_epoch_or_per_batch(interval, expected):
    train, _ = loaders(batch_size=256)  # 4 batches per epoch
    model = GRUClassifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(
        model,
        train,
        epochs=3,
        optimizer=optimizer,
        loss_fn=torch.nn.CrossEntropyLoss(),
        device=CPU,
        scheduler=scheduler,
        scheduler_interval=interval,
        log_epochs=False,
    )
    if expected is None:
        expected = [0.1 * 0.5 ** (4 * e) for e in (1, 2, 3)]
    assert history["lr"] == pytest.approx(expected)


def test_reduce_on_plateau_gets_the_validation_loss():
    train, val = loaders()
    model = GRUClassifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # no progress: the loss plateaus
    optimizer.param_groups[0]["lr"] = 0.0
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, min_lr=0)
    fit(
        model,
        train,
        val,
        epochs=2,
        optimizer=optimizer,
        loss_fn=torch.nn.CrossEntropyLoss(),
        device=CPU,
        scheduler=scheduler,
        log_epochs=False,
    )
    assert scheduler.best == pytest.approx(
        evaluate(model, val, torch.nn.CrossEntropyLoss(), CPU)[0]
    )


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True, "2"])
def test_bad_epochs_raise(epochs):
    train, _ = loaders()
    model = GRUClassifier()
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        fit(
            model,
            train,
            epochs=epochs,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            loss_fn=torch.nn.CrossEntropyLoss(),
        )


def test_empty_loaders_raise():
    train, val = loaders()
    model = GRUClassifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    empty = DataLoader(TensorDataset(torch.zeros(0, 6, 3), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="train_loader is empty"):
        fit(model, empty, epochs=1, optimizer=opt, loss_fn=loss_fn, device=CPU)
    with pytest.raises(ValueError, match="train_loader is empty"):
        fit(model, iter([]), epochs=1, optimizer=opt, loss_fn=loss_fn, device=CPU)
    with pytest.raises(ValueError, match="val_loader is empty"):
        fit(model, train, empty, epochs=1, optimizer=opt, loss_fn=loss_fn, device=CPU)
    with pytest.raises(ValueError, match="loader is empty"):
        evaluate(model, empty, loss_fn, CPU)
    with pytest.raises(ValueError, match="loader is empty"):
        evaluate(model, iter([]), loss_fn, CPU)
    with pytest.raises(ValueError, match="loader is empty"):
        predict(model, [], CPU)


def test_other_bad_inputs_raise():
    train, _ = loaders()
    model = GRUClassifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="scheduler_interval"):
        fit(model, train, epochs=1, optimizer=opt, loss_fn=loss_fn, scheduler_interval="step")
    with pytest.raises(ValueError, match="max_grad_norm must be positive"):
        fit(model, train, epochs=1, optimizer=opt, loss_fn=loss_fn, max_grad_norm=0.0)
    x, y = make_task(8, 0)
    with pytest.raises(ValueError, match=r"must yield tuples \(\*inputs, target\)"):
        evaluate(model, [x], loss_fn, CPU)
    with pytest.raises(ValueError, match="at least one input and a target"):
        evaluate(model, [(x,)], loss_fn, CPU)
    with pytest.raises(ValueError, match="cannot compute an accuracy"):
        evaluate(model, [(x, torch.zeros(8, 5))], lambda o, t: o.sum(), CPU)


def test_a_diverging_loss_raises():
    train, _ = loaders()
    model = GRUClassifier()
    with torch.no_grad():
        model.head.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="the loss became nan in epoch 1"):
        fit(
            model,
            train,
            epochs=1,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            loss_fn=torch.nn.CrossEntropyLoss(),
            device=CPU,
        )


def test_chrono_init_sets_the_gate_biases_of_every_layer_and_direction():
    lstm = torch.nn.LSTM(3, 8, num_layers=2, bidirectional=True)
    torch.manual_seed(0)
    assert chrono_init_(lstm, 100) is lstm
    torch.manual_seed(0)  # the same draws, in the order of named_parameters
    for name, p in lstm.named_parameters():
        if name.startswith("bias_hh"):
            assert torch.count_nonzero(p) == 0
        elif name.startswith("bias_ih"):
            b_f = torch.log(torch.empty(8).uniform_(1.0, 99.0))
            i, f, g, o = p.detach().split(8)
            assert torch.equal(f, b_f) and torch.equal(i, -b_f)
            assert torch.count_nonzero(g) == 0 and torch.count_nonzero(o) == 0
            assert 0 <= f.min() and f.max() <= math.log(99.0)


def test_chrono_init_lets_the_forget_gate_keep_the_cell_for_about_t_max_steps():
    # With zero inputs and weights, c_t = sigmoid(b_f) c_{t-1}: the cell decays on the time
    # scale 1 / (1 - sigmoid(b_f)) = 1 + u, between 2 and t_max.
    torch.manual_seed(1)
    lstm = chrono_init_(torch.nn.LSTM(1, 64), 500)
    f = torch.sigmoid(lstm.bias_ih_l0.detach()[64:128])
    scale = 1 / (1 - f)
    assert 2 <= scale.min() and scale.max() <= 500
    assert scale.median() > 50  # most units remember for a long time


def test_chrono_init_rejects_bad_input():
    with pytest.raises(TypeError, match="torch.nn.LSTM"):
        chrono_init_(torch.nn.GRU(2, 4), 10)
    with pytest.raises(TypeError, match="bias=False"):
        chrono_init_(torch.nn.LSTM(2, 4, bias=False), 10)
    for t_max in (2, 1.5, -3, "100", True):
        with pytest.raises(ValueError, match="t_max"):
            chrono_init_(torch.nn.LSTM(2, 4), t_max)
