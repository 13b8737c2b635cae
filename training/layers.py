"""Synaptic layers with quantized weights."""

from __future__ import annotations

import torch
from torch import nn

from .quant import Quantized, ternary


class TernaryLinear(nn.Linear):
    """``nn.Linear`` whose forward uses TWN ternary weights (latent float weights are trained)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, ternary(self.weight).weight, self.bias)

    def quantized(self) -> Quantized:
        return ternary(self.weight.detach())
