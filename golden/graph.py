"""The integer model as a graph: residual networks (a current stream with shortcuts).

A sequential :class:`~golden.bundle.Bundle` is a chain of HD-LIF layers; a spiking ResNet is
not: its blocks add a current back onto a stream that several neurons read.  A
:class:`Graph` is a list of nodes in topological order, each naming its inputs.  Node kinds
(``docs/integer-semantics.md``, "Graphs"):

``current``  synapse and requantizer: codes, the pixels or a current (the authors' stream
             shortcut) -> a current in membrane units,
             ``(acc * mult + bias) >> shift`` per output channel; conv (``kernel``,
             ``stride``, ``padding``) or fc.  :func:`golden.executor.synapse` and
             :func:`golden.executor.requant`, the same arithmetic as a layer's.
``neuron``   current -> spike codes: charge, fire, reset (:func:`golden.executor.hdlif_step`,
             vanilla or Parallel HD-LIF, or LIF); its membrane is the node's state across steps.
``add``      current + current (the residual stream: both in the same membrane units).
``affine``   current -> current, ``(x * mult[t, c] + bias[t, c]) >> shift`` (a Mem-BN neuron's input
             map on a stream it shares; the requantizer's arithmetic).
``seca``     current -> current, channel attention (:func:`seca`): per image and channel the sum
             over space, a ``k``-tap integer convolution across channels, a sigmoid table, and
             ``(x * s + 2**(q - 1)) >> q``.
``maxpool``  2 x 2 max pooling of codes (:func:`golden.executor.max_pool`).
``sumpool``  2 x 2 sum pooling of codes (:func:`golden.executor.sum_pool`): average pooling with its
             ``1 / 4`` folded into the next synapse's ``mult`` (no rounding).
``gsum``     global sum pooling of codes (or of a current: the authors' head) over space,
             ``[C, H, W] -> [C]`` (global average pooling with its ``1 / (H * W)`` folded into the
             readout's ``mult``: no rounding).
``readout``  codes -> class scores (:func:`golden.executor.readout`); the last node.

Schedule: a node whose inputs are all computed once per image (the pixels, a ``current`` of the
pixels: the stem) is computed once per image; every other node at each step ``t`` in order,
so a block's neurons see step ``t`` of the stream, as in the float network.

Every value is bounded here (:func:`widths`, an interval analysis per channel and step): the
vectorised executor sums synapses in float64, so each accumulator must fit 52 bits
(:data:`golden.bundle.MAX_ACC_BITS`), and everything else int64 (62 bits kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import bounds as B
from .bundle import (GRAPH_SCHEMA, MAX_ACC_BITS, NEURON_KINDS, WEIGHT_KINDS, BundleError, InputSpec, NeuronParams,
                     Requantizer, _int_field, _need, input_json, load_bundle, model_schema, read_model, write_model)
from .executor import CHUNK, Result, hdlif_step, max_pool, readout, requant, run, sum_pool, synapse

NODE_KINDS = ("current", "neuron", "add", "affine", "seca", "maxpool", "sumpool", "gsum", "readout")
#: nodes that pool spike codes
POOLS = ("maxpool", "sumpool", "gsum")
#: nodes that map a current to a current of the same shape
CURRENT_MAPS = ("affine", "seca")
#: the pixels: the input every graph starts from
INPUT = "input"


def _conv_shape(in_shape: tuple, out_channels: int, kernel: int, stride: int, padding: int) -> tuple:
    _, H, W = in_shape
    return (out_channels, (H + 2 * padding - kernel) // stride + 1, (W + 2 * padding - kernel) // stride + 1)


class _Unary:
    """A node of one input (``input``)."""

    @property
    def inputs(self) -> tuple:
        return (self.input,)


class _Shaped:
    """A node whose output has its ``shape`` field's shape."""

    @property
    def out_shape(self) -> tuple:
        return tuple(self.shape)


@dataclass(frozen=True, kw_only=True)
class CurrentNode(Requantizer, _Unary):
    """Synapse + requantizer.  ``weight`` is ``[O, C, k, k]`` (conv) or ``[O, F]`` (fc)."""
    name: str
    input: str
    in_shape: tuple
    weight: np.ndarray
    mult: np.ndarray            # int64 [O], or [T, O] (a Mem-BN neuron's map folded in)
    bias: np.ndarray            # int64 [O], or [T, O]
    shift: int
    weights: str = "ternary"
    kernel: int | None = None   # None: fc
    stride: int = 1
    padding: int = 0
    kind: str = "current"

    @property
    def out_shape(self) -> tuple:
        O = self.weight.shape[0]
        if self.kernel is None:
            return (O,)
        return _conv_shape(self.in_shape, O, self.kernel, self.stride, self.padding)


