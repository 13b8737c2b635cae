"""The integer golden model: the one definition of the arithmetic every stage reproduces.

Pure integer NumPy (int64), vectorised over a batch of images.  The Amaranth RTL, the cocotb
testbenches and the HLS C simulation are all checked against :func:`run` bit for bit.

Schedule of one image (direct encoding, ``docs/integer-semantics.md``)::

    stem current  = requant(W_0 @ pixels)                 once per image
    for t in 0 .. T-1:
        codes_0   = hdlif(stem current, t)
        codes_l   = hdlif(requant(W_l @ codes_(l-1)), t)  for every further HD-LIF layer
        score_t   = W_r @ codes_last * mult + bias        the readout
    class         = argmax_c sum_t score_t[c]             (lowest index wins a tie)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bundle import Bundle, HDLIFConvLayer, HDLIFLayer, ReadoutLayer

#: images per chunk inside :func:`run` (bounds the memory of the conv windows)
CHUNK = 500


def _exact_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` for integer arrays, through floating-point BLAS, exactly.

    Every partial sum of these integer products is an integer no larger than
    ``max|x| * max_n sum_i |w[i, n]|``.  Below 2**24 float32 represents all of them exactly;
    otherwise float64 does (the loader guarantees every accumulator fits 52 bits).
    """
    bound = (int(np.abs(x).max()) if x.size else 0) * (int(np.abs(w).sum(axis=0).max()) if w.size else 0)
    ftype = np.float32 if bound < 2 ** 24 else np.float64
    return (x.astype(ftype) @ w.astype(ftype)).astype(np.int64)


def synapse(layer, x: np.ndarray) -> np.ndarray:
    """The weighted sum: ``acc[b, n] = sum_i weight[n, i] * x[b, i]`` for fc layers and the
    readout (``x`` is ``[B, in_features]``); for a conv layer ``x`` is ``[B, C, H, W]`` and the
    result ``[B, O, Ho, Wo]`` (zero padding, stride)."""
    if getattr(layer, "kernel", None) is not None:          # a conv layer (or a graph's conv node)
        return conv2d(x, layer.weight, layer.stride, layer.padding)
    return _exact_matmul(x.reshape(x.shape[0], -1), layer.weight.reshape(layer.weight.shape[0], -1).T)


