"""rnn_tutorial.scan: parallel scans against the loop, gradients, shape errors, layers."""

from __future__ import annotations

import pytest
import torch

from rnn_tutorial.scan import (
    SCAN_MODES,
    MinGRU,
    MinLSTM,
    SelectiveScan,
    TinyCausalTransformer,
    blelloch_scan,
    hillis_steele_scan,
    linear_recurrence,
    linear_recurrence_loop,
    log_positive_activation,
    log_space_scan,
    positive_activation,
)

PARALLEL = [hillis_steele_scan, blelloch_scan]


def _inputs(T, dtype, B=3, H=4, seed=0, positive=False):
    g = torch.Generator().manual_seed(seed)
    lam = torch.rand(B, T, H, generator=g, dtype=dtype) * 0.98 + 0.01
    beta = torch.randn(B, T, H, generator=g, dtype=dtype)
    h0 = torch.randn(B, H, generator=g, dtype=dtype)
    if positive:
        beta, h0 = beta.abs() + 0.05, h0.abs() + 0.05
    return lam, beta, h0


@pytest.mark.parametrize("T", [1, 2, 3, 7, 8, 9, 100, 1024])
@pytest.mark.parametrize("scan", PARALLEL)
def test_parallel_scans_equal_the_loop_float64(T, scan):
    lam, beta, h0 = _inputs(T, torch.float64)
    ref = linear_recurrence_loop(lam, beta, h0)
    assert (scan(lam, beta, h0) - ref).abs().max() < 1e-12
    assert (scan(lam, beta) - linear_recurrence_loop(lam, beta)).abs().max() < 1e-12


@pytest.mark.parametrize("T", [1, 5, 64, 1024])
@pytest.mark.parametrize("scan", PARALLEL)
def test_parallel_scans_equal_the_loop_float32(T, scan):
    lam, beta, h0 = _inputs(T, torch.float32)
    ref = linear_recurrence_loop(lam.double(), beta.double(), h0.double())
    assert (scan(lam, beta, h0).double() - ref).abs().max() < 1e-5


@pytest.mark.parametrize("T", [1, 6, 256])
def test_log_space_scan_equals_the_loop(T):
    lam, beta, h0 = _inputs(T, torch.float64, positive=True)
    ref = linear_recurrence_loop(lam, beta, h0)
    got = log_space_scan(lam.log(), beta.log(), h0.log())
    assert ((got - ref).abs() / ref.abs()).max() < 1e-12
    got = log_space_scan(lam.log(), beta.log())
    ref = linear_recurrence_loop(lam, beta)
    assert ((got - ref).abs() / ref.abs()).max() < 1e-12


def test_log_space_scan_survives_where_products_underflow():
    # lam = 1e-3 for 200 steps: the product underflows float64, the log-space scan does not
    T = 200
    lam = torch.full((1, T, 1), 1e-3, dtype=torch.float64)
    beta = torch.ones(1, T, 1, dtype=torch.float64)
    h = log_space_scan(lam.log(), beta.log())
    ref = linear_recurrence_loop(lam, beta)
    assert torch.isfinite(h).all()
    assert (h - ref).abs().max() < 1e-12


@pytest.mark.parametrize("mode", SCAN_MODES)
def test_linear_recurrence_dispatch(mode):
    lam, beta, h0 = _inputs(17, torch.float64, positive=True)
    ref = linear_recurrence_loop(lam, beta, h0)
    assert (linear_recurrence(lam, beta, h0, mode) - ref).abs().max() < 1e-12


@pytest.mark.parametrize("scan", PARALLEL + [linear_recurrence_loop])
def test_scan_gradients(scan):
    lam, beta, h0 = _inputs(11, torch.float64, B=2, H=2)
    inputs = tuple(t.requires_grad_() for t in (lam, beta, h0))
    assert torch.autograd.gradcheck(scan, inputs)


