"""``make import``: NIR graphs from snnTorch and SpikingJelly into integer bundles (``nir_io``).

Small networks are trained for a second or two on the digits (direct encoding pixel / 16, T = 4),
exported with each framework's own ``export_to_nir``, written with ``nir.write`` and imported
through the command line.  The integer model must agree with the framework's own forward pass
(``eval.json``), the framework's accuracy there must be the trained network's, and every later
step (``eval``, ``vectors``) must accept the imported run.  Refusals are one line and a non-zero
exit; a failed import leaves no run folder behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from flow_cli import cli, one_error_line

nir = pytest.importorskip("nir")
torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
T = 4


@pytest.fixture(scope="module")
def digits():
    from training.data import load

    return load("digits")


def _train(net, fwd, x, y, epochs: int, seed: int = 0, scale: float = 2.0):
    """A few epochs of Adam on cross entropy of the summed outputs (spike counts x ``scale``, or scores)."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            loss = torch.nn.functional.cross_entropy(fwd(x[idx]) * scale, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def _snntorch_graph(digits, path: Path, reset: str) -> dict:
    """64-32-10 snnTorch Leaky network (per-neuron beta and threshold), trained, exported, written."""
    import snntorch as snn
    from snntorch import surrogate
    from snntorch import utils as sutils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    leaky = dict(init_hidden=True, reset_mechanism=reset, reset_delay=False, spike_grad=surrogate.fast_sigmoid(slope=5))
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 32),
        snn.Leaky(beta=0.7 + 0.25 * torch.rand(32, generator=g), threshold=0.8 + 0.4 * torch.rand(32, generator=g),
                  **leaky),
        torch.nn.Linear(32, 10),
        snn.Leaky(beta=0.7 + 0.25 * torch.rand(10, generator=g), threshold=0.8 + 0.4 * torch.rand(10, generator=g),
                  output=True, **leaky))

    def fwd(xb):
        sutils.reset(net)
        return sum(net(xb)[0] for _ in range(T))

    x = torch.tensor(digits.x_train, dtype=torch.float32) / 16
    _train(net, fwd, x, torch.tensor(digits.y_train), epochs=8)
    with torch.no_grad():
        pred = fwd(torch.tensor(digits.x_test, dtype=torch.float32) / 16).argmax(1).numpy()
    sutils.reset(net)
    nir.write(path, export_to_nir(net, torch.zeros(1, 64), ignore_dims=[0]))
    return {"path": path, "accuracy": float((pred == digits.y_test).mean())}


@pytest.fixture(scope="module")
def snn_zero(digits, tmp_path_factory):
    return _snntorch_graph(digits, tmp_path_factory.mktemp("nir") / "snn_zero.nir", "zero")


@pytest.fixture(scope="module")
def snn_subtract(digits, tmp_path_factory):
    return _snntorch_graph(digits, tmp_path_factory.mktemp("nir") / "snn_subtract.nir", "subtract")


def _spikingjelly_graph(digits, path: Path, conv: bool) -> dict:
    """SpikingJelly: fc 64-48 (LIFNode tau 2 with decay_input: r = 1, input gain 1/2) -48-32 (IFNode:
    r = 1 / dt) and a Linear 32-10 read out by its scores, or conv 1->4 3x3 (IFNode) ->
    AvgPool2d(2) -> fc 64-10 (LIFNode, decay_input=False: r = tau), read out by spike count."""
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    torch.manual_seed(0)
    if conv:
        net = torch.nn.Sequential(layer.Conv2d(1, 4, 3, padding=1), neuron.IFNode(), layer.AvgPool2d(2),
                                  layer.Flatten(), layer.Linear(64, 10), neuron.LIFNode(tau=2.0, decay_input=False))
        shape = (1, 8, 8)
    else:
        net = torch.nn.Sequential(layer.Linear(64, 48), neuron.LIFNode(tau=2.0), layer.Linear(48, 32),
                                  neuron.IFNode(), layer.Linear(32, 10))
        shape = (64,)

    def fwd(xb):
        functional.reset_net(net)
        return sum(net(xb) for _ in range(T))

    x = (torch.tensor(digits.x_train, dtype=torch.float32) / 16).reshape((-1,) + shape)
    _train(net, fwd, x, torch.tensor(digits.y_train), epochs=8, scale=2.0 if conv else 1.0)
    with torch.no_grad():
        pred = fwd((torch.tensor(digits.x_test, dtype=torch.float32) / 16).reshape((-1,) + shape)).argmax(1).numpy()
    functional.reset_net(net)
    nir.write(path, export_to_nir(net, torch.zeros((1,) + shape)))
    return {"path": path, "accuracy": float((pred == digits.y_test).mean())}