@dataclass(frozen=True, kw_only=True)
class AffineNode(Requantizer, _Unary, _Shaped):
    """``(x * mult[t, c] + bias[t, c]) >> shift`` on a current ``shape`` (``[T, C]`` or ``[C]`` parameters)."""
    name: str
    input: str
    shape: tuple
    mult: np.ndarray
    bias: np.ndarray
    shift: int
    kind: str = "affine"


@dataclass(frozen=True, kw_only=True)
class SecaNode(_Unary, _Shaped):
    """Channel attention on a current ``shape`` (``[C, H, W]`` or ``[C]``): see :func:`seca`."""
    name: str
    input: str
    shape: tuple
    taps: np.ndarray            # int64 [k], k odd: the Conv1d across channels, zero padded
    zmult: int                  # z -> table index: (z * zmult + 2**(zshift - 1)) >> zshift
    zshift: int
    table: np.ndarray           # int64 [2R]: s for index -R .. R-1 (clamped), 0 .. 2**q
    q: int                      # fraction bits of s
    kind: str = "seca"



def seca(node: SecaNode, x: np.ndarray) -> np.ndarray:
    """``x`` ``[B, C, ...]`` scaled per image and channel::

        g[c]  = sum over space of x[c]                          (the average's sum; exact)
        z[c]  = sum_j taps[j] * g[c + j - k // 2]               (zero outside 0 .. C-1)
        i[c]  = clip((z[c] * zmult + 2**(zshift - 1)) >> zshift, -R, R - 1)    (R = len(table) / 2)
        s[c]  = table[i[c] + R]                                 (sigmoid in units of 2**-q)
        out   = (x * s[c] + 2**(q - 1)) >> q
    """
    B, C = x.shape[:2]
    g = x.reshape(B, C, -1).sum(axis=2)
    k = len(node.taps)
    gp = np.pad(g, ((0, 0), (k // 2, k // 2)))
    z = sum(int(node.taps[j]) * gp[:, j:j + C] for j in range(k))
    half = (1 << (node.zshift - 1)) if node.zshift > 0 else 0
    R = len(node.table) // 2
    idx = np.clip((z * node.zmult + half) >> node.zshift, -R, R - 1)
    s = np.asarray(node.table)[idx + R]
    s = s.reshape(s.shape + (1,) * (x.ndim - 2))
    return (x * s + (1 << (node.q - 1))) >> node.q


@dataclass(frozen=True, kw_only=True)
class NeuronNode(NeuronParams, _Unary, _Shaped):
    """HD-LIF neurons on a current of shape ``shape`` (per-channel parameters: axis 0)."""
    name: str
    input: str
    shape: tuple
    lambda_t: np.ndarray        # int64 [T], lambda_frac fraction bits
    theta_t: np.ndarray         # int64 [T], membrane units
    lambda_frac: int
    frac: int
    max_code: int
    neuron: str = "vanilla"     # vanilla | parallel | lif
    reset: str = "value"
    v_reset: int = 0
    kind: str = "neuron"


@dataclass(frozen=True, kw_only=True)
class AddNode(_Shaped):
    name: str
    a: str
    b: str
    shape: tuple
    kind: str = "add"

    @property
    def inputs(self) -> tuple:
        return (self.a, self.b)


@dataclass(frozen=True, kw_only=True)
class PoolNode(_Unary):
    """``maxpool`` / ``sumpool`` (2 x 2, stride 2, floor) or ``gsum`` (sum over space) of codes ``[C, H, W]``."""
    name: str
    input: str
    in_shape: tuple
    kind: str = "maxpool"

    @property
    def out_shape(self) -> tuple:
        C, H, W = self.in_shape
        return (C,) if self.kind == "gsum" else (C, H // 2, W // 2)


@dataclass(frozen=True, kw_only=True)
class ReadoutNode(_Unary):
    """``score_t[c] = acc_t[c] * mult[c] + bias[c]`` on the codes of ``input`` (flattened)."""
    name: str
    input: str
    in_features: int
    weight: np.ndarray          # int8 [classes, in_features]
    mult: np.ndarray
    bias: np.ndarray
    weights: str = "int8"
    kind: str = "readout"

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    @property
    def out_shape(self) -> tuple:
        return (self.out_features,)


@dataclass(frozen=True, kw_only=True)
class Graph:
    name: str
    T: int
    input: InputSpec
    spike_bits: int
    nodes: tuple
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        validate(self)

    @property
    def readout(self) -> ReadoutNode:
        return self.nodes[-1]

    @property
    def classes(self) -> int:
        return self.readout.out_features

    @property
    def neurons(self) -> tuple:
        return tuple(n for n in self.nodes if n.kind == "neuron")

    def static(self) -> set:
        """The nodes computed once per image (all their inputs are)."""
        out = {INPUT}
        for n in self.nodes:
            if n.kind != "neuron" and not getattr(n, "step_dependent_current", False) and all(i in out for i in n.inputs):
                out.add(n.name)
        return out


def _fail(graph_name: str, node: str, what: str) -> None:
    raise BundleError(f"graph {graph_name!r}, node {node!r}: {what}")


def validate(g: Graph) -> None:
    """Names, order, shapes, kinds and parameter ranges; raises :class:`BundleError` naming the node."""
    shapes = {INPUT: tuple(g.input.shape)}
    codes = {INPUT: False}           # does the node carry spike codes (True) or a current (False)?
    _need_nodes = g.nodes and g.nodes[-1].kind == "readout"
    if not _need_nodes:
        raise BundleError(f"graph {g.name!r}: the last node must be the readout")
    for n in g.nodes:
        if n.kind not in NODE_KINDS:
            _fail(g.name, n.name, f"kind must be one of {NODE_KINDS}, not {n.kind!r}")
        if n.name in shapes:
            _fail(g.name, n.name, "names must be unique (and not 'input')")
        for i in n.inputs:
            if i not in shapes:
                _fail(g.name, n.name, f"input {i!r} is not an earlier node (nodes are in topological order)")
        if n.kind == "readout" and n is not g.nodes[-1]:
            _fail(g.name, n.name, "the readout must be the last node")
        src = shapes[n.inputs[0]]
        if n.kind == "current":
            if tuple(n.in_shape) != src:
                _fail(g.name, n.name, f"in_shape {list(n.in_shape)} does not match {n.input!r}'s {list(src)}")
            lo, hi = WEIGHT_KINDS.get(n.weights, (None, None))
            if lo is None or n.weight.size == 0 or n.weight.min() < lo or n.weight.max() > hi:
                _fail(g.name, n.name, f"weights must be {n.weights} codes in [{lo}, {hi}]")
            O = n.weight.shape[0]
            if n.kernel is None:
                if n.weight.shape != (O, int(np.prod(src))):
                    _fail(g.name, n.name, f"fc weight must be [{O}, {int(np.prod(src))}], not {list(n.weight.shape)}")
            elif len(src) != 3 or n.weight.shape != (O, src[0], n.kernel, n.kernel) or n.stride < 1 or \
                    n.padding < 0 or min(n.out_shape[1:]) < 1:
                _fail(g.name, n.name, f"conv weight {list(n.weight.shape)}, kernel {n.kernel}, stride {n.stride}, "
                                      f"padding {n.padding} do not fit the input {list(src)}")
            if n.mult.shape not in ((O,), (g.T, O)) or n.bias.shape != n.mult.shape or not 0 <= n.shift <= 62:
                _fail(g.name, n.name, f"mult and bias must be [{O}] or [T, {O}] alike and shift in 0..62")
        elif n.kind in CURRENT_MAPS:
            C = src[0] if src else 0
            if codes[n.input] or tuple(n.shape) != src:
                _fail(g.name, n.name, f"maps a current of shape {list(src)}, with shape {list(n.shape)}")
            if n.kind == "affine":
                if n.mult.shape not in ((C,), (g.T, C)) or n.bias.shape != n.mult.shape or not 0 <= n.shift <= 62:
                    _fail(g.name, n.name, f"mult and bias must be [{C}] or [T, {C}] alike and shift in 0..62")
            else:
                k, R2 = len(n.taps), len(n.table)
                if k % 2 == 0 or R2 < 2 or R2 % 2 or not 1 <= n.q <= 30 or not 0 <= n.zshift <= 62 \
                        or n.table.min() < 0 or n.table.max() > 1 << n.q:
                    _fail(g.name, n.name, f"needs an odd number of taps ({k}), an even table ({R2}) of values in "
                                          f"0..2**q, q in 1..30 and zshift in 0..62")
        elif n.kind == "neuron":
            if codes[n.input] or tuple(n.shape) != src:
                _fail(g.name, n.name, f"a neuron reads a current of shape {list(src)}, with shape {list(n.shape)}")
            if n.neuron not in NEURON_KINDS:
                _fail(g.name, n.name, f"neuron must be one of {NEURON_KINDS}, not {n.neuron!r}")
            for arr, what in ((n.lambda_t, "lambda_t"), (n.theta_t, "theta_t")):
                if arr.shape not in ((g.T,), (g.T, n.shape[0])):
                    _fail(g.name, n.name, f"{what} must be [T] or [T, {n.shape[0]}], not {list(arr.shape)}")
            if n.neuron == "parallel" and np.any(n.lambda_t != 0):
                _fail(g.name, n.name, "a Parallel HD-LIF neuron has lambda_t = 0 (stateless)")
            if not (1 <= n.max_code <= 2 ** g.spike_bits - 1 and n.frac >= 0 and n.lambda_frac >= 1):
                _fail(g.name, n.name, f"max_code must lie in 1..{2 ** g.spike_bits - 1}, frac >= 0, lambda_frac >= 1")
        elif n.kind == "add":
            if codes[n.a] or codes[n.b] or shapes[n.a] != shapes[n.b] or tuple(n.shape) != shapes[n.a]:
                _fail(g.name, n.name, f"adds two currents of one shape: {n.a!r} {list(shapes[n.a])}, "
                                      f"{n.b!r} {list(shapes[n.b])}")
        elif n.kind in POOLS:
            if (not codes[n.input] and n.kind != "gsum") or len(src) != 3 or tuple(n.in_shape) != src:
                _fail(g.name, n.name, f"pools [C, H, W] spike codes (gsum: or a current), not {n.input!r} "
                                      f"{list(src)}")
        else:  # readout
            if n.in_features != int(np.prod(src)) or n.weight.shape[1:] != (n.in_features,):
                _fail(g.name, n.name, f"reads the {int(np.prod(src))} values of {n.input!r}")
            if n.mult.shape != (n.out_features,) or n.bias.shape != (n.out_features,):
                _fail(g.name, n.name, f"mult and bias must be [{n.out_features}]")
        shapes[n.name] = tuple(n.out_shape)
        codes[n.name] = n.kind == "neuron" or (n.kind in POOLS and codes[n.input])
    for name, w in widths(g).items():
        for key, bits in w.items():
            if not key.endswith("_bits"):
                continue
            limit = MAX_ACC_BITS if key == "acc_bits" else 62
            if bits > limit:
                _fail(g.name, name, f"{key} is {bits}, more than the {limit} bits the integer model allows"
                      + (" (the executor sums in float64)" if key == "acc_bits" else " (int64 products)"))


def widths(g: Graph) -> dict:
    """Per node, the signed widths that provably hold every value it can produce for any input of
    the declared range (:mod:`golden.bounds`' interval analysis, per channel and step): a
    ``current`` its accumulator, product and current; a ``neuron`` its leak product and membrane
    (the reset recursion, :func:`golden.bounds.neuron_ranges`); ``add``, ``affine`` and ``seca``
    their sums, products and results; the ``readout`` its accumulator and score."""
    T = g.T
    codes = {INPUT: g.input.max_value}      # the largest code / pixel a node outputs (all are >= 0)
    cur: dict = {}                          # a current's bounds per step and channel: (lo, hi) [T, C]
    out: dict = {}
    def acc_bounds(n):
        """A synapse's accumulator bounds per output: codes / pixels in 0 .. peak, or a current (or
        its sums over space) in its signed range."""
        w = n.weight.reshape(n.weight.shape[0], -1).astype(np.int64)
        if n.input in codes:
            return B.acc_range(w, codes[n.input])
        lo, hi = cur[n.input]
        lo, hi = min(int(lo.min()), 0), max(int(hi.max()), 0)
        return np.minimum(w * lo, w * hi).sum(axis=1), np.maximum(w * lo, w * hi).sum(axis=1)

    for n in g.nodes:
        if n.kind == "current":
            acc_lo, acc_hi = acc_bounds(n)
            r = B.current_ranges(acc_lo, acc_hi, n.mult, n.bias, n.shift, T)
            cur[n.name] = (r["lo"], r["hi"])
            out[n.name] = {"acc_bits": B.signed_bits(acc_lo.min(), acc_hi.max()), "mult_bits": r["mult_bits"],
                           "product_bits": B.signed_bits(*r["product_range"]),
                           "current_bits": B.signed_bits(*r["current_range"])}
        elif n.kind == "neuron":
            lo, hi = cur[n.input]
            r = B.neuron_ranges(lo, hi, n.lambda_t, n.theta_t, n.lambda_frac, T, neuron=n.neuron, reset=n.reset,
                                v_reset=n.v_reset)
            codes[n.name] = n.max_code
            out[n.name] = {k: r[k] for k in ("lambda_bits", "leak_bits", "membrane_bits")}
        elif n.kind == "add":
            (alo, ahi), (blo, bhi) = cur[n.a], cur[n.b]
            lo, hi = alo + blo, ahi + bhi
            cur[n.name] = (lo, hi)
            out[n.name] = {"current_bits": B.signed_bits(lo.min(), hi.max())}
        elif n.kind == "affine":
            xlo, xhi = cur[n.input]
            C = xlo.shape[1]
            mult = np.broadcast_to(n.mult, (T, C)) if n.mult.ndim == 1 else n.mult
            bias = np.broadcast_to(n.bias, (T, C)) if n.bias.ndim == 1 else n.bias
            plo, phi = B._affine_range(xlo, xhi, mult, bias)
            cur[n.name] = (plo >> n.shift, phi >> n.shift)
            out[n.name] = {"mult_bits": B.signed_bits(mult.min(), mult.max()),
                           "product_bits": B.signed_bits(plo.min(), phi.max()),
                           "current_bits": B.signed_bits((plo >> n.shift).min(), (phi >> n.shift).max())}
        elif n.kind == "seca":
            xlo, xhi = cur[n.input]
            area = int(np.prod(n.shape[1:])) if len(n.shape) > 1 else 1
            # every partial sum too (the hardware accumulates): bounds that contain 0
            glo = area * np.minimum(xlo.min(axis=0), 0)                       # [C], over every step
            ghi = area * np.maximum(xhi.max(axis=0), 0)
            k, C = len(n.taps), len(glo)
            zlo, zhi = np.zeros(C, np.int64), np.zeros(C, np.int64)
            for j, tap in enumerate(int(v) for v in n.taps):
                src = np.arange(C) + j - k // 2
                ok = (src >= 0) & (src < C)
                a_, b_ = tap * glo[np.clip(src, 0, C - 1)], tap * ghi[np.clip(src, 0, C - 1)]
                zlo += np.where(ok, np.minimum(np.minimum(a_, b_), 0), 0)
                zhi += np.where(ok, np.maximum(np.maximum(a_, b_), 0), 0)
            zp = [int(zlo.min()) * n.zmult, int(zhi.max()) * n.zmult]
            smin, smax = int(n.table.min()), int(n.table.max())
            half = 1 << (n.q - 1)
            p_lo = np.minimum(xlo * smin, xlo * smax)
            p_hi = np.maximum(xhi * smin, xhi * smax)
            cur[n.name] = ((p_lo + half) >> n.q, (p_hi + half) >> n.q)
            out[n.name] = {"sum_bits": B.signed_bits(glo.min(), ghi.max()),
                           "z_bits": B.signed_bits(zlo.min(), zhi.max()),
                           "z_product_bits": B.signed_bits(min(zp), max(zp)),
                           "product_bits": B.signed_bits(p_lo.min(), p_hi.max()),
                           "current_bits": B.signed_bits(cur[n.name][0].min(), cur[n.name][1].max())}
        elif n.kind == "maxpool":
            codes[n.name] = codes[n.input]
        elif n.kind == "sumpool":
            codes[n.name] = codes[n.input] * 4
            out[n.name] = {"sum_bits": B.signed_bits(0, codes[n.name])}
        elif n.kind == "gsum":
            area = n.in_shape[1] * n.in_shape[2]
            if n.input in codes:
                codes[n.name] = codes[n.input] * area
                out[n.name] = {"sum_bits": B.signed_bits(0, codes[n.name])}
            else:                               # the sum of a current over space
                lo, hi = cur[n.input]
                cur[n.name] = (np.minimum(lo, 0) * area, np.maximum(hi, 0) * area)
                out[n.name] = {"sum_bits": B.signed_bits(cur[n.name][0].min(), cur[n.name][1].max())}
        else:
            acc_lo, acc_hi = acc_bounds(n)
            s_lo, s_hi = B._affine_range(acc_lo, acc_hi, n.mult.astype(np.int64), n.bias.astype(np.int64))
            out[n.name] = {"acc_bits": B.signed_bits(acc_lo.min(), acc_hi.max()),
                           "mult_bits": B.signed_bits(int(n.mult.min()), int(n.mult.max())),
                           "score_bits": B.signed_bits(s_lo.min(), s_hi.max()),
                           "sum_bits": B.signed_bits(T * int(s_lo.min()), T * int(s_hi.max()))}
    return out


def _value(node, x: np.ndarray) -> np.ndarray:
    """A node's input as the executor's functions take it: ``[B, C, H, W]`` or ``[B, F]``."""
    return x.reshape((x.shape[0],) + tuple(node.in_shape)) if getattr(node, "kernel", None) is not None \
        else x.reshape(x.shape[0], -1)


def _step(g: Graph, values: dict, state: dict, t: int, nodes, trace: dict | None) -> None:
    for n in nodes:
        if n.kind == "current":
            values[n.name] = requant(n, synapse(n, _value(n, values[n.input])), t)
        elif n.kind == "neuron":
            cur = values[n.input]
            v = state.get(n.name)
            spikes, m, state[n.name] = hdlif_step(n, np.zeros_like(cur) if v is None else v, cur, t)
            values[n.name] = spikes
            if trace is not None:
                trace["codes"][n.name][:, t] = spikes.reshape(len(spikes), -1)
                trace["membranes"][n.name][:, t] = m.reshape(len(m), -1)
        elif n.kind == "add":
            values[n.name] = values[n.a] + values[n.b]
        elif n.kind == "affine":
            values[n.name] = requant(n, values[n.input], t)
        elif n.kind == "seca":
            values[n.name] = seca(n, values[n.input])
        elif n.kind == "maxpool":
            values[n.name] = max_pool(values[n.input], 2)
        elif n.kind == "sumpool":
            values[n.name] = sum_pool(values[n.input], 2)
        elif n.kind == "gsum":
            values[n.name] = values[n.input].sum(axis=(2, 3))
        else:
            values[n.name] = readout(n, values[n.input].reshape(len(values[n.input]), -1))


def _run_chunk(g: Graph, x: np.ndarray, trace: bool):
    n_img = len(x)
    static = g.static()
    once = [n for n in g.nodes if n.name in static]
    every = [n for n in g.nodes if n.name not in static]
    tr = None
    if trace:
        tr = {"codes": {n.name: np.zeros((n_img, g.T, int(np.prod(n.shape))), np.int64) for n in g.neurons},
              "membranes": {n.name: np.zeros((n_img, g.T, int(np.prod(n.shape))), np.int64) for n in g.neurons}}
    values = {INPUT: x.reshape((n_img,) + tuple(g.input.shape))}
    _step(g, values, {}, 0, once, None)
    state: dict = {}
    scores = np.zeros((n_img, g.T, g.classes), np.int64)
    for t in range(g.T):
        _step(g, values, state, t, every, tr)
        scores[:, t] = values[g.readout.name]
    return scores, tr


def run_graph(g: Graph, images: np.ndarray, *, trace: bool = False) -> Result:
    """Run the graph on ``images`` (``[N, features]`` pixel integers); the same :class:`Result`
    as :func:`golden.executor.run` (``codes`` / ``membranes`` per neuron node)."""
    x = np.asarray(images)
    if x.ndim != 2 or x.shape[1] != g.input.features:
        raise ValueError(f"images must have shape [N, {g.input.features}], not {list(x.shape)}")
    if x.size and (x.min() < 0 or x.max() > g.input.max_value):
        raise ValueError(f"pixel values must lie in [0, {g.input.max_value}], found [{x.min()}, {x.max()}]")
    x = x.astype(np.int64)
    parts = [_run_chunk(g, x[i:i + CHUNK], trace) for i in range(0, len(x), CHUNK)] or [_run_chunk(g, x, trace)]
    scores = np.concatenate([p[0] for p in parts])
    codes = {k: np.concatenate([p[1]["codes"][k] for p in parts]) for k in parts[0][1]["codes"]} if trace else None
    mems = {k: np.concatenate([p[1]["membranes"][k] for p in parts]) for k in parts[0][1]["membranes"]} \
        if trace else None
    return Result(scores=scores, classes=np.argmax(scores.sum(axis=1), axis=1), codes=codes, membranes=mems)


def from_bundle(bundle) -> Graph:
    """A sequential bundle as a graph (each layer: ``current`` -> ``neuron`` [-> ``maxpool`` |
    ``sumpool``], then
    the readout); :func:`run_graph` on it equals :func:`golden.executor.run` on the bundle.  A
    step-dependent requantizer (Mem-BN) has no ``current`` node yet: refused."""
    nodes, src, shape = [], INPUT, tuple(bundle.input.shape)
    for layer in bundle.hdlif_layers:
        if layer.step_dependent_current:
            raise BundleError(f"layer {layer.name}: a step-dependent requantizer (Mem-BN) is not a graph node yet")
        conv = layer.kind == "hdlif_conv"
        nodes.append(CurrentNode(name=f"{layer.name}.current", input=src, in_shape=shape, weight=layer.weight,
                                 mult=layer.mult, bias=layer.bias, shift=layer.shift, weights=layer.weights,
                                 kernel=layer.kernel if conv else None, stride=layer.stride if conv else 1,
                                 padding=layer.padding if conv else 0))
        out = nodes[-1].out_shape
        nodes.append(NeuronNode(name=layer.name, input=nodes[-1].name, shape=out, lambda_t=layer.lambda_t,
                                theta_t=layer.theta_t, lambda_frac=layer.lambda_frac, frac=layer.frac,
                                max_code=layer.max_code, neuron=layer.neuron, reset=layer.reset,
                                v_reset=layer.v_reset))
        src, shape = layer.name, out
        if conv and layer.pool == 2:
            nodes.append(PoolNode(name=f"{layer.name}.pool", input=src, in_shape=shape,
                                  kind="sumpool" if layer.pool_op == "sum" else "maxpool"))
            src, shape = nodes[-1].name, nodes[-1].out_shape
    r = bundle.readout
    nodes.append(ReadoutNode(name=r.name, input=src, in_features=r.in_features, weight=r.weight, mult=r.mult,
                             bias=r.bias, weights=r.weights))
    return Graph(name=bundle.name, T=bundle.T, input=bundle.input, spike_bits=bundle.spike_bits,
                 nodes=tuple(nodes), meta=dict(bundle.meta))


# ---------------------------------------------------------------------------------------------
# Save and load (the same files as a bundle: model.json + model.npz, schema GRAPH_SCHEMA)

_ARRAYS = {"current": ("weight", "mult", "bias"), "neuron": ("lambda_t", "theta_t"), "affine": ("mult", "bias"),
           "seca": ("taps", "table"), "readout": ("weight", "mult", "bias")}


def _node_json(n) -> dict:
    d = {"name": n.name, "kind": n.kind, "inputs": list(n.inputs), "out_shape": list(n.out_shape)}
    if n.kind == "current":
        d.update(in_shape=list(n.in_shape), weights=n.weights, kernel=n.kernel, stride=n.stride,
                 padding=n.padding, shift=n.shift)
    elif n.kind == "neuron":
        d.update(shape=list(n.shape), neuron=n.neuron, lambda_frac=n.lambda_frac, frac=n.frac,
                 max_code=n.max_code, reset=n.reset, v_reset=int(n.v_reset))
    elif n.kind == "add":
        d.update(shape=list(n.shape))
    elif n.kind == "affine":
        d.update(shape=list(n.shape), shift=n.shift)
    elif n.kind == "seca":
        d.update(shape=list(n.shape), zmult=int(n.zmult), zshift=n.zshift, q=n.q)
    elif n.kind in POOLS:
        d.update(in_shape=list(n.in_shape))
    else:
        d.update(in_features=n.in_features, weights=n.weights)
    return d


def save_graph(g: Graph, folder) -> str:
    """Write the graph's ``model.json`` / ``model.npz`` atomically (deterministic bytes); return its hash."""
    arrays = {f"{n.name}/{k}": np.asarray(getattr(n, k)).astype(np.int8 if k == "weight" else np.int64)
              for n in g.nodes for k in _ARRAYS.get(n.kind, ())}
    ws = {name: {k: v for k, v in w.items() if k.endswith("_bits")} for name, w in widths(g).items()}
    doc = {"schema": GRAPH_SCHEMA, "name": g.name, "T": g.T, "input": input_json(g.input),
           "spike": {"bits": g.spike_bits, "max_code": 2 ** g.spike_bits - 1},
           "nodes": [{**_node_json(n), **({"widths": ws[n.name]} if n.name in ws else {})} for n in g.nodes],
           "meta": g.meta}
    return write_model(folder, doc, arrays)


def _node(d, i: int, arrays: dict, where: str, T: int):
    w = f"{where} nodes[{i}]"
    _need(isinstance(d, dict), w, "must be an object")
    name, kind, inputs = d.get("name"), d.get("kind"), d.get("inputs")
    _need(isinstance(name, str) and name and name != INPUT, w, f"field 'name' must be a non-empty string, not {name!r}")
    w = f"{where} node {name!r}"
    _need(kind in NODE_KINDS, w, f"field 'kind' must be one of {NODE_KINDS}, not {kind!r}")
    _need(isinstance(inputs, list) and all(isinstance(x, str) for x in inputs)
          and len(inputs) == (2 if kind == "add" else 1), w,
          f"field 'inputs' must list {2 if kind == 'add' else 1} node name(s), not {inputs!r}")

    def arr(key, lo, hi):
        a = arrays.get(f"{name}/{key}")
        _need(a is not None, w, f"missing array {name + '/' + key!r}")
        _need(a.dtype.kind in "iu", w, f"array {key!r} must be integer, not {a.dtype}")
        if a.size:
            _need(int(a.min()) >= lo and int(a.max()) <= hi, w, f"array {key!r} values must lie in [{lo}, {hi}]")
        return a.astype(np.int64)

    def shape(key):
        v = d.get(key)
        _need(isinstance(v, list) and len(v) in (1, 3) and all(isinstance(x, int) and x > 0 for x in v), w,
              f"field {key!r} must be [C, H, W] or [features] of positive integers, not {v!r}")
        return tuple(v)

    big = 2 ** 62
    if kind == "current":
        k = d.get("kernel")
        _need(k is None or (isinstance(k, int) and k > 0), w, f"field 'kernel' must be a positive integer or null, not {k!r}")
        return CurrentNode(name=name, input=inputs[0], in_shape=shape("in_shape"), weight=arr("weight", -127, 127),
                           mult=arr("mult", -big, big), bias=arr("bias", -big, big),
                           shift=_int_field(d, "shift", w, 0, 62), weights=d.get("weights"), kernel=k,
                           stride=_int_field(d, "stride", w, 1), padding=_int_field(d, "padding", w, 0))
    if kind == "neuron":
        return NeuronNode(name=name, input=inputs[0], shape=shape("shape"), lambda_t=arr("lambda_t", 0, big),
                          theta_t=arr("theta_t", -big, big), lambda_frac=_int_field(d, "lambda_frac", w, 1, 30),
                          frac=_int_field(d, "frac", w, 0, 30), max_code=_int_field(d, "max_code", w, 1, 255),
                          neuron=d.get("neuron"), reset=d.get("reset", "value"),
                          v_reset=_int_field(d, "v_reset", w) if "v_reset" in d else 0)
    if kind == "add":
        return AddNode(name=name, a=inputs[0], b=inputs[1], shape=shape("shape"))
    if kind == "affine":
        return AffineNode(name=name, input=inputs[0], shape=shape("shape"), mult=arr("mult", -big, big),
                          bias=arr("bias", -big, big), shift=_int_field(d, "shift", w, 0, 62))
    if kind == "seca":
        return SecaNode(name=name, input=inputs[0], shape=shape("shape"), taps=arr("taps", -big, big),
                        zmult=_int_field(d, "zmult", w), zshift=_int_field(d, "zshift", w, 0, 62),
                        table=arr("table", 0, 1 << 30), q=_int_field(d, "q", w, 1, 30))
    if kind in POOLS:
        return PoolNode(name=name, input=inputs[0], in_shape=shape("in_shape"), kind=kind)
    return ReadoutNode(name=name, input=inputs[0], in_features=_int_field(d, "in_features", w, 1),
                       weight=arr("weight", -127, 127), mult=arr("mult", -big, big), bias=arr("bias", -big, big),
                       weights=d.get("weights"))


def load_graph(folder) -> Graph:
    """Load and validate a graph folder; raises :class:`BundleError` naming the file and the node."""
    doc, arrays, where, _, T, input_spec, spike_bits = read_model(folder, GRAPH_SCHEMA)
    nodes_doc = doc.get("nodes")
    _need(isinstance(nodes_doc, list) and nodes_doc, where, "field 'nodes' must be a non-empty list")
    nodes = tuple(_node(d, i, arrays, where, T) for i, d in enumerate(nodes_doc))
    try:
        g = Graph(name=str(doc.get("name", Path(folder).name)), T=T, input=input_spec, spike_bits=spike_bits,
                  nodes=nodes, meta=doc.get("meta", {}))
    except BundleError as e:
        raise BundleError(f"{where}: {e}") from None
    # the declared widths must cover what the arrays can produce (a hand edit is caught here)
    needed = widths(g)
    for d in nodes_doc:
        name, declared = d["name"], d.get("widths")
        for key, bits in needed.get(name, {}).items():
            if key.endswith("_bits"):
                got = declared.get(key) if isinstance(declared, dict) else None
                _need(isinstance(got, int) and got >= bits, f"{where} node {name!r} widths",
                      f"field {key!r} is {got!r} but the bound analysis needs {bits}")
    return g


def load_model(folder):
    """A bundle or a graph, whichever the folder holds (:func:`golden.bundle.load_bundle`, :func:`load_graph`)."""
    return load_graph(folder) if model_schema(folder) == GRAPH_SCHEMA else load_bundle(folder)


def run_model(model, images, *, trace: bool = False) -> Result:
    """:func:`run_graph` for a graph, :func:`golden.executor.run` for a bundle."""
    return run_graph(model, images, trace=trace) if isinstance(model, Graph) else run(model, images, trace=trace)
