"""Synaptic layers with quantized weights: the float network trains latent weights and uses
``W_hat``; :meth:`quantized` hands export the integer codes and their scale."""

from __future__ import annotations

import torch
from torch import nn

from .quant import QUANTIZERS, Quantized


def _check(kind: str) -> str:
    if kind not in QUANTIZERS:
        raise ValueError(f"weight quantizer must be one of {', '.join(QUANTIZERS)}, not {kind!r}")
    return kind


class QLinear(nn.Linear):
    """``nn.Linear`` with ``quant`` weights (``ternary``, ``binary`` or ``int8``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, quant: str = "ternary"):
        super().__init__(in_features, out_features, bias=bias)
        self.quant = _check(quant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, QUANTIZERS[self.quant](self.weight).weight, self.bias)

    def quantized(self) -> Quantized:
        return QUANTIZERS[self.quant](self.weight.detach())


class QConv2d(nn.Conv2d):
    """``nn.Conv2d`` (no bias: a BatchNorm follows) with ``quant`` weights."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0, quant: str = "ternary"):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.quant = _check(quant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, QUANTIZERS[self.quant](self.weight).weight, None)

    def quantized(self) -> Quantized:
        return QUANTIZERS[self.quant](self.weight.detach())


def TernaryLinear(in_features: int, out_features: int, bias: bool = True) -> QLinear:
    """A ternary :class:`QLinear` (the foundation's name for it)."""
    return QLinear(in_features, out_features, bias=bias, quant="ternary")
