"""Export a trained HD-LIF network to an integer-model bundle (``golden.bundle``).

Folding (``docs/integer-semantics.md``), for an HD-LIF layer with input LSB ``s_in`` (the
pixel scale for the stem, the spike step for later layers), TWN scale ``alpha`` and
BatchNorm ``(gamma, beta, mu, var)``::

    I_c = A_c * acc_c + B_c,   A_c = gamma_c * alpha * s_in / sqrt(var_c + eps),
                               B_c = beta_c - gamma_c * mu_c / sqrt(var_c + eps)

Membranes are integers in units ``u = step / 2**frac``, so a spike code is the membrane
excess shifted right by ``frac``.  The current becomes ``(acc * mult + bias) >> shift`` with
``mult = round(A / u * 2**shift)`` on at most ``mult_bits`` signed bits and ``bias`` holding
``B / u`` plus the rounding half.  ``lambda_t`` is stored on ``lambda_frac`` fraction bits,
``theta_t`` in membrane units.  The readout keeps ``score = acc * mult + bias`` with
``mult = round(alpha * step * 2**shift)``, ``bias = round(b * 2**shift)``.

The LIF baseline (``neuron = "lif"``) folds the same way into LIF layers of binary spikes
(``spike_bits = 1``): its spike is worth its threshold ``theta``, so ``step = theta`` (the next
layer's ``s_in``), ``theta_t = 2**frac`` membrane units, ``lambda_t = round(lambda * 2**lambda_frac)``
and the soft reset ``v = m - s`` is the integer model's ``reset = "subtract"``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from golden import HDLIFConvLayer, HDLIFLayer, InputSpec, ReadoutLayer, save_bundle, write_vectors
from golden.atomic import write_json_atomic
from golden.bounds import shift_for
from golden.bundle import Bundle, bundle_hash
from golden.graph import (INPUT, AddNode, AffineNode, CurrentNode, Graph, NeuronNode, PoolNode, ReadoutNode, SecaNode,
                          load_model, run_model, save_graph)

from . import data
from .fixed_point import LAMBDA_FRAC, MEMBRANE_FRAC
from .models import SpikingNet
from .neurons import LIF, MemBNHDLIF, ParallelHDLIF
from .quant import INTEGER_WEIGHTS
from .train import load_checkpoint


class ExportError(ValueError):
    """A network (or a part of it) that has no exact integer form.  The message says which and why."""


def _np(x) -> np.ndarray:
    return x.detach().double().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float64)


def _affine(synapse, bn, s_in: float):
    """``(quantized weights, A, B)``: the float current of ``bn(synapse(x))`` is ``A * acc + B`` per
    output channel, ``acc`` the integer sum of weight codes times input codes worth ``s_in`` each."""
    q = synapse.quantized()
    out = q.codes.shape[0]
    alpha = np.broadcast_to(_np(q.alpha), (out,))
    g = _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)
    return q, g * alpha * s_in, _np(bn.bias) - g * _np(bn.running_mean)


def _requant(A, B, u: float, mult_bits: int) -> tuple:
    """``(mult, bias, shift)`` with ``(acc * mult + bias) >> shift`` = ``(A * acc + B) / u``, rounded
    (the bias holds the half for the floor shift)."""
    shift = shift_for(A / u, mult_bits)
    mult = np.round(A / u * 2 ** shift).astype(np.int64)
    bias = np.round(B / u * 2 ** shift).astype(np.int64) + ((1 << shift) >> 1)
    return mult, bias, shift


def _neuron_float(neuron, T: int) -> tuple:
    """``(lambda_t, theta_t, kind)`` of a vanilla / Parallel HD-LIF or a LIF neuron, as floats."""
    if isinstance(neuron, ParallelHDLIF):                 # stateless: no leak, m = I
        theta = _np(neuron.theta_t)
        if neuron.theta_index == "first":
            theta = np.full(T, theta[0])
        return np.zeros(T), theta, "parallel"
    if isinstance(neuron, LIF):
        return np.full(T, neuron.lam), np.full(T, float(neuron.theta.detach())), "lif"
    return _np(neuron.lambda_t), _np(neuron.theta_t), "vanilla"


def fold_block(block, name: str, s_in: float, in_shape: tuple, *, T: int, step: float, frac: int,
               lambda_frac: int, mult_bits: int, max_code: int, direct: bool) -> HDLIFLayer:
    """One ``synapse -> BN -> neuron [-> pool]`` block as an integer layer (HD-LIF, or LIF for
    the baseline: :func:`lif_params`)."""
    neuron = block.neuron
    if getattr(block, "seca", None) is not None:
        raise ExportError(f"layer {name}: SECA (sigmoid of a global average) is not in the integer model; "
                          f"train without SECA to deploy")
    q, A, B = _affine(block.synapse, block.bn, s_in)      # I = A * acc + B, per output channel
    if isinstance(neuron, MemBNHDLIF):                    # spec section 3: a vanilla HD-LIF again
        rp = {k: _np(v) for k, v in neuron.reparameterize().items()}
        A = rp["current_scale"] * A                       # [T, O]
        B = rp["current_scale"] * B - rp["current_shift"]
        lam, theta, kind = rp["lambda_hat"], rp["theta"], "vanilla"
    else:
        lam, theta, kind = _neuron_float(neuron, T)
        if kind == "lif":
            step = float(neuron.theta.detach())           # a spike is worth theta: 1 code = theta
    u = step / 2 ** frac                                  # membrane units
    mult, bias, shift = _requant(A, B, u, mult_bits)
    max_code = 1 if kind == "lif" else max_code
    common = dict(name=name, weight=q.codes.cpu().numpy().astype(np.int8), weights=block.synapse.quant,
                  mult=mult, bias=bias, shift=shift, neuron=kind,
                  lambda_t=np.round(lam * 2 ** lambda_frac).astype(np.int64),
                  theta_t=np.round(theta / u).astype(np.int64),
                  lambda_frac=lambda_frac, frac=frac, max_code=max_code, direct=direct,
                  **(dict(reset="subtract", v_reset=0) if kind == "lif" else {}))
    syn = block.synapse
    if isinstance(syn, torch.nn.Conv2d):
        return HDLIFConvLayer(**common, in_shape=tuple(in_shape), out_channels=syn.out_channels,
                              kernel=syn.kernel_size[0], stride=syn.stride[0], padding=syn.padding[0],
                              pool=2 if block.pool is not None else 1,
                              pool_op="sum" if isinstance(block.pool, torch.nn.AvgPool2d) else "max")
    return HDLIFLayer(**common, in_features=syn.in_features, out_features=syn.out_features)


def fold_readout(linear, name: str, s_in: float, *, mult_bits: int) -> ReadoutLayer:
    q = linear.quantized()
    A = np.broadcast_to(_np(q.alpha) * s_in, (linear.out_features,)).copy()
    b = _np(linear.bias)
    shift = shift_for(np.concatenate([A, b / 64]), mult_bits)
    return ReadoutLayer(name=name, in_features=linear.in_features, out_features=linear.out_features,
                        weight=q.codes.cpu().numpy().astype(np.int8), weights=linear.quant,
                        mult=np.round(A * 2 ** shift).astype(np.int64),
                        bias=np.round(b * 2 ** shift).astype(np.int64))


#: membrane fraction bits of a LIF layer: a binary spike flips on any rounding that crosses the
#: threshold, so the baseline's membrane gets a finer unit (theta / 2**14) than HD-LIF's (frac 8)
#: (Fashion-MNIST VGG, 2,000 test images: agreement 0.987 at 8 bits, 0.9945 at 12, 0.997 at 14)
LIF_FRAC = 14


def _check_integer(cfg) -> None:
    """Float spikes and full-precision weights have no integer form: refused, one line."""
    if cfg.spike_bits is None and cfg.neuron != "lif":
        raise ExportError("spike_bits=None: float spikes have no integer form (export needs 1..8-bit graded spikes)")
    for kind in ("stem_weights", "weights", "classifier_weights"):
        if getattr(cfg, kind) not in INTEGER_WEIGHTS:
            raise ExportError(f"{kind}={getattr(cfg, kind)!r}: full-precision weights have no integer form "
                              f"(export needs {', '.join(INTEGER_WEIGHTS)})")


def to_graph(model, name: str, *, frac: int | None = None, lambda_frac: int = LAMBDA_FRAC, mult_bits: int = 18,
             meta: dict | None = None) -> Graph:
    """A spiking ResNet (:class:`~training.resnet.SpikingResNet`) as an integer graph
    (:mod:`golden.graph`).  The current stream is in one membrane unit ``u = step / 2**frac``
    everywhere: the stem, every block's ``conv2`` and shortcut requantize into it, so the
    residual add is an integer add and every neuron reading the stream compares against its
    ``theta`` in the same units.  Per block (``b<i>``): ``n1`` reads the stream, ``conv1`` ->
    ``n2`` -> ``conv2``; ``shortcut`` (a 1x1 conv of ``n1``'s codes, where the block widens or
    strides; of the stream itself with ``shortcut="stream"``) or the stream itself; ``add``.  SECA_I
    scales ``conv1`` and ``conv2`` (``seca1``,
    ``seca2``), SECA_II the sum (``seca``).  A Mem-BN neuron reads its input through an
    ``affine`` node (its per-step ``alpha*_t``, ``beta*_t``) with per-channel ``lambda_t``.  The
    head: neuron ``head`` on the stream, ``gap`` (the codes summed over space) and the classifier,
    whose ``mult`` holds ``step / (H * W)``; with ``head="stream"`` ``gap`` sums the stream itself
    and the ``mult`` holds ``u / (H * W)``."""
    from .resnet import SpikingResNet
    from .seca import SECA_Q, SECA_Z_FRAC, SECA_Z_RANGE, quantized_taps

    if isinstance(model, SpikingNet):
        return _chain_graph(model, name, frac=frac, lambda_frac=lambda_frac, mult_bits=mult_bits, meta=meta)
    if not isinstance(model, SpikingResNet):
        raise ExportError(f"{type(model).__name__}: to_graph takes a SpikingResNet or a SpikingNet")
    cfg = model.cfg
    _check_integer(cfg)
    kinds = {type(n).__name__ for n in model.neurons}
    if kinds - {"HDLIF", "ParallelHDLIF", "MemBNHDLIF", "LIF"}:
        raise ExportError(f"neurons {sorted(kinds - {'HDLIF', 'ParallelHDLIF', 'MemBNHDLIF', 'LIF'})}: a ResNet "
                          "graph takes HD-LIF (vanilla, Parallel, Mem-BN) and LIF neurons")
    for m in model.modules():
        if getattr(m, "fixed_point", True) is False:
            raise ExportError("a SECA module with fixed_point=False: its float sigmoid has no integer form")
    T, step = cfg.T, cfg.spike_step
    lif = cfg.neuron == "lif"
    if cfg.membrane_frac is not None:                # the network computes this fixed point: export that one
        if frac not in (None, cfg.membrane_frac) or lambda_frac != LAMBDA_FRAC:
            raise ExportError(f"frac={frac!r}, lambda_frac={lambda_frac!r}: the network was trained in the fixed "
                              f"point membrane_frac={cfg.membrane_frac}, lambda_frac={LAMBDA_FRAC}; export takes that one")
        frac = cfg.membrane_frac
    frac = (LIF_FRAC if lif else MEMBRANE_FRAC) if frac is None else frac   # LIF: a finer stream unit (see LIF_FRAC)
    u = step / 2 ** frac
    max_code = 2 ** cfg.spike_bits - 1
    spike = {}                                       # a neuron node -> what one of its codes is worth
    nodes: list = []

    def current(nm, src, in_shape, conv, bn, s_in):
        q, A, B = _affine(conv, bn, s_in)
        mult, bias, shift = _requant(A, B, u, mult_bits)
        nodes.append(CurrentNode(name=nm, input=src, in_shape=tuple(in_shape),
                                 weight=q.codes.cpu().numpy().astype(np.int8), mult=mult, bias=bias, shift=shift,
                                 weights=conv.quant, kernel=conv.kernel_size[0], stride=conv.stride[0],
                                 padding=conv.padding[0]))
        return nm, nodes[-1].out_shape

    def neuron(nm, src, shape, mod):
        if isinstance(mod, MemBNHDLIF):                   # its input map, then a vanilla neuron
            rp = {k: _np(v) for k, v in mod.reparameterize().items()}
            mult, bias, shift = _requant(rp["current_scale"], -rp["current_shift"] / u, 1.0, mult_bits)
            nodes.append(AffineNode(name=f"{nm}.membn", input=src, shape=tuple(shape), mult=mult, bias=bias,
                                    shift=shift))
            src, (lam, theta, kind) = nodes[-1].name, (rp["lambda_hat"], rp["theta"], "vanilla")
        else:
            lam, theta, kind = _neuron_float(mod, T)
        lif_kw = dict(reset="subtract", v_reset=0) if kind == "lif" else {}
        nodes.append(NeuronNode(name=nm, input=src, shape=tuple(shape),
                                lambda_t=np.round(lam * 2 ** lambda_frac).astype(np.int64),
                                theta_t=np.round(theta / u).astype(np.int64), lambda_frac=lambda_frac, frac=frac,
                                max_code=1 if kind == "lif" else max_code, neuron=kind, **lif_kw))
        spike[nm] = float(mod.theta.detach()) if kind == "lif" else step     # a LIF spike is worth its theta
        return nm

    def attention(nm, src, shape, mod):
        if mod is None:
            return src
        _, codes, scale = quantized_taps(mod.conv.weight.detach())
        area = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        c = float(scale) * u * 2 ** SECA_Z_FRAC / area     # z_int (sum of taps x sums) -> z on the grid
        zshift = shift_for(np.array([c]), 24, max_shift=62)
        R = SECA_Z_RANGE * 2 ** SECA_Z_FRAC
        i = np.arange(-R, R, dtype=np.float64) / 2 ** SECA_Z_FRAC
        table = np.floor(1 / (1 + np.exp(-i)) * 2 ** SECA_Q + 0.5).astype(np.int64)
        nodes.append(SecaNode(name=nm, input=src, shape=tuple(shape),
                              taps=codes.reshape(-1).cpu().numpy().astype(np.int64),
                              zmult=int(round(c * 2 ** zshift)), zshift=zshift, table=table, q=SECA_Q))
        return nm

    x, shape = current("stem", INPUT, cfg.in_shape, model.stem_conv, model.stem_bn, cfg.input_scale)
    for i, block in enumerate(model.blocks):
        b = f"b{i}"
        n1 = neuron(f"{b}.n1", x, shape, block.neuron1)
        c1, s1 = current(f"{b}.conv1", n1, shape, block.conv1, block.bn1, spike[n1])
        c1 = attention(f"{b}.seca1", c1, s1, block.seca1)
        n2 = neuron(f"{b}.n2", c1, s1, block.neuron2)
        c2, s2 = current(f"{b}.conv2", n2, s1, block.conv2, block.bn2, spike[n2])
        if block.seca == "I":
            c2 = attention(f"{b}.seca2", c2, s2, block.seca2)
        if block.shortcut is None:
            sc = x
        elif block.shortcut_reads == "stream":           # the authors' form: a conv of the current itself
            sc = current(f"{b}.shortcut", x, shape, block.shortcut[0], block.shortcut[1], u)[0]
        else:
            sc = current(f"{b}.shortcut", n1, shape, block.shortcut[0], block.shortcut[1], spike[n1])[0]
        nodes.append(AddNode(name=f"{b}.add", a=sc, b=c2, shape=tuple(s2)))
        x, shape = nodes[-1].name, s2
        if block.seca == "II":
            x = attention(f"{b}.seca", x, shape, block.seca2)
    if model.head_neuron is not None:
        head = neuron("head", x, shape, model.head_neuron)
        s_gap = spike[head]
    else:                                                # the authors' head: the stream, pooled
        head, s_gap = x, u
    nodes.append(PoolNode(name="gap", input=head, in_shape=tuple(shape), kind="gsum"))
    r = fold_readout(model.classifier, "fc", s_gap / (shape[1] * shape[2]), mult_bits=mult_bits)
    nodes.append(ReadoutNode(name="fc", input="gap", in_features=r.in_features, weight=r.weight, mult=r.mult,
                             bias=r.bias, weights=r.weights))
    inp = InputSpec(features=cfg.in_features, bits=max(1, math.ceil(math.log2(cfg.input_max + 1))),
                    max_value=cfg.input_max, scale=cfg.input_scale, shape=cfg.in_shape)
    return Graph(name=name, T=T, input=inp, spike_bits=cfg.spike_bits, nodes=tuple(nodes), meta=meta or {})


def _chain_graph(model: SpikingNet, name: str, *, frac: int, lambda_frac: int, mult_bits: int,
                 meta: dict | None) -> Graph:
    """An mlp / vgg network as a graph: each block folded exactly as :func:`to_bundle` folds it
    (:func:`fold_block`), as ``current -> neuron [-> maxpool | sumpool]``.  A 2x2 average pool is a
    ``sumpool`` whose ``1 / 4`` goes into the next synapse (its ``s_in`` is ``step / 4``)."""
    cfg = model.cfg
    _check_integer(cfg)
    lif = cfg.neuron == "lif"
    frac = frac if frac is not None else (LIF_FRAC if lif else MEMBRANE_FRAC)
    spike_bits = 1 if lif else cfg.spike_bits             # the LIF baseline fires binary spikes
    T, step = cfg.T, cfg.spike_step
    max_code = 2 ** spike_bits - 1
    nodes, src, shape, s_in = [], INPUT, tuple(cfg.in_shape), cfg.input_scale
    for i, block in enumerate(model.blocks):
        conv = isinstance(block.synapse, torch.nn.Conv2d)
        lname = f"{'conv' if conv else 'fc'}{i + 1}"
        layer = fold_block(block, lname, s_in, shape if conv else (int(np.prod(shape)),), T=T, step=step, frac=frac,
                           lambda_frac=lambda_frac, mult_bits=mult_bits, max_code=max_code, direct=(i == 0))
        nodes.append(CurrentNode(name=f"{lname}.current", input=src, in_shape=shape, weight=layer.weight,
                                 mult=layer.mult, bias=layer.bias, shift=layer.shift, weights=layer.weights,
                                 kernel=layer.kernel if conv else None, stride=layer.stride if conv else 1,
                                 padding=layer.padding if conv else 0))
        out = nodes[-1].out_shape
        nodes.append(NeuronNode(name=lname, input=nodes[-1].name, shape=out, lambda_t=layer.lambda_t,
                                theta_t=layer.theta_t, lambda_frac=lambda_frac, frac=frac, max_code=layer.max_code,
                                neuron=layer.neuron, reset=layer.reset, v_reset=layer.v_reset))
        # a spike is worth step (a LIF spike: its theta, as to_bundle has it)
        spike = float(block.neuron.theta.detach()) if lif else step
        src, shape, s_in = lname, out, spike
        if block.pool is not None:
            avg = isinstance(block.pool, torch.nn.AvgPool2d)
            nodes.append(PoolNode(name=f"{lname}.pool", input=src, in_shape=shape, kind="sumpool" if avg else "maxpool"))
            src, shape = nodes[-1].name, nodes[-1].out_shape
            s_in = spike / 4 if avg else spike
    r = fold_readout(model.classifier, f"fc{len(model.blocks) + 1}", s_in, mult_bits=mult_bits)
    nodes.append(ReadoutNode(name=r.name, input=src, in_features=r.in_features, weight=r.weight, mult=r.mult,
                             bias=r.bias, weights=r.weights))
    inp = InputSpec(features=cfg.in_features, bits=max(1, math.ceil(math.log2(cfg.input_max + 1))),
                    max_value=cfg.input_max, scale=cfg.input_scale, shape=cfg.in_shape)
    return Graph(name=name, T=T, input=inp, spike_bits=spike_bits, nodes=tuple(nodes), meta=meta or {})


def to_bundle(model: SpikingNet, name: str, *, frac: int | None = None, lambda_frac: int = LAMBDA_FRAC,
              mult_bits: int = 18, meta: dict | None = None) -> Bundle:
    """Fold a trained network into an integer bundle (raises :class:`ExportError` for parts
    with no integer form)."""
    if not isinstance(model, SpikingNet):
        if type(model).__name__ == "SpikingResNet":
            raise ExportError(f"{type(model).__name__}: a bundle holds a chain of layers (mlp / vgg architectures); "
                              f"a residual network is an integer graph (to_graph, which export uses for it)")
        raise ExportError(f"{type(model).__name__}: only SpikingNet networks (mlp / vgg) and spiking ResNets "
                          f"(to_graph) have an integer form")
    cfg = model.cfg
    _check_integer(cfg)
    lif = cfg.neuron == "lif"
    spike_bits = 1 if lif else cfg.spike_bits             # the LIF baseline fires binary spikes
    frac = frac if frac is not None else (LIF_FRAC if lif else MEMBRANE_FRAC)
    max_code = 2 ** spike_bits - 1
    layers, s_in, shape = [], cfg.input_scale, cfg.in_shape
    for i, block in enumerate(model.blocks):
        kind = "conv" if isinstance(block.synapse, torch.nn.Conv2d) else "fc"
        layer = fold_block(block, f"{kind}{i + 1}", s_in, shape, T=cfg.T, step=cfg.spike_step, frac=frac,
                           lambda_frac=lambda_frac, mult_bits=mult_bits, max_code=max_code, direct=(i == 0))
        layers.append(layer)
        s_in = float(block.neuron.theta.detach()) if lif else cfg.spike_step
        if isinstance(block.pool, torch.nn.AvgPool2d):   # a sum pool: its 1 / 4 goes into the next synapse
            s_in /= 4
        shape = layer.out_shape if isinstance(layer, HDLIFConvLayer) else (layer.out_features,)
    layers.append(fold_readout(model.classifier, f"fc{len(model.blocks) + 1}", s_in, mult_bits=mult_bits))
    inp = InputSpec(features=cfg.in_features, bits=max(1, math.ceil(math.log2(cfg.input_max + 1))),
                    max_value=cfg.input_max, scale=cfg.input_scale, shape=cfg.in_shape)
    return Bundle(name=name, T=cfg.T, input=inp, spike_bits=spike_bits, layers=tuple(layers),
                  meta=meta or {})


def _metrics(run_dir: Path) -> dict:
    path = run_dir / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _dataset_of(run_dir: Path, dataset: str | None) -> str:
    return data.canonical(dataset or _metrics(run_dir).get("dataset", "digits"))


def _load_split(run_dir: Path, dataset: str | None, bundle=None, data_dir=None):
    """The run's test data: its own dataset (and data folder) unless ``dataset`` says otherwise.
    ``data_dir`` (``DATA_DIR=``) is the folder to read it from, wherever the run was trained
    (default: the run's own folder for its own dataset, else the dataset's default folders).
    With ``bundle``, a dataset whose images are not the bundle's input is refused."""
    m = _metrics(run_dir)
    name = _dataset_of(run_dir, dataset)
    own = m.get("dataset") and data.canonical(m["dataset"]) == name
    if data_dir is not None and name == "digits":
        raise ValueError(f"DATA_DIR={data_dir}: the digits are bundled with scikit-learn and read from no folder "
                         f"(leave DATA_DIR out)")
    if bundle is not None and not own:
        _check_input(run_dir, bundle, name)
    if data_dir is None and own and m.get("data_dir") is not None:
        data_dir = m["data_dir"]
        if not Path(data_dir).is_dir():
            raise data.DatasetError(f"{data_dir}: the data folder {run_dir} was trained on is not there "
                                    f"(DATA_DIR= / --data-dir names where its {name} files are now)")
    return data.load(name, data_dir)


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape)


