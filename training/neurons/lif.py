"""The LIF baseline (spec section 7) with a triangle surrogate gradient."""

from __future__ import annotations

import torch
from torch import nn

from .base import Neuron


class _TriangleSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, m, theta, gamma):
        ctx.save_for_backward(m, theta)
        ctx.gamma = gamma
        return (m >= theta).to(m.dtype)

    @staticmethod
    def backward(ctx, grad):
        m, theta = ctx.saved_tensors
        g = ctx.gamma
        sg = torch.clamp(g - (m - theta).abs(), min=0) / g ** 2
        return grad * sg, -(grad * sg).sum().reshape(theta.shape), None


class LIF(Neuron):
    """``m_t = lambda * v + I_t``; ``s_t = theta * H(m_t - theta)``; soft reset ``v_t = m_t - s_t``.

    Heaviside backward: triangle surrogate ``max(gamma - |m - theta|, 0) / gamma^2`` (gamma = 1).
    ``theta = sigmoid(v_th) + 0.5`` learnable (the authors' baseline); ``lambda`` fixed.
    """

    def __init__(self, T: int, *, lam: float = 0.5, gamma: float = 1.0, detach: bool = False):
        super().__init__(T, detach=detach)
        self.lam, self.gamma = float(lam), float(gamma)
        self.v_th = nn.Parameter(torch.zeros(()))

    @property
    def theta(self) -> torch.Tensor:
        return torch.sigmoid(self.v_th) + 0.5

    def charge(self, v, x, t):
        return self.lam * v + x

    def fire(self, m, t):
        spikes = self.theta * _TriangleSpike.apply(m, self.theta, self.gamma)
        return spikes, spikes

    def reset_membrane(self, m, s, t):
        return m - s