@pytest.fixture(scope="module")
def sj_fc(digits, tmp_path_factory):
    pytest.importorskip("spikingjelly")
    return _spikingjelly_graph(digits, tmp_path_factory.mktemp("nir") / "sj_fc.nir", conv=False)


def _import(capsys, graph: Path, run: Path, *args):
    rc, out, err = cli(capsys, "import", "--nir", graph, "--model", run, *args)
    assert rc == 0, err
    return json.loads((run / "eval.json").read_text()), json.loads((run / "import.json").read_text())


# ---------------------------------------------------------------------------------------------
# snnTorch

def test_snntorch_graph_imports_and_agrees(snn_zero, digits, tmp_path, capsys):
    from golden import load_bundle, load_vectors

    run = tmp_path / "runs" / "snn"
    ev, settings = _import(capsys, snn_zero["path"], run)
    # the reference is the trained network: snnTorch's forward pass of the graph gives its accuracy
    assert ev["images"] == len(digits.y_test) == 360
    assert abs(ev["framework_accuracy"] - snn_zero["accuracy"]) <= 1 / 360
    assert ev["agreement"] >= 0.99, ev
    assert abs(ev["golden_accuracy"] - ev["framework_accuracy"]) <= 0.02
    assert ev["agree"] == round(ev["agreement"] * 360) and ev["golden_correct"] == round(ev["golden_accuracy"] * 360)
    assert ev["command"].startswith("python -m flow import --nir")
    assert settings["dt"] == pytest.approx(1e-4) and settings["dt_source"].startswith("inferred")
    assert settings["framework"] == "snntorch" and settings["reset"] == "value" and settings["weights"] == "int8"
    # the bundle: LIF layers (strict fire: threshold 2**K + 1 in units of theta / 2**K), count readout
    b = load_bundle(run / "model")
    assert b.spike_bits == 1 and b.T == T and b.readout.mode == "count"
    K = settings["membrane_bits"]
    for layer in b.hdlif_layers:
        assert layer.neuron == "lif" and layer.reset == "value" and layer.weights == "int8"
        assert np.all(layer.theta_t == 2 ** K + 1)
        assert layer.lambda_t.shape == (T, layer.out_features)          # per-neuron leaks
    assert [l.out_features for l in b.layers] == [32, 10, 10]
    # the copy of the graph and the vectors the RTL / HLS checkers read
    assert hashlib.sha256((run / "graph.nir").read_bytes()).hexdigest() == settings["source_sha256"]
    vec = load_vectors(run / "vectors.npz", run / "model")
    assert len(vec["images"]) == 360 and set(np.unique(vec["codes.fc1"])) <= {0, 1}

    # make eval re-runs the agreement check from graph.nir; make vectors writes the imported run's data
    rc, out, err = cli(capsys, "eval", run)
    assert rc == 0, err
    again = json.loads((run / "eval.json").read_text())
    assert again["agreement"] == ev["agreement"] and again["golden_accuracy"] == ev["golden_accuracy"]
    assert "imported NIR graph" in out
    rc, _, err = cli(capsys, "vectors", run, "--n", "50")
    assert rc == 0, err
    assert len(load_vectors(run / "vectors.npz", run / "model")["images"]) == 50
    # there is no checkpoint to export, nor a run to train on
    rc, _, err = cli(capsys, "export", run)
    one_error_line(rc, err, str(run), "imported NIR graph")
    # an existing run folder is refused without --force, replaced with it
    rc, _, err = cli(capsys, "import", "--nir", snn_zero["path"], "--model", run)
    one_error_line(rc, err, str(run), "already exists", "FORCE=1")
    _import(capsys, snn_zero["path"], run, "--force", "--weights", "ternary")
    assert load_bundle(run / "model").layers[0].weights == "ternary"