def _check_input(run_dir: Path, bundle, name: str) -> None:
    """Refuse a dataset whose images do not fit the bundle's input (shape and pixel range)."""
    side = data.IMAGE_SIDE[name]
    shape, top = (data.CHANNELS[name], side, side), 16 if name == "digits" else 255
    want = tuple(bundle.input.shape)
    fits = want == shape if len(want) == 3 else want == (int(np.prod(shape)),)
    if not fits or top > bundle.input.max_value:
        raise ValueError(f"DATASET={name}: its images are {_shape_text(shape)} with pixels 0..{top}, the run "
                         f"{run_dir} takes {_shape_text(want)} with pixels 0..{bundle.input.max_value} "
                         f"(leave DATASET out for the run's own data, or name one with the same images)")


def float_predictions(model, x: np.ndarray, batch: int = 500) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.from_numpy(np.asarray(x[i:i + batch]))).sum(0).argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def evaluate_run(run_dir: Path, *, dataset: str | None = None, limit: int | None = None, data_dir=None,
                 path: Path | None = None) -> dict:
    """Float and golden accuracy of a run's bundle on the test split; writes ``path`` (default
    ``<run>/eval.json``).  ``data_dir``: the folder of the dataset's files (see :func:`_load_split`)."""
    run_dir = Path(run_dir)
    if limit is not None and not (isinstance(limit, int) and limit > 0):
        raise ValueError(f"limit must be a positive whole number of test images, not {limit!r}")
    model, _ = load_checkpoint(run_dir)
    bundle = load_model(run_dir / "model")
    split = _load_split(run_dir, dataset, bundle, data_dir)
    dataset = _dataset_of(run_dir, dataset)
    x, y = split.x_test[:limit], split.y_test[:limit]
    float_pred = float_predictions(model, x)
    t0 = time.perf_counter()
    golden = run_model(bundle, x)
    golden_seconds = time.perf_counter() - t0
    report = {"dataset": dataset, "images": int(len(x)),
              "float_accuracy": float((float_pred == y).mean()),
              "golden_accuracy": float((golden.classes == y).mean()),
              "agreement": float((golden.classes == float_pred).mean()),
              "golden_seconds": golden_seconds, "bundle_sha256": bundle_hash(run_dir / "model")}
    write_json_atomic(path or run_dir / "eval.json", report)
    return report


