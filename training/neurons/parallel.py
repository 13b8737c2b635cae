"""Parallel HD-LIF (spec section 2): stateless, no leak and no charge."""

from __future__ import annotations

import torch

from .hdlif import HDLIF


class ParallelHDLIF(HDLIF):
    """``s_t = Q(max(I_t - theta_t, 0))``: only ``T`` additions per neuron, no membrane.

    ``theta_index="step"`` (default) uses ``theta_t`` at step ``t`` as the paper writes;
    ``theta_index="first"`` always uses ``theta_0`` as the authors' code does.  The lambda
    parameters exist (shared base) but are unused.
    """

    def __init__(self, T: int, *, theta_index: str = "step", **kw):
        super().__init__(T, **kw)
        if theta_index not in ("step", "first"):
            raise ValueError(f"theta_index must be 'step' or 'first', not {theta_index!r}")
        self.theta_index = theta_index

    def forward(self, x: torch.Tensor, t: int) -> torch.Tensor:
        if not 0 <= t < self.T:
            raise ValueError(f"time step must lie in 0..{self.T - 1}, not {t!r}")
        if self.fixed is not None and not self.training:
            return self.forward_fixed(x, t)
        _, spikes = self.fire(x, 0 if self.theta_index == "first" else t)
        return spikes

    def forward_fixed(self, x, t):
        """Stateless: ``m = I`` in whole units, fired against ``theta_t``."""
        codes, _ = self.fixed.fire(self.fixed.units(x), self.fixed_params(t, x)[1], 2 ** self.bits - 1)
        return (codes * self.step).to(x.dtype)

    def fixed_params(self, t, x):
        return super().fixed_params(0 if self.theta_index == "first" else t, x)
