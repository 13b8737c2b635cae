"""The HLS path: hls4ml projects (Vitis backend, io_stream) in C simulation, bit-exact against
the golden model on the same vector files, case by case.

Each g++ compile of an hls4ml project takes 10-30 s, so the projects are built once per module
and shared; the conv checks use a small random bundle drawn through the golden dataclasses
(no training), the digits check the session's trained run.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from golden import load_bundle, load_vectors, save_bundle
from golden.synthetic import random_bundle, random_images
from golden.vectors import write_vectors
from hls import convert, csim
from hls.synth import MISSING, find_tool

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory):
    """A small conv network: int8 stem conv + 2x2 pool, ternary strided conv with Mem-BN [T, O]
    currents and Parallel neurons, per-channel leaks / thresholds, fc, binary readout."""
    run = tmp_path_factory.mktemp("runs") / "conv"
    b = random_bundle(3, input_shape=(2, 10, 10), input_max=15, T=3, neuron="mixed", per_channel=True,
                      step_current=True, stem_weights="int8", readout_weights="binary",
                      layers=(("conv", 4, 3, 1, 1, 2), ("conv", 6, 3, 2, 1, 1), ("fc", 12)))
    # l2 at 2**14 times the scale: the same currents from a mult / bias past 32 bits and a
    # 45-bit product (wide constants through hls4ml's weight files, wide ap_int arithmetic)
    l2 = b.layers[1]
    wide = dataclasses.replace(l2, mult=l2.mult << 14, bias=l2.bias << 14, shift=l2.shift + 14)
    b = dataclasses.replace(b, layers=(b.layers[0], wide) + b.layers[2:])
    save_bundle(b, run / "model")
    b = load_bundle(run / "model")
    assert b.layers[1].widths["mult_bits"] > 32 and b.layers[1].widths["product_bits"] > 40
    x = random_images(b, 40, seed=5)
    write_vectors(b, run / "model", x, np.zeros(len(x), np.int64), run / "vectors.npz")
    return {"dir": run, "bundle": b, "vec": load_vectors(run / "vectors.npz", run / "model"),
            "build": tmp_path_factory.mktemp("hls")}


def test_conv_layer_bit_exact(conv_run):
    """One conv layer (ternary, stride 2, padding 1, per-step mult/bias) in hls4ml's Conv2D:
    codes of the vector file in, currents equal to the golden executor's conv + requant."""
    b, vec = conv_run["bundle"], conv_run["vec"]
    layer = b.layers[1]
    assert layer.kind == "hdlif_conv" and layer.stride == 2 and layer.mult.ndim == 2
    model = convert.layer_project(b, 1, conv_run["build"] / "layer_l2")
    model.compile()
    r = csim.check_layer(model, b, vec, 1)
    assert r["vectors"] == 40
    assert r["mismatches"] == 0, r["mismatch_details"][:5]
    # the exact integer types of the bound analysis, not hls4ml's defaults
    types = (conv_run["build"] / "layer_l2" / "firmware" / "defines.h").read_text()
    assert f"ap_int<{layer.widths['acc_bits']}>" in types
    assert f"nnet::array<ap_int<{layer.widths['current_bits']}>" in types
    assert "l2_synapse_weight_t;" in types and "typedef ap_int<2> l2_synapse_weight_t;" in types


@pytest.fixture(scope="module")
def conv_network(conv_run):
    model = convert.network_project(conv_run["bundle"], conv_run["build"] / "network")
    model.compile()
    return model


def test_conv_network_bit_exact(conv_run, conv_network):
    """conv + pool, Parallel and vanilla neurons, int8 / ternary / binary weights, T steps: one project."""
    r = csim.check_network(conv_network, conv_run["bundle"], conv_run["vec"])
    assert r["vectors"] == 40
    assert r["mismatches"] == 0, r["mismatch_details"][:5]
    # the same images twice in a row give the same scores: the step counter wraps after T calls
    again = csim.check_network(conv_network, conv_run["bundle"], conv_run["vec"], 5)
    assert again["mismatches"] == 0
    # HD-LIF configs keep the header's defaults (no LIF fields)
    params = (conv_run["build"] / "network" / "firmware" / "parameters.h").read_text()
    assert "nnet::hdlif_neuron_config" in params and "v_reset" not in params and "hdlif_lif" not in params


