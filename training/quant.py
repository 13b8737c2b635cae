"""Quantizers with straight-through gradients that also return their integer metadata.

* :func:`spike_quant` - the graded-spike quantizer ``Q(x) = step * clip(round(x / step), 0, 2^n - 1)``
  (paper Eq. 4, ``tau = 0``); backward is the identity (straight-through).
* :func:`ternary` - TWN 1.5-bit weights (spec section 4): ``W_hat = alpha * sign(w) * [|w| > delta]``,
  ``delta = 0.7 * mean|w|``, one ``alpha`` per tensor; backward straight-through, masked outside
  the clip range ``[-1, 1]``.  Returns the codes in ``{-1, 0, +1}`` and ``alpha`` so that export
  never has to guess.
* :func:`binary` - 1-bit weights with one scale per output channel.
* :func:`int8` - symmetric 8-bit weights (the stem and the classifier), one scale per output channel.
* :func:`full` - full-precision weights (the ablation's reference point): no codes, no integer form.
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
    codes: torch.Tensor | None   # int8 codes: {-1, 0, +1} ternary, {-1, +1} binary, -127..127 int8; None: full
    alpha: torch.Tensor | None   # the scale: a scalar (ternary) or one per output channel [out]; None: full


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


class _Binary(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        wc = torch.clamp(w, -1.0, 1.0)
        alpha = wc.abs().reshape(wc.shape[0], -1).mean(dim=1)
        sign = torch.where(wc >= 0, 1.0, -1.0).to(w.dtype)
        return alpha.reshape((-1,) + (1,) * (w.dim() - 1)) * sign

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= 1.0)


def binary(w: torch.Tensor) -> Quantized:
    """1-bit weights (spec section 4): ``W_hat = alpha_c * sign(w)``, ``alpha_c = mean|w_c|`` per
    output channel (``sign(0) = +1``, so every code is -1 or +1); straight-through gradient
    masked outside ``[-1, 1]``.  ``alpha`` is ``[out]``."""
    w_hat = _Binary.apply(w)
    with torch.no_grad():
        codes = torch.where(w >= 0, 1, -1).to(torch.int8)
        alpha = torch.clamp(w, -1.0, 1.0).abs().reshape(w.shape[0], -1).mean(dim=1)
    return Quantized(w_hat, codes, alpha)


class _Int8(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        alpha = w.abs().reshape(w.shape[0], -1).amax(dim=1).clamp_min(1e-12) / 127
        a = alpha.reshape((-1,) + (1,) * (w.dim() - 1))
        return torch.round(w / a).clamp(-127, 127) * a

    @staticmethod
    def backward(ctx, grad):
        return grad


def int8(w: torch.Tensor) -> Quantized:
    """Symmetric 8-bit weights for the stem and the classifier: ``alpha_c = max|w_c| / 127`` per
    output channel, codes ``round(w / alpha_c)`` in ``-127 .. 127``; straight-through gradient."""
    w_hat = _Int8.apply(w)
    with torch.no_grad():
        alpha = w.abs().reshape(w.shape[0], -1).amax(dim=1).clamp_min(1e-12) / 127
        codes = torch.round(w / alpha.reshape((-1,) + (1,) * (w.dim() - 1))).clamp(-127, 127).to(torch.int8)
    return Quantized(w_hat, codes, alpha)


def full(w: torch.Tensor) -> Quantized:
    """Full-precision weights, unquantized (``W_hat = w``): the ablation's upper reference.  No codes
    and no scale, so there is no integer form (export refuses it)."""
    return Quantized(w, None, None)


#: weight kind -> quantizer; each returns (W_hat, integer codes, scale) so export never guesses
QUANTIZERS = {"ternary": ternary, "binary": binary, "int8": int8, "full": full}
#: the kinds with an integer form (codes and a scale): everything export and the hardware take
INTEGER_WEIGHTS = ("ternary", "binary", "int8")
