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
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import bounds

SCHEMA = "hdlif-int/1"
JSON_NAME = "model.json"
NPZ_NAME = "model.npz"
WEIGHT_KINDS = ("ternary",)
LAYER_KINDS = ("hdlif_fc", "readout_fc")


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

    def __post_init__(self):
        if not (isinstance(self.features, int) and self.features > 0):
            raise BundleError(f"input.features must be a positive integer, not {self.features!r}")
        if not (isinstance(self.bits, int) and 1 <= self.bits <= 16):
            raise BundleError(f"input.bits must be an integer in 1..16, not {self.bits!r}")
        if not (isinstance(self.max_value, int) and 0 < self.max_value < 2 ** self.bits):
            raise BundleError(f"input.max_value must fit input.bits={self.bits}, not {self.max_value!r}")


@dataclass(frozen=True, kw_only=True)
class HDLIFLayer:
    """A fully connected layer followed by vanilla HD-LIF neurons (graded spike, P2-reset).

    Integer arithmetic (see :func:`golden.executor.hdlif_step`)::

        acc      = sum_i weight[n, i] * code_in[i]                  (weight in {-1, 0, +1})
        current  = (acc * mult[n] + bias[n]) >> shift               (floor; bias holds the rounding)
        m        = ((lambda_t * v + 2**(lambda_frac - 1)) >> lambda_frac) + current   (charge)
        s*       = max(m - theta_t, 0)                              (fire)
        v        = min(m, theta_t)                                  (P2-reset)
        spike_code = min((s* + 2**(frac - 1)) >> frac, max_code)
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
    direct: bool                # input identical at every step: current computed once per image
    widths: dict = field(default_factory=dict)
    kind: str = "hdlif_fc"


@dataclass(frozen=True, kw_only=True)
class ReadoutLayer:
    """The classifier: ``score_t[c] = acc_t[c] * mult[c] + bias[c]``; class = argmax sum_t score_t.

    Ties go to the lowest class index.
    """
    name: str
    in_features: int
    out_features: int
    weight: np.ndarray
    mult: np.ndarray
    bias: np.ndarray
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
        return tuple(layer for layer in self.layers if layer.kind == "hdlif_fc")

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
        if layer.kind == "hdlif_fc":
            w = bounds.hdlif_widths(layer.weight, in_max, layer.mult, layer.bias, layer.shift,
                                    layer.lambda_t, layer.theta_t, layer.lambda_frac, layer.frac,
                                    bundle_T)
            in_max = layer.max_code
        else:
            w = bounds.readout_widths(layer.weight, in_max, layer.mult, layer.bias, bundle_T)
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
    if layer.kind == "hdlif_fc":
        arrays["lambda_t"] = layer.lambda_t.astype(np.int64)
        arrays["theta_t"] = layer.theta_t.astype(np.int64)
    return {f"{layer.name}.{k}": v for k, v in arrays.items()}


def _layer_json(layer, widths: dict) -> dict:
    d = {"name": layer.name, "kind": layer.kind, "in_features": layer.in_features,
         "out_features": layer.out_features, "weights": "ternary", "widths": widths}
    if layer.kind == "hdlif_fc":
        d.update(shift=layer.shift, lambda_frac=layer.lambda_frac, frac=layer.frac,
                 max_code=layer.max_code, direct=layer.direct)
    return d


def save_bundle(bundle: Bundle, folder: Path) -> str:
    """Write ``folder/model.json`` and ``folder/model.npz`` atomically; return the bundle hash.

    The npz is written with fixed zip timestamps so the same model gives the same bytes.
    """
    folder = Path(folder)
    widths = compute_widths(bundle.T, bundle.input, bundle.layers)
    arrays = {}
    for layer in bundle.layers:
        arrays.update(_layer_arrays(layer))
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, _array_bytes(arrays[key]))
    npz_bytes = npz.getvalue()
    doc = {
        "schema": SCHEMA,
        "name": bundle.name,
        "T": bundle.T,
        "input": {"features": bundle.input.features, "bits": bundle.input.bits,
                  "max_value": bundle.input.max_value, "scale": bundle.input.scale},
        "spike": {"bits": bundle.spike_bits, "max_code": bundle.max_code},
        "layers": [_layer_json(layer, w) for layer, w in zip(bundle.layers, widths)],
        "arrays_sha256": hashlib.sha256(npz_bytes).hexdigest(),
        "meta": bundle.meta,
    }
    json_bytes = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in ((NPZ_NAME, npz_bytes), (JSON_NAME, json_bytes)):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, folder / name)
    return hashlib.sha256(json_bytes + npz_bytes).hexdigest()


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


def _array(arrays: dict, key: str, where: str, shape: tuple, lo: int, hi: int) -> np.ndarray:
    _need(key in arrays, where, f"missing array {key!r}")
    a = arrays[key]
    _need(a.dtype.kind in "iu", where, f"array {key!r} must be integer, not {a.dtype}")
    _need(a.shape == shape, where, f"array {key!r} must have shape {list(shape)}, not {list(a.shape)}")
    if a.size:
        _need(int(a.min()) >= lo and int(a.max()) <= hi, where,
              f"array {key!r} values must lie in [{lo}, {hi}], found [{int(a.min())}, {int(a.max())}]")
    return a.astype(np.int64)


def load_bundle(folder: Path) -> Bundle:
    """Load and validate a bundle folder (or its ``model.json``).  Raises :class:`BundleError`."""
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
    _need(doc.get("schema") == SCHEMA, where, f"field 'schema' must be {SCHEMA!r}, not {doc.get('schema')!r}")
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
    try:
        input_spec = InputSpec(features=inp.get("features"), bits=inp.get("bits"),
                               max_value=inp.get("max_value"), scale=float(inp.get("scale", 0.0)))
    except BundleError as e:
        raise BundleError(f"{where}: {e}") from None
    spike = doc.get("spike")
    _need(isinstance(spike, dict), where, "missing object 'spike'")
    spike_bits = _int_field(spike, "bits", where + " spike", 1, 8)
    max_code = 2 ** spike_bits - 1

    layers_doc = doc.get("layers")
    _need(isinstance(layers_doc, list) and len(layers_doc) >= 2, where,
          "field 'layers' must list at least one HD-LIF layer and a readout")
    layers = []
    fan_in = input_spec.features
    for i, ld in enumerate(layers_doc):
        lw = f"{where} layers[{i}]"
        _need(isinstance(ld, dict), lw, "must be an object")
        name = ld.get("name")
        _need(isinstance(name, str) and name.isidentifier(), lw, f"field 'name' must be an identifier, not {name!r}")
        kind = ld.get("kind")
        _need(kind in LAYER_KINDS, lw, f"field 'kind' must be one of {LAYER_KINDS}, not {kind!r}")
        last = i == len(layers_doc) - 1
        _need((kind == "readout_fc") == last, lw, "the readout must be the last layer, and only the last")
        _need(ld.get("weights") in WEIGHT_KINDS, lw, f"field 'weights' must be one of {WEIGHT_KINDS}, not {ld.get('weights')!r}")
        n_in = _int_field(ld, "in_features", lw, 1)
        _need(n_in == fan_in, lw, f"field 'in_features' is {n_in} but the previous layer gives {fan_in}")
        n_out = _int_field(ld, "out_features", lw, 1)
        aw = f"{npath} ({name})"
        common = dict(
            name=name, in_features=n_in, out_features=n_out,
            weight=_array(arrays, f"{name}.weight", aw, (n_out, n_in), -1, 1),
            mult=_array(arrays, f"{name}.mult", aw, (n_out,), -(2 ** 40), 2 ** 40),
            bias=_array(arrays, f"{name}.bias", aw, (n_out,), -(2 ** 52), 2 ** 52),
            widths=ld.get("widths", {}),
        )
        if kind == "hdlif_fc":
            frac = _int_field(ld, "frac", lw, 1, 24)
            lambda_frac = _int_field(ld, "lambda_frac", lw, 1, 24)
            shift = _int_field(ld, "shift", lw, 0, 48)
            _need(ld.get("max_code") == max_code, lw, f"field 'max_code' must be {max_code} for {spike_bits}-bit spikes, not {ld.get('max_code')!r}")
            _need(isinstance(ld.get("direct"), bool), lw, f"field 'direct' must be true or false, not {ld.get('direct')!r}")
            _need(ld["direct"] == (i == 0), lw, "only the first layer (the stem) is computed once per image")
            layer = HDLIFLayer(
                **common, shift=shift, frac=frac, lambda_frac=lambda_frac, max_code=max_code,
                direct=ld["direct"],
                lambda_t=_array(arrays, f"{name}.lambda_t", aw, (T,), -(2 ** (lambda_frac + 4)), 2 ** (lambda_frac + 4)),
                theta_t=_array(arrays, f"{name}.theta_t", aw, (T,), -(2 ** 40), 2 ** 40),
            )
        else:
            layer = ReadoutLayer(**common)
        layers.append(layer)
        fan_in = n_out
    _need(len({l.name for l in layers}) == len(layers), where, "layer names must be unique")

    # The declared widths must cover what the arrays can produce (a hand edit that widens a
    # parameter without re-running the analysis is caught here).
    needed = compute_widths(T, input_spec, layers)
    for i, (layer, need) in enumerate(zip(layers, needed)):
        declared = layer.widths
        _need(isinstance(declared, dict), f"{where} layers[{i}]", "field 'widths' must be an object")
        for key, bits in need.items():
            if not key.endswith("_bits"):
                continue
            got = declared.get(key)
            _need(isinstance(got, int) and got >= bits, f"{where} layers[{i}].widths",
                  f"field {key!r} is {got!r} but the bound analysis needs {bits}")
    return Bundle(name=str(doc.get("name", folder.name)), T=T, input=input_spec,
                  spike_bits=spike_bits, layers=tuple(layers), meta=doc.get("meta", {}))


def replace_folder_atomically(src: Path, dst: Path) -> None:
    """Move a finished output folder into place, replacing any previous one."""
    dst = Path(dst)
    if dst.exists():
        old = dst.with_name(dst.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