def test_caught_mismatch_names_image_layer_step_neuron(conv_run, conv_network):
    """A vector file that disagrees with the design at one neuron of one step: the report names
    the image, the first layer whose codes differ, the time step and the neuron."""
    vec = dict(conv_run["vec"])
    codes = vec["codes.l2"].astype(np.int64).copy()
    codes[7, 1, 5] += 1
    scores = vec["scores"].copy()
    scores[7, 2, 3] += 1
    vec["codes.l2"], vec["scores"] = codes, scores
    r = csim.check_network(conv_network, conv_run["bundle"], vec)
    assert r["mismatches"] == 1
    first = r["mismatch_details"][0]
    assert first.startswith("image 7, layer l2, time step 1, neuron 5: HLS"), first
    assert "image 7, layer l4, time step 2, neuron 3: HLS" in "\n".join(r["mismatch_details"])


def test_unsupported_layers_name_the_layer_and_the_supported_set(conv_run):
    b = conv_run["bundle"]

    def with_layer(i, **kw):
        layers = list(b.layers)
        layers[i] = dataclasses.replace(layers[i], **kw) if "kind" not in kw else _Fake(layers[i], kw["kind"])
        return dataclasses.replace(b, layers=tuple(layers))

    with pytest.raises(convert.HLSConversionError,
                       match=r"layer 'l2': kind 'residual' has no HLS mapping \(supported: hdlif_fc, hdlif_conv, readout_fc\)"):
        convert.network_project(with_layer(1, kind="residual"), conv_run["build"] / "never")
    with pytest.raises(convert.HLSConversionError,
                       match=r"layer 'l3': neuron 'adex' has no HLS mapping \(supported: vanilla, parallel, lif\)"):
        convert.layer_project(with_layer(2, neuron="adex"), 2, conv_run["build"] / "never")
    with pytest.raises(convert.HLSConversionError,
                       match=r"layer 'l3': LIF reset 'zero' has no HLS mapping \(supported: value, subtract\)"):
        convert.network_project(with_layer(2, neuron="lif", reset="zero"), conv_run["build"] / "never")
    with pytest.raises(convert.HLSConversionError,
                       match=r"layer 'l3': a LIF layer fires binary spikes \(max_code 1, not 15\)"):
        convert.network_project(with_layer(2, neuron="lif", reset="value"), conv_run["build"] / "never")
    with pytest.raises(convert.HLSConversionError,
                       match=r"layer 'l1': weights 'int4' have no HLS mapping \(supported: ternary, binary, int8\)"):
        convert.check_supported(with_layer(0, weights="int4"))
    assert not (conv_run["build"] / "never").exists()


class _Fake:
    """A layer of a kind the HLS path does not know (e.g. a residual block)."""

    def __init__(self, layer, kind):
        self.name, self.kind, self.widths = layer.name, kind, layer.widths


def test_options_are_checked():
    with pytest.raises(ValueError, match=r"clock_period must be a positive number of ns, not -1"):
        convert.HLSOptions(clock_period=-1)
    with pytest.raises(ValueError, match=r"max_unroll must be a positive integer, not 0"):
        convert.HLSOptions(max_unroll=0)


@pytest.mark.parametrize("n_in, n_out, max_unroll", [(288, 64, 4096), (144, 32, 4096), (784, 128, 4096), (9, 8, 4096),
                                                      (576, 64, 1000), (288, 64, 1)])
def test_reuse_factor_is_one_hls4ml_keeps(n_in, n_out, max_unroll):
    """A kernel over ``max_unroll`` multipliers gets the smallest reuse factor hls4ml accepts that
    brings them under it: hls4ml would replace an invalid one (288 x 64 / 4096 -> 5) by its
    nearest valid one (4: more multipliers than asked for) with a warning."""
    import hls4ml

    s = convert._Builder(convert.HLSOptions(max_unroll=max_unroll))._strategy(n_in, n_out)
    backend = hls4ml.backends.get_backend(convert.hdlif_layer.BACKEND)
    valid = backend.get_valid_reuse_factors(n_in, n_out)
    rf = s["ReuseFactor"]
    assert rf in valid and n_in * n_out / rf <= max_unroll
    assert all(n_in * n_out / r > max_unroll for r in valid if r < rf)
    assert (s["Strategy"] == "Latency") == (n_in * n_out <= max_unroll)
    if (n_in, n_out, max_unroll) == (288, 64, 4096):
        assert rf == 6


