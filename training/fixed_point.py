"""The integer model's fixed point inside the float network (quantization-aware evaluation).

A network with ``membrane_frac`` set (:class:`~training.resnet.ResNetConfig`) computes, at
evaluation, what its integer graph computes (``golden/graph.py``, ``docs/integer-semantics.md``)::

    u         = spike_step / 2**membrane_frac             the membrane unit
    current   = round_half_up(I / u) * u                  every requantized current (in training too)
    lambda_t  = round(lambda * 2**LAMBDA_FRAC)            the leak on LAMBDA_FRAC fraction bits
    theta_t   = round(theta / u)                          the threshold in membrane units
    m         = round_half_up(lambda_t * v / 2**LAMBDA_FRAC) + current       (charge)
    code      = min(round_half_up((m - theta_t)+ / 2**membrane_frac), max_code)    (fire)
    v         = min(m, theta_t)                                               (P2-reset)

so float and golden differ only where the 18-bit requantizer multipliers round differently from
the float scale (a current one unit off, now and then), not on every current and threshold.
Training keeps the float neurons (their rounding is ~1/256 of a spike step); the currents are
rounded in training too, with a straight-through gradient.  The neuron arithmetic here runs in
float64 on whole numbers of ``u``: exact, as the integer model's is.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

#: membrane fraction bits of an HD-LIF network: ``u = spike_step / 2**MEMBRANE_FRAC`` (export's default)
MEMBRANE_FRAC = 8
#: fraction bits of the leak ``lambda_t`` (export's default)
LAMBDA_FRAC = 12


class _RoundHalfUp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.floor(x + 0.5)

    @staticmethod
    def backward(ctx, grad):
        return grad


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """``floor(x + 0.5)`` with a straight-through gradient (the integer model rounds this way)."""
    return _RoundHalfUp.apply(x)


class FixedPoint(NamedTuple):
    """The membrane unit ``unit`` (``step / 2**frac``), ``frac`` and the leak's ``lambda_frac``."""
    unit: float
    frac: int
    lambda_frac: int

    @classmethod
    def of(cls, step: float, frac: int, lambda_frac: int = LAMBDA_FRAC) -> FixedPoint:
        if not (isinstance(frac, int) and 0 <= frac <= 16):
            raise ValueError(f"membrane_frac must be an integer in 0..16, not {frac!r}")
        return cls(unit=float(step) / 2 ** frac, frac=frac, lambda_frac=lambda_frac)

    def grid(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` rounded to whole membrane units (half up), straight-through gradient."""
        return round_half_up(x / self.unit) * self.unit

    def units(self, x: torch.Tensor) -> torch.Tensor:
        """A current on the grid as float64 whole units (exact)."""
        return torch.floor(x.double() / self.unit + 0.5)

    def lambda_int(self, lam: torch.Tensor) -> torch.Tensor:
        """``round(lambda * 2**lambda_frac)`` as export writes it (half to even, from float64)."""
        return torch.round(lam.detach().double() * 2 ** self.lambda_frac)

    def theta_int(self, theta: torch.Tensor) -> torch.Tensor:
        """``round(theta / u)`` as export writes it."""
        return torch.round(theta.detach().double() / self.unit)

    def leak(self, lam_int: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``round_half_up(lambda_t * v / 2**lambda_frac)`` on whole units (float64, exact)."""
        return torch.floor((lam_int * v + 2 ** (self.lambda_frac - 1)) / 2 ** self.lambda_frac)

    def fire(self, m: torch.Tensor, theta: torch.Tensor, max_code: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(codes, v)``: the spike codes of membrane ``m`` and the P2-reset membrane (units)."""
        s_star = torch.clamp(m - theta, min=0)
        codes = torch.clamp(torch.floor(s_star / 2 ** self.frac + 0.5), max=max_code)
        return codes, torch.minimum(m, theta)


def per_channel(p: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-channel ``[C]`` parameter shaped to broadcast over ``like`` ``[B, C, ...]``; a scalar as is."""
    return p if p.dim() == 0 else p.reshape(1, -1, *([1] * (like.dim() - 2)))
