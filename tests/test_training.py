"""Training: the HD-LIF neuron follows spec section 1; quantizers; online training; export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.neurons import HDLIF
from training.quant import spike_quant, ternary


def test_hdlif_forward_matches_spec_equations():
    n = HDLIF(T=2, bits=4, step=0.25)
    with torch.no_grad():
        n.a.copy_(torch.tensor([0.0, 0.0]))          # lambda = 0.5
        n.b.copy_(torch.logit(torch.tensor([0.5, 0.8])))  # theta_0 = 0.5, theta_1 = 0.8
    s0 = n(torch.tensor([1.3, 0.2, 5.0]), 0)
    # m = I; s* = max(m - 0.5, 0) = [0.8, 0, 4.5]; Q: round(s*/0.25) clipped to 15 -> [3, 0, 15]
    assert torch.allclose(s0, torch.tensor([0.75, 0.0, 3.75]))
    # P2-reset: v = min(m, theta) = [0.5, 0.2, 0.5] (the unquantized s* is subtracted)
    assert torch.allclose(n.v, torch.tensor([0.5, 0.2, 0.5]))
    s1 = n(torch.tensor([0.9, 0.0, -1.0]), 1)
    # m = 0.5 * v + I = [1.15, 0.1, -0.75]; s* = max(m - 0.8, 0) = [0.35, 0, 0] -> Q = [0.25, 0, 0]
    assert torch.allclose(s1, torch.tensor([0.25, 0.0, 0.0]))
    assert torch.allclose(n.v, torch.tensor([0.8, 0.1, -0.75]))


def test_online_gradient_is_spatial_only():
    """Theorem 4.2: with the membrane detached, dL/dI_t = 1 above threshold and 0 below, and
    nothing flows into earlier steps."""
    n = HDLIF(T=2, bits=None)
    n.detach = True
    x0 = torch.tensor([2.0, 0.1], requires_grad=True)
    x1 = torch.tensor([1.0, 0.1], requires_grad=True)
    n(x0, 0)
    s1 = n(x1, 1)
    s1.sum().backward()
    assert x0.grad is None or torch.all(x0.grad == 0)
    # m_1 = 0.5 * v_0 + x1 = [1.25, 0.15]; theta = 0.5: the first is above, the second below
    assert torch.equal(x1.grad, torch.tensor([1.0, 0.0]))


def test_stbp_gradient_flows_through_time():
    n = HDLIF(T=2, bits=None)
    x0 = torch.tensor([0.3], requires_grad=True)   # below threshold: v_0 = m_0 = 0.3
    n(x0, 0)
    s1 = n(torch.tensor([1.0]), 1)
    s1.sum().backward()
    # ds1/dx0 = ds1/dm1 * dm1/dv0 * dv0/dm0 = 1 * lambda * 1 = 0.5
    assert torch.allclose(x0.grad, torch.tensor([0.5]))


def test_spike_quant_forward_and_straight_through():
    x = torch.tensor([-0.3, 0.1, 0.13, 0.376, 10.0], requires_grad=True)
    y = spike_quant(x, 0.25, 4)
    assert torch.allclose(y, torch.tensor([0.0, 0.0, 0.25, 0.5, 3.75]))
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(5))


def test_ternary_twn():
    w = torch.tensor([[0.9, -0.05, -0.6, 0.02], [1.5, 0.0, -0.3, 0.4]], requires_grad=True)
    q = ternary(w)
    wc = w.detach().clamp(-1, 1)
    delta = 0.7 * wc.abs().mean()
    mask = wc.abs() > delta
    alpha = wc.abs()[mask].mean()
    assert torch.equal(q.codes, (torch.sign(wc) * mask).to(torch.int8))
    assert torch.allclose(q.alpha, alpha)
    assert torch.allclose(q.weight, alpha * q.codes.float())
    q.weight.sum().backward()
    # straight-through, masked outside [-1, 1] (the 1.5 entry)
    assert w.grad[1, 0] == 0 and w.grad[0, 0] == 1


def test_training_and_export_agree(digits_run):
    m, e = digits_run["metrics"], digits_run["export"]
    assert m["test_accuracy"] >= 0.9
    assert e["agreement"] >= 0.99
    assert abs(e["golden_accuracy"] - e["float_accuracy"]) <= 0.01
    assert (digits_run["dir"] / "metrics.json").is_file()


def test_checkpoint_loads_with_weights_only(digits_run):
    from training.train import load_checkpoint

    model, ckpt = load_checkpoint(digits_run["dir"])
    assert model.cfg.T == 4 and ckpt["epochs"] == 8


def test_bad_time_step_is_rejected():
    with pytest.raises(ValueError, match="time step must lie in 0..3, not 4"):
        HDLIF(T=4)(torch.zeros(2), 4)


def test_stbp_mode_trains_and_bad_mode_is_rejected(tmp_path):
    from training.train import train

    m = train(tmp_path / "stbp", epochs=2, mode="stbp", progress=False)
    assert m["mode"] == "stbp" and m["test_accuracy"] > 0.5
    with pytest.raises(ValueError, match="training mode must be one of online, stbp, not 'bptt'"):
        train(tmp_path / "x", epochs=1, mode="bptt", progress=False)