# ---------------------------------------------------------------------------------------------
# LIF / IF neurons (binary spikes, reset to v_reset or by subtraction) and the count readout

#: Two random LIF networks on small membranes (``frac = 3``: thresholds 2 .. 15, so ``m == theta_t``
#: happens).  Between them: conv and fc stems, ``[T, O]`` and ``[T]`` leaks / thresholds,
#: ``[T, O]`` and ``[O]`` mult / bias, both resets, an IF layer, a nonzero ``v_reset``, count and
#: score readouts (``test_lif_vectors_exercise_the_lif_arithmetic`` checks all of it).
LIF_CASES = {
    "conv": dict(seed=21, layers=(("conv", 3, 3, 1, 1, 2), ("fc", 12), ("fc", 10)), T=4,
                 per_channel=True, step_current=True, readout="count"),
    "fc": dict(seed=5, layers=(("fc", 16), ("fc", 10)), T=5, readout="score"),
}
LIF_IMAGES = 20


@pytest.fixture(scope="module")
def lif_runs(tmp_path_factory):
    """The :data:`LIF_CASES` bundles (saved and loaded: widths from the bound analysis) and vectors."""
    runs = {}
    for name, case in LIF_CASES.items():
        kw = dict(case)
        seed = kw.pop("seed")
        run = tmp_path_factory.mktemp("lif") / name
        save_bundle(random_bundle(seed, input_shape=(1, 8, 8), spike_bits=1, neuron="lif", classes=10, frac=3,
                                  **kw), run / "model")
        b = load_bundle(run / "model")
        x = random_images(b, LIF_IMAGES, seed=seed)
        write_vectors(b, run / "model", x, np.zeros(len(x), np.int64), run / "vectors.npz")
        runs[name] = {"dir": run, "bundle": b, "vec": load_vectors(run / "vectors.npz", run / "model")}
    return runs


def _lif_mutants() -> dict:
    """Wrong LIF arithmetic, each as a replacement of the golden model's fire-and-reset step."""

    def mutant(fire, after):
        def lif_fire(layer, m, t):
            theta = np.asarray(layer.theta_at(t))
            theta = theta.reshape(theta.shape + (1,) * (m.ndim - 2)) if theta.ndim == 1 else theta
            spike = fire(m, theta)
            return spike.astype(np.int64), np.where(spike, after(layer, m, theta), m)
        return lif_fire

    def reset(kind, layer, m, theta, off=0):
        return m - theta + off if kind == "subtract" else np.full_like(m, layer.v_reset + off)

    other = {"value": "subtract", "subtract": "value"}
    return {
        "strict threshold m > theta_t": mutant(np.greater, lambda l, m, th: reset(l.reset, l, m, th)),
        "resets swapped": mutant(np.greater_equal, lambda l, m, th: reset(other[l.reset], l, m, th)),
        "no reset (v = m)": mutant(np.greater_equal, lambda l, m, th: m),
        "reset to 0, not v_reset": mutant(np.greater_equal,
                                          lambda l, m, th: reset(l.reset, l, m, th) if l.reset == "subtract" else 0 * m),
        "residual off by one": mutant(np.greater_equal, lambda l, m, th: reset(l.reset, l, m, th, 1)),
        "subtraction to 0": mutant(np.greater_equal,
                                   lambda l, m, th: 0 * m if l.reset == "subtract" else reset(l.reset, l, m, th)),
    }


