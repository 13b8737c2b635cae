"""HD-LIF networks built from a short architecture string.

Every synaptic layer is ``QConv2d | QLinear -> BatchNorm -> neuron [-> 2x2 max pool]`` and a
quantized linear classifier (with bias) reads the last spikes.  Architectures:

* ``mlp:128`` / ``mlp:256,128`` - fully connected hidden layers;
* ``vgg:16,p,32,p,64,p`` - 3x3 convolutions (padding 1) of the given widths, ``p`` max-pools the
  spikes of the conv before it, ``a`` average-pools them (2x2; the paper's VGGs); ``fc128`` adds a
  fully connected hidden layer after the convs.

The first layer (the stem) is fed pixels under direct encoding: its current is the same at every
time step, so it is computed once per image (spec section 8).  ``neuron`` picks the neuron of
every layer (``hdlif``, ``parallel``, ``membn``, ``lif``); ``parallel_ratio`` turns that
fraction of the HD-LIF layers into Parallel HD-LIF (the paper uses 0.5; the stem stays stateful).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .layers import QConv2d, QLinear
from .neurons import HDLIF, LIF, MemBNHDLIF, ParallelHDLIF
from .quant import QUANTIZERS

NEURONS = ("hdlif", "parallel", "membn", "lif")
ARCH_KINDS = ("mlp", "vgg")


def parse_arch(arch: str) -> list[tuple]:
    """``"vgg:16,p,32,a,fc64"`` -> ``[("conv", 16, 2), ("conv", 32, 2, "avg"), ("fc", 64)]`` (a conv
    with 2x2 average pooling carries ``"avg"``)."""
    kind, _, body = str(arch).partition(":")
    if kind not in ARCH_KINDS or not body:
        raise ValueError(f"architecture must look like 'mlp:128' or 'vgg:16,p,32,p', not {arch!r}")
    layers: list[tuple] = []
    for tok in body.split(","):
        tok = tok.strip()
        if kind == "vgg" and tok in ("p", "a"):
            if not layers or layers[-1][0] != "conv" or layers[-1][2] != 1:
                raise ValueError(f"architecture {arch!r}: '{tok}' must follow a conv width")
            layers[-1] = ("conv", layers[-1][1], 2) if tok == "p" else ("conv", layers[-1][1], 2, "avg")
        elif kind == "vgg" and tok.isdigit() and not any(l[0] == "fc" for l in layers):
            layers.append(("conv", int(tok), 1))
        elif (kind == "mlp" and tok.isdigit()) or (kind == "vgg" and tok.startswith("fc") and tok[2:].isdigit()):
            layers.append(("fc", int(tok.removeprefix("fc"))))
        else:
            raise ValueError(f"architecture {arch!r}: cannot read {tok!r}")
        if layers[-1][1] <= 0:
            raise ValueError(f"architecture {arch!r}: widths must be positive")
    return layers


def parallel_layers(n: int, ratio: float) -> set[int]:
    """The ``round(n * ratio)``-ish layers made Parallel: evenly spread, never the stem."""
    return {i for i in range(1, n) if math.floor((i + 1) * ratio) > math.floor(i * ratio)}


@dataclass(frozen=True, kw_only=True)
class NetConfig:
    arch: str = "mlp:128"
    in_shape: tuple = (1, 8, 8)  # [C, H, W] of the pixels
    classes: int = 10
    T: int = 4
    spike_bits: int | None = 4   # None: float spikes (the ablation; no integer form)
    spike_step: float = 0.25
    input_max: int = 16          # pixels are integers 0 .. input_max
    input_scale: float = 1 / 16  # the float network sees pixel * input_scale
    neuron: str = "hdlif"
    parallel_ratio: float = 0.0
    theta_index: str = "step"    # Parallel HD-LIF: "step" (paper) or "first" (authors' code)
    weights: str = "ternary"     # hidden layers: ternary | binary
    stem_weights: str = "ternary"
    classifier_weights: str = "ternary"

    def __post_init__(self):
        object.__setattr__(self, "in_shape", tuple(self.in_shape))
        for name in ("classes", "T", "spike_bits", "input_max"):
            v = getattr(self, name)
            if name == "spike_bits" and v is None:
                continue
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"NetConfig.{name} must be a positive integer, not {v!r}")
        if len(self.in_shape) != 3 or not all(isinstance(d, int) and d > 0 for d in self.in_shape):
            raise ValueError(f"NetConfig.in_shape must be [C, H, W], not {list(self.in_shape)!r}")
        if self.neuron not in NEURONS:
            raise ValueError(f"NetConfig.neuron must be one of {', '.join(NEURONS)}, not {self.neuron!r}")
        if not 0.0 <= self.parallel_ratio <= 1.0:
            raise ValueError(f"NetConfig.parallel_ratio must lie in [0, 1], not {self.parallel_ratio!r}")
        if self.theta_index not in ("step", "first"):
            raise ValueError(f"NetConfig.theta_index must be 'step' or 'first', not {self.theta_index!r}")
        for name in ("weights", "stem_weights", "classifier_weights"):
            if getattr(self, name) not in QUANTIZERS:
                raise ValueError(f"NetConfig.{name} must be one of {', '.join(QUANTIZERS)}, not {getattr(self, name)!r}")
        self.layers  # parse now: a bad architecture fails at construction

    @property
    def layers(self) -> list[tuple]:
        return parse_arch(self.arch)

    @property
    def in_features(self) -> int:
        return math.prod(self.in_shape)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        return cls(**d)


class SpikingBlock(nn.Module):
    """``synapse -> bn -> neuron [-> pool]``.  ``flatten`` flattens a conv output for an fc layer."""

    def __init__(self, synapse: nn.Module, bn: nn.Module, neuron: nn.Module, *, pool: bool, flatten: bool,
                 pool_kind: str = "max"):
        super().__init__()
        self.synapse, self.bn, self.neuron = synapse, bn, neuron
        self.pool = (nn.MaxPool2d(2) if pool_kind == "max" else nn.AvgPool2d(2)) if pool else None
        self.flatten = flatten

    def current(self, x: torch.Tensor) -> torch.Tensor:
        if self.flatten:
            x = x.flatten(1)
        return self.bn(self.synapse(x))

    def fire(self, current: torch.Tensor, t: int) -> torch.Tensor:
        s = self.neuron(current, t)
        return self.pool(s) if self.pool is not None else s


def _neuron(cfg: NetConfig, i: int, channels: int, parallel: set[int]) -> nn.Module:
    kw = dict(bits=cfg.spike_bits, step=cfg.spike_step)
    if cfg.neuron == "lif":
        return LIF(cfg.T)
    if cfg.neuron == "parallel" or i in parallel:
        return ParallelHDLIF(cfg.T, theta_index=cfg.theta_index, **kw)
    if cfg.neuron == "membn":
        return MemBNHDLIF(cfg.T, channels, **kw)
    return HDLIF(cfg.T, **kw)


class SpikingNetwork(nn.Module):
    """What every network shares: its neurons switch to online mode and reset together.

    Subclasses provide ``neurons``, ``stem_current(pixels)`` and ``step(current, t)``.
    """

    neurons: list

    def set_online(self, online: bool) -> None:
        """Online training detaches the membrane between steps (spec section 6)."""
        for n in self.neurons:
            n.detach = online

    def reset(self) -> None:
        for n in self.neurons:
            n.reset()

    def forward(self, pixels: torch.Tensor, T: int | None = None) -> torch.Tensor:
        """Per-step logits ``[T, B, classes]``; inference predicts argmax of their sum."""
        self.reset()
        cur = self.stem_current(pixels)
        return torch.stack([self.step(cur, t) for t in range(T or self.cfg.T)])


class SpikingNet(SpikingNetwork):
    """An HD-LIF network of :class:`SpikingBlock` s and a quantized classifier."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        spec = cfg.layers
        parallel = parallel_layers(len(spec), cfg.parallel_ratio)
        blocks = []
        shape = cfg.in_shape
        for i, layer in enumerate(spec):
            quant = cfg.stem_weights if i == 0 else cfg.weights
            if layer[0] == "conv":
                width, pool = layer[1], layer[2]
                syn = QConv2d(shape[0], width, 3, padding=1, quant=quant)
                bn = nn.BatchNorm2d(width)
                flatten = False
                shape = (width, shape[1] // pool, shape[2] // pool)
                blocks.append(SpikingBlock(syn, bn, _neuron(cfg, i, width, parallel), pool=pool == 2, flatten=False,
                                           pool_kind=layer[3] if len(layer) > 3 else "max"))
            else:
                width = layer[1]
                fan_in = math.prod(shape)
                flatten = len(shape) == 3
                blocks.append(SpikingBlock(QLinear(fan_in, width, bias=False, quant=quant), nn.BatchNorm1d(width),
                                           _neuron(cfg, i, width, parallel), pool=False, flatten=flatten))
                shape = (width,)
        self.blocks = nn.ModuleList(blocks)
        self.classifier = QLinear(math.prod(shape), cfg.classes, bias=True, quant=cfg.classifier_weights)

    @property
    def neurons(self):
        return [b.neuron for b in self.blocks]

    def stem_current(self, pixels: torch.Tensor) -> torch.Tensor:
        """The stem's input current from ``[B, features]`` integer pixels (C, H, W order)."""
        x = pixels.float() * self.cfg.input_scale
        if self.cfg.layers[0][0] == "conv":
            x = x.reshape((x.shape[0],) + self.cfg.in_shape)
        return self.blocks[0].current(x)

    def step(self, stem_current: torch.Tensor, t: int) -> torch.Tensor:
        """Logits at time step ``t`` (call for t = 0, 1, ... after :meth:`reset`)."""
        s = self.blocks[0].fire(stem_current, t)
        for block in self.blocks[1:]:
            s = block.fire(block.current(s), t)
        return self.classifier(s.flatten(1))


def build_model(cfg: NetConfig) -> nn.Module:
    """The network a config describes."""
    if not isinstance(cfg, NetConfig):
        raise TypeError(f"build_model needs a NetConfig, not {cfg!r}")
    if cfg.arch.startswith("resnet:"):  # training/resnet.py: ResNetConfig, residual blocks (not exportable)
        from .resnet import SpikingResNet
        return SpikingResNet(cfg)
    return SpikingNet(cfg)
