"""The integer-model bundle: the contract between training and hardware.

A bundle is a folder holding ``model.json`` (structure, scalar parameters, widths) and
``model.npz`` (integer arrays).  Every stage downstream of export (golden executor, Amaranth
generator, cocotb testbenches, HLS) reads a bundle through :func:`load_bundle` and nothing
else.  The arithmetic these fields drive is defined in :mod:`golden.executor` and written
down in ``docs/integer-semantics.md``.

Loading never unpickles (``allow_pickle=False``) and validates every field: a corrupt or
hand-edited bundle fails with a :class:`BundleError` whose message names the file and the
field.  Saving is deterministic: the same model always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import bounds
from .atomic import write_bytes_atomic

SCHEMA = "hdlif-int/2"
#: the schema of an integer graph (:mod:`golden.graph`: residual networks)
GRAPH_SCHEMA = "hdlif-graph/1"
JSON_NAME = "model.json"
NPZ_NAME = "model.npz"
#: weight kind -> the integer range of its codes (binary also excludes 0)
WEIGHT_KINDS = {"ternary": (-1, 1), "binary": (-1, 1), "int8": (-127, 127)}
LAYER_KINDS = ("hdlif_fc", "hdlif_conv", "readout_fc")
NEURON_KINDS = ("vanilla", "parallel", "lif")
#: how a LIF neuron resets after a spike: to ``v_reset``, or by subtracting ``theta_t``
RESET_KINDS = ("value", "subtract")
#: ``readout_fc`` modes: ``score`` (weights, mult, bias) or ``count`` (the identity: the class is
#: the neuron of the last layer with the most spikes)
READOUT_MODES = ("score", "count")
POOL_KINDS = (1, 2)
#: what a conv layer's 2x2 pool takes of its window: the largest code (``max``), or the sum of the
#: four (``sum``: average pooling with its ``1 / 4`` left to the next synapse's requantizer)
POOL_OPS = ("max", "sum")
#: the vectorised executor accumulates in float64: every partial sum must stay exact
MAX_ACC_BITS = 52


class BundleError(ValueError):
    """A bundle that is missing, corrupt or inconsistent.  The message names file and field."""


def _need(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise BundleError(f"{where}: {what}")


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """Input pixels: unsigned integers ``0 .. max_value`` on ``bits`` bits.

    The float network saw ``pixel * scale``; the scale is folded into the stem's requantizer.
    """
    features: int
    bits: int
    max_value: int
    scale: float
    shape: tuple = ()           # [C, H, W] (or [features]); empty means [features]

    def __post_init__(self):
        if not (isinstance(self.features, int) and self.features > 0):
            raise BundleError(f"input.features must be a positive integer, not {self.features!r}")
        shape = tuple(self.shape) if self.shape else (self.features,)
        if not (len(shape) in (1, 3) and all(isinstance(d, int) and d > 0 for d in shape)
                and int(np.prod(shape)) == self.features):
            raise BundleError(f"input.shape must be [C, H, W] or [features] with {self.features} "
                              f"elements, not {list(shape)!r}")
        object.__setattr__(self, "shape", shape)
        if not (isinstance(self.bits, int) and 1 <= self.bits <= 16):
            raise BundleError(f"input.bits must be an integer in 1..16, not {self.bits!r}")
        if not (isinstance(self.max_value, int) and 0 < self.max_value < 2 ** self.bits):
            raise BundleError(f"input.max_value must fit input.bits={self.bits}, not {self.max_value!r}")


class Requantizer:
    """The requantizer's parameters (``mult``, ``bias``: ``[O]``, or ``[T, O]`` when they change
    with the step), read at step ``t``: layers here and the graph's ``current`` / ``affine`` nodes."""

    @property
    def step_dependent_current(self) -> bool:
        """``mult`` / ``bias`` of shape ``[T, O]``: the current scale changes with ``t`` (Mem-BN)."""
        return self.mult.ndim == 2

    def mult_at(self, t: int) -> np.ndarray:
        return self.mult[t] if self.mult.ndim == 2 else self.mult

    def bias_at(self, t: int) -> np.ndarray:
        return self.bias[t] if self.bias.ndim == 2 else self.bias


