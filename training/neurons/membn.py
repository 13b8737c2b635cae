"""Mem-BN HD-LIF (spec section 3, paper Eq. 6-8) and its re-parameterization."""

from __future__ import annotations

import torch
from torch import nn

from ..fixed_point import per_channel
from .hdlif import HDLIF


class MemBNHDLIF(HDLIF):
    """HD-LIF with a BatchNorm per time step over the charged membrane::

        m_t  = lambda_t * v_(t-1) + I_t
        m^_t = alpha_t * m_t + beta_t * BN_t(m_t)
        s*_t = max(m^_t - theta_t, 0);  v_t = m^_t - s*_t;  s_t = Q(s*_t)

    ``alpha_t = sigmoid(p_t)``, ``beta_t = sigmoid(q_t)`` (bounded by a sigmoid as in the
    authors' code, raw parameters initialised to 0).  ``channels`` is the size of dim 1.
    :meth:`reparameterize` folds it into a vanilla HD-LIF with per-channel leak and an
    affine map of the input current (valid in eval mode, BN using running statistics).
    """

    def __init__(self, T: int, channels: int, **kw):
        super().__init__(T, **kw)
        self.channels = channels
        self.p = nn.Parameter(torch.zeros(T))
        self.q = nn.Parameter(torch.zeros(T))
        self.bns = nn.ModuleList(nn.BatchNorm1d(channels) for _ in range(T))

    @property
    def alpha_t(self) -> torch.Tensor:
        return torch.sigmoid(self.p)

    @property
    def beta_t(self) -> torch.Tensor:
        return torch.sigmoid(self.q)

    def _bn(self, m: torch.Tensor, t: int) -> torch.Tensor:
        flat = m.reshape(m.shape[0], self.channels, -1)
        return self.bns[t](flat).reshape(m.shape)

    def charge(self, v, x, t):
        m = self.lambda_t[t] * v + x
        return self.alpha_t[t] * m + self.beta_t[t] * self._bn(m, t)

    def fixed_params(self, t, x):
        """Per channel: ``lambda_hat_t`` (the re-parameterized leak) and ``theta_t``."""
        lam = self.reparameterize()["lambda_hat"][t]
        return per_channel(self.fixed.lambda_int(lam), x), self.fixed.theta_int(self.theta_t[t])

    def input_units(self, x, t):
        """The integer graph's ``affine`` node: ``round_half_up(alpha*_t I - beta*_t)`` in units."""
        rp = self.reparameterize()
        scale = per_channel(rp["current_scale"][t].double(), x)
        shift = per_channel(rp["current_shift"][t].double(), x)
        return torch.floor(scale * self.fixed.units(x) - shift / self.fixed.unit + 0.5)

    @torch.no_grad()
    def reparameterize(self) -> dict:
        """The equivalent vanilla parameters, each ``[T, channels]``::

            lambda_hat_t = alpha*_t * lambda_t
            I_hat_t      = current_scale_t * I_t - current_shift_t    (alpha*_t, beta*_t)
            theta_t      unchanged
        """
        lam_hat, scale, shift = [], [], []
        for t, bn in enumerate(self.bns):
            g = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            a_star = self.alpha_t[t] + self.beta_t[t] * g
            b_star = self.beta_t[t] * (g * bn.running_mean - bn.bias)
            lam_hat.append(a_star * self.lambda_t[t])
            scale.append(a_star)
            shift.append(b_star)
        return {"lambda_hat": torch.stack(lam_hat), "current_scale": torch.stack(scale),
                "current_shift": torch.stack(shift), "theta": self.theta_t.detach().clone()}
