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

SECA is a training-time feature only: a sigmoid of a global average is not an integer
operation at the bundle's widths, so export refuses it (``docs/integer-semantics.md``).
"""

from __future__ import annotations

import math

import torch
from torch import nn


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

    def __init__(self, channels: int, k: int | None = None, *, init: str = "default"):
        super().__init__()
        if not (isinstance(channels, int) and channels > 0):
            raise ValueError(f"SECA channels must be a positive integer, not {channels!r}")
        k = eca_kernel_size(channels) if k is None else k
        if not (isinstance(k, int) and k > 0 and k % 2 == 1):
            raise ValueError(f"SECA kernel size must be a positive odd integer, not {k!r}")
        if init not in ("default", "zeros"):
            raise ValueError(f"SECA init must be 'default' or 'zeros', not {init!r}")
        self.channels, self.k = channels, k
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        if init == "zeros":
            nn.init.zeros_(self.conv.weight)

    def scores(self, current: torch.Tensor) -> torch.Tensor:
        """The attention scores ``sigmoid(Conv1d_k(GAP(I)))``, shape ``[B, C]``."""
        if current.dim() < 2 or current.shape[1] != self.channels:
            raise ValueError(f"SECA expects a current [B, {self.channels}, ...], not {list(current.shape)}")
        gap = current.flatten(2).mean(2) if current.dim() > 2 else current   # [B, C]
        return torch.sigmoid(self.conv(gap.unsqueeze(1)).squeeze(1))

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        s = self.scores(current)
        return current * s.reshape(*s.shape, *([1] * (current.dim() - 2)))


class SECA_I(SECA):  # noqa: N801 - the paper's name
    """``SECA_I^l(I_t^l) = SECA(I_t^l)``: attention on a layer's own current."""


class SECA_II(SECA):  # noqa: N801 - the paper's name
    """``SECA_II^l = SECA(I_t^(l-1) + I_t^l)``: attention on the sum of the pre-synaptic
    current (the residual / shortcut path) and the layer's own current."""

    def forward(self, previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(previous + current)