class NeuronParams:
    """``lambda_t`` / ``theta_t`` (``[T]``, or ``[T, O]`` per channel) read at step ``t``: layers here
    and the graph's ``neuron`` nodes."""

    def lambda_at(self, t: int):
        """``lambda_t`` at step ``t``: an int, or an ``[O]`` array for per-channel leaks."""
        return self.lambda_t[t] if self.lambda_t.ndim == 2 else int(self.lambda_t[t])

    def theta_at(self, t: int):
        return self.theta_t[t] if self.theta_t.ndim == 2 else int(self.theta_t[t])


@dataclass(frozen=True, kw_only=True)
class HDLIFLayer(Requantizer, NeuronParams):
    """A fully connected layer followed by vanilla HD-LIF neurons (graded spike, P2-reset).

    Integer arithmetic (see :func:`golden.executor.hdlif_step`)::

        acc      = sum_i weight[n, i] * code_in[i]                  (weight in {-1, 0, +1})
        current  = (acc * mult[n] + bias[n]) >> shift               (floor; bias holds the rounding)
        m        = ((lambda_t * v + 2**(lambda_frac - 1)) >> lambda_frac) + current   (charge)
        s*       = max(m - theta_t, 0)                              (fire)
        v        = min(m, theta_t)                                  (P2-reset)
        spike_code = min((s* + 2**(frac - 1)) >> frac, max_code)

    ``neuron = "lif"`` (LIF and IF, binary spikes, ``max_code = 1``) charges the same way and
    fires ``spike = m >= theta_t``; after a spike ``v = v_reset`` (``reset = "value"``) or
    ``v = m - theta_t`` (``reset = "subtract"``), otherwise ``v = m``.  IF is LIF with
    ``lambda_t = 2**lambda_frac``.
    """
    name: str
    in_features: int
    out_features: int
    weight: np.ndarray          # int8 [out, in], values in {-1, 0, 1}
    mult: np.ndarray            # int64 [out]
    bias: np.ndarray            # int64 [out]
    shift: int
    lambda_t: np.ndarray        # int64 [T], fixed point with lambda_frac fraction bits
    theta_t: np.ndarray         # int64 [T], membrane units (step / 2**frac)
    lambda_frac: int
    frac: int
    max_code: int
    direct: bool                # input identical at every step: acc computed once per image
    weights: str = "ternary"    # ternary | binary | int8
    neuron: str = "vanilla"     # vanilla | parallel (stateless: lambda_t == 0) | lif (binary spikes)
    reset: str = "value"        # lif only: value (v = v_reset after a spike) | subtract (v = m - theta_t)
    v_reset: int = 0            # lif only, membrane units
    widths: dict = field(default_factory=dict)
    kind: str = "hdlif_fc"

    @property
    def channels(self) -> int:
        """The size of the per-channel parameter axis (``mult``, ``bias``, ``[T, O]`` lambda/theta)."""
        return self.out_features

    @property
    def neurons(self) -> int:
        """Neurons updated per time step (before any pooling)."""
        return self.out_features

    @property
    def out_max(self) -> int:
        """The largest value of the layer's output (its codes, or with a sum pool their sums)."""
        return self.max_code



