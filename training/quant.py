"""Quantizers with straight-through gradients that also return their integer metadata.

* :func:`spike_quant` - the graded-spike quantizer ``Q(x) = step * clip(round(x / step), 0, 2^n - 1)``
  (paper Eq. 4, ``tau = 0``); backward is the identity (straight-through).
* :func:`ternary` - TWN 1.5-bit weights (spec section 4): ``W_hat = alpha * sign(w) * [|w| > delta]``,
  ``delta = 0.7 * mean|w|``, one ``alpha`` per tensor; backward straight-through, masked outside
  the clip range ``[-1, 1]``.  Returns the codes in ``{-1, 0, +1}`` and ``alpha`` so that export
  never has to guess.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class _SpikeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, step, max_code):
        return torch.clamp(torch.round(x / step), 0, max_code) * step

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None


def spike_quant(x: torch.Tensor, step: float, bits: int) -> torch.Tensor:
    """Graded spike ``Q(x)`` on ``bits`` bits with LSB ``step`` (identity gradient)."""
    return _SpikeQuant.apply(x, step, 2 ** bits - 1)


class Quantized(NamedTuple):
    weight: torch.Tensor   # W_hat = alpha * codes, used by the float network
    codes: torch.Tensor    # int8 in {-1, 0, +1}
    alpha: torch.Tensor    # scalar scale


class _Ternary(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        wc = torch.clamp(w, -1.0, 1.0)
        delta = 0.7 * wc.abs().mean()
        mask = wc.abs() > delta
        alpha = wc.abs()[mask].mean() if bool(mask.any()) else wc.new_tensor(0.0)
        return alpha * torch.sign(wc) * mask

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= 1.0)


def ternary(w: torch.Tensor) -> Quantized:
    """TWN ternary quantization of a weight tensor (one scale per tensor)."""
    w_hat = _Ternary.apply(w)
    with torch.no_grad():
        codes = torch.sign(w_hat).to(torch.int8)
        nz = w_hat.abs()[codes != 0]
        alpha = nz.mean() if nz.numel() else w_hat.new_tensor(0.0)
    return Quantized(w_hat, codes, alpha)
