"""A small PyTorch training loop with a progress bar and a history (introduced in the chapter
"Sequential MNIST"; the "Sentiment analysis" chapter reuses it).

Keras has ``model.fit``; PyTorch leaves the loop to you. This module is the loop the book uses,
short enough to read in one sitting:

- :func:`fit` trains for a number of epochs with one text progress bar
  (:func:`rnn_tutorial.progress.progress`) and one printed line per epoch, and returns the
  per-epoch history (``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``lr``) for plotting;
- :func:`evaluate` returns the mean loss and the accuracy of a model on a loader;
- :func:`predict` returns the model's outputs on a loader as one NumPy array;
- :func:`chrono_init_` sets the gate biases of a ``torch.nn.LSTM`` by chrono initialisation
  (taught in "Long-range memory"; the Sequential MNIST chapter uses it for
  pixel-by-pixel MNIST).

**Batches.** A loader yields tuples ``(*inputs, target)``: the model is called as
``model(*inputs)``, and ``loss_fn(output, target)`` gives the batch's mean loss. Every tensor of
the batch is moved to ``device``; a model that packs sequences must move the lengths back to the
CPU itself (``lengths.cpu()``), as :func:`torch.nn.utils.rnn.pack_padded_sequence` requires.

**Accuracy.** If the output has one more axis than the target (logits ``(B, K)`` and class
indices ``(B,)``, or ``(B, T, K)`` and ``(B, T)``), the prediction is the arg-max over the last
axis. If output and target have the same shape (one logit per example for a binary task, with a
``BCEWithLogitsLoss``), the prediction is ``output > 0``. Accuracy counts target elements.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["chrono_init_", "evaluate", "fit", "predict"]

Batch = Sequence[Any]


def _device(device: Any) -> Any:
    import torch

    from rnn_tutorial.repro import torch_device

    return torch_device() if device is None else torch.device(device)


def _to(batch: Batch, device: Any) -> list[Any]:
    """The batch as a list, with every tensor moved to ``device``."""
    import torch

    if isinstance(batch, torch.Tensor) or not isinstance(batch, Sequence):
        raise ValueError(
            "a loader must yield tuples (*inputs, target), e.g. (x, y) with x of shape "
            f"(B, T, D) and y of shape (B,); got a {type(batch).__name__}"
        )
    return [t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) else t for t in batch]


def _split(batch: list[Any]) -> tuple[list[Any], Any]:
    if len(batch) < 2:
        raise ValueError(
            f"a batch must hold at least one input and a target, (*inputs, target); "
            f"got {len(batch)} element(s)"
        )
    return batch[:-1], batch[-1]


def _correct(output: Any, target: Any) -> tuple[int, int]:
    """(number of correct predictions, number of target elements); see the module docstring."""
    if output.dim() == target.dim() + 1:
        pred = output.argmax(dim=-1)
    elif output.shape == target.shape:
        pred = (output > 0).to(target.dtype)
    else:
        raise ValueError(
            "cannot compute an accuracy: the output must have shape (*target.shape, K) for class "
            f"logits or target.shape for binary logits; got output {tuple(output.shape)} and "
            f"target {tuple(target.shape)}"
        )
    return int((pred == target).sum()), int(target.numel())


def _check_loader(loader: Iterable[Batch], name: str) -> None:
    try:
        n = len(loader)  # type: ignore[arg-type]
    except TypeError:
        return  # an iterable without a length; an empty one is caught after the first pass
    if n == 0:
        raise ValueError(f"{name} is empty: it must yield at least one batch (*inputs, target)")


def evaluate(
    model: Any,
    loader: Iterable[Batch],
    loss_fn: Callable[[Any, Any], Any],
    device: Any = None,
) -> tuple[float, float]:
    """Mean loss (weighted by batch size) and accuracy of ``model`` on ``loader``.

    The model is put in evaluation mode (``model.eval()``) and gradients are off; its previous
    mode is restored afterwards. Raises ``ValueError`` for an empty loader.
    """
    import torch

    _check_loader(loader, "loader")
    device = _device(device)
    was_training = model.training
    model.eval()
    total_loss, correct, count, examples = 0.0, 0, 0, 0
    try:
        with torch.no_grad():
            for batch in loader:
                inputs, target = _split(_to(batch, device))
                output = model(*inputs)
                b = len(target)
                total_loss += float(loss_fn(output, target)) * b
                c, n = _correct(output, target)
                correct, count, examples = correct + c, count + n, examples + b
    finally:
        model.train(was_training)
    if examples == 0:
        raise ValueError("loader is empty: it must yield at least one batch (*inputs, target)")
    return total_loss / examples, correct / count


def predict(
    model: Any,
    loader: Iterable[Batch],
    device: Any = None,
    *,
    targets: bool = True,
) -> np.ndarray:
    """The model's outputs on every batch of ``loader``, concatenated along the first axis.

    With ``targets=True`` (the default) the loader yields ``(*inputs, target)`` and the target is
    ignored; with ``targets=False`` every element of a batch is an input (a single tensor is
    also accepted). The outputs are what the model returns, e.g. logits: apply ``argmax`` or a
    threshold yourself. Evaluation mode, no gradients, float32 NumPy on the CPU.
    """
    import torch

    _check_loader(loader, "loader")
    device = _device(device)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            for batch in loader:
                if not targets and isinstance(batch, torch.Tensor):
                    batch = (batch,)
                moved = _to(batch, device)
                inputs = _split(moved)[0] if targets else moved
                outputs.append(model(*inputs).detach().float().cpu().numpy())
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("loader is empty: it must yield at least one batch")
    return np.concatenate(outputs, axis=0)


def fit(
    model: Any,
    train_loader: Iterable[Batch],
    val_loader: Iterable[Batch] | None = None,
    *,
    epochs: int,
    optimizer: Any,
    loss_fn: Callable[[Any, Any], Any],
    device: Any = None,
    max_grad_norm: float | None = None,
    scheduler: Any = None,
    scheduler_interval: str = "epoch",
    desc: str = "train",
    log_epochs: bool = True,
) -> dict[str, list[float]]:
    """Train ``model`` for ``epochs`` passes over ``train_loader``; return the history.

    Each step: ``model(*inputs)``, ``loss_fn(output, target)``, backward, optional clipping of
    the global gradient norm to ``max_grad_norm`` (:func:`torch.nn.utils.clip_grad_norm_`),
    ``optimizer.step()``, and ``scheduler.step()`` once per epoch or, with
    ``scheduler_interval="batch"``, once per batch (for ``OneCycleLR`` and friends). A
    ``ReduceLROnPlateau`` scheduler is stepped with the validation loss (the training loss if
    there is no ``val_loader``).

    One progress bar covers the whole run; with ``log_epochs=True`` one line per epoch is
    printed above it. The returned history has one entry per epoch in each of

    - ``train_loss``, ``train_acc``: averaged over the epoch's batches *while the weights
      change* (the numbers a training log shows, not the accuracy of the final weights);
    - ``val_loss``, ``val_acc``: :func:`evaluate` on ``val_loader`` after the epoch (only with a
      ``val_loader``);
    - ``lr``: the learning rate of the first parameter group at the end of the epoch.

    Raises ``ValueError`` for ``epochs < 1``, an empty loader or a bad ``scheduler_interval``,
    and ``FloatingPointError`` when the loss becomes NaN or infinite.
    """
    import torch

    from rnn_tutorial.progress import progress

    if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(
            f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}"
        )
    if max_grad_norm is not None and not max_grad_norm > 0:
        raise ValueError(f"max_grad_norm must be positive or None, got {max_grad_norm!r}")
    _check_loader(train_loader, "train_loader")
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")
    device = _device(device)
    model.to(device)
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if plateau and scheduler_interval == "batch":
        raise ValueError("a ReduceLROnPlateau scheduler can only step once per epoch")

    history: dict[str, list[float]] = {"train_loss": [], "train_acc": [], "lr": []}
    if val_loader is not None:
        history |= {"val_loss": [], "val_acc": []}
    try:
        total = epochs * len(train_loader)  # type: ignore[arg-type]
    except TypeError:
        total = None
    bar = progress(total=total, desc=desc)
    try:
        for epoch in range(1, int(epochs) + 1):
            model.train()
            total_loss, correct, count, examples = 0.0, 0, 0, 0
            for batch in train_loader:
                inputs, target = _split(_to(batch, device))
                output = model(*inputs)
                loss = loss_fn(output, target)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"the loss became {float(loss.detach())} in epoch {epoch}; lower the "
                        "learning rate or clip the gradients (max_grad_norm)"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                optimizer.step()
                if scheduler is not None and scheduler_interval == "batch":
                    scheduler.step()
                b = len(target)
                total_loss += float(loss.detach()) * b
                c, n = _correct(output.detach(), target)
                correct, count, examples = correct + c, count + n, examples + b
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{total_loss / examples:.3f}", refresh=False)
            if examples == 0:
                raise ValueError("train_loader is empty: it must yield at least one batch")
            history["train_loss"].append(total_loss / examples)
            history["train_acc"].append(correct / count)
            line = (
                f"epoch {epoch}/{epochs}: train_loss {total_loss / examples:.4f}, "
                f"train_acc {correct / count:.4f}"
            )
            if val_loader is not None:
                val_loss, val_acc = evaluate(model, val_loader, loss_fn, device)
                history["val_loss"].append(val_loss)
                history["val_acc"].append(val_acc)
                line += f", val_loss {val_loss:.4f}, val_acc {val_acc:.4f}"
            if scheduler is not None and scheduler_interval == "epoch":
                if plateau:
                    scheduler.step(
                        history["val_loss" if val_loader is not None else "train_loss"][-1]
                    )
                else:
                    scheduler.step()
            history["lr"].append(float(optimizer.param_groups[0]["lr"]))
            if log_epochs:
                bar.write(line, file=sys.stdout)
    finally:
        bar.close()
    if not all(math.isfinite(v) for values in history.values() for v in values):
        raise FloatingPointError("the history holds a non-finite value")
    return history


def chrono_init_(lstm: Any, t_max: float) -> Any:
    """Chrono initialisation of a ``torch.nn.LSTM``'s gate biases, in place; returns ``lstm``.

    Tallec and Ollivier (2018): for an LSTM that should remember over about ``t_max`` steps,
    draw the forget-gate biases ``b_f = ln(u)``, ``u ~ U(1, t_max - 1)``, set the input-gate
    biases to ``-b_f`` and every other bias to 0. Gate blocks are in PyTorch's order i, f, g, o;
    the draws go into ``bias_ih`` and ``bias_hh`` is zeroed, for every layer and direction, in the
    order of ``lstm.named_parameters()``, from torch's global random generator. Introduced in
    "Long-range memory", and used again in "Sequential MNIST".

    Raises ``TypeError`` for a module that is not a ``torch.nn.LSTM`` or has no biases, and
    ``ValueError`` when ``t_max`` is not a number greater than 2.
    """
    import torch

    if not isinstance(lstm, torch.nn.LSTM):
        raise TypeError(f"chrono_init_ needs a torch.nn.LSTM, got {type(lstm).__name__}")
    if not lstm.bias:
        raise TypeError("chrono_init_ sets gate biases; this LSTM was built with bias=False")
    if isinstance(t_max, bool) or not isinstance(t_max, int | float) or not t_max > 2:
        raise ValueError(f"t_max must be a number greater than 2, got {t_max!r}")
    H = lstm.hidden_size
    with torch.no_grad():
        for name, param in lstm.named_parameters():
            if name.startswith("bias_hh"):
                param.zero_()
            elif name.startswith("bias_ih"):
                b_f = torch.log(torch.empty(H).uniform_(1.0, float(t_max) - 1.0))
                param.zero_()
                param[H : 2 * H] = b_f.to(param)
                param[:H] = -b_f.to(param)
    return lstm