@dataclass(frozen=True, kw_only=True)
class HDLIFConvLayer(HDLIFLayer):
    """A 2-D convolution followed by HD-LIF neurons and optional 2x2 max pooling of the codes.

    ``acc[o, y, x] = sum_{c,i,j} weight[o, c, i, j] * xpad[c, y*stride + i, x*stride + j]`` with
    ``padding`` zeros on every side; the requantizer and neuron parameters are per output
    channel ``o``; ``pool = 2`` pools the spike codes 2 x 2 (floor): their maximum
    (``pool_op = "max"``) or their sum (``"sum"``: average pooling, its ``1 / 4`` folded into the
    next synapse's requantizer).  ``in_features`` and ``out_features`` are derived from the
    geometry.
    """
    in_shape: tuple             # [C, H, W]
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    pool: int = 1
    pool_op: str = "max"
    in_features: int = field(init=False)
    out_features: int = field(init=False)
    kind: str = "hdlif_conv"

    def __post_init__(self):
        C, H, W = self.in_shape
        object.__setattr__(self, "in_shape", tuple(int(d) for d in self.in_shape))
        object.__setattr__(self, "in_features", C * H * W)
        object.__setattr__(self, "out_features", int(np.prod(self.out_shape)))

    @property
    def conv_shape(self) -> tuple:
        """``[O, Ho, Wo]``: the neurons, before pooling."""
        _, H, W = self.in_shape
        k, s, p = self.kernel, self.stride, self.padding
        return (self.out_channels, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1)

    @property
    def out_shape(self) -> tuple:
        O, Ho, Wo = self.conv_shape
        return (O, Ho // self.pool, Wo // self.pool)

    @property
    def channels(self) -> int:
        return self.out_channels

    @property
    def out_max(self) -> int:
        return self.max_code * (self.pool ** 2 if self.pool_op == "sum" else 1)

    @property
    def neurons(self) -> int:
        return int(np.prod(self.conv_shape))


@dataclass(frozen=True, kw_only=True)
class ReadoutLayer:
    """The classifier: ``score_t[c] = acc_t[c] * mult[c] + bias[c]``; class = argmax sum_t score_t.

    Ties go to the lowest class index.  ``mode = "count"`` is the spike-count readout of a
    network whose last layer has one neuron per class: the weights are the identity,
    ``mult = 1``, ``bias = 0``, so the class is the neuron that fired most (the loader checks it).
    """
    name: str
    in_features: int
    out_features: int
    weight: np.ndarray
    mult: np.ndarray
    bias: np.ndarray
    weights: str = "ternary"
    mode: str = "score"
    widths: dict = field(default_factory=dict)
    kind: str = "readout_fc"


@dataclass(frozen=True, kw_only=True)
class Bundle:
    name: str
    T: int
    input: InputSpec
    spike_bits: int
    layers: tuple
    meta: dict = field(default_factory=dict)

    @property
    def classes(self) -> int:
        return self.layers[-1].out_features

    @property
    def max_code(self) -> int:
        return 2 ** self.spike_bits - 1

    @property
    def hdlif_layers(self) -> tuple:
        return tuple(layer for layer in self.layers if layer.kind != "readout_fc")

    @property
    def readout(self) -> ReadoutLayer:
        return self.layers[-1]


# ---------------------------------------------------------------------------------------------
# Widths

def compute_widths(bundle_T: int, input_spec: InputSpec, layers) -> list[dict]:
    """Bounds and the signed widths that provably hold every intermediate value."""
    out = []
    in_max = input_spec.max_value
    for layer in layers:
        w2d = layer.weight.reshape(layer.weight.shape[0], -1)
        if layer.kind != "readout_fc":
            w = bounds.hdlif_widths(w2d, in_max, layer.mult, layer.bias, layer.shift,
                                    layer.lambda_t, layer.theta_t, layer.lambda_frac, layer.frac,
                                    bundle_T, neuron=layer.neuron, reset=layer.reset, v_reset=layer.v_reset)
            in_max = layer.out_max
        else:
            w = bounds.readout_widths(w2d, in_max, layer.mult, layer.bias, bundle_T)
        out.append(w)
    return out


# ---------------------------------------------------------------------------------------------
# Save

def _array_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _layer_arrays(layer) -> dict:
    arrays = {"weight": layer.weight.astype(np.int8), "mult": layer.mult.astype(np.int64),
              "bias": layer.bias.astype(np.int64)}
    if layer.kind != "readout_fc":
        arrays["lambda_t"] = layer.lambda_t.astype(np.int64)
        arrays["theta_t"] = layer.theta_t.astype(np.int64)
    return {f"{layer.name}.{k}": v for k, v in arrays.items()}


def _layer_json(layer, widths: dict) -> dict:
    d = {"name": layer.name, "kind": layer.kind, "in_features": layer.in_features,
         "out_features": layer.out_features, "weights": layer.weights, "widths": widths}
    if layer.kind != "readout_fc":
        d.update(shift=layer.shift, lambda_frac=layer.lambda_frac, frac=layer.frac,
                 max_code=layer.max_code, direct=layer.direct, neuron=layer.neuron)
        if layer.neuron == "lif":
            d.update(reset=layer.reset, v_reset=int(layer.v_reset))
    elif layer.mode != "score":
        d.update(mode=layer.mode)
    if layer.kind == "hdlif_conv":
        d.update(in_shape=list(layer.in_shape), out_channels=layer.out_channels, kernel=layer.kernel,
                 stride=layer.stride, padding=layer.padding, pool=layer.pool,
                 out_shape=list(layer.out_shape))
        if layer.pool_op != "max":                      # written only when not the default: old bytes stay
            d.update(pool_op=layer.pool_op)
    return d


def write_model(folder: Path, doc: dict, arrays: dict) -> str:
    """Write ``folder/model.npz`` (``arrays``, fixed zip timestamps: the same model gives the same
    bytes) and ``folder/model.json`` (``doc`` plus ``arrays_sha256``), each atomically; return the
    hash of both.  Shared by bundles and graphs (:mod:`golden.graph`)."""
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, _array_bytes(arrays[key]))
    npz_bytes = npz.getvalue()
    doc = {**doc, "arrays_sha256": hashlib.sha256(npz_bytes).hexdigest()}
    json_bytes = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in ((NPZ_NAME, npz_bytes), (JSON_NAME, json_bytes)):
        write_bytes_atomic(folder / name, data)
    return hashlib.sha256(json_bytes + npz_bytes).hexdigest()


