"""NIR through the whole flow: an snnTorch network imported, then bit-exact in Verilator and in
the HLS C simulation; ``make nir`` (a LIF network written as NIR) and its round trip back
through ``make import``; HD-LIF and per-step parameters refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from flow_cli import cli, one_error_line
from test_nir_import import _import, _snntorch_graph, _spikingjelly_graph

nir = pytest.importorskip("nir")


@pytest.fixture(scope="module")
def digits():
    from training.data import load

    return load("digits")


@pytest.fixture(scope="module")
def imported(digits, tmp_path_factory):
    """An snnTorch 64-32-10 Leaky network (reset to zero), exported by snnTorch, imported."""
    d = tmp_path_factory.mktemp("nirflow")
    g = _snntorch_graph(digits, d / "snn.nir", "zero")
    from flow.__main__ import main

    assert main(["import", "--nir", str(g["path"]), "--model", str(d / "run")]) == 0
    return {"run": d / "run", "graph": g}


def test_an_imported_snntorch_network_is_bit_exact_in_verilator_and_hls(imported):
    """snnTorch -> NIR -> integer bundle -> RTL (Verilator) and HLS (C simulation): every score of
    every image, bit for bit, and the agreement with snnTorch's own forward pass >= 99 %."""
    from flow import steps
    from golden import load_bundle

    run = str(imported["run"])
    ev = json.loads((imported["run"] / "eval.json").read_text())
    assert ev["agreement"] >= 0.99, ev
    b = load_bundle(imported["run"] / "model")
    assert [l.neuron for l in b.hdlif_layers] == ["lif", "lif"] and b.readout.mode == "count"
    steps.rtl(run, fold="8x16/2,5x8,5x8")
    r = steps.sim(run, n=60, trace=True)
    assert r["images"] == 60 and r["mismatches"] == 0, r["mismatch_details"][:5]
    h = steps.hls(run, n=30)
    net = h["projects"]["network"]
    assert net["vectors"] == 30 and net["mismatches"] == 0, net["mismatch_details"][:5]


def test_an_imported_spikingjelly_conv_network_is_bit_exact_in_verilator_and_hls(digits, tmp_path):
    """SpikingJelly: conv 3x3 IF neurons -> AvgPool2d (folded into the next synapse) -> fc LIF,
    exported by SpikingJelly, imported, then RTL and HLS bit for bit."""
    pytest.importorskip("spikingjelly")
    from flow import steps
    from flow.__main__ import main
    from golden import load_bundle

    g = _spikingjelly_graph(digits, tmp_path / "sj.nir", conv=True)
    run = tmp_path / "run"
    assert main(["import", "--nir", str(g["path"]), "--model", str(run), "--framework", "spikingjelly"]) == 0
    ev = json.loads((run / "eval.json").read_text())
    assert ev["agreement"] >= 0.99, ev
    b = load_bundle(run / "model")
    stem = b.hdlif_layers[0]
    assert stem.kind == "hdlif_conv" and (stem.lambda_t == 1 << stem.lambda_frac).all()      # IF: no leak
    steps.rtl(str(run), lanes=4)
    r = steps.sim(str(run), n=40, trace=True)
    assert r["images"] == 40 and r["mismatches"] == 0, r["mismatch_details"][:5]
    h = steps.hls(str(run), n=20)["projects"]["network"]
    assert h["vectors"] == 20 and h["mismatches"] == 0, h["mismatch_details"][:5]


def _lif_run(tmp_path, arch: str):
    """A project LIF network (the baseline neuron) trained briefly and exported."""
    from training.export import export
    from training.train import train

    run = tmp_path / "lif"
    train(run, arch=arch, neuron="lif", T=4, epochs=3, batch_size=32, progress=False, device="cpu", seed=0)
    export(run)
    return run


@pytest.mark.parametrize("arch", ["mlp:32", "vgg:4,p"])
def test_make_nir_round_trip_through_make_import(arch, tmp_path, capsys):
    """A LIF run written as NIR (make nir) and read back (make import): the same classes as the
    run's own integer model, and snnTorch, running the graph, agrees with both.  The soft reset
    travels in the node metadata, the 2x2 max pool as SumPool2d + a one-spike IF."""
    from golden import load_bundle, run as golden_run

    lif = _lif_run(tmp_path, arch)
    out = tmp_path / "lif.nir"
    rc, text, err = cli(capsys, "nir", lif, "--out", out)
    assert rc == 0, err
    g = nir.read(out)
    assert g.metadata["producer"] == "hdlif-fpga" and int(g.metadata["T"]) == 4
    kinds = [type(n).__name__ for n in g.nodes.values()]
    assert kinds.count("LIF") == len(load_bundle(lif / "model").hdlif_layers)
    if arch.startswith("vgg"):
        assert "SumPool2d" in kinds and "IF" in kinds
    ev, _ = _import(capsys, out, tmp_path / "back")
    assert ev["agreement"] >= 0.99, ev                  # golden (re-imported) vs snnTorch running the graph
    a, b = load_bundle(lif / "model"), load_bundle(tmp_path / "back" / "model")
    assert [l.reset for l in b.hdlif_layers] == ["subtract"] * len(b.hdlif_layers)
    assert [l.kind for l in b.hdlif_layers] == [l.kind for l in a.hdlif_layers]
    assert [getattr(l, "pool", 1) for l in b.hdlif_layers] == [getattr(l, "pool", 1) for l in a.hdlif_layers]
    from training.data import load

    x = load("digits").x_test
    same = (golden_run(a, x).classes == golden_run(b, x).classes).mean()
    assert same >= 0.98, f"the round trip keeps only {same:.3f} of the classes"


def test_make_nir_refuses_hd_lif_and_per_step_parameters(digits_run, tmp_path, capsys):
    from golden.synthetic import random_bundle
    from nir_io.export import NIRExportError, to_nir

    rc, out, err = cli(capsys, "nir", digits_run["dir"], "--out", tmp_path / "x.nir")
    one_error_line(rc, err, "graded spikes and reset with P2-reset, which have no NIR primitive")
    assert not (tmp_path / "x.nir").exists()
    b = random_bundle(0, spike_bits=1, neuron="lif", step_current=True, layers=(("fc", 8),), input_shape=(16,))
    with pytest.raises(NIRExportError, match="changes with the time step"):
        to_nir(b)
    b = random_bundle(1, spike_bits=1, neuron="lif", per_channel=True, layers=(("fc", 8),), input_shape=(16,), T=3)
    with pytest.raises(NIRExportError, match="lambda_t changes with the time step"):
        to_nir(b)