def make_vectors(run_dir: Path, *, n: int = 0, dataset: str | None = None, path: Path | None = None,
                 data_dir=None) -> dict:
    """The shared vector file of a run: the first ``n`` test images (0: all) and the golden
    model's expected per-layer outputs.  ``data_dir``: the folder of the dataset's files."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"N={n!r}: the number of test images must be a whole number >= 0 (0: the whole test split)")
    run_dir = Path(run_dir)
    bundle = load_model(run_dir / "model")
    split = _load_split(run_dir, dataset, bundle, data_dir)
    x, y = (split.x_test[:n], split.y_test[:n]) if n else (split.x_test, split.y_test)
    return write_vectors(bundle, run_dir / "model", x, y, path or run_dir / "vectors.npz")


def export(run_dir: Path, *, frac: int | None = None, lambda_frac: int = LAMBDA_FRAC, mult_bits: int = 18,
           vectors: int = 1000, data_dir=None) -> dict:
    """Write ``<run>/model/`` (the bundle), ``<run>/vectors.npz`` (the first ``vectors`` test
    images) and ``<run>/export.json``.  ``data_dir``: the folder of the dataset's files (default:
    the run's own)."""
    run_dir = Path(run_dir)
    model, ckpt = load_checkpoint(run_dir)
    dataset = _dataset_of(run_dir, None)
    split = _load_split(run_dir, None, data_dir=data_dir)
    float_pred = float_predictions(model, split.x_test)
    float_acc = float((float_pred == split.y_test).mean())
    meta = {"dataset": dataset, "float_test_accuracy": float_acc, "split": data.split_description(dataset)}
    model_dir = run_dir / "model"
    if isinstance(model, SpikingNet):        # a chain of layers (max or average pooling): a bundle
        bundle = to_bundle(model, run_dir.name, frac=frac, lambda_frac=lambda_frac, mult_bits=mult_bits, meta=meta)
        digest = save_bundle(bundle, model_dir)
    else:                                    # a residual network: an integer graph
        graph = to_graph(model, run_dir.name, frac=frac, lambda_frac=lambda_frac, mult_bits=mult_bits, meta=meta)
        digest = save_graph(graph, model_dir)
    bundle = load_model(model_dir)           # what every later stage will see
    t0 = time.perf_counter()
    golden = run_model(bundle, split.x_test)
    golden_seconds = time.perf_counter() - t0
    report = {
        "dataset": dataset, "images": int(len(split.x_test)),
        "float_accuracy": float_acc,
        "golden_accuracy": float((golden.classes == split.y_test).mean()),
        "agreement": float((golden.classes == float_pred).mean()),
        "golden_seconds": golden_seconds, "bundle": model_dir.name, "bundle_sha256": digest,   # in the run folder
    }
    n_vec = min(len(split.x_test), vectors)
    write_vectors(bundle, model_dir, split.x_test[:n_vec], split.y_test[:n_vec], run_dir / "vectors.npz")
    report["vectors"] = n_vec
    write_json_atomic(run_dir / "export.json", report)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path)
    a = p.parse_args(argv)
    r = export(a.run_dir)
    print(f"float accuracy {r['float_accuracy']:.4f}, golden accuracy {r['golden_accuracy']:.4f}, "
          f"agreement {r['agreement']:.4f} -> {r['bundle']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
