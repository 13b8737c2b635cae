"""Frozen, validated generator configs, derived from an integer-model bundle.

One config per block drives its Amaranth component; :func:`from_bundle` builds them all and
:meth:`AcceleratorConfig.estimate` predicts cycles before any simulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from golden.bundle import Bundle, HDLIFLayer, ReadoutLayer


def _pos_int(owner: str, name: str, value) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"{owner}.{name} must be a positive integer, not {value!r}")


def log2_exact(n: int) -> int:
    return n.bit_length() - 1


@dataclass(frozen=True, kw_only=True, eq=False)
class SynapseConfig:
    """A fully connected ternary synapse computed ``lanes`` inputs per clock (input folding)."""
    in_features: int
    out_features: int
    lanes: int
    in_bits: int            # width of an unsigned input code (pixel or spike code)
    acc_bits: int
    weight: np.ndarray      # int8 [out, in] in {-1, 0, +1}

    def __post_init__(self):
        for name in ("in_features", "out_features", "lanes", "in_bits", "acc_bits"):
            _pos_int("SynapseConfig", name, getattr(self, name))
        if self.lanes & (self.lanes - 1):
            raise ValueError(f"SynapseConfig.lanes must be a power of two, not {self.lanes!r}")
        if self.weight.shape != (self.out_features, self.in_features):
            raise ValueError(f"SynapseConfig.weight must have shape {[self.out_features, self.in_features]}, "
                             f"not {list(self.weight.shape)}")

    @property
    def chunks(self) -> int:
        """Clock cycles per output neuron: ``ceil(in_features / lanes)``."""
        return -(-self.in_features // self.lanes)

    @property
    def latency(self) -> int:
        """Clocks from the last address of a neuron to its sum: memory read, MAC, accumulate."""
        from .ternary_mac import mac_latency

        return 2 + mac_latency(self.lanes)

    def rom_words(self) -> list[int]:
        """Weight ROM, one word per (output, chunk): 2 bits per lane, bit 0 = non-zero, bit 1 = negative."""
        L, K = self.lanes, self.chunks
        padded = np.zeros((self.out_features, K * L), np.int64)
        padded[:, :self.in_features] = self.weight
        words = []
        for n in range(self.out_features):
            for k in range(K):
                word = 0
                for lane in range(L):
                    w = int(padded[n, k * L + lane])
                    word |= ((w != 0) | ((w < 0) << 1)) << (2 * lane)
                words.append(word)
        return words


@dataclass(frozen=True, kw_only=True, eq=False)
class NeuronConfig:
    """HD-LIF neuron core: per-time-step ``lambda_t`` / ``theta_t`` and the widths of its datapath."""
    neurons: int
    T: int
    lambda_t: tuple
    theta_t: tuple
    lambda_frac: int
    frac: int
    max_code: int
    current_bits: int
    membrane_bits: int
    leak_bits: int

    def __post_init__(self):
        for name in ("neurons", "T", "lambda_frac", "frac", "max_code", "current_bits",
                     "membrane_bits", "leak_bits"):
            _pos_int("NeuronConfig", name, getattr(self, name))
        for name in ("lambda_t", "theta_t"):
            if len(getattr(self, name)) != self.T:
                raise ValueError(f"NeuronConfig.{name} must have T={self.T} entries, not {len(getattr(self, name))}")

    @property
    def code_bits(self) -> int:
        return self.max_code.bit_length()


@dataclass(frozen=True, kw_only=True, eq=False)
class HDLIFLayerConfig:
    name: str
    synapse: SynapseConfig
    mult: tuple
    bias: tuple
    shift: int
    product_bits: int
    neuron: NeuronConfig
    direct: bool            # the stem: its current is cached at t = 0 and replayed after


@dataclass(frozen=True, kw_only=True, eq=False)
class ReadoutConfig:
    name: str
    synapse: SynapseConfig
    mult: tuple
    bias: tuple
    score_bits: int
    sum_bits: int
    T: int

    @property
    def classes(self) -> int:
        return self.synapse.out_features


@dataclass(frozen=True, kw_only=True, eq=False)
class AcceleratorConfig:
    name: str
    T: int
    pixel_bits: int
    features: int
    layers: tuple           # HDLIFLayerConfig ...
    readout: ReadoutConfig
    lanes: tuple = field(default=())

    # Fixed pipeline latencies of the blocks (cycles from a request to its result).
    REQUANT_LATENCY = 3
    NEURON_LATENCY = 5
    READOUT_LATENCY = 3

    def estimate(self) -> dict:
        """Cycles per inference predicted from the schedule (load, T steps, score output, argmax)."""
        per_layer = []
        total = self.features  # one pixel per clock
        for t in range(self.T):
            for layer in self.layers:
                if layer.direct and t > 0:
                    c = layer.neuron.neurons + 1 + self.NEURON_LATENCY
                else:
                    syn = layer.synapse
                    c = syn.out_features * syn.chunks + syn.latency + self.REQUANT_LATENCY + self.NEURON_LATENCY
                per_layer.append((layer.name, t, c + 2))
            syn = self.readout.synapse
            per_layer.append((self.readout.name, t, syn.out_features * syn.chunks + syn.latency + self.READOUT_LATENCY + 2))
            per_layer.append(("emit", t, self.readout.classes))
        per_layer.append(("argmax", self.T, self.readout.classes + 3))
        total += sum(c for _, _, c in per_layer)
        return {"cycles_per_inference": total,
                "schedule": [{"block": b, "t": t, "cycles": c} for b, t, c in per_layer]}


def from_bundle(bundle: Bundle, lanes=16) -> AcceleratorConfig:
    """Derive every block's config from a loaded bundle; ``lanes`` is one int or one per layer."""
    n_syn = len(bundle.layers)
    lanes_t = tuple(lanes) if isinstance(lanes, (list, tuple)) else (lanes,) * n_syn
    if len(lanes_t) != n_syn:
        raise ValueError(f"lanes must give one value per synaptic layer ({n_syn}), not {list(lanes_t)!r}")
    layers = []
    in_bits = bundle.input.bits
    for layer, L in zip(bundle.layers, lanes_t):
        w = layer.widths
        syn = SynapseConfig(in_features=layer.in_features, out_features=layer.out_features, lanes=L,
                            in_bits=in_bits, acc_bits=w["acc_bits"], weight=layer.weight)
        if isinstance(layer, HDLIFLayer):
            neuron = NeuronConfig(neurons=layer.out_features, T=bundle.T,
                                  lambda_t=tuple(int(x) for x in layer.lambda_t),
                                  theta_t=tuple(int(x) for x in layer.theta_t),
                                  lambda_frac=layer.lambda_frac, frac=layer.frac, max_code=layer.max_code,
                                  current_bits=w["current_bits"], membrane_bits=w["membrane_bits"],
                                  leak_bits=w["leak_bits"])
            layers.append(HDLIFLayerConfig(name=layer.name, synapse=syn,
                                           mult=tuple(int(x) for x in layer.mult),
                                           bias=tuple(int(x) for x in layer.bias), shift=layer.shift,
                                           product_bits=w["product_bits"], neuron=neuron, direct=layer.direct))
            in_bits = neuron.code_bits
        else:
            assert isinstance(layer, ReadoutLayer)
            readout = ReadoutConfig(name=layer.name, synapse=syn, mult=tuple(int(x) for x in layer.mult),
                                    bias=tuple(int(x) for x in layer.bias), score_bits=w["score_bits"],
                                    sum_bits=w["sum_bits"], T=bundle.T)
    return AcceleratorConfig(name=bundle.name, T=bundle.T, pixel_bits=bundle.input.bits,
                             features=bundle.input.features, layers=tuple(layers), readout=readout,
                             lanes=lanes_t)
