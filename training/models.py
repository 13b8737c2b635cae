"""HD-LIF networks.  Each synaptic layer is ``TernaryLinear -> BatchNorm -> neuron``.

The first layer (the stem) is fed pixels under direct encoding: its current is the same at
every time step, so it is computed once per image (spec section 8).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .layers import TernaryLinear
from .neurons import HDLIF


@dataclass(frozen=True, kw_only=True)
class MLPConfig:
    in_features: int = 64
    hidden: tuple = (128,)
    classes: int = 10
    T: int = 4
    spike_bits: int = 4
    spike_step: float = 0.25
    input_max: int = 16          # pixels are integers 0 .. input_max
    input_scale: float = 1 / 16  # the float network sees pixel * input_scale

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for name in ("in_features", "classes", "T", "spike_bits", "input_max"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"MLPConfig.{name} must be a positive integer, not {v!r}")
        if not self.hidden or not all(isinstance(h, int) and h > 0 for h in self.hidden):
            raise ValueError(f"MLPConfig.hidden must be a non-empty list of positive integers, not {list(self.hidden)!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "MLPConfig":
        return cls(**d)


class Block(nn.Module):
    def __init__(self, n_in: int, n_out: int, cfg: MLPConfig):
        super().__init__()
        self.linear = TernaryLinear(n_in, n_out, bias=False)
        self.bn = nn.BatchNorm1d(n_out)
        self.neuron = HDLIF(cfg.T, bits=cfg.spike_bits, step=cfg.spike_step)

    def current(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.linear(x))


class HDLIFMLP(nn.Module):
    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        sizes = (cfg.in_features, *cfg.hidden)
        self.blocks = nn.ModuleList(Block(a, b, cfg) for a, b in zip(sizes[:-1], sizes[1:]))
        self.classifier = TernaryLinear(sizes[-1], cfg.classes, bias=True)

    @property
    def neurons(self):
        return [b.neuron for b in self.blocks]

    def set_online(self, online: bool) -> None:
        """Online training detaches the membrane between steps (spec section 6)."""
        for n in self.neurons:
            n.detach = online

    def reset(self) -> None:
        for n in self.neurons:
            n.reset()

    def stem_current(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.blocks[0].current(pixels.float() * self.cfg.input_scale)

    def step(self, stem_current: torch.Tensor, t: int) -> torch.Tensor:
        """Logits at time step ``t`` (call for t = 0, 1, ... after :meth:`reset`)."""
        s = self.blocks[0].neuron(stem_current, t)
        for block in self.blocks[1:]:
            s = block.neuron(block.current(s), t)
        return self.classifier(s)

    def forward(self, pixels: torch.Tensor, T: int | None = None) -> torch.Tensor:
        """Per-step logits ``[T, B, classes]``; inference predicts argmax of their sum."""
        self.reset()
        cur = self.stem_current(pixels)
        return torch.stack([self.step(cur, t) for t in range(T or self.cfg.T)])