def input_json(spec: InputSpec) -> dict:
    return {"features": spec.features, "bits": spec.bits, "max_value": spec.max_value, "scale": spec.scale,
            "shape": list(spec.shape)}


def save_bundle(bundle: Bundle, folder: Path) -> str:
    """Write ``folder/model.json`` and ``folder/model.npz`` atomically; return the bundle hash."""
    widths = compute_widths(bundle.T, bundle.input, bundle.layers)
    arrays = {}
    for layer in bundle.layers:
        arrays.update(_layer_arrays(layer))
    doc = {
        "schema": SCHEMA,
        "name": bundle.name,
        "T": bundle.T,
        "input": input_json(bundle.input),
        "spike": {"bits": bundle.spike_bits, "max_code": bundle.max_code},
        "layers": [_layer_json(layer, w) for layer, w in zip(bundle.layers, widths)],
        "meta": bundle.meta,
    }
    return write_model(folder, doc, arrays)


def bundle_hash(folder: Path) -> str:
    folder = Path(folder)
    return hashlib.sha256((folder / JSON_NAME).read_bytes() + (folder / NPZ_NAME).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Load and validate

def _int_field(d: dict, key: str, where: str, lo: int | None = None, hi: int | None = None) -> int:
    _need(key in d, where, f"missing field {key!r}")
    v = d[key]
    _need(isinstance(v, int) and not isinstance(v, bool), where, f"field {key!r} must be an integer, not {v!r}")
    _need(lo is None or v >= lo, where, f"field {key!r} must be >= {lo}, not {v!r}")
    _need(hi is None or v <= hi, where, f"field {key!r} must be <= {hi}, not {v!r}")
    return v


def _array(arrays: dict, key: str, where: str, shapes, lo: int, hi: int) -> np.ndarray:
    """An integer array of one of ``shapes`` (a shape or a list of allowed shapes) within [lo, hi]."""
    shapes = [shapes] if isinstance(shapes, tuple) else list(shapes)
    _need(key in arrays, where, f"missing array {key!r}")
    a = arrays[key]
    _need(a.dtype.kind in "iu", where, f"array {key!r} must be integer, not {a.dtype}")
    _need(a.shape in shapes, where, f"array {key!r} must have shape "
          f"{' or '.join(str(list(sh)) for sh in shapes)}, not {list(a.shape)}")
    if a.size:
        _need(int(a.min()) >= lo and int(a.max()) <= hi, where,
              f"array {key!r} values must lie in [{lo}, {hi}], found [{int(a.min())}, {int(a.max())}]")
    return a.astype(np.int64)


def _int_list(d: dict, key: str, where: str, n: int) -> tuple:
    v = d.get(key)
    _need(isinstance(v, list) and len(v) == n and all(isinstance(x, int) and not isinstance(x, bool)
                                                        and x > 0 for x in v),
          where, f"field {key!r} must be a list of {n} positive integers, not {v!r}")
    return tuple(v)


def _load_layer(ld, i: int, n_layers: int, arrays: dict, where: str, npath: Path, T: int,
                max_code: int, prev_shape: tuple):
    """Validate one layer entry against the previous layer's output shape; build the dataclass."""
    lw = f"{where} layers[{i}]"
    _need(isinstance(ld, dict), lw, "must be an object")
    name = ld.get("name")
    _need(isinstance(name, str) and name.isidentifier(), lw, f"field 'name' must be an identifier, not {name!r}")
    kind = ld.get("kind")
    _need(kind in LAYER_KINDS, lw, f"field 'kind' must be one of {LAYER_KINDS}, not {kind!r}")
    last = i == n_layers - 1
    _need((kind == "readout_fc") == last, lw, "the readout must be the last layer, and only the last")
    weights = ld.get("weights")
    _need(weights in WEIGHT_KINDS, lw, f"field 'weights' must be one of {tuple(WEIGHT_KINDS)}, not {weights!r}")
    w_lo, w_hi = WEIGHT_KINDS[weights]
    fan_in = int(np.prod(prev_shape))
    aw = f"{npath} ({name})"
    if kind == "hdlif_conv":
        _need(len(prev_shape) == 3, lw, f"a conv layer needs a [C, H, W] input, but the previous layer gives {list(prev_shape)}")
        in_shape = _int_list(ld, "in_shape", lw, 3)
        _need(in_shape == prev_shape, lw, f"field 'in_shape' is {list(in_shape)} but the previous layer gives {list(prev_shape)}")
        geo = dict(out_channels=_int_field(ld, "out_channels", lw, 1), kernel=_int_field(ld, "kernel", lw, 1, 15),
                   stride=_int_field(ld, "stride", lw, 1, 8), padding=_int_field(ld, "padding", lw, 0, 7))
        _need(geo["padding"] < geo["kernel"], lw, f"field 'padding' ({geo['padding']}) must be smaller than 'kernel' ({geo['kernel']})")
        pool = ld.get("pool")
        _need(pool in POOL_KINDS, lw, f"field 'pool' must be one of {POOL_KINDS}, not {pool!r}")
        pool_op = ld.get("pool_op", "max")
        _need(pool_op in POOL_OPS, lw, f"field 'pool_op' must be one of {POOL_OPS}, not {pool_op!r}")
        _need(pool_op == "max" or pool == 2, lw, "field 'pool_op' \"sum\" needs 'pool' 2")
        geo["pool_op"] = pool_op
        _, H, W = in_shape
        k, p = geo["kernel"], geo["padding"]
        _need(H + 2 * p >= k and W + 2 * p >= k, lw, f"kernel {k} is larger than the padded input {list(in_shape)}")
        n_out = geo["out_channels"]
        wshape = (n_out, in_shape[0], k, k)
    else:
        n_in = _int_field(ld, "in_features", lw, 1)
        _need(n_in == fan_in, lw, f"field 'in_features' is {n_in} but the previous layer gives {fan_in}")
        n_out = _int_field(ld, "out_features", lw, 1)
        wshape = (n_out, n_in)
    weight = _array(arrays, f"{name}.weight", aw, wshape, w_lo, w_hi)
    if weights == "binary":
        _need(bool((weight != 0).all()), aw, f"array '{name}.weight' is binary but holds zeros")
    per_t = [(n_out,), (T, n_out)] if kind != "readout_fc" else [(n_out,)]
    common = dict(name=name, weights=weights, weight=weight,
                  mult=_array(arrays, f"{name}.mult", aw, per_t, -(2 ** 40), 2 ** 40),
                  bias=_array(arrays, f"{name}.bias", aw, per_t, -(2 ** 52), 2 ** 52),
                  widths=ld.get("widths", {}))
    if kind == "readout_fc":
        mode = ld.get("mode", "score")
        _need(mode in READOUT_MODES, lw, f"field 'mode' must be one of {READOUT_MODES}, not {mode!r}")
        if mode == "count":
            _need(wshape[0] == wshape[1] and np.array_equal(weight, np.eye(n_out, dtype=np.int64)), aw,
                  f"a count readout's '{name}.weight' must be the identity (one neuron per class)")
            _need(bool((common["mult"] == 1).all() and (common["bias"] == 0).all()), aw,
                  f"a count readout's '{name}.mult' must be all 1 and '{name}.bias' all 0")
        return ReadoutLayer(**common, in_features=wshape[1], out_features=n_out, mode=mode)
    frac = _int_field(ld, "frac", lw, 1, 24)
    lambda_frac = _int_field(ld, "lambda_frac", lw, 1, 24)
    shift = _int_field(ld, "shift", lw, 0, 48)
    _need(ld.get("max_code") == max_code, lw, f"field 'max_code' must be {max_code}, not {ld.get('max_code')!r}")
    _need(isinstance(ld.get("direct"), bool), lw, f"field 'direct' must be true or false, not {ld.get('direct')!r}")
    _need(ld["direct"] == (i == 0), lw, "only the first layer (the stem) is computed once per image")
    neuron = ld.get("neuron", "vanilla")
    _need(neuron in NEURON_KINDS, lw, f"field 'neuron' must be one of {NEURON_KINDS}, not {neuron!r}")
    lam = _array(arrays, f"{name}.lambda_t", aw, [(T,), (T, n_out)], -(2 ** (lambda_frac + 4)), 2 ** (lambda_frac + 4))
    theta = _array(arrays, f"{name}.theta_t", aw, [(T,), (T, n_out)], -(2 ** 40), 2 ** 40)
    if neuron == "parallel":
        _need(not lam.any(), aw, f"array '{name}.lambda_t' must be all zero for a parallel (stateless) neuron")
    lif = {}
    if neuron == "lif":
        _need(max_code == 1, lw, f"a lif layer fires binary spikes: the bundle's 'spike.bits' must be 1, not {max_code.bit_length()}")
        reset = ld.get("reset")
        _need(reset in RESET_KINDS, lw, f"field 'reset' must be one of {RESET_KINDS}, not {reset!r}")
        lif = dict(reset=reset, v_reset=_int_field(ld, "v_reset", lw, -(2 ** 40), 2 ** 40))
    params = dict(shift=shift, frac=frac, lambda_frac=lambda_frac, max_code=max_code, direct=ld["direct"],
                  neuron=neuron, lambda_t=lam, theta_t=theta, **lif)
    if kind == "hdlif_conv":
        layer = HDLIFConvLayer(**common, **params, **geo, in_shape=in_shape, pool=pool)
        _need(min(layer.out_shape) >= 1, lw, f"the output shape {list(layer.out_shape)} is empty")
        for key, want in (("in_features", layer.in_features), ("out_features", layer.out_features)):
            _need(ld.get(key) == want, lw, f"field {key!r} must be {want}, not {ld.get(key)!r}")
        return layer
    return HDLIFLayer(**common, **params, in_features=wshape[1], out_features=n_out)


def layer_out_shape(layer) -> tuple:
    return layer.out_shape if layer.kind == "hdlif_conv" else (layer.out_features,)


def read_model(folder: Path, schema: str) -> tuple:
    """The checked parts every saved model shares: ``(doc, arrays, where, npz path, T, input spec,
    spike bits)``.  ``schema`` is the one this reader takes; another known one is named."""
    folder = Path(folder)
    if folder.name == JSON_NAME:
        folder = folder.parent
    jpath, npath = folder / JSON_NAME, folder / NPZ_NAME
    _need(folder.is_dir(), str(folder), "no such model folder")
    _need(jpath.is_file(), str(jpath), "missing (is this an exported model? run the export step)")
    _need(npath.is_file(), str(npath), "missing (is this an exported model? run the export step)")
    try:
        doc = json.loads(jpath.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{jpath}: not valid JSON ({e})") from None
    where = str(jpath)
    _need(isinstance(doc, dict), where, "top level must be an object")
    got = doc.get("schema")
    if got == GRAPH_SCHEMA and schema != GRAPH_SCHEMA:
        raise BundleError(f"{where}: an integer graph (a residual network, schema {GRAPH_SCHEMA!r}); this stage "
                          "takes sequential bundles only (graphs go through make rtl, sim, bitstream and hls)")
    _need(got == schema, where, f"field 'schema' must be {schema!r}, not {got!r}"
          + (" (an older export: re-run the export step)" if str(got or "").startswith("hdlif-int/") else ""))
    npz_bytes = npath.read_bytes()
    digest = hashlib.sha256(npz_bytes).hexdigest()
    _need(doc.get("arrays_sha256") == digest, str(npath),
          f"content does not match 'arrays_sha256' in {JSON_NAME} (corrupt or edited)")
    try:
        with np.load(io.BytesIO(npz_bytes), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - any decode failure is a corrupt file
        raise BundleError(f"{npath}: not a readable .npz ({e})") from None

    T = _int_field(doc, "T", where, 1, 64)
    inp = doc.get("input")
    _need(isinstance(inp, dict), where, "missing object 'input'")
    shape = inp.get("shape", [])
    _need(isinstance(shape, list) and all(isinstance(d, int) for d in shape), where,
          f"field 'input.shape' must be a list of integers, not {shape!r}")
    try:
        input_spec = InputSpec(features=inp.get("features"), bits=inp.get("bits"),
                               max_value=inp.get("max_value"), scale=float(inp.get("scale", 0.0)),
                               shape=tuple(shape))
    except BundleError as e:
        raise BundleError(f"{where}: {e}") from None
    spike = doc.get("spike")
    _need(isinstance(spike, dict), where, "missing object 'spike'")
    spike_bits = _int_field(spike, "bits", where + " spike", 1, 8)
    return doc, arrays, where, npath, T, input_spec, spike_bits


def model_schema(folder: Path) -> str | None:
    """The ``schema`` a model folder's ``model.json`` declares (None when unreadable)."""
    folder = Path(folder)
    jpath = folder if folder.name == JSON_NAME else folder / JSON_NAME
    try:
        doc = json.loads(jpath.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc.get("schema") if isinstance(doc, dict) else None


def load_bundle(folder: Path) -> Bundle:
    """Load and validate a bundle folder (or its ``model.json``).  Raises :class:`BundleError`."""
    folder = Path(folder)
    if folder.name == JSON_NAME:
        folder = folder.parent
    doc, arrays, where, npath, T, input_spec, spike_bits = read_model(folder, SCHEMA)
    max_code = 2 ** spike_bits - 1

    layers_doc = doc.get("layers")
    _need(isinstance(layers_doc, list) and len(layers_doc) >= 2, where,
          "field 'layers' must list at least one HD-LIF layer and a readout")
    layers = []
    prev_shape = input_spec.shape
    for i, ld in enumerate(layers_doc):
        layer = _load_layer(ld, i, len(layers_doc), arrays, where, npath, T, max_code, prev_shape)
        layers.append(layer)
        prev_shape = layer_out_shape(layer)
    _need(len({l.name for l in layers}) == len(layers), where, "layer names must be unique")

    # The declared widths must cover what the arrays can produce (a hand edit that widens a
    # parameter without re-running the analysis is caught here).
    needed = compute_widths(T, input_spec, layers)
    for i, (layer, need) in enumerate(zip(layers, needed)):
        declared = layer.widths
        _need(isinstance(declared, dict), f"{where} layers[{i}]", "field 'widths' must be an object")
        _need(need["acc_bits"] <= MAX_ACC_BITS, f"{where} layers[{i}]",
              f"the accumulator needs {need['acc_bits']} bits, more than the {MAX_ACC_BITS} the integer model allows")
        for key, bits in need.items():
            if not key.endswith("_bits"):
                continue
            got = declared.get(key)
            _need(isinstance(got, int) and got >= bits, f"{where} layers[{i}].widths",
                  f"field {key!r} is {got!r} but the bound analysis needs {bits}")
    return Bundle(name=str(doc.get("name", folder.name)), T=T, input=input_spec,
                  spike_bits=spike_bits, layers=tuple(layers), meta=doc.get("meta", {}))
