"""A small spiking ResNet of HD-LIF neurons: ``resnet:16,32,64`` (``32x2``: two blocks in a stage).

The residual adds **currents**, not spikes (the membrane-shortcut block of MS-ResNet, Hu et al.,
the paper's reference [18] for its ResNets).  A real-valued current stream ``x`` runs through
the network; every block reads it with a neuron and adds its own current back::

    stem:   x_0 = BN(conv3x3(pixels * input_scale))        direct encoding: once per image
    block:  s_1 = N_1(x, t)                                 spikes of the incoming current
            I_1 = BN_1(conv3x3_stride(s_1))                 (SECA_I(I_1) with seca="I")
            s_2 = N_2(I_1, t)
            I_2 = BN_2(conv3x3(s_2))
            sc  = x                 same shape
                  BN_sc(conv1x1_stride(s_1))   first block of a stage that widens or strides
                  BN_sc(conv1x1_stride(x))     the same, shortcut="stream" (the authors' code)
            out = sc + I_2          seca="none"
                  sc + SECA_I(I_2)  seca="I"
                  SECA_II(sc, I_2) = SECA(sc + I_2)   seca="II" (paper Eq. 10: I^(l-1) + I^l)
    head:   s = N_out(x_L, t); logits = classifier(GAP(s))
            logits = classifier(GAP(x_L))     head="stream" (the authors' code: no head neuron)

The first stage keeps the stem's resolution, each later stage starts with a stride-2 block.
Every conv is ``QConv2d`` with ``cfg.weights`` (ternary by default), the stem uses
``cfg.stem_weights``, the classifier ``cfg.classifier_weights``; each is followed by a
BatchNorm.  Neurons come from the same factory as :mod:`training.models` (``neuron``,
``parallel_ratio``: the neurons are numbered N_1, N_2 of each block in order, then N_out, and
the evenly spread ``parallel_layers`` of them become Parallel HD-LIF; with 0.5 that is every
block's N_2, the parallel block of the paper's Fig. 3(b)).  The model has the interface of
:class:`~training.models.SpikingNet`: ``set_online``, ``reset``, ``stem_current``, ``step``,
``forward``.

Export writes it as an integer graph (:func:`training.export.to_graph`, ``golden/graph.py``:
the current stream in one membrane unit, global average pooling as a sum folded into the
readout, SECA and Mem-BN as ``seca`` / ``affine`` nodes); LIF neurons are refused there
(``docs/integer-semantics.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .fixed_point import FixedPoint
from .layers import QConv2d, QLinear
from .models import NetConfig, SpikingNetwork, _neuron, parallel_layers
from .seca import SECA, SECA_I, SECA_II

SECA_KINDS = ("none", "I", "II")
#: what a widening / striding block's 1x1 shortcut conv reads, and what the head pools: the spikes
#: (this project's default: every synapse reads codes) or the current stream (the authors' code)
READS = ("spikes", "stream")


def parse_resnet(arch: str) -> list[tuple]:
    """``"resnet:16,32x2"`` -> ``[("stage", 16, 1), ("stage", 32, 2)]`` (width, blocks)."""
    kind, _, body = str(arch).partition(":")
    if kind != "resnet" or not body:
        raise ValueError(f"architecture must look like 'resnet:16,32,64', not {arch!r}")
    stages = []
    for tok in body.split(","):
        width, _, blocks = tok.strip().partition("x")
        if not width.isdigit() or (blocks and not blocks.isdigit()) or int(width) <= 0 or (blocks and int(blocks) <= 0):
            raise ValueError(f"architecture {arch!r}: cannot read {tok!r} (a width, or width x blocks: 32x2)")
        stages.append(("stage", int(width), int(blocks or 1)))
    return stages


@dataclass(frozen=True, kw_only=True)
class ResNetConfig(NetConfig):
    """:class:`NetConfig` of a ``resnet:`` architecture, plus ``seca`` (``none``, ``I``, ``II``),
    what the shortcut conv and the head read (``shortcut``, ``head``: ``spikes`` or ``stream``) and
    ``membrane_frac``: None (float currents and neurons) or the integer graph's membrane fraction
    bits, whose roundings the network then computes (:mod:`training.fixed_point`)."""

    arch: str = "resnet:16,32,64"
    seca: str = "none"
    shortcut: str = "spikes"
    head: str = "spikes"
    membrane_frac: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.seca not in SECA_KINDS:
            raise ValueError(f"ResNetConfig.seca must be one of {', '.join(SECA_KINDS)}, not {self.seca!r}")
        for name in ("shortcut", "head"):
            if getattr(self, name) not in READS:
                raise ValueError(f"ResNetConfig.{name} must be one of {', '.join(READS)}, not {getattr(self, name)!r}")
        if self.membrane_frac is not None:
            FixedPoint.of(self.spike_step, self.membrane_frac)          # the range check
            if self.neuron == "lif" or self.spike_bits is None:
                raise ValueError("ResNetConfig.membrane_frac: the fixed point is HD-LIF's with integer spike codes, "
                                 f"not neuron={self.neuron!r} with spike_bits={self.spike_bits!r}")

    @property
    def fixed(self) -> FixedPoint | None:
        """The integer graph's fixed point the network computes (None: float)."""
        return None if self.membrane_frac is None else FixedPoint.of(self.spike_step, self.membrane_frac)

    @property
    def layers(self) -> list[tuple]:
        return parse_resnet(self.arch)