def test_subtract_reset_is_honoured(snn_subtract, tmp_path, capsys):
    from golden import load_bundle

    run = tmp_path / "runs" / "sub"
    ev, settings = _import(capsys, snn_subtract["path"], run, "--reset", "subtract")
    assert abs(ev["framework_accuracy"] - snn_subtract["accuracy"]) <= 1 / 360
    assert all(l.reset == "subtract" for l in load_bundle(run / "model").hdlif_layers)
    # snnTorch's Leaky (reset_delay=False) also subtracts the threshold in the next step's fire
    # decision while the residual exceeds it, which the integer model does not: a little below
    # the 99 % of a reset to zero, and far above a bundle that resets to zero (about 0.95 here)
    assert ev["agreement"] >= 0.975, ev
    notes = " ".join(ev["notes"])
    assert "reset_delay=True" in notes and "next step's fire decision" in notes

    from golden import run as golden_run
    from nir_io import reference
    from nir_io.importer import load_network
    from nir_io.quantize import to_bundle
    from training.data import load

    split = load("digits")
    graph, nodes, net = load_network(snn_subtract["path"], framework="snntorch", dt=None, reset="subtract")
    ref = reference.classes(reference.forward(graph, nodes, net, split.x_test, input_max=16, T=T))
    _, _, as_value = load_network(snn_subtract["path"], framework="snntorch", dt=None, reset="value")
    wrong = to_bundle(as_value, "wrong", T=T, input_max=16, input_shape=split.shape,
                      membrane_bits=settings["membrane_bits"])
    assert (golden_run(wrong, split.x_test).classes == ref).mean() < ev["agreement"] - 0.02


def test_the_graphs_own_reset_dt_and_T(snn_subtract, tmp_path, capsys):
    """A node whose metadata says ``reset: subtract`` subtracts without RESET=; the graph's
    metadata ``dt`` and ``T`` are taken when DT= and T= are not given (this project's NIR export
    writes them)."""
    from golden import load_bundle

    def mark(g):
        for k in ("1", "3"):
            g.nodes[k].metadata = {"reset": "subtract"}
        g.metadata = {"dt": 1e-4, "T": 3, "producer": "test"}

    graph = _edited(snn_subtract["path"], tmp_path / "marked.nir", mark)
    run = tmp_path / "runs" / "marked"
    ev, settings = _import(capsys, graph, run)
    assert settings["reset"] == "subtract" and settings["reset_setting"] is None
    assert settings["T"] == 3 and settings["T_source"] == "the graph's metadata"
    assert settings["dt_source"].startswith("the graph's metadata")
    b = load_bundle(run / "model")
    assert b.T == 3 and all(l.reset == "subtract" for l in b.hdlif_layers)
    assert ev["agreement"] >= 0.97
    # RESET= still decides when given
    _, settings = _import(capsys, graph, run, "--force", "--reset", "value", "--T", "4")
    assert settings["reset"] == "value" and settings["T"] == 4
    assert all(l.reset == "value" for l in load_bundle(run / "model").hdlif_layers)


# ---------------------------------------------------------------------------------------------
# SpikingJelly

def test_spikingjelly_graph_imports_and_agrees(sj_fc, tmp_path, capsys):
    from golden import load_bundle

    run = tmp_path / "runs" / "sj"
    ev, settings = _import(capsys, sj_fc["path"], run, "--framework", "spikingjelly")
    assert abs(ev["framework_accuracy"] - sj_fc["accuracy"]) <= 1 / 360
    assert ev["agreement"] >= 0.99, ev
    assert abs(ev["golden_accuracy"] - ev["framework_accuracy"]) <= 0.02
    assert ev["float_model_agreement"] == 1.0            # its neuron is the integer model's, exactly
    # dt from the IF neurons (r = 1 / dt); the LIF (r = 1) has input gain dt / tau = 1/2
    assert settings["dt"] == pytest.approx(1e-4) and "1 / r" in settings["dt_source"]
    assert settings["layers"][0]["gain"] == pytest.approx([0.5, 0.5])
    assert settings["readout"] == "score"
    b = load_bundle(run / "model")
    K = settings["membrane_bits"]
    assert all(np.all(l.theta_t == 2 ** K) for l in b.hdlif_layers)       # fires at v >= threshold
    assert np.all(b.layers[0].lambda_t == round(0.5 * 2 ** b.layers[0].lambda_frac))   # beta = 1 - dt / tau
    assert np.all(b.layers[1].lambda_t == 2 ** b.layers[1].lambda_frac)                # IF: no leak
    assert b.readout.mode == "score" and b.readout.weights == "int8" and b.readout.out_features == 10