def conv2d(x: np.ndarray, weight: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """``acc[b, o, y, x] = sum_{c,i,j} weight[o, c, i, j] * xpad[b, c, y*stride + i, x*stride + j]``."""
    O, C, k, _ = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    B, _, Ho, Wo = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(B * Ho * Wo, C * k * k)
    acc = _exact_matmul(cols, weight.reshape(O, C * k * k).T)
    return acc.reshape(B, Ho, Wo, O).transpose(0, 3, 1, 2)


def _per_channel(layer: HDLIFLayer, a, ndim: int):
    """Shape a per-channel ``[O]`` parameter to broadcast over ``[B, O]`` or ``[B, O, H, W]``."""
    a = np.asarray(a)
    return a.reshape(a.shape + (1,) * (ndim - 2)) if a.ndim == 1 and ndim == 4 else a


def requant(layer: HDLIFLayer, acc: np.ndarray, t: int = 0) -> np.ndarray:
    """Input current in membrane units: ``(acc * mult + bias) >> shift`` (floor shift).

    ``mult``/``bias`` are per output channel, and per step when they are ``[T, O]`` (Mem-BN).
    """
    mult = _per_channel(layer, layer.mult_at(t), acc.ndim)
    bias = _per_channel(layer, layer.bias_at(t), acc.ndim)
    return (acc * mult + bias) >> layer.shift


def charge(layer: HDLIFLayer, v: np.ndarray, current: np.ndarray, t: int) -> np.ndarray:
    """``m = round_half_up(lambda_t * v) + I`` with ``lambda_t`` in fixed point."""
    half = 1 << (layer.lambda_frac - 1)
    lam = _per_channel(layer, layer.lambda_at(t), v.ndim)
    return ((lam * v + half) >> layer.lambda_frac) + current


def fire(layer: HDLIFLayer, m: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Graded spike and P2-reset: returns ``(spike_code, v)``.

    ``s* = max(m - theta_t, 0)``, ``v = min(m, theta_t)``,
    ``spike_code = min(round_half_up(s* / 2**frac), max_code)``.
    """
    theta = _per_channel(layer, layer.theta_at(t), m.ndim)
    s_star = np.maximum(m - theta, 0)
    v = np.minimum(m, theta)
    half = 1 << (layer.frac - 1) if layer.frac > 0 else 0
    spike_code = np.minimum((s_star + half) >> layer.frac, layer.max_code)
    return spike_code, v


def lif_fire(layer: HDLIFLayer, m: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary spike and reset of a LIF / IF neuron: returns ``(spike, v)``.

    ``spike = m >= theta_t``; after a spike ``v = v_reset`` (``reset = "value"``) or
    ``v = m - theta_t`` (``reset = "subtract"``); without one ``v = m``.
    """
    theta = _per_channel(layer, layer.theta_at(t), m.ndim)
    spike = m >= theta
    after = m - theta if layer.reset == "subtract" else np.full_like(m, layer.v_reset)
    return spike.astype(np.int64), np.where(spike, after, m)


def hdlif_step(layer: HDLIFLayer, v: np.ndarray, current: np.ndarray, t: int):
    """One neuron update: charge -> fire -> reset (P2-reset for HD-LIF).  Returns ``(spike_code, m, v)``."""
    m = charge(layer, v, current, t)
    spike_code, v = lif_fire(layer, m, t) if layer.neuron == "lif" else fire(layer, m, t)
    return spike_code, m, v


def max_pool(codes: np.ndarray, pool: int) -> np.ndarray:
    """``pool x pool`` max pooling with stride ``pool`` over ``[B, O, H, W]`` (floor)."""
    if pool == 1:
        return codes
    B, O, H, W = codes.shape
    Hp, Wp = H // pool, W // pool
    c = codes[:, :, :Hp * pool, :Wp * pool].reshape(B, O, Hp, pool, Wp, pool)
    return c.max(axis=(3, 5))


def sum_pool(codes: np.ndarray, pool: int) -> np.ndarray:
    """``pool x pool`` sum pooling with stride ``pool`` over ``[B, O, H, W]`` (floor): average
    pooling with its ``1 / pool**2`` left to the next synapse's requantizer (no rounding)."""
    B, O, H, W = codes.shape
    Hp, Wp = H // pool, W // pool
    return codes[:, :, :Hp * pool, :Wp * pool].reshape(B, O, Hp, pool, Wp, pool).sum(axis=(3, 5))


def pool_codes(layer, codes: np.ndarray) -> np.ndarray:
    """A conv layer's pooling of its codes ``[B, O, H, W]``: :func:`max_pool` or :func:`sum_pool`
    by its ``pool_op`` (no pooling with ``pool = 1``)."""
    if layer.pool == 1:
        return codes
    return sum_pool(codes, layer.pool) if layer.pool_op == "sum" else max_pool(codes, layer.pool)


def readout(layer: ReadoutLayer, codes: np.ndarray) -> np.ndarray:
    return synapse(layer, codes.reshape(codes.shape[0], -1)) * layer.mult + layer.bias


@dataclass
class Result:
    scores: np.ndarray           # int64 [N, T, classes]: the readout at every time step
    classes: np.ndarray          # int64 [N]: argmax of the scores summed over time
    codes: dict | None = None    # layer name -> int64 [N, T, out_features]: output codes (after pooling)
    membranes: dict | None = None  # layer name -> int64 [N, T, neurons]: charged m_t (before pooling)


def _layer_input(layer, x: np.ndarray) -> np.ndarray:
    return x.reshape((x.shape[0],) + tuple(layer.in_shape)) if isinstance(layer, HDLIFConvLayer) \
        else x.reshape(x.shape[0], -1)


def _run_chunk(bundle: Bundle, x: np.ndarray, trace: bool):
    n, T = x.shape[0], bundle.T
    hd = bundle.hdlif_layers
    v = [None] * len(hd)
    codes_trace = {l.name: np.zeros((n, T, l.out_features), np.int64) for l in hd} if trace else None
    mem_trace = {l.name: np.zeros((n, T, l.neurons), np.int64) for l in hd} if trace else None
    scores = np.zeros((n, T, bundle.classes), np.int64)
    stem = hd[0]
    stem_acc = synapse(stem, _layer_input(stem, x))              # the pixels: once per image
    stem_current = None if stem.step_dependent_current else requant(stem, stem_acc)
    for t in range(T):
        codes = x
        for i, layer in enumerate(hd):
            if layer.direct:
                current = stem_current if stem_current is not None else requant(layer, stem_acc, t)
            else:
                current = requant(layer, synapse(layer, _layer_input(layer, codes)), t)
            if v[i] is None:
                v[i] = np.zeros_like(current)
            spikes, m, v[i] = hdlif_step(layer, v[i], current, t)
            if isinstance(layer, HDLIFConvLayer):
                spikes = pool_codes(layer, spikes)
            codes = spikes.reshape(n, -1)
            if trace:
                codes_trace[layer.name][:, t] = codes
                mem_trace[layer.name][:, t] = m.reshape(n, -1)
        scores[:, t] = readout(bundle.readout, codes)
    return scores, codes_trace, mem_trace


def run(bundle: Bundle, images: np.ndarray, *, trace: bool = False) -> Result:
    """Run the integer model on ``images`` (``[N, features]`` unsigned pixel integers, C,H,W order)."""
    x = np.asarray(images)
    if x.ndim != 2 or x.shape[1] != bundle.input.features:
        raise ValueError(f"images must have shape [N, {bundle.input.features}], not {list(x.shape)}")
    if x.size and (x.min() < 0 or x.max() > bundle.input.max_value):
        raise ValueError(f"pixel values must lie in [0, {bundle.input.max_value}], "
                         f"found [{x.min()}, {x.max()}]")
    x = x.astype(np.int64)
    parts = [_run_chunk(bundle, x[i:i + CHUNK], trace) for i in range(0, max(len(x), 1), CHUNK)] \
        if len(x) else [_run_chunk(bundle, x, trace)]
    scores = np.concatenate([p[0] for p in parts])
    codes = {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]} if trace else None
    mems = {k: np.concatenate([p[2][k] for p in parts]) for k in parts[0][2]} if trace else None
    classes = np.argmax(scores.sum(axis=1), axis=1)
    return Result(scores=scores, classes=classes, codes=codes, membranes=mems)
