"""The HD-LIF family and the LIF baseline against the spec's equations."""

from __future__ import annotations

import pytest
import torch

from training.neurons import HDLIF, LIF, MemBNHDLIF, ParallelHDLIF


def test_parallel_hdlif_is_stateless():
    n = ParallelHDLIF(T=3, bits=4, step=0.25)
    x = torch.tensor([0.2, 0.9, 3.0])
    a = n(x, 1)
    b = n(torch.tensor([9.0, 9.0, 9.0]), 2)
    assert n.v is None                       # no membrane is kept
    assert torch.equal(n(x, 1), a)           # the same input gives the same spikes at any time
    assert torch.allclose(a, torch.tensor([0.0, 0.5, 2.5]))   # Q(max(x - 0.5, 0))
    assert torch.allclose(b, torch.full((3,), 3.75))


def test_parallel_theta_index_first_uses_theta0():
    n = ParallelHDLIF(T=2, bits=None, theta_index="first")
    with torch.no_grad():
        n.b.copy_(torch.logit(torch.tensor([0.2, 0.9])))
    assert torch.allclose(n(torch.tensor([1.0]), 1), torch.tensor([0.8]))
    with pytest.raises(ValueError, match="theta_index must be 'step' or 'first', not 'x'"):
        ParallelHDLIF(T=2, theta_index="x")


def test_membn_reparameterize_matches_training_form():
    torch.manual_seed(0)
    T, C = 4, 6
    n = MemBNHDLIF(T, C, bits=None)
    with torch.no_grad():
        n.a.normal_(); n.b.normal_(); n.p.normal_(); n.q.normal_()
        for bn in n.bns:
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.normal_()
            bn.bias.normal_()
    n.eval()
    x = torch.randn(T, 32, C)
    n.reset()
    want = torch.stack([n(x[t], t) for t in range(T)])
    r = n.reparameterize()
    v = torch.zeros(32, C)
    got = []
    for t in range(T):
        m = r["lambda_hat"][t] * v + (r["current_scale"][t] * x[t] - r["current_shift"][t])
        s = torch.relu(m - r["theta"][t])
        v = m - s
        got.append(s)
    assert torch.allclose(torch.stack(got), want, atol=1e-5)


def test_membn_with_alpha_one_beta_zero_is_vanilla():
    T, C = 3, 4
    n = MemBNHDLIF(T, C, bits=4)
    vanilla = HDLIF(T, bits=4)
    with torch.no_grad():
        n.p.fill_(50.0)      # alpha -> 1
        n.q.fill_(-50.0)     # beta -> 0
    n.eval()
    x = torch.randn(T, 8, C)
    n.reset()
    vanilla.reset()
    for t in range(T):
        assert torch.allclose(n(x[t], t), vanilla(x[t], t), atol=1e-6)


def test_lif_forward_soft_reset_and_triangle_surrogate():
    n = LIF(T=2)                                   # theta = sigmoid(0) + 0.5 = 1.0, lambda = 0.5
    m = torch.tensor([1.2, 0.7, 3.0], requires_grad=True)
    s = n(m, 0)
    assert torch.allclose(s, torch.tensor([1.0, 0.0, 1.0]))
    assert torch.allclose(n.v, torch.tensor([0.2, 0.7, 2.0]))      # v = m - s
    s.sum().backward()
    # ds/dm = theta * max(1 - |m - theta|, 0) = [0.8, 0.7, 0]
    assert torch.allclose(m.grad, torch.tensor([0.8, 0.7, 0.0]))
