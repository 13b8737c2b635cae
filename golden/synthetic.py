"""Random but valid integer models, for testing every checker on shapes no training run made.

``random_bundle`` draws a network from a small description (conv and fc layers, weight kinds,
neuron kinds, per-channel or per-step parameters) with requantizers scaled so that spikes are
neither all zero nor all saturated.  The RTL and HLS tests use it to cover configurations
beyond the trained models; the result goes through :func:`golden.bundle.save_bundle` /
:func:`golden.bundle.load_bundle` like any export.
"""

from __future__ import annotations

import numpy as np

from .executor import conv2d, hdlif_step, max_pool, pool_codes, requant, sum_pool, synapse
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
        codes = pool_codes(layer, codes)
    return codes.reshape(len(x), -1)


def random_bundle(seed: int = 0, *, input_shape=(1, 8, 8), input_max: int = 15, T: int = 3,
                  spike_bits: int = 4, layers=(("conv", 4, 3, 1, 1, 2), ("fc", 16)), classes: int = 10,
                  weights: str = "ternary", stem_weights: str | None = None,
                  readout_weights: str | None = None, neuron: str = "vanilla",
                  per_channel: bool = False, step_current: bool = False, frac: int = 8,
                  lambda_frac: int = 12, readout: str = "score", name: str = "synthetic") -> Bundle:
    """A random valid bundle.

    ``layers`` lists ``("conv", out_channels, kernel, stride, padding, pool)`` (``pool`` 1, 2 or
    ``"sum"``: a 2 x 2 sum pool, average pooling) and
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
    out = []
    unit = 1 << frac                                  # one spike step in membrane units
    cal = rng.integers(0, input_max + 1, size=(64, int(np.prod(shape)))).astype(np.int64)
    for i, spec in enumerate(layers):
        kind = stem_weights if (i == 0 and stem_weights) else weights
        nk = neuron if neuron != "mixed" else ("parallel" if i % 2 else "vanilla")
        if spec[0] == "conv":
            _, O, k, s, p, pool = spec
            pool_op = "sum" if pool == "sum" else "max"
            pool = 2 if pool == "sum" else pool
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
                                   padding=p, pool=pool, pool_op=pool_op)
        else:
            layer = HDLIFLayer(**common, in_features=int(np.prod(shape)), out_features=O)
        out.append(layer)
        cal = _calibration_codes(layer, cal, shape)
        shape = layer_out_shape(layer)
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


def random_graph(seed: int = 0, *, input_shape=(1, 8, 8), input_max: int = 15, T: int = 3, spike_bits: int = 4,
                 stages=((4, 1), (6, 1)), classes: int = 10, seca: str = "none", membn: str = "none",
                 parallel: float = 0.5, stem_weights: str = "int8", weights: str = "ternary",
                 per_channel: bool = False, shortcut: str = "spikes", head: str = "spikes", neuron: str = "hdlif",
                 pool: str = "none", frac: int = 8, lambda_frac: int = 12, name: str = "synthetic_graph"):
    """A random valid residual network as an integer graph (:mod:`golden.graph`), the shape of
    :func:`training.export.to_graph`'s: a stem, ``stages`` of ``(width, blocks)`` (each later
    stage's first block strides by 2; a 1x1 shortcut where the shape changes), a head neuron,
    ``gsum`` and the readout.  ``seca`` ``none | I | II | mixed`` puts SECA nodes on the blocks
    (``mixed``: drawn per block), ``membn`` ``none | all | mixed`` gives neurons ``affine`` input
    maps, ``parallel`` is the chance a block's second neuron is Parallel; ``shortcut`` /
    ``head`` ``stream`` are the authors' forms (the 1x1 shortcut conv and the global sum read the
    current stream, no head neuron); ``neuron="lif"`` makes every neuron LIF / IF (binary spikes,
    either reset); ``pool`` ``maxpool | sumpool`` pools the stem's codes 2 x 2 (a neuron, the pool and
    a 3x3 entry conv before the first stage; where the stem's frame is at least 2 x 2).  Every requantizer,
    map and SECA index scale is calibrated on random images, so spikes are neither all zero nor
    all saturated and the SECA scales spread over the table."""
    from .graph import (INPUT, AddNode, AffineNode, CurrentNode, Graph, NeuronNode, PoolNode, ReadoutNode,
                        SecaNode, seca as seca_fn)

    rng = np.random.default_rng(seed)
    max_code = 2 ** spike_bits - 1
    unit = 1 << frac
    all_lif = neuron == "lif"                    # (the name ``neuron`` is the helper's below)
    nodes: list = []
    cal = rng.integers(0, input_max + 1, size=(48, int(np.prod(input_shape)))).astype(np.int64)
    vals = {INPUT: cal.reshape((48,) + tuple(input_shape))}      # the values at t = 0, for calibration

    def current(nm, src, in_shape, O, k, stride, pad, kind):
        w = _weights(rng, kind, (O, in_shape[0], k, k))
        acc = conv2d(vals[src], w, stride, pad).astype(np.int64)
        spread = acc.transpose(1, 0, 2, 3).reshape(O, -1).std(axis=1) + 1
        shift = 16
        mult = np.round(3.0 * unit / spread * (1 << shift) * rng.uniform(0.5, 1.5, O)).astype(np.int64)
        mult = np.maximum(mult, 1) * rng.choice([1, 1, 1, -1], size=O)
        bias = rng.integers(-unit, unit, size=O) * (1 << shift) + (1 << (shift - 1))
        n = CurrentNode(name=nm, input=src, in_shape=tuple(in_shape), weight=w, mult=mult, bias=bias.astype(np.int64),
                        shift=shift, weights=kind, kernel=k, stride=stride, padding=pad)
        nodes.append(n)
        vals[nm] = requant(n, acc, 0)
        return nm, n.out_shape

    def neuron(nm, src, shape, kind):
        C = shape[0]
        kind = "lif" if all_lif else kind
        if membn == "all" or (membn == "mixed" and rng.random() < 0.5):
            shift = 12
            mult = np.round((1 << shift) * rng.uniform(0.6, 1.4, (T, C))).astype(np.int64)
            bias = rng.integers(-unit // 2, unit // 2, (T, C)) * (1 << shift) + (1 << (shift - 1))
            a = AffineNode(name=f"{nm}.membn", input=src, shape=tuple(shape), mult=mult, bias=bias.astype(np.int64),
                           shift=shift)
            nodes.append(a)
            vals[a.name] = requant(a, vals[src], 0)
            src = a.name
        pshape = (T, C) if per_channel else (T,)
        lam = np.zeros(pshape, np.int64) if kind == "parallel" else \
            rng.integers(int(0.3 * 2 ** lambda_frac), 2 ** lambda_frac + 1, size=pshape)
        lif = {}
        if kind == "lif":
            if rng.random() < 0.25:                   # IF: no leak
                lam = np.full(pshape, 2 ** lambda_frac, np.int64)
            lif = dict(reset=str(rng.choice(["value", "subtract"])),
                       v_reset=int(rng.choice([0, int(rng.integers(-unit // 2, unit // 4))])))
        n = NeuronNode(name=nm, input=src, shape=tuple(shape), lambda_t=lam.astype(np.int64),
                       theta_t=rng.integers(unit // 4, 2 * unit, size=pshape).astype(np.int64),
                       lambda_frac=lambda_frac, frac=frac, max_code=1 if kind == "lif" else max_code, neuron=kind,
                       **lif)
        nodes.append(n)
        vals[nm], _, _ = hdlif_step(n, np.zeros_like(vals[src]), vals[src], 0)
        return nm

    def attention(nm, src, shape):
        k = 3
        taps = rng.integers(-60, 61, k)
        taps[k // 2] = int(rng.integers(20, 61))
        g = vals[src].reshape(len(cal), shape[0], -1).sum(axis=2)
        gp = np.pad(g, ((0, 0), (1, 1)))
        z = sum(int(taps[j]) * gp[:, j:j + shape[0]] for j in range(k))
        zshift = 24
        zmult = max(1, int(round(40 * (1 << zshift) / (float(np.abs(z).std()) + 1))))   # about 40 table steps
        R, q = 128, 8
        i = np.arange(-R, R) / 16
        table = np.floor(1 / (1 + np.exp(-i)) * 2 ** q + 0.5).astype(np.int64)
        n = SecaNode(name=nm, input=src, shape=tuple(shape), taps=taps.astype(np.int64), zmult=zmult, zshift=zshift,
                     table=table, q=q)
        nodes.append(n)
        vals[nm] = seca_fn(n, vals[src])
        return nm

    x, shape = current("stem", INPUT, tuple(input_shape), stages[0][0], 3, 1, 1, stem_weights)
    if pool in ("maxpool", "sumpool") and min(shape[1:]) >= 2:
        pre = neuron("pre", x, shape, "vanilla")
        pn = PoolNode(name="pre.pool", input=pre, in_shape=tuple(shape), kind=pool)
        nodes.append(pn)
        vals[pn.name] = (max_pool if pool == "maxpool" else sum_pool)(vals[pre], 2)
        x, shape = current("entry", pn.name, pn.out_shape, stages[0][0], 3, 1, 1, weights)
    elif pool not in ("none", "maxpool", "sumpool"):
        raise ValueError(f"pool must be none, maxpool or sumpool, not {pool!r}")
    b = 0
    for si, (width, count) in enumerate(stages):
        for j in range(count):
            stride = 2 if (si > 0 and j == 0 and min(shape[1:]) >= 2) else 1
            kind = seca if seca != "mixed" else str(rng.choice(["none", "I", "II"]))
            n1 = neuron(f"b{b}.n1", x, shape, "vanilla")
            c1, s1 = current(f"b{b}.conv1", n1, shape, width, 3, stride, 1, weights)
            if kind == "I":
                c1 = attention(f"b{b}.seca1", c1, s1)
            n2 = neuron(f"b{b}.n2", c1, s1, "parallel" if rng.random() < parallel else "vanilla")
            c2, s2 = current(f"b{b}.conv2", n2, s1, width, 3, 1, 1, weights)
            if kind == "I":
                c2 = attention(f"b{b}.seca2", c2, s2)
            sc = x if (tuple(shape) == tuple(s2)) else current(
                f"b{b}.shortcut", x if shortcut == "stream" else n1, shape, width, 1, stride, 0, weights)[0]
            nodes.append(AddNode(name=f"b{b}.add", a=sc, b=c2, shape=tuple(s2)))
            vals[f"b{b}.add"] = vals[sc] + vals[c2]
            x, shape = f"b{b}.add", s2
            if kind == "II":
                x = attention(f"b{b}.seca", x, shape)
            b += 1
    last = neuron("head", x, shape, "vanilla") if head == "spikes" else x
    nodes.append(PoolNode(name="gap", input=last, in_shape=tuple(shape), kind="gsum"))
    nodes.append(ReadoutNode(name="fc", input="gap", in_features=shape[0],
                             weight=_weights(rng, "int8", (classes, shape[0])), weights="int8",
                             mult=rng.integers(1, 200, size=classes).astype(np.int64),
                             bias=rng.integers(-20, 20, size=classes).astype(np.int64)))
    inp = InputSpec(features=int(np.prod(input_shape)), bits=max(1, int(input_max).bit_length()), max_value=input_max,
                    scale=1.0 / input_max, shape=tuple(input_shape))
    return Graph(name=name, T=T, input=inp, spike_bits=spike_bits, nodes=tuple(nodes), meta={"synthetic_seed": seed})


def draw_graph_options(rng, pool_rng=None) -> dict:
    """Random :func:`random_graph` options, extremes on purpose: 1-channel inputs, 2x2 frames,
    one-channel stages, T = 1, 1-bit spikes, every SECA / Mem-BN / shortcut / head form, LIF / IF;
    with ``pool_rng`` (its own stream, so ``rng``'s draws are the ones made before pools existed)
    a max- or sum-pooled stem half the time."""
    c, h = int(rng.integers(1, 4)), int(rng.integers(2, 9))
    stages = tuple((int(rng.integers(1, 7)), int(rng.integers(1, 3))) for _ in range(int(rng.integers(1, 4))))
    return dict(input_shape=(c, h, h), stages=stages, T=int(rng.integers(1, 5)),
                spike_bits=int(rng.integers(1, 5)), seca=str(rng.choice(["none", "I", "II", "mixed"])),
                membn=str(rng.choice(["none", "all", "mixed"])), parallel=float(rng.random()),
                stem_weights=str(rng.choice(["int8", "ternary"])), weights=str(rng.choice(["ternary", "binary"])),
                per_channel=bool(rng.random() < 0.5), shortcut=str(rng.choice(["spikes", "stream"])),
                head=str(rng.choice(["spikes", "stream"])), neuron="lif" if rng.random() < 0.25 else "hdlif",
                pool="none" if pool_rng is None else str(pool_rng.choice(["none", "none", "maxpool", "sumpool"])))