class ResidualBlock(nn.Module):
    """One membrane-shortcut block (see the module docstring); ``forward(x, t)`` maps the
    current stream at step ``t`` to the next block's current."""

    def __init__(self, cfg: ResNetConfig, c_in: int, c_out: int, stride: int, neuron1: nn.Module,
                 neuron2: nn.Module):
        super().__init__()
        self.neuron1, self.neuron2 = neuron1, neuron2
        self.conv1 = QConv2d(c_in, c_out, 3, stride=stride, padding=1, quant=cfg.weights)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = QConv2d(c_out, c_out, 3, padding=1, quant=cfg.weights)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(QConv2d(c_in, c_out, 1, stride=stride, quant=cfg.weights),
                                          nn.BatchNorm2d(c_out))
        self.shortcut_reads = cfg.shortcut
        self.fixed = cfg.fixed
        self.seca = cfg.seca
        self.seca1 = SECA_I(c_out) if cfg.seca == "I" else None
        self.seca2 = {"none": None, "I": SECA_I, "II": SECA_II}[cfg.seca]
        self.seca2 = self.seca2(c_out) if self.seca2 is not None else None

    def grid(self, current: torch.Tensor) -> torch.Tensor:
        """A synapse's current as its requantizer leaves it (whole membrane units, with ``membrane_frac``)."""
        return current if self.fixed is None else self.fixed.grid(current)

    def forward(self, x: torch.Tensor, t: int) -> torch.Tensor:
        s1 = self.neuron1(x, t)
        i1 = self.grid(self.bn1(self.conv1(s1)))
        if self.seca1 is not None:
            i1 = self.seca1(i1)
        i2 = self.grid(self.bn2(self.conv2(self.neuron2(i1, t))))
        sc = x if self.shortcut is None else self.grid(self.shortcut(x if self.shortcut_reads == "stream" else s1))
        if self.seca == "II":
            return self.seca2(sc, i2)
        if self.seca == "I":
            i2 = self.seca2(i2)
        return sc + i2


class SpikingResNet(SpikingNetwork):
    """A spiking ResNet of :class:`ResidualBlock` s (module docstring)."""

    def __init__(self, cfg: ResNetConfig):
        super().__init__()
        if not isinstance(cfg, ResNetConfig):
            raise TypeError(f"SpikingResNet needs a ResNetConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        stages = cfg.layers
        n_neurons = 2 * sum(b for _, _, b in stages) + (cfg.head == "spikes")
        parallel = parallel_layers(n_neurons, cfg.parallel_ratio)
        c, w0 = cfg.in_shape[0], stages[0][1]
        self.stem_conv = QConv2d(c, w0, 3, padding=1, quant=cfg.stem_weights)
        self.stem_bn = nn.BatchNorm2d(w0)
        blocks, c_in, i = [], w0, 0
        for k, (_, width, count) in enumerate(stages):
            for j in range(count):
                stride = 2 if (k > 0 and j == 0) else 1
                n1 = _neuron(cfg, i, c_in, parallel)
                n2 = _neuron(cfg, i + 1, width, parallel)
                blocks.append(ResidualBlock(cfg, c_in, width, stride, n1, n2))
                c_in, i = width, i + 2
        self.blocks = nn.ModuleList(blocks)
        self.head_neuron = _neuron(cfg, i, c_in, parallel) if cfg.head == "spikes" else None
        self.classifier = QLinear(c_in, cfg.classes, bias=True, quant=cfg.classifier_weights)
        if cfg.fixed is not None:                        # evaluation in the integer graph's fixed point
            for m in [*self.neurons, *(m for m in self.modules() if isinstance(m, SECA))]:
                m.fixed = cfg.fixed

    @property
    def neurons(self) -> list[nn.Module]:
        return [n for b in self.blocks for n in (b.neuron1, b.neuron2)] + \
            ([self.head_neuron] if self.head_neuron is not None else [])

    def stem_current(self, pixels: torch.Tensor) -> torch.Tensor:
        """The stem's current ``x_0`` from ``[B, features]`` integer pixels (C, H, W order)."""
        x = pixels.float().reshape((pixels.shape[0],) + tuple(self.cfg.in_shape)) * self.cfg.input_scale
        current = self.stem_bn(self.stem_conv(x))
        return current if self.cfg.fixed is None else self.cfg.fixed.grid(current)

    def step(self, stem_current: torch.Tensor, t: int) -> torch.Tensor:
        """Logits at time step ``t`` (call for t = 0, 1, ... after :meth:`reset`)."""
        x = stem_current
        for block in self.blocks:
            x = block(x, t)
        if self.head_neuron is None:                     # the authors' head: the stream itself, pooled
            return self.classifier(x.mean((2, 3)))
        s = self.head_neuron(x, t)
        return self.classifier(s.mean((2, 3)))