def test_spikingjelly_conv_with_average_pooling(digits, tmp_path, capsys):
    """Conv -> IF -> AvgPool2d -> Flatten -> Affine -> LIF: the pooling folds into the fc layer."""
    pytest.importorskip("spikingjelly")
    from golden import load_bundle

    g = _spikingjelly_graph(digits, tmp_path / "sj_conv.nir", conv=True)
    run = tmp_path / "runs" / "sjc"
    ev, _ = _import(capsys, g["path"], run, "--framework", "spikingjelly")
    assert abs(ev["framework_accuracy"] - g["accuracy"]) <= 1 / 360
    assert ev["agreement"] >= 0.98, ev
    conv, fc = load_bundle(run / "model").hdlif_layers
    assert conv.kind == "hdlif_conv" and conv.kernel == 3 and conv.padding == 1 and conv.pool == 1
    assert fc.in_features == 4 * 8 * 8          # reads the unpooled spikes


def test_fire_at_the_threshold_strict_or_not():
    """An input current exactly at the threshold: snnTorch (v > theta) does not fire, SpikingJelly
    (v >= theta) does; the integer model follows each, pixel by pixel, step by step."""
    pytest.importorskip("spikingjelly")
    from golden import run as golden_run
    from nir_io import reference
    from nir_io.graph import chain
    from nir_io.layers import build_network
    from nir_io.quantize import to_bundle

    n = 2
    lif = nir.LIF(tau=np.full(n, 2e-4), r=np.full(n, 2.0), v_leak=np.zeros(n), v_threshold=np.full(n, 0.5),
                  v_reset=np.zeros(n))
    graph = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([n])),
                                "fc": nir.Affine(weight=np.eye(n, dtype=np.float32), bias=np.zeros(n, np.float32)),
                                "lif": lif,
                                "out": nir.Output(output_type=np.array([n]))},
                         edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")], type_check=False)
    images = np.array([[p, 16 - p] for p in range(17)])                   # pixel 8: current = threshold
    counts = {}
    for framework in ("snntorch", "spikingjelly"):
        nodes = chain(graph)
        net = build_network(nodes, framework=framework, reset="value", dt=1e-4, dt_how="given")
        ref = reference.forward(graph, nodes, net, images, input_max=16, T=T)
        b = to_bundle(net, "edge", T=T, input_max=16, input_shape=(n,))
        got = golden_run(b, images).scores.sum(axis=1)
        assert np.array_equal(got, ref), (framework, got[:, 0], ref[:, 0])
        counts[framework] = got[8, 0]
    # at the threshold (beta 1/2): snnTorch fires at t = 1, 3 (0.5, then 0.75 > 0.5), SpikingJelly every step
    assert (counts["snntorch"], counts["spikingjelly"]) == (2, 4)


# ---------------------------------------------------------------------------------------------
# Structure: nested graphs, pooling folds

def test_nested_graphs_are_flattened(snn_zero):
    from nir_io.graph import chain

    g = nir.read(snn_zero["path"])
    inner = nir.NIRGraph(nodes={"i": nir.Input(input_type=np.array([32])), "fc": g.nodes["2"], "lif": g.nodes["3"],
                                "o": nir.Output(output_type=np.array([10]))},
                         edges=[("i", "fc"), ("fc", "lif"), ("lif", "o")], type_check=False)
    outer = nir.NIRGraph(nodes={"input": g.nodes["input"], "0": g.nodes["0"], "1": g.nodes["1"], "sub": inner,
                                "output": g.nodes["output"]},
                         edges=[("input", "0"), ("0", "1"), ("1", "sub"), ("sub", "output")], type_check=False)
    names = [n for n, _ in chain(outer)]
    assert names == ["input", "0", "1", "sub.fc", "sub.lif", "output"]
    assert chain(outer)[3][1] is g.nodes["2"]


