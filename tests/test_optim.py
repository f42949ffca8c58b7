"""Tests for rnn_tutorial.optim (chapter 2): optimisers and clipping, checked against torch."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_tutorial.optim import SGD, Adam, clip_grad_norm, clip_grad_value, global_norm

torch = pytest.importorskip("torch")


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=(4,)), "s": rng.normal(size=())}


def grad_sequence(params, steps, seed=1):
    rng = np.random.default_rng(seed)
    return [
        {k: rng.normal(scale=3.0, size=v.shape) for k, v in params.items()} for _ in range(steps)
    ]


def run_torch(opt_cls, params, grads_seq, **kwargs):
    tensors = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()
    }
    opt = opt_cls(list(tensors.values()), **kwargs)
    for grads in grads_seq:
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k], dtype=torch.float64)
        opt.step()
    return {k: t.detach().numpy() for k, t in tensors.items()}


def run_ours(opt, params, grads_seq):
    params = {k: v.copy() for k, v in params.items()}
    for grads in grads_seq:
        opt.step(params, grads)
    return params


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_torch(momentum):
    params = make_params()
    seq = grad_sequence(params, 6)
    ours = run_ours(SGD(lr=0.05, momentum=momentum), params, seq)
    ref = run_torch(torch.optim.SGD, params, seq, lr=0.05, momentum=momentum)
    for k in params:
        np.testing.assert_allclose(ours[k], ref[k], rtol=1e-13, atol=1e-13)


def test_sgd_plain_step_by_hand():
    params = {"w": np.array([1.0, -2.0])}
    SGD(lr=0.1).step(params, {"w": np.array([10.0, 1.0])})
    np.testing.assert_allclose(params["w"], [0.0, -2.1])


@pytest.mark.parametrize(
    "kwargs", [{}, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}, {"lr": 0.3}]
)
def test_adam_matches_torch(kwargs):
    params = make_params(2)
    seq = grad_sequence(params, 8, seed=3)
    ours = run_ours(Adam(**kwargs), params, seq)
    ref = run_torch(torch.optim.Adam, params, seq, **kwargs)
    for k in params:
        np.testing.assert_allclose(ours[k], ref[k], rtol=1e-12, atol=1e-14)


def test_adam_first_step_is_lr_times_sign():
    """After bias correction Adam's first step has size lr in every coordinate (eps aside)."""
    params = {"w": np.zeros(3)}
    Adam(lr=0.01, eps=0.0).step(params, {"w": np.array([5.0, -1e-3, 2.0])})
    np.testing.assert_allclose(params["w"], [-0.01, 0.01, -0.01], rtol=1e-12)


def test_step_updates_in_place():
    params = make_params()
    W = params["W"]
    Adam().step(params, grad_sequence(params, 1)[0])
    assert params["W"] is W


@pytest.mark.parametrize("max_norm", [0.5, 2.0, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    grads = grad_sequence(make_params(), 1, seed=5)[0]
    clipped, total = clip_grad_norm(grads, max_norm)
    tensors = [torch.tensor(g) for g in grads.values()]
    for t in tensors:
        t.grad = t.clone()
    ref_total = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    assert total == pytest.approx(float(ref_total), rel=1e-12)
    for (k, g), t in zip(clipped.items(), tensors, strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)
        assert g.shape == grads[k].shape


def test_clip_grad_norm_keeps_direction_and_bounds_norm():
    grads = grad_sequence(make_params(), 1, seed=6)[0]
    clipped, total = clip_grad_norm(grads, 1.0)
    assert total == pytest.approx(global_norm(grads))
    assert global_norm(clipped) == pytest.approx(1.0, rel=1e-5)
    ratio = clipped["W"] / grads["W"]
    np.testing.assert_allclose(ratio, ratio.flat[0])  # one common factor for every entry
    np.testing.assert_allclose(clipped["b"] / grads["b"], ratio.flat[0])
    # Below the threshold nothing changes, and the input is never modified.
    small, _ = clip_grad_norm(clipped, 10.0)
    for k in grads:
        np.testing.assert_array_equal(small[k], clipped[k])
    assert global_norm(grads) == pytest.approx(total)


def test_global_norm_by_hand():
    assert global_norm({"a": np.array([3.0]), "b": np.array([[4.0]])}) == pytest.approx(5.0)


def test_clip_grad_value_matches_torch():
    grads = grad_sequence(make_params(), 1, seed=7)[0]
    clipped = clip_grad_value(grads, 1.5)
    for k, g in grads.items():
        t = torch.tensor(g)
        t.grad = t.clone()
        torch.nn.utils.clip_grad_value_([t], 1.5)
        np.testing.assert_array_equal(clipped[k], t.grad.numpy())
        assert np.abs(clipped[k]).max() <= 1.5


def test_clip_value_changes_direction_clip_norm_does_not():
    grads = {"w": np.array([10.0, 1.0])}
    by_value = clip_grad_value(grads, 1.0)["w"]
    by_norm, _ = clip_grad_norm(grads, 1.0)
    cos = lambda a, b: a @ b / (np.linalg.norm(a) * np.linalg.norm(b))  # noqa: E731
    assert cos(by_norm["w"], grads["w"]) == pytest.approx(1.0)
    assert cos(by_value, grads["w"]) == pytest.approx(11 / np.sqrt(2 * 101))


def test_bad_input_is_rejected():
    params = make_params()
    grads = grad_sequence(params, 1)[0]
    with pytest.raises(ValueError, match="keys"):
        SGD(0.1).step(params, {k: v for k, v in grads.items() if k != "b"})
    with pytest.raises(ValueError, match="keys"):
        Adam().step(params, {**grads, "extra": np.zeros(2)})
    with pytest.raises(ValueError, match=r"must have shape \(3, 4\)"):
        Adam().step(params, {**grads, "W": np.zeros((4, 3))})
    with pytest.raises(ValueError, match=r"must have shape \(4,\)"):
        SGD(0.1).step(params, {**grads, "b": np.zeros((4, 1))})
    with pytest.raises(ValueError, match="floating-point ndarray"):
        SGD(0.1).step({"w": [1.0, 2.0]}, {"w": np.zeros(2)})
    with pytest.raises(ValueError, match="lr"):
        SGD(0.0)
    with pytest.raises(ValueError, match="momentum"):
        SGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="betas"):
        Adam(betas=(0.9,))
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(grads, 0.0)
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value(grads, -1.0)
    with pytest.raises(ValueError, match="non-empty"):
        clip_grad_norm({}, 1.0)
