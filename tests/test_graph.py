"""The integer graph (golden/graph.py): the same arithmetic as the sequential model, residual
wiring, save / load, refusals, and the ResNet export against its float network."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from golden import BundleError, load_bundle, run
from golden.executor import hdlif_step, readout, requant, synapse
from golden.graph import (INPUT, AddNode, CurrentNode, Graph, NeuronNode, PoolNode, ReadoutNode,
                          SecaNode, from_bundle, load_graph, load_model, run_graph, save_graph)
from golden.synthetic import random_bundle
from training import data
from training.export import ExportError, to_graph
from training.models import build_model
from training.resnet import ResNetConfig

SEED = int(os.environ.get("HDLIF_GRAPH_SEED", "2026"))


def _draw(rng):
    """A random sequential bundle's options, extremes included (1x1 frames, int8 stems, LIF, counts)."""
    neuron = rng.choice(["vanilla", "parallel", "mixed", "lif"])
    layers, shape = [], (int(rng.integers(1, 4)), int(rng.integers(3, 10)), int(rng.integers(3, 10)))
    h, w = shape[1:]
    for _ in range(int(rng.integers(0, 3))):
        k = int(rng.integers(1, 4))
        s, p = int(rng.integers(1, 3)), int(rng.integers(0, k))
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        if min(ho, wo) < 1:
            break
        pool = 2 if min(ho, wo) >= 2 and rng.random() < 0.4 else 1
        layers.append(("conv", int(rng.integers(1, 6)), k, s, p, pool))
        h, w = ho // pool, wo // pool
    layers += [("fc", int(rng.integers(1, 20))) for _ in range(int(rng.integers(0 if layers else 1, 3)))]
    return dict(input_shape=shape, layers=tuple(layers), neuron=str(neuron), T=int(rng.integers(1, 6)),
                spike_bits=1 if neuron == "lif" else int(rng.integers(1, 5)),
                stem_weights=str(rng.choice(["ternary", "int8"])), per_channel=bool(rng.random() < 0.5))


@pytest.mark.parametrize("case", range(12))
def test_a_bundle_as_a_graph_computes_the_same_values(case):
    rng = np.random.default_rng([SEED, case])
    opts = _draw(rng)
    print(f"graph case {case} (HDLIF_GRAPH_SEED={SEED}): {opts}")
    b = random_bundle(int(rng.integers(1 << 30)), **opts)
    x = rng.integers(0, b.input.max_value + 1, (23, b.input.features))
    x[0] = 0
    x[1] = b.input.max_value
    r, g = run(b, x, trace=True), run_graph(from_bundle(b), x, trace=True)
    assert np.array_equal(r.scores, g.scores) and np.array_equal(r.classes, g.classes)
    for layer in b.hdlif_layers:
        assert np.array_equal(r.membranes[layer.name], g.membranes[layer.name]), layer.name


