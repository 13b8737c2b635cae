"""Spiking Efficient Channel Attention (paper Eq. 9-10, spec section 5).

::

    SECA(I_t)          = sigmoid(Conv1d_k(GAP(I_t))) * I_t
    SECA_I(I_t^l)      = SECA(I_t^l)
    SECA_II(I_t^(l-1), I_t^l) = SECA(I_t^(l-1) + I_t^l)

``GAP`` averages each channel over space (``[B, C, H, W] -> [B, C]``; an fc current ``[B, C]``
is its own average), ``Conv1d_k`` is one kernel of ``k`` taps sliding across the channel axis
(zero padding ``k // 2``, no bias, ``O(k)`` parameters), and the sigmoid gives one scale per
image and channel.  The weights are shared across time steps: the same module is called at
every ``t``, and it keeps no state.

Fixed point (``fixed_point=True``, the default: quantization-aware, in training and at
evaluation), so that the integer graph computes the same scale (``golden.graph.seca``): the
kernel's taps are 8-bit (one scale per tensor), ``z`` is rounded to a grid of
``2**-SECA_Z_FRAC`` and clamped to ``[-SECA_Z_RANGE, SECA_Z_RANGE)``, and the sigmoid is a table
rounded to ``2**-SECA_Q``; each rounding is half up, with a straight-through gradient.  The sum
over space is exact in the integer model; the float model takes the mean, the same number.
``fixed_point=False`` is the plain float module.  With ``fixed`` set (a network's
``membrane_frac``, :mod:`training.fixed_point`) the scaled current is rounded to whole membrane
units as the integer graph's is, and evaluation takes the global sum and ``z`` exactly (float64).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .fixed_point import round_half_up

#: the fixed point of SECA's scale (the integer graph's ``seca`` node is built from these)
SECA_Z_FRAC = 4          # z on a grid of 1/16
SECA_Z_RANGE = 8         # z clamped to [-8, 8): the table has 2 * 8 * 16 = 256 entries
SECA_Q = 8               # sigmoid in units of 1/256


def quantized_taps(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(taps as float, integer codes, scale)``: 8-bit taps, ``scale = max|w| / 127``."""
    scale = weight.detach().abs().max().clamp_min(1e-12) / 127
    codes = round_half_up(weight / scale).clamp(-127, 127)
    return codes * scale, codes.detach(), scale


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA-Net's adaptive kernel: the odd number nearest ``log2(C) / gamma + b / gamma``."""
    k = int(abs((math.log2(channels) + b) / gamma))
    return k if k % 2 else k + 1


class SECA(nn.Module):
    """``sigmoid(Conv1d_k(GAP(I))) * I`` on a current ``I`` of shape ``[B, C, ...]``.

    ``k=None`` picks ECA-Net's adaptive kernel size (:func:`eca_kernel_size`).  The kernel
    starts from PyTorch's uniform init (``init="default"``, as ECA-Net) or from zero
    (``init="zeros"``: every scale starts at ``sigmoid(0) = 0.5``).
    """

    def __init__(self, channels: int, k: int | None = None, *, init: str = "default", fixed_point: bool = True):
        super().__init__()
        if not (isinstance(channels, int) and channels > 0):
            raise ValueError(f"SECA channels must be a positive integer, not {channels!r}")
        k = eca_kernel_size(channels) if k is None else k
        if not (isinstance(k, int) and k > 0 and k % 2 == 1):
            raise ValueError(f"SECA kernel size must be a positive odd integer, not {k!r}")
        if init not in ("default", "zeros"):
            raise ValueError(f"SECA init must be 'default' or 'zeros', not {init!r}")
        self.channels, self.k, self.fixed_point = channels, k, fixed_point
        self.fixed = None            # the network's FixedPoint (membrane unit), set by the network
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        if init == "zeros":
            nn.init.zeros_(self.conv.weight)

    def scores(self, current: torch.Tensor) -> torch.Tensor:
        """The attention scores ``sigmoid(Conv1d_k(GAP(I)))``, shape ``[B, C]``."""
        if current.dim() < 2 or current.shape[1] != self.channels:
            raise ValueError(f"SECA expects a current [B, {self.channels}, ...], not {list(current.shape)}")
        gap = current.flatten(2).mean(2) if current.dim() > 2 else current   # [B, C]
        if self.fixed is not None and not self.training:     # the integer graph's sum, exactly (float64)
            units = self.fixed.units(current)
            gap = (units.flatten(2).mean(2) if current.dim() > 2 else units) * self.fixed.unit
        if not self.fixed_point:
            return torch.sigmoid(self.conv(gap.unsqueeze(1)).squeeze(1))
        taps, _, _ = quantized_taps(self.conv.weight)
        z = nn.functional.conv1d(gap.unsqueeze(1), taps.to(gap.dtype), padding=self.k // 2).squeeze(1)
        grid = 2.0 ** SECA_Z_FRAC
        zq = round_half_up(z * grid).clamp(-SECA_Z_RANGE * grid, SECA_Z_RANGE * grid - 1) / grid
        return (round_half_up(torch.sigmoid(zq) * 2.0 ** SECA_Q) / 2.0 ** SECA_Q).to(current.dtype)

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        s = self.scores(current)
        out = current * s.reshape(*s.shape, *([1] * (current.dim() - 2)))
        return out if self.fixed is None else self.fixed.grid(out)


class SECA_I(SECA):  # noqa: N801 - the paper's name
    """``SECA_I^l(I_t^l) = SECA(I_t^l)``: attention on a layer's own current."""


class SECA_II(SECA):  # noqa: N801 - the paper's name
    """``SECA_II^l = SECA(I_t^(l-1) + I_t^l)``: attention on the sum of the pre-synaptic
    current (the residual / shortcut path) and the layer's own current."""

    def forward(self, previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(previous + current)
