"""SECA (spec section 5) on known tensors."""

from __future__ import annotations

import math

import pytest
import torch

from training.seca import SECA_I, SECA_II, eca_kernel_size


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def known_seca(cls, fixed_point=False):
    m = cls(3, k=3, fixed_point=fixed_point)
    with torch.no_grad():
        m.conv.weight.copy_(torch.tensor([[[1.0, 0.5, -1.0]]]))
    return m


def test_seca_i_scales_each_channel_by_sigmoid_of_conv_of_gap():
    # one image, 3 channels of 2x2 with channel means 1, 2, 3
    x = torch.stack([torch.tensor([[0.0, 2.0], [1.0, 1.0]]),
                     torch.full((2, 2), 2.0),
                     torch.tensor([[3.0, 3.0], [6.0, 0.0]])]).unsqueeze(0)
    m = known_seca(SECA_I)
    # Conv1d across channels, zero padded: y_c = 1 * g_(c-1) + 0.5 * g_c - 1 * g_(c+1)
    # g = [1, 2, 3]: y = [0 + 0.5 - 2, 1 + 1 - 3, 2 + 1.5 - 0] = [-1.5, -1, 3.5]
    want_scores = torch.tensor([[sig(-1.5), sig(-1.0), sig(3.5)]])
    assert torch.allclose(m.scores(x), want_scores)
    assert torch.allclose(m(x), x * want_scores.reshape(1, 3, 1, 1))


def test_seca_on_fc_current_uses_the_current_itself_as_average():
    m = known_seca(SECA_I)
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    want = torch.tensor([[sig(-1.5), sig(-1.0), sig(3.5)], [0.5, 0.5, 0.5]])
    assert torch.allclose(m(x), x * want)


def test_seca_ii_attends_to_the_sum_of_pre_and_post_synaptic_currents():
    m = known_seca(SECA_II)
    prev = torch.tensor([[0.5, 0.5, 1.0]])
    cur = torch.tensor([[0.5, 1.5, 2.0]])        # sum = [1, 2, 3] as above
    want = torch.tensor([[1.0, 2.0, 3.0]]) * torch.tensor([[sig(-1.5), sig(-1.0), sig(3.5)]])
    assert torch.allclose(m(prev, cur), want)


def test_seca_weights_are_shared_across_time_and_keep_no_state():
    torch.manual_seed(0)
    m = SECA_I(8)
    assert sum(p.numel() for p in m.parameters()) == m.k == eca_kernel_size(8) == 3
    x = torch.randn(4, 8, 3, 3)
    a = m(x)
    m(torch.randn(4, 8, 3, 3))                   # another time step in between
    assert torch.equal(m(x), a)
    a.sum().backward()                           # gradients reach the shared kernel
    assert m.conv.weight.grad is not None and m.conv.weight.grad.abs().sum() > 0


def test_seca_checks_its_arguments():
    with pytest.raises(ValueError, match="SECA kernel size must be a positive odd integer, not 4"):
        SECA_I(8, k=4)
    with pytest.raises(ValueError, match=r"SECA expects a current \[B, 8, ...\], not \[2, 4\]"):
        SECA_I(8)(torch.zeros(2, 4))


def test_fixed_point_seca_rounds_the_taps_the_grid_and_the_sigmoid():
    """The default module: 8-bit taps, z on a 1/16 grid clamped to [-8, 8), sigmoid to 1/256."""
    m = known_seca(SECA_I, fixed_point=True)
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [40.0, 0.0, -40.0]])
    # taps [1, 0.5, -1]: scale 1/127, codes [127, 64, -127] -> taps [1, 64/127, -1]
    t = [1.0, 64 / 127, -1.0]
    def want(g):
        z = [t[0] * (g[c - 1] if c else 0) + t[1] * g[c] + t[2] * (g[c + 1] if c < 2 else 0) for c in range(3)]
        i = [min(max(math.floor(v * 16 + 0.5), -128), 127) / 16 for v in z]
        return [math.floor(sig(v) * 256 + 0.5) / 256 for v in i]
    got = m.scores(x)
    for row, g in zip(got, x.tolist()):
        assert row.tolist() == pytest.approx(want(g), abs=1e-7)
    assert got[2, 2].item() == 0.0 and got[1, 0].item() == 0.5      # clamped far below; sigmoid(0)