def _tiny_graph(n_in: int, hidden: int, classes: int, *, affines: int = 1):
    """Input -> Affine x ``affines`` -> LIF (hidden) -> Affine -> LIF (classes) -> Output, random weights."""
    rng = np.random.default_rng(1)
    lif = lambda n: nir.LIF(tau=np.full(n, 1e-3, np.float32), r=np.full(n, 10.0, np.float32),  # noqa: E731
                            v_leak=np.zeros(n, np.float32), v_threshold=np.ones(n, np.float32),
                            v_reset=np.zeros(n, np.float32))
    aff = lambda o, i: nir.Affine(weight=rng.normal(size=(o, i)).astype(np.float32),  # noqa: E731
                                  bias=rng.normal(size=o).astype(np.float32))
    nodes = {"in": nir.Input(input_type=np.array([n_in]))}
    size = n_in
    for k in range(affines):
        nodes[f"a{k}"] = aff(hidden, size)
        size = hidden
    nodes.update({"l1": lif(hidden), "a": aff(classes, hidden), "l2": lif(classes),
                  "out": nir.Output(output_type=np.array([classes]))})
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)


def test_two_affines_in_a_row_are_one_synapse():
    from nir_io.graph import chain
    from nir_io.layers import build_network

    g = _tiny_graph(6, 5, 3, affines=2)
    net = build_network(chain(g), framework="snntorch", reset="value", dt=1e-4, dt_how="given")
    syn = net.layers[0].synapse
    w0, w1 = g.nodes["a0"].weight.astype(np.float64), g.nodes["a1"].weight.astype(np.float64)
    assert syn.nodes == ("a0", "a1") and np.allclose(syn.weight, w1 @ w0)
    assert np.allclose(syn.bias, w1 @ g.nodes["a0"].bias + g.nodes["a1"].bias)
    assert [l.neuron.node for l in net.layers] == ["l1", "l2"] and net.mode == "count"


def _pool_or_graph(threshold: float):
    """conv 1->3 3x3 -> LIF -> SumPool2d 2x2 -> IF(r = 1, threshold) -> Flatten -> Affine 48->10 -> LIF."""
    rng = np.random.default_rng(2)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731

    def lif(shape):
        return nir.LIF(tau=f32(np.full(shape, 5e-4)), r=f32(np.full(shape, 5.0)), v_leak=f32(np.zeros(shape)),
                       v_threshold=f32(np.full(shape, 1.0)), v_reset=f32(np.zeros(shape)))

    nodes = {"in": nir.Input(input_type=np.array([1, 8, 8])),
             "conv": nir.Conv2d(input_shape=None, weight=f32(rng.normal(size=(3, 1, 3, 3))), stride=1, padding=1,
                                dilation=1, groups=1, bias=f32(rng.normal(size=3) * 0.1)),
             "lif1": lif((3, 8, 8)),
             "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "or": nir.IF(r=f32(np.ones((3, 4, 4))), v_threshold=f32(np.full((3, 4, 4), threshold)),
                          v_reset=f32(np.zeros((3, 4, 4)))),
             "flat": nir.Flatten(input_type={"input": np.array([3, 4, 4])}, start_dim=0, end_dim=-1),
             "fc": nir.Affine(weight=f32(rng.normal(size=(10, 48)) * 0.5), bias=f32(np.full(10, 0.3))),
             "lif2": lif(10), "out": nir.Output(output_type=np.array([10]))}
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)


def test_sum_pool_into_a_one_spike_neuron_is_the_max_pool(digits):
    """SumPool2d 2x2 -> IF firing on one spike and resetting to 0 (this project's NIR export of its
    2x2 max pool) becomes the conv layer's pool = 2; snnTorch runs the same network."""
    from golden import run as golden_run
    from nir_io import reference
    from nir_io.calibrate import simulate
    from nir_io.graph import NIRImportError, chain
    from nir_io.layers import build_network
    from nir_io.quantize import to_bundle

    g = _pool_or_graph(0.5)
    nodes = chain(g)
    net = build_network(nodes, framework="snntorch", reset=None, dt=1e-4, dt_how="given")
    assert [l.pool for l in net.layers] == [2, 1] and net.layers[0].pool_nodes == ("pool", "or")
    x = digits.x_test[:100]
    ref = reference.forward(g, nodes, net, x, input_max=16, T=T)
    float_model = simulate(net, x.reshape(-1, 1, 8, 8) / 16.0, T)
    assert (ref == float_model).all(axis=1).mean() >= 0.98          # max pool == snnTorch's SumPool2d -> IF
    b = to_bundle(net, "p", T=T, input_max=16, input_shape=(1, 8, 8))
    assert b.layers[0].pool == 2 and b.layers[1].in_features == 48
    assert (golden_run(b, x).classes == reference.classes(ref)).mean() >= 0.9
    with pytest.raises(NIRImportError, match="does not fire on exactly one spike"):
        build_network(chain(_pool_or_graph(1.5)), framework="snntorch", reset=None, dt=1e-4, dt_how="given")


