"""Random but valid integer models, for testing every checker on shapes no training run made.

``random_bundle`` draws a network from a small description (conv and fc layers, weight kinds,
neuron kinds, per-channel or per-step parameters) with requantizers scaled so that spikes are
neither all zero nor all saturated.  The RTL and HLS tests use it to cover configurations
beyond the trained models; the result goes through :func:`golden.bundle.save_bundle` /
:func:`golden.bundle.load_bundle` like any export.
"""

from __future__ import annotations

import numpy as np

from .executor import conv2d, hdlif_step, max_pool, requant, synapse
from .bundle import Bundle, HDLIFConvLayer, HDLIFLayer, InputSpec, ReadoutLayer, WEIGHT_KINDS, layer_out_shape


def _weights(rng, kind: str, shape: tuple) -> np.ndarray:
    if kind == "ternary":
        return rng.choice(np.array([-1, 0, 1], np.int8), size=shape, p=[0.3, 0.4, 0.3])
    if kind == "binary":
        return rng.choice(np.array([-1, 1], np.int8), size=shape)
    if kind == "int8":
        return rng.integers(-127, 128, size=shape).astype(np.int8)
    raise ValueError(f"weight kind must be one of {tuple(WEIGHT_KINDS)}, not {kind!r}")


def _calibration_codes(layer, x: np.ndarray, shape: tuple) -> np.ndarray:
    """The layer's output codes at t = 0 for calibration inputs ``x``."""
    if isinstance(layer, HDLIFConvLayer):
        acc = conv2d(x.reshape((len(x),) + shape), layer.weight, layer.stride, layer.padding)
    else:
        acc = synapse(layer, x)
    codes, _, _ = hdlif_step(layer, np.zeros_like(acc), requant(layer, acc, 0), 0)
    if isinstance(layer, HDLIFConvLayer):
        codes = max_pool(codes, layer.pool)
    return codes.reshape(len(x), -1)