def test_lif_vectors_exercise_the_lif_arithmetic(lif_runs, monkeypatch):
    """The LIF C simulation checks are not vacuous: the drawn networks cover both stems, both
    table shapes, both resets, IF, a nonzero v_reset and both readouts; every layer fires and stays
    quiet, before the last step too; and each of several wrong LIF arithmetics changes the scores
    of some vector, so a design that computed it could not be bit-exact on these vectors."""
    from golden import executor

    bundles = [r["bundle"] for r in lif_runs.values()]
    layers = [l for b in bundles for l in b.hdlif_layers]
    assert all(l.neuron == "lif" and l.max_code == 1 for l in layers)
    assert {b.layers[0].kind for b in bundles} == {"hdlif_conv", "hdlif_fc"}
    assert {b.readout.mode for b in bundles} == {"count", "score"}
    assert {l.theta_t.ndim for l in layers} == {1, 2} and {np.ndim(l.mult) for l in layers} == {1, 2}
    assert {l.reset for l in layers} == {"value", "subtract"}
    assert any(l.reset == "value" and l.v_reset != 0 for l in layers)
    is_if = [bool(np.all(l.lambda_t == 2 ** l.lambda_frac)) for l in layers]
    assert any(is_if) and not all(is_if)
    for r in lif_runs.values():
        assert np.array_equal(executor.run(r["bundle"], r["vec"]["images"]).scores, r["vec"]["scores"])
        for l in r["bundle"].hdlif_layers:
            spikes = np.asarray(r["vec"][f"codes.{l.name}"])
            assert 0.1 < spikes.mean() < 0.9, (l.name, spikes.mean())
            assert spikes[:, :-1].any(), l.name                  # resets that later steps see
    for what, lif_fire in _lif_mutants().items():
        changed = 0
        for r in lif_runs.values():
            with monkeypatch.context() as mp:
                mp.setattr(executor, "lif_fire", lif_fire)
                scores = executor.run(r["bundle"], r["vec"]["images"]).scores
            changed += int((scores != r["vec"]["scores"]).any(axis=(1, 2)).sum())
        assert changed > 0, f"{what}: the LIF vectors cannot tell it from the golden model"


@pytest.mark.parametrize("case", sorted(LIF_CASES))
def test_lif_network_bit_exact(lif_runs, case):
    """A random LIF / IF network (binary spikes, value and subtract resets) in C simulation, every
    step's scores bit-exact; the config structs carry each layer's reset."""
    r = lif_runs[case]
    b = r["bundle"]
    model = convert.network_project(b, r["dir"] / "hls")
    model.compile()
    res = csim.check_network(model, b, r["vec"])
    assert res["vectors"] == LIF_IMAGES
    assert res["mismatches"] == 0, res["mismatch_details"][:5]
    params = (r["dir"] / "hls" / "firmware" / "parameters.h").read_text()
    assert params.count("neuron = nnet::hdlif_lif;") == len(b.hdlif_layers)
    assert params.count("reset = nnet::hdlif_reset_subtract;") == sum(l.reset == "subtract" for l in b.hdlif_layers)
    for l in b.hdlif_layers:
        assert f"v_reset = {l.v_reset}LL;" in params


def test_lif_count_readout_layer_bit_exact(lif_runs):
    """The spike-count readout (identity weights, mult 1, bias 0) as its own layer project."""
    r = lif_runs["conv"]
    b = r["bundle"]
    index = len(b.layers) - 1
    assert b.readout.mode == "count"
    model = convert.layer_project(b, index, r["dir"] / "hls_readout")
    model.compile()
    res = csim.check_layer(model, b, r["vec"], index)
    assert res["vectors"] == LIF_IMAGES
    assert res["mismatches"] == 0, res["mismatch_details"][:5]


@pytest.fixture
def digits_copy(digits_run, tmp_path):
    run = tmp_path / f"hlstest_{tmp_path.name}"
    shutil.copytree(digits_run["dir"], run)
    yield run
    from flow.paths import build_dir

    shutil.rmtree(build_dir(str(run)), ignore_errors=True)


