"""Bundle -> hls4ml: the parser from an integer-model bundle to hls4ml's layer list and config.

Two kinds of project, both Vitis backend, ``io_stream``, exact integer types everywhere:

``layer project`` (:func:`layer_project`)
    one conv or fully connected layer of the bundle: spike codes (or pixels) in ->
    hls4ml ``Conv2D`` / ``Dense`` with ``{-1, 0, +1}`` (or binary / int8) weights, accumulating on
    ``widths.acc_bits`` -> ``HDLIFRequant`` -> integer currents out (``widths.current_bits``).
``network project`` (:func:`network_project`)
    the whole network: per layer synapse -> requant -> ``HDLIFNeuron`` (vanilla or Parallel
    HD-LIF, graded codes; or LIF / IF, binary spikes) [-> ``MaxPooling2D`` on the codes], then
    the readout's synapse -> requant with shift 0 -> the class scores of the step.  A spike-count
    readout (``mode = "count"``: identity weights, mult 1, bias 0) is an ordinary readout here.

Time steps: one call of the top function (one ``predict`` row) is one time step.  An image
goes in as ``T`` consecutive rows (the same pixels each time, direct encoding) and comes out as
``T`` rows of scores ``score_t``; the neurons keep the membrane between calls and wrap their step
counter after ``T`` calls (hls4ml's SNN idiom).  The stem's synapse therefore runs at every step;
its result is the same each time, so the arithmetic is the golden model's "computed once".

Layout: hls4ml streams are channels-last.  Conv tensors are ``[H, W, C]``; a flatten after a
conv gives H, W, C order, so the following fc layer's weight columns are permuted from the
bundle's C, H, W order (an exact re-indexing).  :func:`to_stream_layout` /
:func:`from_stream_layout` convert images and codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden import bounds

from . import hdlif_layer

SUPPORTED_KINDS = ("hdlif_fc", "hdlif_conv", "readout_fc")
SUPPORTED_WEIGHTS = {"ternary": 2, "binary": 2, "int8": 8}
SUPPORTED_NEURONS = ("vanilla", "parallel", "lif")
PROJECT = "myproject"


class HLSConversionError(ValueError):
    """A bundle layer hls4ml cannot be given.  The message names the layer and the supported set."""


@dataclass(frozen=True, kw_only=True)
class HLSOptions:
    """Project settings shared by every project of a run.

    ``part`` and ``clock_period`` (ns) only matter for Vitis HLS synthesis; C simulation is the
    same for any part.  ``max_unroll`` bounds the multipliers of one fc / conv kernel: a larger
    layer uses hls4ml's Resource strategy with the smallest reuse factor that fits.
    """
    part: str = "xcvu13p-flga2577-2-e"
    clock_period: float = 5.0
    max_unroll: int = 4096

    def __post_init__(self):
        if not (isinstance(self.part, str) and self.part):
            raise ValueError(f"part must be a non-empty string, not {self.part!r}")
        if not (isinstance(self.clock_period, (int, float)) and self.clock_period > 0):
            raise ValueError(f"clock_period must be a positive number of ns, not {self.clock_period!r}")
        if not (isinstance(self.max_unroll, int) and self.max_unroll > 0):
            raise ValueError(f"max_unroll must be a positive integer, not {self.max_unroll!r}")


# ---------------------------------------------------------------------------------------------
# Bundle fields

def _kind(layer) -> str:
    return getattr(layer, "kind", type(layer).__name__)


def _weights_kind(layer) -> str:
    return getattr(layer, "weights", "ternary")


def _neuron(layer) -> str:
    return getattr(layer, "neuron", "vanilla")


def check_supported(bundle) -> None:
    """Refuse what has no HLS mapping, naming the layer and the supported set."""
    for layer in bundle.layers:
        kind = _kind(layer)
        if kind not in SUPPORTED_KINDS:
            raise HLSConversionError(f"layer {layer.name!r}: kind {kind!r} has no HLS mapping "
                                     f"(supported: {', '.join(SUPPORTED_KINDS)})")
        wk = _weights_kind(layer)
        if wk not in SUPPORTED_WEIGHTS:
            raise HLSConversionError(f"layer {layer.name!r}: weights {wk!r} have no HLS mapping "
                                     f"(supported: {', '.join(SUPPORTED_WEIGHTS)})")
        if kind != "readout_fc" and _neuron(layer) not in SUPPORTED_NEURONS:
            raise HLSConversionError(f"layer {layer.name!r}: neuron {_neuron(layer)!r} has no HLS mapping "
                                     f"(supported: {', '.join(SUPPORTED_NEURONS)})")
        if kind != "readout_fc" and _neuron(layer) == "lif":
            if getattr(layer, "reset", None) not in hdlif_layer.RESETS:
                raise HLSConversionError(f"layer {layer.name!r}: LIF reset {getattr(layer, 'reset', None)!r} has no HLS "
                                         f"mapping (supported: {', '.join(hdlif_layer.RESETS)})")
            if int(layer.max_code) != 1:
                raise HLSConversionError(f"layer {layer.name!r}: a LIF layer fires binary spikes (max_code 1, "
                                         f"not {layer.max_code})")
        if kind == "hdlif_conv" and getattr(layer, "pool", 1) not in (1, 2):
            raise HLSConversionError(f"layer {layer.name!r}: pool {layer.pool!r} has no HLS mapping "
                                     f"(supported: 1 (none), 2 (2x2 max or sum pool))")


def layer_shapes(bundle) -> list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """Per layer: (input shape, synapse output shape, layer output shape) in bundle (C, H, W) order.

    A conv layer's input is ``[C, H, W]``, its synapse output ``[O, Ho, Wo]`` and its output
    ``[O, Ho/pool, Wo/pool]``.  An fc layer's input is the previous layer's output shape (a conv's
    ``[C, H, W]``: the project flattens it), or the flat pixels for an fc stem.
    """
    out = []
    shape = (bundle.input.features,)
    for layer in bundle.layers:
        if _kind(layer) == "hdlif_conv":
            out.append((tuple(layer.in_shape), tuple(layer.conv_shape), tuple(layer.out_shape)))
        else:
            out.append((shape, (layer.out_features,), (layer.out_features,)))
        shape = out[-1][2]
    return out


def stream_input_shape(bundle) -> tuple[int, ...]:
    """The shape the projects' input takes: ``[C, H, W]`` before a conv stem, flat otherwise."""
    return layer_shapes(bundle)[0][0]