def test_log_space_scan_gradients():
    lam, beta, h0 = _inputs(9, torch.float64, B=2, H=2, positive=True)
    inputs = tuple(t.log().requires_grad_() for t in (lam, beta, h0))
    assert torch.autograd.gradcheck(log_space_scan, inputs)


@pytest.mark.parametrize("scan", PARALLEL + [linear_recurrence_loop, log_space_scan])
def test_bad_shapes_raise_value_errors(scan):
    lam, beta, h0 = _inputs(5, torch.float64)
    with pytest.raises(ValueError, match=r"\(B, T, H\)"):
        scan(lam[0], beta[0])
    with pytest.raises(ValueError, match="same shape"):
        scan(lam, beta[:, :4])
    with pytest.raises(ValueError, match="h0 must have shape"):
        scan(lam, beta, h0[:, :2])
    with pytest.raises(ValueError, match="T >= 1"):
        scan(lam[:, :0], beta[:, :0])
    with pytest.raises(ValueError, match="mode must be"):
        linear_recurrence(lam, beta, h0, "fast")


def test_positive_activation_and_its_log():
    a = torch.linspace(-40, 40, 801, dtype=torch.float64)
    g = positive_activation(a)
    assert (g > 0).all()
    assert (log_positive_activation(a) - g.log()).abs().max() < 1e-12


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_min_rnns_all_modes_and_steps_agree(cls):
    torch.manual_seed(0)
    layer = cls(3, 5).double()
    x = torch.randn(2, 37, 3, dtype=torch.float64)
    h0 = torch.rand(2, 5, dtype=torch.float64) + 0.1
    ref = layer(x, h0, mode="sequential")
    for mode in SCAN_MODES:
        assert (layer(x, h0, mode=mode) - ref).abs().max() < 1e-12
    h = h0
    for t in range(x.shape[1]):
        h = layer.step(x[:, t], h)
    assert (h - ref[:, -1]).abs().max() < 1e-12
    with pytest.raises(ValueError, match=r"\(B, T, D\)"):
        layer(x[..., :2])


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_min_rnn_gradients(cls):
    torch.manual_seed(1)
    layer = cls(2, 3).double()
    x = torch.randn(2, 6, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(x, mode="log"), (x,))


@pytest.mark.parametrize("selective", [True, False])
def test_selective_scan_parallel_equals_loop(selective):
    torch.manual_seed(2)
    layer = SelectiveScan(4, 3, selective=selective).double()
    x = torch.randn(2, 29, 4, dtype=torch.float64)
    ref = layer(x, mode="sequential")
    for mode in ("hillis_steele", "blelloch"):
        assert (layer(x, mode=mode) - ref).abs().max() < 1e-12
    with pytest.raises(ValueError, match="mode must be"):
        layer(x, mode="log")
    with pytest.raises(ValueError, match=r"\(B, T, D\)"):
        layer(x[..., :3])


def test_selective_scan_gradients():
    torch.manual_seed(3)
    layer = SelectiveScan(2, 2).double()
    x = torch.randn(1, 5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(x), (x,))


def test_transformer_is_causal_and_decoding_matches():
    torch.manual_seed(4)
    model = TinyCausalTransformer(3, 16, 2, 2).double()
    x = torch.randn(2, 12, 3, dtype=torch.float64)
    full = model(x)
    x2 = x.clone()
    x2[:, 7:] += 1.0  # a change at step 8 cannot reach steps 1..7
    assert (model(x2)[:, :7] - full[:, :7]).abs().max() < 1e-12
    cache, outs = None, []
    for t in range(x.shape[1]):
        out, cache = model.decode_step(x[:, t], cache)
        outs.append(out)
    assert (torch.stack(outs, 1) - full).abs().max() < 1e-12
    assert cache[0][0].shape == (2, 2, 12, 8)
    with pytest.raises(ValueError, match="divisible"):
        TinyCausalTransformer(3, 10, 3, 1)
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        model.decode_step(x[:, :2], None)