def test_make_hls_digits_network_bit_exact(digits_run, digits_copy):
    """``python -m flow hls <run>``: the whole digits network (T steps, one project) and each of
    its layers, bit-exact on every image of the vector file; report.json per project."""
    from flow.paths import build_dir

    out = build_dir(str(digits_copy)) / "hls"
    proc = subprocess.run([sys.executable, "-m", "flow", "hls", str(digits_copy)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    n = len(load_vectors(digits_copy / "vectors.npz")["images"])
    assert set(report["projects"]) == {"network", "layer_fc1", "layer_fc2"}
    for name, p in report["projects"].items():
        assert p["vectors"] == n == 360, name
        assert p["mismatches"] == 0, (name, p["mismatch_details"][:5])
        assert p["seconds"] > 0
        assert (out / name / "firmware" / "myproject.cpp").is_file()
        assert (out / name / "tb_data" / "tb_input_features.dat").is_file()
    assert report["projects"]["network"]["accuracy"] == pytest.approx(digits_run["export"]["golden_accuracy"])
    assert "hls: network: 360 vectors, 0 mismatches" in proc.stdout


def test_flow_hls_synth_without_projects_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "flow", "hls-synth", str(tmp_path / "nope")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and "make hls MODEL=" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_synth_compares_vitis_logs_line_by_line(tmp_path):
    """The Vitis csim / co-sim outputs (one line per time step) against the golden lines."""
    from hls.synth import compare_logs

    tb = tmp_path / "tb_data"
    tb.mkdir()
    (tb / "tb_output_predictions.dat").write_text("1 -2 3\n4 5 -6\n7 8 9\n")
    (tb / "csim_results.log").write_text("1 -2 3 \n4 5 -6 \n7 8 9 \n")
    (tb / "rtl_cosim_results.log").write_text("1 -2 3\n4 5 -7\n")
    r = compare_logs(tmp_path)
    assert r["csim"] == {"lines": 3, "mismatching_lines": 0, "first": []}
    assert r["cosim"] == {"lines": 2, "mismatching_lines": 2, "first": [1]}  # one wrong, one missing


def test_synth_without_vitis_says_what_is_missing(tmp_path, monkeypatch):
    from hls import synth

    (tmp_path / "build_prj.tcl").write_text("exit\n")
    monkeypatch.setattr(synth, "find_tool", lambda: None)
    with pytest.raises(RuntimeError, match=r"Vitis HLS not found: neither vitis-run nor vitis_hls is on PATH"):
        synth.synthesize(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no hls4ml project here \(run make hls first\)"):
        synth.synthesize(tmp_path / "empty")


@pytest.mark.vitis
@pytest.mark.skipif(find_tool() is None, reason=MISSING)
def test_vitis_hls_synthesis_of_a_conv_layer(conv_run):
    """Vitis HLS: C simulation of the tb_data vectors, C synthesis, C/RTL co-simulation."""
    from hls.report import build_layer
    from hls.synth import synthesize

    project = conv_run["build"] / "synth_l2"
    build_layer(conv_run["bundle"], conv_run["vec"], 1, project, 4, convert.HLSOptions())
    r = synthesize(project, csim=True, cosim=True)
    assert r["csynth"], "no C synthesis report"
    for key in ("csim", "cosim"):
        assert r["vectors"][key]["mismatching_lines"] == 0, r["vectors"]


# ---------------------------------------------------------------------------------------------
# Integer graphs (residual networks): hls.convert.graph_project

GRAPH_SEED = int(__import__("os").environ.get("HDLIF_HLS_GRAPH_SEED", "2026"))
GRAPH_CASES = {
    "seca2_membn_strided": dict(input_shape=(2, 7, 7), stages=((3, 1), (5, 1)), T=3, seca="II", membn="all",
                                parallel=1.0, per_channel=True),
    "seca1_mixed_binary": dict(input_shape=(1, 6, 6), stages=((4, 2),), T=2, spike_bits=2, seca="I",
                               membn="mixed", stem_weights="ternary", weights="binary"),
    "authors_stream": dict(input_shape=(2, 6, 6), stages=((3, 1), (4, 2)), T=2, seca="mixed", shortcut="stream",
                           head="stream"),
    "lif_seca2_membn": dict(input_shape=(1, 6, 6), stages=((3, 1), (4, 1)), T=3, seca="II", membn="mixed",
                            neuron="lif", per_channel=True),
    "sumpool_stem": dict(input_shape=(2, 8, 8), stages=((3, 1), (4, 1)), T=2, spike_bits=4, pool="sumpool"),
    "maxpool_stem_lif": dict(input_shape=(1, 7, 7), stages=((3, 1),), T=2, neuron="lif", pool="maxpool"),
}


@pytest.fixture(scope="module")
def graph_projects(tmp_path_factory):
    """Each random residual graph compiled once (g++), with its golden run on random and extreme images."""
    from golden.graph import run_graph
    from golden.synthetic import random_graph

    out = {}
    for i, (case, opts) in enumerate(sorted(GRAPH_CASES.items())):
        g = random_graph(GRAPH_SEED + i, **opts)
        x = np.random.default_rng(GRAPH_SEED + i).integers(0, g.input.max_value + 1, (30, g.input.features))
        x[0], x[1] = 0, g.input.max_value
        model = convert.graph_project(g, tmp_path_factory.mktemp("hls_graph") / case)
        model.compile()
        r = run_graph(g, x, trace=True)
        vec = {"images": x, "scores": r.scores, "classes": r.classes, "labels": r.classes,
               **{f"codes.{k}": v for k, v in r.codes.items()}}
        out[case] = (g, model, vec)
    return out


@pytest.mark.parametrize("case", sorted(GRAPH_CASES))
def test_random_residual_graph_bit_exact(graph_projects, case):
    g, model, vec = graph_projects[case]
    print(f"graph {case} (HDLIF_HLS_GRAPH_SEED={GRAPH_SEED}): {[n.kind for n in g.nodes]}")
    r = csim.check_network(model, g, vec)
    assert r["mismatches"] == 0, r["mismatch_details"][:5]
    assert np.abs(vec["scores"]).max() > 0 and len(set(vec["scores"][:, -1, 0].tolist())) > 3


def test_a_graph_mismatch_names_the_first_neuron_node_that_differs(graph_projects):
    """The project of one graph against the vectors of the same graph with one SECA table changed:
    the check names the first neuron after that SECA node."""
    import dataclasses

    from golden.graph import Graph, run_graph

    g, model, vec = graph_projects["seca2_membn_strided"]
    nodes = list(g.nodes)
    i = next(k for k, n in enumerate(nodes) if n.kind == "seca")
    nodes[i] = dataclasses.replace(nodes[i], table=np.minimum(nodes[i].table + 40, 256))
    g2 = Graph(name="changed", T=g.T, input=g.input, spike_bits=g.spike_bits, nodes=tuple(nodes))
    r2 = run_graph(g2, vec["images"], trace=True)
    vec2 = {**vec, "scores": r2.scores, "classes": r2.classes, **{f"codes.{k}": v for k, v in r2.codes.items()}}
    r = csim.check_network(model, g, vec2)
    after = next(n.name for n in nodes[i + 1:] if n.kind == "neuron")
    assert r["mismatches"] > 0 and r["mismatch_details"][0].split(", ")[1] == f"layer {after}"


def test_a_trained_resnet_with_seca_and_membn_goes_float_golden_hls(tmp_path):
    """make train ARCH=resnet:... SECA=II NEURON=membn, export (an integer graph), make hls: 0 mismatches."""
    from hls.report import run_hls
    from training.export import export
    from training.train import train

    run = tmp_path / "rn"
    train(run, arch="resnet:4,8", T=2, epochs=1, batch_size=32, limit=200, parallel_ratio=0.5, seca="II",
          neuron="membn", progress=False, device="cpu")
    rep = export(run, vectors=40)
    assert rep["agreement"] >= 0.9 and json.loads((run / "model" / "model.json").read_text())["schema"] == \
        "hdlif-graph/1"
    report = run_hls(run, tmp_path / "hls")
    assert set(report["projects"]) == {"network"} and report["vectors"] == 40 and report["mismatches"] == 0


@pytest.mark.parametrize("neuron", ["hdlif", "lif"])
def test_a_trained_vgg_with_average_pooling_goes_float_golden_hls(tmp_path, neuron):
    """vgg with ``a``: a bundle whose conv layers sum-pool (a stride-2 identity Conv2D in HLS, a
    :class:`rtl_gen.pool.SumPool` in the RTL), float -> golden -> HLS C simulation -> Verilator,
    bit-exact; LIF too (binary spikes summed)."""
    import shutil

    from flow import steps
    from flow.paths import build_dir
    from golden import load_bundle
    from hls.report import run_hls
    from training.export import export
    from training.train import train

    run = tmp_path / "avg"
    train(run, arch="vgg:4,a,8,a,fc16", T=2, epochs=1, batch_size=32, limit=200, progress=False, device="cpu",
          neuron=neuron)
    rep = export(run, vectors=40)
    assert rep["agreement"] >= 0.9
    assert [layer.pool_op for layer in load_bundle(run / "model").hdlif_layers[:2]] == ["sum", "sum"]
    report = run_hls(run, tmp_path / "hls")
    assert report["vectors"] == 40 and report["mismatches"] == 0
    try:
        steps.rtl(str(run), fold="2x1")
        sim = steps.sim(str(run), n=40, trace=True)
        assert sim["images"] == 40 and sim["mismatches"] == 0
        assert sim["cycles_per_inference"] == sim["estimated_cycles"]
    finally:
        shutil.rmtree(build_dir(str(run)), ignore_errors=True)