def _residual_graph(rng, T=3):
    """stem (conv on pixels) -> n1 -> conv -> add(stem, conv) -> n2 -> gsum -> readout."""
    def cur(name, src, shape, o, k):
        return CurrentNode(name=name, input=src, in_shape=shape, weight=rng.integers(-1, 2, (o, shape[0], k, k)),
                           mult=rng.integers(200, 400, o), bias=rng.integers(-500, 500, o), shift=4, kernel=k,
                           padding=k // 2)

    def neu(name, src, shape, kind="vanilla"):
        return NeuronNode(name=name, input=src, shape=shape, lambda_t=np.array([0] * T) if kind == "parallel"
                          else rng.integers(1000, 4096, T), theta_t=rng.integers(100, 600, T), lambda_frac=12,
                          frac=8, max_code=15, neuron=kind)

    from golden.bundle import InputSpec
    stem = cur("stem", INPUT, (1, 5, 5), 3, 3)
    nodes = [stem, neu("n1", "stem", (3, 5, 5)), cur("conv", "n1", (3, 5, 5), 3, 3),
             AddNode(name="add", a="stem", b="conv", shape=(3, 5, 5)), neu("n2", "add", (3, 5, 5), "parallel"),
             PoolNode(name="gap", input="n2", in_shape=(3, 5, 5), kind="gsum"),
             ReadoutNode(name="fc", input="gap", in_features=3, weight=rng.integers(-127, 128, (4, 3)),
                         mult=rng.integers(1, 9, 4), bias=rng.integers(-99, 99, 4))]
    spec = InputSpec(features=25, bits=4, max_value=15, scale=1 / 15, shape=(1, 5, 5))
    return Graph(name="res", T=T, input=spec, spike_bits=4, nodes=tuple(nodes))


def test_residual_wiring_stem_once_stream_added_at_every_step():
    rng = np.random.default_rng(SEED)
    g = _residual_graph(rng)
    n = {node.name: node for node in g.nodes}
    x = rng.integers(0, 16, (9, 25))
    # the same values written out by hand from the law's functions: the stem once, the rest per step
    stem = requant(n["stem"], synapse(n["stem"], x.reshape(9, 1, 5, 5)))
    v1 = v2 = np.zeros_like(stem)
    want = []
    for t in range(g.T):
        s1, _, v1 = hdlif_step(n["n1"], v1, stem, t)
        i = stem + requant(n["conv"], synapse(n["conv"], s1), t)
        s2, _, v2 = hdlif_step(n["n2"], v2, i, t)
        want.append(readout(n["fc"], s2.sum(axis=(2, 3))))
    got = run_graph(g, x)
    assert np.array_equal(got.scores, np.stack(want, 1))
    assert got.scores.any()


def test_save_load_round_trip_and_refusals(tmp_path):
    g = _residual_graph(np.random.default_rng(1))
    h = save_graph(g, tmp_path / "g")
    back = load_model(tmp_path / "g")
    assert isinstance(back, Graph) and save_graph(back, tmp_path / "g2") == h      # same bytes
    x = np.random.default_rng(2).integers(0, 16, (5, 25))
    assert np.array_equal(run_graph(back, x).scores, run_graph(g, x).scores)
    with pytest.raises(BundleError, match="integer graph .* takes sequential bundles only"):
        load_bundle(tmp_path / "g")
    doc = json.loads((tmp_path / "g" / "model.json").read_text())
    for edit, msg in [(lambda d: d["nodes"][3].update(inputs=["stem", "n1"]), "node 'add': adds two currents"),
                      (lambda d: d["nodes"][4].update(inputs=["n1"]), "node 'n2': a neuron reads a current"),
                      (lambda d: d["nodes"][2].update(inputs=["stem"]), "node 'conv' widths: field 'acc_bits'"),
                      (lambda d: d["nodes"][1].update(inputs=["nope"]), "node 'n1': input 'nope' is not an earlier"),
                      (lambda d: d["nodes"][4].update(kind="pool"), "node 'n2': field 'kind' must be one of"),
                      (lambda d: d["nodes"].reverse(), "the last node must be the readout"),
                      (lambda d: d["nodes"][1]["widths"].update(membrane_bits=3), "'membrane_bits' is 3 but")]:
        bad = json.loads(json.dumps(doc))
        edit(bad)
        (tmp_path / "g" / "model.json").write_text(json.dumps(bad))
        with pytest.raises(BundleError, match=msg):
            load_graph(tmp_path / "g")
    (tmp_path / "g" / "model.json").write_text(json.dumps(doc))
    (tmp_path / "g" / "model.npz").write_bytes((tmp_path / "g" / "model.npz").read_bytes()[:-3] + b"xyz")
    with pytest.raises(BundleError, match="arrays_sha256"):
        load_graph(tmp_path / "g")


def test_accumulators_past_52_bits_are_refused():
    """Shapes alone decide it (no array of that size is made): a global sum over 2**40 positions of
    15s, read by 4 x 127 readout weights, needs 54 bits; over 2**30 positions it fits."""
    from golden.bundle import InputSpec

    def graph(side: int) -> Graph:
        shape = (4, side, side)
        spec = InputSpec(features=4 * side * side, bits=4, max_value=15, scale=1.0, shape=shape)
        stem = CurrentNode(name="stem", input=INPUT, in_shape=shape, weight=np.ones((4, 4, 1, 1), np.int8),
                           mult=np.ones(4, np.int64), bias=np.zeros(4, np.int64), shift=0, kernel=1)
        n = NeuronNode(name="n", input="stem", shape=shape, lambda_t=np.ones(2, np.int64),
                       theta_t=np.ones(2, np.int64), lambda_frac=12, frac=8, max_code=15)
        gap = PoolNode(name="gap", input="n", in_shape=shape, kind="gsum")
        r = ReadoutNode(name="fc", input="gap", in_features=4, weight=np.full((2, 4), 127, np.int8),
                        mult=np.ones(2, np.int64), bias=np.zeros(2, np.int64))
        return Graph(name="big", T=2, input=spec, spike_bits=4, nodes=(stem, n, gap, r))

    graph(1 << 15)
    with pytest.raises(BundleError, match="node 'fc': acc_bits is 54"):
        graph(1 << 20)


@pytest.mark.parametrize("seca,neuron,authors,mfrac", [("none", "hdlif", False, None), ("II", "membn", False, None),
                                                       ("I", "hdlif", False, None), ("II", "hdlif", True, None),
                                                       ("none", "lif", False, None), ("II", "membn", False, 8)])
def test_a_trained_resnet_exports_to_a_graph_that_agrees_with_it(tmp_path, seca, neuron, authors, mfrac):
    """``authors``: the shortcut conv and the head read the current stream (the authors' code);
    ``mfrac``: trained and evaluated in the integer graph's fixed point (``membrane_frac``)."""
    from training.train import load_checkpoint, train

    form = dict(shortcut="stream", head="stream") if authors else {}
    m = train(tmp_path / "r", arch="resnet:4,8", T=3, epochs=2, batch_size=32, parallel_ratio=0.5, seca=seca,
              neuron=neuron, progress=False, membrane_frac=mfrac, **form)
    model, _ = load_checkpoint(tmp_path / "r")
    g = to_graph(model, "r")
    kinds = [n.kind for n in g.nodes]
    nodes = {n.name: n for n in g.nodes}
    assert kinds.count("add") == 2 and kinds.count("neuron") == (4 if authors else 5)
    assert kinds[-2:] == ["gsum", "readout"]
    assert (nodes["gap"].input == "head") != authors and (nodes["b1.shortcut"].input == "b1.n1") != authors
    want = ["vanilla", "parallel", "vanilla", "parallel"] + ([] if authors else ["vanilla"])
    assert [n.neuron for n in g.neurons] == (["lif"] * 5 if neuron == "lif" else want)
    assert kinds.count("seca") == {"none": 0, "I": 4, "II": 2}[seca]
    assert kinds.count("affine") == (3 if neuron == "membn" else 0)    # the Mem-BN neurons (Parallel: none)
    if authors:
        assert m["net"]["shortcut"] == "stream" and m["net"]["head"] == "stream"
    split = data.load("digits")
    x, y = split.x_test, split.y_test
    model.eval()
    with torch.no_grad():
        fl = model(torch.from_numpy(x)).sum(0).argmax(1).numpy()
    r = run_graph(g, x.astype(np.int64))
    agree = float((fl == r.classes).mean())
    print(f"resnet:4,8 seca={seca} {neuron}: float {(fl == y).mean():.4f} (trained {m['test_accuracy']:.4f}), "
          f"golden {(r.classes == y).mean():.4f}, agreement {agree:.4f}")
    assert agree >= (0.99 if mfrac else 0.95)
    save_graph(g, tmp_path / "g")                                   # every node kind survives the files
    assert np.array_equal(run_graph(load_graph(tmp_path / "g"), x[:40]).scores, r.scores[:40])


def _random_resnet(seed: int, **kw):
    """A ``resnet:4,8`` on 12 x 12 pixels with random BatchNorm statistics and neuron parameters
    (currents spread over many codes), in eval mode."""
    torch.manual_seed(seed)
    cfg = ResNetConfig(arch="resnet:4,8", in_shape=(1, 12, 12), T=4, input_max=255, input_scale=1 / 255,
                       parallel_ratio=0.5, stem_weights="int8", classifier_weights="int8", **kw)
    model = build_model(cfg)
    for mod in model.modules():
        if isinstance(mod, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
            mod.running_mean.uniform_(-0.3, 0.3)
            mod.running_var.uniform_(0.2, 2)
            mod.weight.data.uniform_(0.5, 2)
            mod.bias.data.uniform_(-0.2, 0.5)
        if isinstance(getattr(mod, "b", None), torch.nn.Parameter):    # theta_t = sigmoid(b), lambda_t = sigmoid(a)
            mod.b.data.uniform_(-2, 0)
            mod.a.data.uniform_(-1, 2)
    return model.eval()


def _neuron_codes(model, x) -> dict:
    """Every neuron's spike codes ``[N, T, ...]`` of the float network on pixels ``x``."""
    names = [f"b{i}.n{j}" for i in range(len(model.blocks)) for j in (1, 2)] + ["head"] * (model.head_neuron is not None)
    outs = {k: [] for k in names}
    hooks = [n.register_forward_hook(lambda mod, inp, out, k=k: outs[k].append(out.detach().numpy()))
             for k, n in zip(names, model.neurons)]
    with torch.no_grad():
        model(torch.from_numpy(x))
    for h in hooks:
        h.remove()
    return {k: np.stack(v, 1) / model.cfg.spike_step for k, v in outs.items()}


@pytest.mark.parametrize("seed,kw", [(0, dict(seca="II", neuron="membn")), (1, dict(seca="I")),
                                     (2, dict(seca="II", shortcut="stream", head="stream")), (3, {})])
def test_a_fixed_point_resnet_computes_its_graph_spike_for_spike(seed, kw):
    """``membrane_frac``: the float network evaluates in the integer graph's fixed point
    (``training/fixed_point.py``).  With requantizer multipliers wide enough to be exact (30
    bits) every spike code of every neuron, every step and image equals the golden graph's; with
    the hardware's 18 bits only a few differ (a multiplier rounding a current one unit off),
    where the float network without the fixed point differs on many."""
    x = np.random.default_rng(seed).integers(0, 256, (60, 144)).astype(np.uint8)
    fixed = _random_resnet(seed, membrane_frac=8, **kw)
    rate = {}
    for mb in (30, 18):
        r = run_graph(to_graph(fixed, "f", mult_bits=mb), x, trace=True)
        f = _neuron_codes(fixed, x)
        assert set(r.codes) == set(f)
        bad = {k: int((f[k] != r.codes[k].reshape(f[k].shape)).sum()) for k in f}
        rate[mb] = sum(bad.values()) / sum(v.size for v in f.values())
        if mb == 30:
            assert not any(bad.values()), f"seed {seed} {kw}: codes differ from golden: {bad}"
            assert all((r.codes[k] > 0).mean() > 0.02 for k in r.codes)       # the neurons do fire
    plain = _random_resnet(seed, **kw)
    plain.load_state_dict(fixed.state_dict())
    r = run_graph(to_graph(plain, "p"), x, trace=True)
    f = _neuron_codes(plain, x)
    float_rate = sum(int((f[k] != r.codes[k].reshape(f[k].shape)).sum()) for k in f) / sum(v.size for v in f.values())
    print(f"seed {seed} {kw}: codes differing from golden: fixed point {rate}, float {float_rate:.5f}")
    assert float_rate > 0 and rate[18] < float_rate / 4


def test_membrane_frac_is_refused_where_it_has_no_meaning():
    with pytest.raises(ValueError, match="membrane_frac"):
        ResNetConfig(arch="resnet:4", in_shape=(1, 8, 8), T=2, neuron="lif", membrane_frac=8)
    with pytest.raises(ValueError, match="membrane_frac must be an integer in 0..16"):
        ResNetConfig(arch="resnet:4", in_shape=(1, 8, 8), T=2, membrane_frac=40)
    from training.train import config_from_dict
    with pytest.raises(ValueError, match="a resnet option"):
        config_from_dict(dict(arch="mlp:16", in_shape=(1, 8, 8), T=2, membrane_frac=8))
    model = build_model(ResNetConfig(arch="resnet:4", in_shape=(1, 8, 8), T=2, membrane_frac=8))
    with pytest.raises(ExportError, match="trained in the fixed point membrane_frac=8"):
        to_graph(model, "x", frac=10)
    assert to_graph(model, "x").neurons[0].frac == 8


def test_seca_node_by_hand():
    """Two images, 3 channels of 2 positions; taps [2, 1, -1], z -> index (z * 3 + 2) >> 2, a table
    of 8 entries (R = 4), q = 4."""
    from golden.graph import seca

    node = SecaNode(name="s", input="x", shape=(3, 2), taps=np.array([2, 1, -1]), zmult=3, zshift=2,
                    table=np.array([0, 1, 3, 6, 8, 10, 13, 16]), q=4)
    x = np.array([[[1, 2], [0, -1], [5, 5]], [[-7, 0], [3, 3], [0, 0]]])
    out = seca(node, x)
    for b in range(2):
        g = x[b].sum(axis=1)                                        # [3, -1, 10] / [-7, 6, 0]
        for c in range(3):
            z = (2 * g[c - 1] if c > 0 else 0) + g[c] - (g[c + 1] if c < 2 else 0)
            i = min(max((z * 3 + 2) // 4, -4), 3)
            s_ = [0, 1, 3, 6, 8, 10, 13, 16][i + 4]
            assert list(out[b, c]) == [(v * s_ + 8) // 16 for v in x[b, c]], (b, c)


@pytest.mark.parametrize("kw,msg", [(dict(weights="full"), "full-precision weights have no integer form"),
                                    (dict(spike_bits=None), "float spikes have no integer form"),
                                    (dict(seca="II", float_seca=True), "fixed_point=False")])
def test_resnet_parts_without_an_integer_graph_are_refused(kw, msg):
    float_seca = kw.pop("float_seca", False)
    model = build_model(ResNetConfig(arch="resnet:4", in_shape=(1, 8, 8), T=2, **kw))
    if float_seca:
        model.blocks[0].seca2.fixed_point = False
    with pytest.raises(ExportError, match=msg):
        to_graph(model, "x")


@pytest.mark.parametrize("case", range(8))
def test_every_value_fits_the_widths_of_its_node(case, tmp_path):
    """The interval analysis against the executor, node by node, on random and extreme images
    (all zero, all at the maximum) of random residual graphs (SECA, Mem-BN maps, strides); and
    every such graph survives its files."""
    from golden.graph import _step, widths
    from golden.synthetic import draw_graph_options, random_graph

    rng = np.random.default_rng([SEED, 77, case])
    opts = draw_graph_options(rng, np.random.default_rng([SEED, 77, case, 21]))
    print(f"graph widths case {case} (HDLIF_GRAPH_SEED={SEED}): {opts}")
    g = random_graph(int(rng.integers(1 << 30)), **opts)
    w = widths(g)
    x = rng.integers(0, g.input.max_value + 1, (16, g.input.features))
    x[0], x[1] = 0, g.input.max_value
    values = {INPUT: x.reshape((16,) + tuple(g.input.shape))}
    state: dict = {}
    static, seen = g.static(), set()
    for t in range(g.T):
        for n in g.nodes:
            if n.name in static and n.name in seen:
                continue
            seen.add(n.name)
            _step(g, values, state, t, [n], None)
            v = values[n.name]
            key = {"current": "current_bits", "add": "current_bits", "affine": "current_bits",
                   "seca": "current_bits", "readout": "score_bits"}.get(n.kind)
            if key:
                bits = w[n.name][key]
                assert -(1 << (bits - 1)) <= v.min() and v.max() < (1 << (bits - 1)), (case, n.name, t)
            if n.kind == "neuron":
                m = state[n.name]
                bits = w[n.name]["membrane_bits"]
                assert -(1 << (bits - 1)) <= m.min() and m.max() < (1 << (bits - 1)), (case, n.name, t)
    save_graph(g, tmp_path / "g")
    assert np.array_equal(run_graph(load_graph(tmp_path / "g"), x).scores, run_graph(g, x).scores)


def test_a_chain_as_a_graph_equals_its_bundle_and_average_pooling_is_a_sum(tmp_path):
    """to_graph of an mlp / vgg network folds each block as to_bundle does: a max-pooled VGG's
    graph gives the bundle's scores exactly; with ``a`` (2x2 average pooling) the codes are summed
    (a ``sumpool`` node, the 1/4 in the next synapse), the graph agrees with the float network,
    and the bundle (a conv layer with ``pool_op = "sum"``) gives the graph's scores exactly."""
    from training.export import to_bundle
    from training.models import parse_arch
    from training.train import load_checkpoint, train

    assert parse_arch("vgg:8,a,16,p") == [("conv", 8, 2, "avg"), ("conv", 16, 2)]
    with pytest.raises(ValueError, match="'a' must follow a conv width"):
        parse_arch("vgg:a,8")
    split = data.load("digits")
    x, y = split.x_test, split.y_test.astype(np.int64)
    for arch, neuron in (("vgg:4,p,8,fc16", "membn"), ("vgg:4,a,8,a", "hdlif"), ("vgg:4,a,8,p", "lif"),
                         ("vgg:4,p,8", "lif")):
        rd = tmp_path / arch.replace(":", "_").replace(",", "_")
        train(rd, arch=arch, T=3, epochs=2, batch_size=32, neuron=neuron, parallel_ratio=0.5, progress=False)
        model, _ = load_checkpoint(rd)
        g = to_graph(model, "g")
        r = run_graph(g, x.astype(np.int64))
        pools = [n.kind for n in g.nodes if n.kind in ("maxpool", "sumpool")]
        if "a" in arch.split(":")[1].split(","):
            assert pools[0] == "sumpool" and len(pools) == 2
            b = to_bundle(model, "b")
            assert [layer.pool_op for layer in b.hdlif_layers if layer.kind == "hdlif_conv"][0] == "sum"
            assert np.array_equal(run(b, x.astype(np.int64)).scores, r.scores)
            model.eval()
            with torch.no_grad():
                fl = model(torch.from_numpy(x)).sum(0).argmax(1).numpy()
            agree = float((fl == r.classes).mean())
            print(f"{arch}: float {(fl == y).mean():.4f}, golden {(r.classes == y).mean():.4f}, agreement {agree:.4f}")
            assert agree >= 0.97
        else:
            assert pools == ["maxpool"]
            assert np.array_equal(run(to_bundle(model, "b"), x.astype(np.int64)).scores, r.scores)
        assert g.spike_bits == (1 if neuron == "lif" else 4)