@pytest.mark.parametrize("order, K, S, pad, stride, exact", [
    ("conv-pool", 2, 2, 1, 1, True), ("conv-pool", 3, 2, 0, 2, True), ("conv-pool", 2, 1, 1, 2, True),
    ("pool-conv", 2, 2, 1, 1, True), ("pool-conv", 3, 2, 0, 2, True), ("pool-conv", 3, 2, 1, 1, False),
])
def test_pooling_folds_into_the_convolution(order, K, S, pad, stride, exact):
    """Sum / average pooling folds into the adjacent convolution exactly (checked on random
    inputs inside the fold), or is refused where it would not be exact."""
    from nir_io.graph import NIRImportError, chain
    from nir_io.layers import build_network

    rng = np.random.default_rng(0)
    C, O, H = 2, 3, 12

    def conv(c, o, p, s):
        return nir.Conv2d(input_shape=None, weight=rng.normal(size=(o, c, 3, 3)), stride=s, padding=p, dilation=1,
                          groups=1, bias=rng.normal(size=o))

    def lif(shape):
        return nir.LIF(tau=np.full(shape, 1e-3), r=np.full(shape, 10.0), v_leak=np.zeros(shape),
                       v_threshold=np.ones(shape), v_reset=np.zeros(shape))

    pool = nir.SumPool2d(kernel_size=np.array([K, K]), stride=np.array([S, S]), padding=np.array([0, 0]))
    if order == "conv-pool":      # conv -> pool -> LIF: the pooling of currents becomes part of the conv
        Ho = (H + 2 * pad - 3) // stride + 1
        Hp = (Ho - K) // S + 1
        nodes = [conv(C, O, pad, stride), pool, lif((O, Hp, Hp))]
        kernel = 3 + (K - 1) * stride
    else:                         # conv -> LIF -> pool -> conv -> LIF: pooled spikes read by the conv
        Hp = (H - K) // S + 1
        Ho = (Hp + 2 * pad - 3) // stride + 1
        nodes = [conv(C, C, 1, 1), lif((C, H, H)), pool, conv(C, O, pad, stride), lif((O, Ho, Ho))]
        kernel = 2 * S + K
    names = [f"n{i}" for i in range(len(nodes))]
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([C, H, H])), **dict(zip(names, nodes)),
                            "out": nir.Output(output_type=np.array([1]))},
                     edges=list(zip(["in"] + names, names + ["out"])), type_check=False)

    def build():
        return build_network(chain(g), framework="snntorch", reset="value", dt=1e-4, dt_how="given")

    if exact:
        last = build().layers[-1].synapse
        assert (last.weight.shape[-1], last.stride) == (kernel, stride * S)
        assert last.out_shape == (O, Hp, Hp) if order == "conv-pool" else last.out_shape == (O, Ho, Ho)
    else:
        with pytest.raises(NIRImportError, match="padded convolution after a pooling"):
            build()


# ---------------------------------------------------------------------------------------------
# Refusals: one line, non-zero exit, nothing written

def _edited(src: Path, dst: Path, edit) -> Path:
    g = nir.read(src)
    edit(g)
    nir.write(dst, g)
    return dst