def random_bundle(seed: int = 0, *, input_shape=(1, 8, 8), input_max: int = 15, T: int = 3,
                  spike_bits: int = 4, layers=(("conv", 4, 3, 1, 1, 2), ("fc", 16)), classes: int = 10,
                  weights: str = "ternary", stem_weights: str | None = None,
                  readout_weights: str | None = None, neuron: str = "vanilla",
                  per_channel: bool = False, step_current: bool = False, frac: int = 8,
                  lambda_frac: int = 12, readout: str = "score", name: str = "synthetic") -> Bundle:
    """A random valid bundle.

    ``layers`` lists ``("conv", out_channels, kernel, stride, padding, pool)`` and
    ``("fc", out_features)`` entries; a readout of ``classes`` follows.  ``neuron`` is
    ``vanilla``, ``parallel`` or ``mixed`` (alternating, parallel second), or ``lif`` (binary
    spikes: ``spike_bits`` must be 1; each layer draws its reset, and some layers are IF);
    ``per_channel`` gives ``[T, O]`` leaks and thresholds, ``step_current`` ``[T, O]`` mult / bias
    (Mem-BN).  ``readout = "count"`` counts the last layer's spikes (it must have ``classes``
    neurons).
    """
    if neuron == "lif" and spike_bits != 1:
        raise ValueError(f"LIF neurons fire binary spikes: neuron='lif' needs spike_bits=1, not {spike_bits}")
    rng = np.random.default_rng(seed)
    max_code = 2 ** spike_bits - 1
    shape = tuple(input_shape)
    in_max = input_max
    out = []
    unit = 1 << frac                                  # one spike step in membrane units
    cal = rng.integers(0, input_max + 1, size=(64, int(np.prod(shape)))).astype(np.int64)
    for i, spec in enumerate(layers):
        kind = stem_weights if (i == 0 and stem_weights) else weights
        nk = neuron if neuron != "mixed" else ("parallel" if i % 2 else "vanilla")
        if spec[0] == "conv":
            _, O, k, s, p, pool = spec
            w = _weights(rng, kind, (O, shape[0], k, k))
        else:
            O = spec[1]
            w = _weights(rng, kind, (O, int(np.prod(shape))))
        # calibrate on random inputs: one standard deviation of the accumulation maps to about
        # two thresholds' worth of membrane, so the codes span their whole range
        acc = conv2d(cal.reshape((len(cal),) + shape), w, spec[3], spec[4]) if spec[0] == "conv" \
            else cal @ w.astype(np.int64).T
        spread = acc.reshape(len(cal), O, -1).transpose(1, 0, 2).reshape(O, -1).std(axis=1) + 1
        shift = 16
        scale = (3.0 * unit / spread) * (1 << shift)
        mshape = (T, O) if step_current else (O,)
        mult = np.round(scale * rng.uniform(0.5, 1.5, size=mshape)).astype(np.int64)
        mult = np.maximum(mult, 1) * rng.choice([1, 1, 1, -1], size=mshape)
        bias = rng.integers(-unit, unit, size=mshape) * (1 << shift) + (1 << (shift - 1))
        pshape = (T, O) if per_channel else (T,)
        lam = np.zeros(pshape, np.int64) if nk == "parallel" else \
            rng.integers(int(0.3 * 2 ** lambda_frac), 2 ** lambda_frac + 1, size=pshape)
        theta = rng.integers(unit // 4, 2 * unit, size=pshape)
        lif = {}
        if nk == "lif":
            if rng.random() < 0.25:                   # IF: no leak
                lam = np.full(pshape, 2 ** lambda_frac, np.int64)
            lif = dict(reset=str(rng.choice(["value", "subtract"])),
                       v_reset=int(rng.choice([0, 0, int(rng.integers(-unit // 2, unit // 4))])))
        common = dict(**lif, name=f"l{i + 1}", weight=w, mult=mult, bias=bias.astype(np.int64), shift=shift,
                      lambda_t=lam.astype(np.int64), theta_t=theta.astype(np.int64),
                      lambda_frac=lambda_frac, frac=frac, max_code=max_code, direct=(i == 0),
                      weights=kind, neuron=nk)
        if spec[0] == "conv":
            layer = HDLIFConvLayer(**common, in_shape=shape, out_channels=O, kernel=k, stride=s,
                                   padding=p, pool=pool)
        else:
            layer = HDLIFLayer(**common, in_features=int(np.prod(shape)), out_features=O)
        out.append(layer)
        cal = _calibration_codes(layer, cal, shape)
        shape = layer_out_shape(layer)
        in_max = max_code
    rk = readout_weights or weights
    n_in = int(np.prod(shape))
    if readout == "count":
        if n_in != classes:
            raise ValueError(f"a count readout needs a last layer of {classes} neurons, not {n_in}")
        out.append(ReadoutLayer(name=f"l{len(layers) + 1}", in_features=n_in, out_features=classes,
                                weight=np.eye(classes, dtype=np.int8), weights="ternary", mode="count",
                                mult=np.ones(classes, np.int64), bias=np.zeros(classes, np.int64)))
    else:
        w = _weights(rng, rk, (classes, n_in))
        out.append(ReadoutLayer(name=f"l{len(layers) + 1}", in_features=n_in, out_features=classes,
                                weight=w, weights=rk, mult=rng.integers(1, 200, size=classes),
                                bias=rng.integers(-20, 20, size=classes)))
    bits = max(1, int(input_max).bit_length())
    inp = InputSpec(features=int(np.prod(input_shape)), bits=bits, max_value=input_max, scale=1.0 / input_max,
                    shape=tuple(input_shape))
    return Bundle(name=name, T=T, input=inp, spike_bits=spike_bits, layers=tuple(out),
                  meta={"synthetic_seed": seed})


def random_images(bundle: Bundle, n: int, seed: int = 0) -> np.ndarray:
    """``n`` images including the extremes: all zero, all at the largest pixel, then random."""
    rng = np.random.default_rng(seed)
    f, hi = bundle.input.features, bundle.input.max_value
    x = rng.integers(0, hi + 1, size=(max(n, 2), f))
    x[0] = 0
    x[1] = hi
    return x[:n].astype(np.int64)
