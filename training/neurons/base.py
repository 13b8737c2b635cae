"""The base every neuron shares: charge -> fire -> reset, one time step per call."""

from __future__ import annotations

import torch
from torch import nn


class Neuron(nn.Module):
    """A stateful spiking neuron layer.

    ``neuron(x, t)`` runs one time step on input current ``x`` and returns the spikes;
    ``neuron.multi_step(x_seq)`` runs a ``[T, ...]`` tensor; ``reset()`` clears the membrane.
    With ``detach=True`` (online training) the residual membrane ``v`` is cut from the graph
    between steps, so memory does not grow with ``T``.

    Subclasses implement :meth:`charge`, :meth:`fire` and :meth:`reset_membrane`.  With
    ``fixed`` set (a :class:`~training.fixed_point.FixedPoint`), evaluation runs
    :meth:`forward_fixed` instead: the integer model's charge, fire and reset on whole membrane
    units (``v`` then holds units); training keeps the float step.
    """

    #: the integer model's fixed point at evaluation (None: float)
    fixed = None

    def __init__(self, T: int, *, detach: bool = False):
        super().__init__()
        if not (isinstance(T, int) and T >= 1):
            raise ValueError(f"T must be a positive integer, not {T!r}")
        self.T = T
        self.detach = detach
        self.v: torch.Tensor | None = None

    def reset(self) -> None:
        self.v = None

    def charge(self, v: torch.Tensor, x: torch.Tensor, t: int) -> torch.Tensor:
        raise NotImplementedError

    def fire(self, m: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(s_star, spikes)``: the unquantized amount fired and the emitted spikes."""
        raise NotImplementedError

    def reset_membrane(self, m: torch.Tensor, s_star: torch.Tensor, t: int) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, t: int) -> torch.Tensor:
        if not 0 <= t < self.T:
            raise ValueError(f"time step must lie in 0..{self.T - 1}, not {t!r}")
        if self.fixed is not None and not self.training:
            return self.forward_fixed(x, t)
        v = torch.zeros_like(x) if self.v is None or t == 0 else self.v
        if self.detach:
            v = v.detach()
        m = self.charge(v, x, t)
        s_star, spikes = self.fire(m, t)
        self.v = self.reset_membrane(m, s_star, t)
        return spikes

    def forward_fixed(self, x: torch.Tensor, t: int) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no fixed-point form")

    def multi_step(self, x_seq: torch.Tensor) -> torch.Tensor:
        self.reset()
        return torch.stack([self(x_seq[t], t) for t in range(x_seq.shape[0])])