def test_refusals_are_one_line(snn_zero, tmp_path, capsys):
    src = snn_zero["path"]

    def li(g):
        n = g.nodes["3"]
        g.nodes["3"] = nir.LI(tau=n.tau, r=n.r, v_leak=n.v_leak)

    def v_leak(g):
        g.nodes["1"].v_leak = np.full_like(g.nodes["1"].v_leak, 0.1)

    def no_dt(g):                  # r = 1: tau / r is tau, which differs between neurons
        for k in ("1", "3"):
            g.nodes[k].r = np.ones_like(g.nodes[k].r)

    def branch(g):
        g.edges.append(("1", "output"))

    cases = [(li, ("node '3'", "nir.LI", "not supported", "Affine", "LIF")),
             (v_leak, ("node '1'", "nir.LIF", "v_leak = 0.1")),
             (no_dt, ("does not determine dt", "DT=")),
             (branch, ("node '1'", "branch", "only chains"))]
    for edit, needles in cases:
        bad = _edited(src, tmp_path / f"{edit.__name__}.nir", edit)
        run = tmp_path / "runs" / edit.__name__
        rc, _, err = cli(capsys, "import", "--nir", bad, "--model", run)
        one_error_line(rc, err, *needles)
        assert not run.exists()
    # settings and files
    for args, needles in [(("--nir", tmp_path / "none.nir", "--model", tmp_path / "x"), ("none.nir", "no such NIR file")),
                          (("--model", tmp_path / "x"), ("--nir (NIR=) is required",)),
                          (("--nir", src, "--model", tmp_path / "x", "--dt", "0"), ("--dt (DT=)", "> 0")),
                          (("--nir", src, "--model", tmp_path / "x", "--reset", "soft"), ("--reset (RESET=)", "value")),
                          (("--nir", src, "--model", tmp_path / "x", "--reset", "subtract", "--framework",
                            "spikingjelly"), ("RESET=subtract", "snntorch"))]:
        rc, _, err = cli(capsys, "import", *args)
        one_error_line(rc, err, *needles)
    nir.write(tmp_path / "wide.nir", _tiny_graph(784, 8, 10))
    rc, _, err = cli(capsys, "import", "--nir", tmp_path / "wide.nir", "--model", tmp_path / "x")
    one_error_line(rc, err, "DATASET=digits", "1x8x8", "[784]")
    nir.write(tmp_path / "classes.nir", _tiny_graph(64, 8, 12))
    rc, _, err = cli(capsys, "import", "--nir", tmp_path / "classes.nir", "--model", tmp_path / "x")
    one_error_line(rc, err, "DATASET=digits has 10 classes", "12")
    (tmp_path / "junk.nir").write_text("not hdf5")
    rc, _, err = cli(capsys, "import", "--nir", tmp_path / "junk.nir", "--model", tmp_path / "x")
    one_error_line(rc, err, "junk.nir", "not a NIR graph")
    assert not (tmp_path / "x").exists()


def test_a_failed_import_leaves_nothing(snn_zero, tmp_path, capsys, monkeypatch):
    import nir_io.importer as importer

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer, "write_vectors", boom)
    run = tmp_path / "runs" / "half"
    rc, _, err = cli(capsys, "import", "--nir", snn_zero["path"], "--model", run)
    one_error_line(rc, err, "disk full")
    assert not run.exists() and list((tmp_path / "runs").iterdir()) == []


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_import_passes_its_settings():
    r = subprocess.run(["make", "-n", "import", "NIR=g.nir", "MODEL=x", "DT=1e-4", "RESET=subtract", "WEIGHTS=ternary",
                        "FRAMEWORK=spikingjelly", "T=6", "FORCE=1"], cwd=ROOT, capture_output=True, text=True)
    (line,) = [l.split() for l in r.stdout.replace("\\\n", " ").splitlines() if "-m flow import" in l]
    for flag, value in (("--nir", '"g.nir"'), ("--model", "x"), ("--dt", "1e-4"), ("--reset", "subtract"),
                        ("--weights", "ternary"), ("--framework", "spikingjelly"), ("--T", "6"), ("--dataset", "digits")):
        assert line[line.index(flag) + 1] == value, (flag, line)
    assert "--force" in line
    r = subprocess.run(["make", "-n", "import", "NIR=g.nir", "MODEL=x"], cwd=ROOT, capture_output=True, text=True)
    (line,) = [l.split() for l in r.stdout.replace("\\\n", " ").splitlines() if "-m flow import" in l]
    assert not {"--T", "--dt", "--reset", "--weights", "--framework", "--force"} & set(line)
