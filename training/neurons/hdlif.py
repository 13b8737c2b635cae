"""Vanilla HD-LIF (paper Eq. 4, spec section 1)."""

from __future__ import annotations

import torch
from torch import nn

from ..quant import spike_quant
from .base import Neuron


class HDLIF(Neuron):
    """Hybrid-Driven LIF with graded multi-bit spikes and P2-reset::

        m_t  = lambda_t * v_(t-1) + I_t             charge   (v_(-1) = 0)
        s*_t = max(m_t - theta_t, 0)                fire: graded amount above threshold
        v_t  = m_t - s*_t = min(m_t, theta_t)       P2-reset (lands exactly on theta)
        s_t  = Q(s*_t)                              spike_code * step, codes 0 .. 2^bits - 1

    ``lambda_t = sigmoid(a_t)`` and ``theta_t = sigmoid(b_t)`` are learnable per time step,
    raw parameters initialised to 0.  The reset subtracts the unquantized ``s*``.
    ``bits=None`` gives un-quantized float spikes (the paper's ``tau -> inf``).
    """

    def __init__(self, T: int, *, bits: int | None = 4, step: float = 0.25, detach: bool = False):
        super().__init__(T, detach=detach)
        if bits is not None and not (isinstance(bits, int) and 1 <= bits <= 8):
            raise ValueError(f"spike bits must be an integer in 1..8 or None, not {bits!r}")
        if not step > 0:
            raise ValueError(f"spike step must be positive, not {step!r}")
        self.bits, self.step = bits, float(step)
        self.a = nn.Parameter(torch.zeros(T))
        self.b = nn.Parameter(torch.zeros(T))

    @property
    def lambda_t(self) -> torch.Tensor:
        return torch.sigmoid(self.a)

    @property
    def theta_t(self) -> torch.Tensor:
        return torch.sigmoid(self.b)

    def charge(self, v, x, t):
        return self.lambda_t[t] * v + x

    def fire(self, m, t):
        s_star = torch.relu(m - self.theta_t[t])
        spikes = s_star if self.bits is None else spike_quant(s_star, self.step, self.bits)
        return s_star, spikes

    def reset_membrane(self, m, s_star, t):
        return m - s_star

    def fixed_params(self, t: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lambda_t, theta_t)`` at step ``t`` as the integer model holds them (float64)."""
        return self.fixed.lambda_int(self.lambda_t[t]), self.fixed.theta_int(self.theta_t[t])

    def input_units(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """The current ``x`` (on the membrane grid) in whole units."""
        return self.fixed.units(x)

    def forward_fixed(self, x, t):
        """The integer model's step (``training/fixed_point.py``): exact on whole units."""
        fp = self.fixed
        current = self.input_units(x, t)
        lam, theta = self.fixed_params(t, x)
        v = torch.zeros_like(current) if self.v is None or t == 0 else self.v
        codes, self.v = fp.fire(fp.leak(lam, v) + current, theta, 2 ** self.bits - 1)
        return (codes * self.step).to(x.dtype)
