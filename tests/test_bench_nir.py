"""The NIR benchmark (``bench/nir_spiker.py``) and its rows of ``docs/results.md``: the committed
run folder is the imported graph, each recorded command is the ``make bench`` step that makes it,
the folding fits the bundle, an interrupted training continues to the same network, and the
page says a measurement is missing rather than showing one it does not have."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bench import all as bench_all

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "bench" / "models" / "nir_spiker"
RESULTS = ROOT / "bench" / "results"


def _steps() -> dict[str, str]:
    return {n: bench_all.shown(c) for n, c in bench_all.STEPS}


def test_nir_steps_are_the_recorded_commands():
    from bench import nir_spiker

    steps = _steps()
    assert steps["nir:spiker"] == "python -m bench.nir_spiker"
    assert steps["accelerator:nir_spiker"] == nir_spiker.shown(nir_spiker.ACCELERATOR)
    names = list(steps)
    assert names.index("nir:spiker") < names.index("accelerator:nir_spiker")
    nir = json.loads((RESULTS / "nir.json").read_text())["nir_spiker"]
    assert nir["command"] == steps["nir:spiker"]
    acc = json.loads((RESULTS / "accelerator.json").read_text())["networks"]
    assert acc["nir_spiker"]["command"] == steps["accelerator:nir_spiker"]
    if nir.get("rtl"):
        assert nir["rtl"]["rtl_command"] == steps["accelerator:nir_spiker"]
        for k in ("rtl_accuracy", "mismatches", "cycles_per_inference", "luts", "fmax_mhz"):
            assert nir["rtl"][k] == acc["nir_spiker"][k], k
    # the LIF vs HD-LIF builds: each recorded entry is exactly its step
    for key in bench_all.VGG_ACCELERATOR:
        if key in acc:
            assert acc[key]["command"] == steps[f"accelerator:{key}"], key


def test_committed_run_is_the_imported_graph():
    from golden import load_bundle, load_vectors
    from golden.bundle import bundle_hash

    settings = json.loads((RUN / "import.json").read_text())
    ev = json.loads((RUN / "eval.json").read_text())
    nir = json.loads((RESULTS / "nir.json").read_text())["nir_spiker"]
    assert hashlib.sha256((RUN / "graph.nir").read_bytes()).hexdigest() == settings["source_sha256"] \
        == nir["graph_sha256"]
    assert settings["framework"] == "snntorch" and settings["weights"] == "int8" and settings["T"] == 4
    assert settings["dataset"] == "fashion_mnist" and settings["reset"] == "value"
    assert ev["images"] == nir["test_images"] == 10000
    for k in ("golden_accuracy", "agreement", "float_model_agreement"):
        assert ev[k] == nir[k], k
    assert ev["framework_accuracy"] == nir["snntorch_accuracy_of_the_graph"]
    assert abs(nir["snntorch_accuracy"] - ev["framework_accuracy"]) <= 1e-4       # the graph is the network
    assert bundle_hash(RUN / "model") == ev["bundle_sha256"] == nir["bundle_sha256"]
    b = load_bundle(RUN / "model")
    assert b.spike_bits == 1 and b.T == 4 and b.readout.mode == "count"
    assert [(l.name, l.out_features) for l in b.layers] == [("fc1", 128), ("fc2", 10), ("fc3", 10)]
    vec = load_vectors(RUN / "vectors.npz", RUN / "model")
    assert len(vec["labels"]) == 1000


def test_the_folding_is_fc_784_128_10s_plus_the_count_readout():
    from bench import nir_spiker
    from bench.accelerator import DEFAULT_FOLDING
    from golden import load_bundle
    from rtl_gen.folding import from_bundle

    ref = DEFAULT_FOLDING["fc_784_128_10"].split(",")
    ours = nir_spiker.FOLDING.split(",")
    assert ours[:len(ref)] == ref and len(ours) == len(ref) + 1
    cfg = from_bundle(load_bundle(RUN / "model"), folding=ours)
    assert cfg.foldings == {"fc1": "32x4/2", "fc2": "10x2", "fc3": "10x2"}
    with pytest.raises(ValueError, match="one entry per synaptic layer"):
        from_bundle(load_bundle(RUN / "model"), folding=ref)


def _split(n_train: int = 256, n_test: int = 64):
    rng = np.random.default_rng(0)
    return SimpleNamespace(x_train=rng.integers(0, 256, (n_train, 784), dtype=np.uint8),
                           y_train=rng.integers(0, 10, n_train), x_test=rng.integers(0, 256, (n_test, 784), dtype=np.uint8),
                           y_test=rng.integers(0, 10, n_test))


def test_an_interrupted_training_continues_to_the_same_network(tmp_path, monkeypatch):
    pytest.importorskip("snntorch")
    torch = pytest.importorskip("torch")
    from bench import nir_spiker

    split = _split()
    settings = {"epochs": 3, "batch": 64, "lr": 2e-3, "seed": 0}

    def trained(folder: Path, stop_after: int | None = None):
        monkeypatch.setattr(nir_spiker, "WORK", folder)
        done = []

        def say(line):
            if "epoch" in line:
                done.append(line)
                if stop_after is not None and len(done) == stop_after:
                    raise KeyboardInterrupt
        try:
            net, rec = nir_spiker.train(split, dict(settings), force=False, say=say)
        except KeyboardInterrupt:
            return None, None
        return net, rec

    straight, rec = trained(tmp_path / "a")
    assert trained(tmp_path / "b", stop_after=2) == (None, None)     # two epochs, then interrupted
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2
    resumed, rec2 = trained(tmp_path / "b")
    for (k, v), (k2, v2) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    assert [h["loss"] for h in rec["history"]] == [h["loss"] for h in rec2["history"]]
    # other settings than the checkpoint's are refused
    monkeypatch.setattr(nir_spiker, "WORK", tmp_path / "b")
    with pytest.raises(SystemExit, match="other settings"):
        nir_spiker.train(split, dict(settings, lr=1e-3), force=False, say=lambda s: None)


def test_the_page_says_a_missing_measurement_is_missing(tmp_path):
    from report import results_md

    results = tmp_path / "results"
    results.mkdir()
    acc = json.loads((RESULTS / "accelerator.json").read_text())
    keep = {k: v for k, v in acc["networks"].items() if k not in dict(results_md.LIF_VS_HDLIF)}
    (results / "accelerator.json").write_text(json.dumps({"networks": keep}))
    out = tmp_path / "docs" / "results.md"
    results_md.build(results=results, models=tmp_path / "models", out=out, images=10)
    text = out.read_text()
    vs = text.split("## LIF vs HD-LIF on hardware")[1].split("\n## ")[0]
    assert "**Measurement missing**" in vs and "`accelerator:fmnist_vgg_hdlif`" in vs and "`accelerator:fmnist_vgg_lif`" in vs
    assert "| cycles per inference (Verilator) | not measured yet | not measured yet |" in vs
    nir = text.split("## NIR: a snnTorch network on the FPGA")[1].split("\n## ")[0]
    assert "not measured yet" in nir and "`python -m bench.nir_spiker`" in nir