def to_stream_layout(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``[..., C*H*W]`` in C, H, W order -> ``[..., H*W*C]`` (hls4ml's channels-last)."""
    if len(shape) != 3:
        return x
    c, h, w = shape
    lead = x.shape[:-1]
    return np.moveaxis(x.reshape(*lead, c, h, w), -3, -1).reshape(*lead, h * w * c)


def from_stream_layout(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`to_stream_layout`."""
    if len(shape) != 3:
        return x
    c, h, w = shape
    lead = x.shape[:-1]
    return np.moveaxis(x.reshape(*lead, h, w, c), -1, -3).reshape(*lead, c * h * w)


# ---------------------------------------------------------------------------------------------
# Types and tables

def _ap_int(bits: int) -> str:
    return f"ap_int<{int(bits)}>"


def _ap_uint(bits: int) -> str:
    return f"ap_uint<{int(bits)}>"


def _width(layer, key: str) -> int:
    w = layer.widths.get(key)
    if not isinstance(w, int):
        raise HLSConversionError(f"layer {layer.name!r}: widths.{key} missing from the bundle (re-run the export step)")
    return w


def _table(a: np.ndarray, T: int, n_chan: int, axis: str) -> np.ndarray:
    """A parameter as a ``[t_len, c_len]`` table.

    ``axis`` says what a 1-D parameter runs over: ``"channel"`` (``mult``, ``bias``: ``[O]`` ->
    ``[1, O]``) or ``"step"`` (``lambda_t``, ``theta_t``: ``[T]`` -> ``[T, 1]``); ``[T, O]`` stays.
    """
    a = np.asarray(a, np.int64)
    if a.ndim == 1:
        a = a.reshape(1, -1) if axis == "channel" else a.reshape(-1, 1)
    if a.ndim != 2 or a.shape[0] not in (1, T) or a.shape[1] not in (1, n_chan):
        raise HLSConversionError(f"parameter of shape {list(a.shape)} is not [O], [T] or [T, O] "
                                 f"(T={T}, O={n_chan})")
    return a


def _hwc_weight(layer, in_shape: tuple[int, ...]) -> np.ndarray:
    """An fc weight ``[O, I]`` as hls4ml's ``[I, O]``, columns permuted to H, W, C after a conv."""
    w = np.asarray(layer.weight, np.int64)
    if len(in_shape) == 3:
        c, h, wd = in_shape
        w = w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    return w.T.copy()


# ---------------------------------------------------------------------------------------------
# Layer lists

class _Builder:
    """Accumulates hls4ml's layer list and per-layer precision config."""

    def __init__(self, options: HLSOptions):
        self.options = options
        self.layers: list[dict] = []
        self.config: dict = {}

    def add(self, layer: dict, precision: dict | None = None, **cfg) -> str:
        self.layers.append(layer)
        entry = dict(cfg)
        if precision:
            entry["Precision"] = precision
        if entry:
            self.config[layer["name"]] = entry
        return layer["name"]

    def input(self, name: str, shape: tuple[int, ...], bits: int) -> None:
        hls_shape = [shape[1], shape[2], shape[0]] if len(shape) == 3 else [int(np.prod(shape))]
        self.add({"class_name": "InputLayer", "name": name, "input_shape": hls_shape},
                 {"result": _ap_uint(bits)})

    def _strategy(self, n_in: int, n_out: int) -> dict:
        """All ``n_in x n_out`` multipliers of a kernel unrolled where they are at most
        ``max_unroll``; else the Resource strategy with the smallest reuse factor hls4ml accepts
        for the kernel that brings them under it (hls4ml replaces an invalid one by its nearest
        valid one, which may be smaller: more multipliers than asked for)."""
        n_mult = n_in * n_out
        if n_mult <= self.options.max_unroll:
            return {"Strategy": "Latency", "ReuseFactor": 1}
        import hls4ml

        need = -(-n_mult // self.options.max_unroll)
        backend = hls4ml.backends.get_backend(hdlif_layer.BACKEND)
        rf = next(r for r in backend.get_valid_reuse_factors(n_in, n_out) if r >= need)
        return {"Strategy": "Resource", "ReuseFactor": rf}

    def synapse(self, layer, shapes) -> str:
        """The weighted sum on ``acc_bits``: hls4ml Dense or Conv2D, bias-free."""
        in_shape, syn_shape, _ = shapes
        acc = _ap_int(_width(layer, "acc_bits"))
        precision = {"weight": _ap_int(SUPPORTED_WEIGHTS[_weights_kind(layer)]), "accum": acc, "result": acc}
        name = f"{layer.name}_synapse"
        if _kind(layer) == "hdlif_conv":
            (c, h, w), (o, ho, wo) = in_shape, syn_shape
            k, s, p = int(layer.kernel), int(layer.stride), int(layer.padding)
            d = {"class_name": "Conv2D", "name": name, "data_format": "channels_last",
                 "in_height": h, "in_width": w, "n_chan": c, "out_height": ho, "out_width": wo, "n_filt": o,
                 "filt_height": k, "filt_width": k, "stride_height": s, "stride_width": s, "dilation": 1,
                 "pad_top": p, "pad_bottom": p, "pad_left": p, "pad_right": p,
                 # [O, C, k, k] -> Keras' [k, k, C, O]
                 "weight_data": np.asarray(layer.weight, np.int64).transpose(2, 3, 1, 0).copy(),
                 "bias_data": None}
            return self.add(d, precision, **self._strategy(c * k * k, o))
        n_in = int(np.prod(in_shape))
        d = {"class_name": "Dense", "name": name, "n_in": n_in, "n_out": layer.out_features,
             "weight_data": _hwc_weight(layer, in_shape), "bias_data": None}
        return self.add(d, precision, **self._strategy(n_in, layer.out_features))

    def requant(self, layer, T: int, n_chan: int, *, readout: bool = False) -> str:
        mult = _table(layer.mult, T, n_chan, "channel")
        bias = _table(layer.bias, T, n_chan, "channel")
        mult, bias = np.broadcast_arrays(mult, bias)
        if readout:
            shift, result_bits, product_bits = 0, _width(layer, "score_bits"), _width(layer, "score_bits")
        else:
            shift = int(layer.shift)
            result_bits, product_bits = _width(layer, "current_bits"), _width(layer, "product_bits")
        d = {"class_name": "HDLIFRequant", "name": layer.name if readout else f"{layer.name}_requant",
             "n_chan": n_chan, "n_steps": T, "shift": shift,
             "mult_data": mult.copy(), "bias_data": bias.copy(),
             "mult_bits": bounds.signed_bits(int(mult.min()), int(mult.max())),
             "bias_bits": bounds.signed_bits(int(bias.min()), int(bias.max())),
             "product_bits": product_bits, "result_bits": result_bits}
        return self.add(d)

    def neuron(self, layer, T: int, n_chan: int, spike_bits: int) -> str:
        neuron = _neuron(layer)
        lam = _table(layer.lambda_t, T, n_chan, "step")
        theta = _table(layer.theta_t, T, n_chan, "step")
        if neuron == "parallel" and np.any(lam):
            raise HLSConversionError(f"layer {layer.name!r}: a Parallel HD-LIF neuron needs lambda_t = 0")
        d = {"class_name": "HDLIFNeuron", "name": layer.name, "n_chan": n_chan, "n_steps": T,
             "lambda_frac": int(layer.lambda_frac), "frac": int(layer.frac), "max_code": int(layer.max_code),
             "spike_bits": spike_bits, "stateful": neuron != "parallel",
             "lambda_data": lam, "theta_data": theta,
             "lambda_bits": max(_width(layer, "lambda_bits"), bounds.signed_bits(int(lam.min()), int(lam.max()))),
             "leak_bits": _width(layer, "leak_bits"), "membrane_bits": _width(layer, "membrane_bits")}
        if neuron == "lif":
            # binary spikes, reset to v_reset or by subtraction; the widths cover the residuals
            d.update(neuron="lif", reset=str(layer.reset), v_reset=int(layer.v_reset))
        return self.add(d)

    def pool(self, layer, shapes, spike_bits: int) -> str:
        """2x2 pooling of the spike codes: their max (exact: the float network pools spikes), or
        with ``pool_op = "sum"`` their sum (:meth:`sum_pool`)."""
        o, ho, wo = shapes[1]
        if getattr(layer, "pool_op", "max") == "sum":
            return self.sum_pool(f"{layer.name}_pool", (o, ho, wo), int(layer.out_max).bit_length() + 1)
        d = {"class_name": "MaxPooling2D", "name": f"{layer.name}_pool", "data_format": "channels_last",
             "in_height": ho, "in_width": wo, "out_height": ho // 2, "out_width": wo // 2, "n_filt": o,
             "pool_height": 2, "pool_width": 2, "stride_height": 2, "stride_width": 2,
             "pad_top": 0, "pad_bottom": 0, "pad_left": 0, "pad_right": 0}
        codes = _ap_uint(spike_bits)
        return self.add(d, {"result": codes, "accum": codes})

    def sum_pool(self, name: str, shape: tuple[int, ...], bits: int, inputs: list[str] | None = None) -> str:
        """2x2 sum pooling of codes ``shape = [C, H, W]`` into ``bits``-bit signed sums: a stride-2
        Conv2D whose kernel is 1 from each channel to itself (hls4ml has no sum pool), exact."""
        c, h, w = shape
        kernel = np.zeros((2, 2, c, c), np.int64)
        kernel[:, :, np.arange(c), np.arange(c)] = 1
        d = {"class_name": "Conv2D", "name": name, "data_format": "channels_last",
             "in_height": h, "in_width": w, "n_chan": c, "out_height": h // 2, "out_width": w // 2, "n_filt": c,
             "filt_height": 2, "filt_width": 2, "stride_height": 2, "stride_width": 2, "dilation": 1,
             "pad_top": 0, "pad_bottom": 0, "pad_left": 0, "pad_right": 0, "weight_data": kernel,
             "bias_data": None}
        if inputs is not None:
            d["inputs"] = inputs
        sums = _ap_int(bits)
        return self.add(d, {"weight": _ap_int(2), "accum": sums, "result": sums}, **self._strategy(4 * c, c))

    def flatten(self, name: str, shape: tuple[int, ...], spike_bits: int) -> str:
        """A conv's codes ``[H, W, C]`` as one vector (H, W, C order) for an fc layer."""
        return self.add({"class_name": "Reshape", "name": name, "target_shape": [int(np.prod(shape))]},
                        {"result": _ap_uint(spike_bits)})

    def model(self, out_dir: Path, outputs: list[str] | None = None):
        import hls4ml
        from hls4ml.model import ModelGraph

        hdlif_layer.register()
        backend = hls4ml.backends.get_backend(hdlif_layer.BACKEND)
        cfg = backend.create_initial_config(part=self.options.part, clock_period=self.options.clock_period,
                                            io_type="io_stream")
        cfg.update(OutputDir=str(out_dir), ProjectName=PROJECT, Backend=hdlif_layer.BACKEND)
        cfg["HLSConfig"] = {"Model": {"Precision": "ap_int<16>", "ReuseFactor": 1, "Strategy": "Latency"},
                            "LayerName": {name: dict(c) for name, c in self.config.items()}}
        return ModelGraph.from_layer_list(cfg, self.layers, outputs=outputs)


def _input_bits(bundle, index: int) -> int:
    """Unsigned bits of layer ``index``'s inputs: pixels, spike codes, or a sum pool's sums."""
    return bundle.input.bits if index == 0 else int(bundle.layers[index - 1].out_max).bit_length()


def layer_project(bundle, index: int, out_dir: Path, options: HLSOptions = HLSOptions()):
    """One layer as a project: codes (pixels for the stem) -> synapse -> requant -> currents.

    For the readout the output is the score ``acc * mult + bias``.  Returns the ``ModelGraph``.
    """
    check_supported(bundle)
    layer = bundle.layers[index]
    shapes = layer_shapes(bundle)[index]
    b = _Builder(options)
    b.input("x", shapes[0], _input_bits(bundle, index))
    if len(shapes[0]) == 3 and _kind(layer) != "hdlif_conv":
        b.flatten(f"{layer.name}_flatten", shapes[0], _input_bits(bundle, index))
    b.synapse(layer, shapes)
    n_chan = shapes[1][0]
    b.requant(layer, bundle.T, n_chan, readout=_kind(layer) == "readout_fc")
    return b.model(Path(out_dir))


def network_project(bundle, out_dir: Path, options: HLSOptions = HLSOptions()):
    """The whole network, one time step per call: pixels in, the step's class scores out."""
    check_supported(bundle)
    b = _Builder(options)
    all_shapes = layer_shapes(bundle)
    b.input("pixels", all_shapes[0][0], bundle.input.bits)
    for index, (layer, shapes) in enumerate(zip(bundle.layers, all_shapes)):
        if len(shapes[0]) == 3 and _kind(layer) != "hdlif_conv":
            b.flatten(f"{layer.name}_flatten", shapes[0], _input_bits(bundle, index))
        b.synapse(layer, shapes)
        n_chan = shapes[1][0]
        if _kind(layer) == "readout_fc":
            b.requant(layer, bundle.T, n_chan, readout=True)
            continue
        b.requant(layer, bundle.T, n_chan)
        b.neuron(layer, bundle.T, n_chan, bundle.spike_bits)
        if _kind(layer) == "hdlif_conv" and getattr(layer, "pool", 1) == 2:
            b.pool(layer, shapes, bundle.spike_bits)
    return b.model(Path(out_dir))


def code_layer_names(bundle) -> dict[str, str]:
    """Bundle layer name -> the hls4ml layer whose output is that layer's spike codes."""
    out = {}
    for layer in bundle.layers:
        if _kind(layer) == "readout_fc":
            continue
        pooled = _kind(layer) == "hdlif_conv" and getattr(layer, "pool", 1) == 2
        out[layer.name] = f"{layer.name}_pool" if pooled else layer.name
    return out


# ---------------------------------------------------------------------------------------------
# Graphs (golden/graph.py): residual networks

GRAPH_KINDS = ("current", "neuron", "add", "affine", "seca", "maxpool", "sumpool", "gsum", "readout")


def hls_name(node_name: str) -> str:
    """A graph node's name as a C++ identifier (``b0.conv1`` -> ``b0_conv1``)."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in node_name)


class _Node:
    """A graph node seen as a bundle layer by :class:`_Builder` (the same synapse, requantizer and
    neuron mappings), with its widths from :func:`golden.graph.widths`."""

    def __init__(self, node, widths: dict, **extra):
        self.__dict__.update({k: getattr(node, k) for k in node.__dataclass_fields__})
        self.__dict__.update(extra)
        self.name = hls_name(node.name)
        self.widths = widths


def check_graph_supported(graph) -> None:
    for n in graph.nodes:
        if n.kind not in GRAPH_KINDS:
            raise HLSConversionError(f"node {n.name!r}: kind {n.kind!r} has no HLS mapping yet "
                                     f"(supported: {', '.join(GRAPH_KINDS)})")
        if n.kind in ("current", "readout") and n.weights not in SUPPORTED_WEIGHTS:
            raise HLSConversionError(f"node {n.name!r}: weights {n.weights!r} have no HLS mapping")
        if n.kind == "neuron" and n.neuron not in SUPPORTED_NEURONS:
            raise HLSConversionError(f"node {n.name!r}: neuron {n.neuron!r} has no HLS mapping")
    for n in graph.nodes:
        if n.kind == "gsum" and n.name != graph.readout.input:
            raise HLSConversionError(f"node {n.name!r}: a gsum maps to HLS only as the readout's input "
                                     "(folded into its weights)")


def graph_project(graph, out_dir: Path, options: HLSOptions = HLSOptions()):
    """A whole graph, one time step per call (pixels in, the step's scores out): ``current`` ->
    Dense / Conv2D + ``HDLIFRequant``; ``neuron`` -> ``HDLIFNeuron``; ``add`` -> hls4ml's ``Merge``
    (add, on the current width; hls4ml clones a stream read twice); ``affine`` -> ``HDLIFRequant``
    on a current; ``seca`` -> ``HDLIFSeca``; ``maxpool`` -> ``MaxPooling2D``; ``sumpool`` -> a stride-2
    ``Conv2D`` with the identity over channels; ``gsum`` + ``readout`` -> one Dense on the
    flattened codes whose weights repeat the readout's over every position (the same sums)."""
    from golden.graph import INPUT, widths as graph_widths

    check_graph_supported(graph)
    ws = graph_widths(graph)
    b = _Builder(options)
    T, spike_bits = graph.T, graph.spike_bits
    shape = {INPUT: tuple(graph.input.shape)}
    last = {INPUT: "pixels"}                      # node -> the hls4ml layer holding its value
    b.input("pixels", tuple(graph.input.shape), graph.input.bits)
    nodes = {n.name: n for n in graph.nodes}

    def code_bits(name: str) -> int:
        """The signed width of what a node holds, in a reshape: spike codes, their 2x2 sums, or a
        current (the authors' head pools the stream)."""
        n = nodes.get(name)
        if n is not None and n.kind == "sumpool":
            return ws[name]["sum_bits"] + 1
        if n is not None and n.kind in ("current", "add", "affine", "seca"):
            return ws[name]["current_bits"]
        return spike_bits + 1

    def chain(d: dict, inputs: list[str]) -> dict:
        d["inputs"] = inputs
        return d

    for n in graph.nodes:
        src = [last[i] for i in n.inputs]
        if n.kind == "current":
            conv = n.kernel is not None
            lay = _Node(n, ws[n.name], kind="hdlif_conv" if conv else "hdlif_fc",
                        out_features=int(np.prod(n.out_shape)))
            in_shape = n.in_shape
            if len(in_shape) == 3 and not conv:
                src = [b.add(chain({"class_name": "Reshape", "name": f"{lay.name}_flatten",
                                    "target_shape": [int(np.prod(in_shape))]}, src),
                             {"result": _ap_int(code_bits(n.input))})]
            b.synapse(lay, (in_shape, n.out_shape, n.out_shape))
            b.layers[-1]["inputs"] = src
            last[n.name] = b.requant(lay, T, n.out_shape[0])
        elif n.kind == "affine":
            lay = _Node(n, ws[n.name])
            last[n.name] = b.requant(lay, T, n.shape[0])
            b.layers[-1]["inputs"] = src
        elif n.kind == "neuron":
            lay = _Node(n, ws[n.name])
            last[n.name] = b.neuron(lay, T, n.shape[0], spike_bits)
            b.layers[-1]["inputs"] = src
        elif n.kind == "seca":
            w = ws[n.name]
            taps, table = np.asarray(n.taps, np.int64), np.asarray(n.table, np.int64)
            d = {"class_name": "HDLIFSeca", "name": hls_name(n.name), "n_chan": n.shape[0],
                 "taps_data": taps, "table_data": table, "zmult": int(n.zmult), "zshift": int(n.zshift),
                 "q": int(n.q), "tap_bits": bounds.signed_bits(int(taps.min()), int(taps.max())),
                 "table_bits": max(1, int(table.max()).bit_length()), "sum_bits": w["sum_bits"],
                 "z_bits": w["z_bits"], "z_product_bits": w["z_product_bits"], "product_bits": w["product_bits"],
                 "result_bits": w["current_bits"]}
            last[n.name] = b.add(chain(d, src))
        elif n.kind == "add":
            name = hls_name(n.name)
            last[n.name] = b.add(chain({"class_name": "Merge", "op": "add", "name": name}, src),
                                 {"result": _ap_int(ws[n.name]["current_bits"])})
        elif n.kind == "maxpool":
            c, h, w = n.in_shape
            d = {"class_name": "MaxPooling2D", "name": hls_name(n.name), "data_format": "channels_last",
                 "in_height": h, "in_width": w, "out_height": h // 2, "out_width": w // 2, "n_filt": c,
                 "pool_height": 2, "pool_width": 2, "stride_height": 2, "stride_width": 2,
                 "pad_top": 0, "pad_bottom": 0, "pad_left": 0, "pad_right": 0}
            codes = _ap_uint(spike_bits)
            last[n.name] = b.add(chain(d, src), {"result": codes, "accum": codes})
        elif n.kind == "sumpool":
            last[n.name] = b.sum_pool(hls_name(n.name), n.in_shape, ws[n.name]["sum_bits"] + 1, src)
        elif n.kind == "gsum":
            last[n.name] = src[0]                # folded into the readout below
        else:
            pooled = nodes.get(n.input)
            w = np.asarray(n.weight, np.int64)
            if pooled is not None and pooled.kind == "gsum":
                c, h, wd = pooled.in_shape       # repeat each class's weights over every position
                w = np.repeat(w[:, :, None], h * wd, axis=2).reshape(w.shape[0], -1)
                in_shape = pooled.in_shape
            else:
                in_shape = shape[n.input]
            lay = _Node(n, ws[n.name], kind="readout_fc", weight=w, out_features=n.out_features)
            if len(in_shape) == 3:
                src = [b.add(chain({"class_name": "Reshape", "name": f"{lay.name}_flatten",
                                    "target_shape": [int(np.prod(in_shape))]}, src),
                             {"result": _ap_int(code_bits(pooled.input if pooled is not None and
                                                          pooled.kind == "gsum" else n.input))})]
            b.synapse(lay, (in_shape, (n.out_features,), (n.out_features,)))
            b.layers[-1]["inputs"] = src
            last[n.name] = b.requant(lay, T, n.out_features, readout=True)
        shape[n.name] = tuple(n.out_shape)
    return b.model(Path(out_dir), outputs=[last[graph.readout.name]])
