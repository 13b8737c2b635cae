"""The run page (make report) and the results page (make results): content, self-containment,
the numbers behind them, and the one-line errors."""

from __future__ import annotations

import base64
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from golden import load_bundle, save_bundle
from golden.executor import run as golden_run
from golden.synthetic import random_bundle, random_images
from golden.vectors import load_vectors, write_vectors
from report import analysis, energy, results_md
from report.html import SECTIONS, write_report

ROOT = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Collects section ids, images, every src / href, and whether an <svg> is present."""

    def __init__(self):
        super().__init__()
        self.sections, self.images, self.links, self.svg = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "svg":
            self.svg += 1
        for key in ("src", "href", "xlink:href", "action", "srcset", "data"):
            if key in a and tag != "img":
                self.links.append((tag, key, a[key]))
        if tag == "link":
            self.links.append((tag, "link", a.get("href", "")))


def _parse(text: str) -> _Page:
    p = _Page()
    p.feed(text)
    return p


@pytest.fixture(scope="module")
def digits_page(digits_run, tmp_path_factory):
    build = tmp_path_factory.mktemp("build") / "digits"
    out = build / "report.html"
    a = write_report(digits_run["dir"], out, build=build, results=tmp_path_factory.mktemp("no_results"), images=200)
    return {"analysis": a, "html": out.read_text(), "path": out, "build": build}


def test_page_has_every_section_and_only_embedded_images(digits_page):
    page = _parse(digits_page["html"])
    assert page.sections == [sid for sid, _ in SECTIONS]
    assert len(page.images) >= 7
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert page.svg >= 1                                          # the network diagram, inline
    for tag, key, value in page.links:                            # nothing outside the page
        assert value.startswith("#"), (tag, key, value)
    lowered = digits_page["html"].lower()
    assert "http://" not in lowered.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in lowered and "file:" not in lowered and "<link" not in lowered
    assert "@import" not in lowered and "url(http" not in lowered


def test_page_numbers_are_the_golden_models(digits_run, digits_page):
    """Accuracy against time step, spike rates and synaptic operations recomputed independently."""
    run = digits_run["dir"]
    a = digits_page["analysis"]
    bundle = load_bundle(run / "model")
    vec = load_vectors(run / "vectors.npz", run / "model")
    n = a["images"]
    assert n == min(200, len(vec["labels"]))
    # the last entry of accuracy against t is the golden model's own accuracy on those images
    assert a["accuracy_vs_t"][-1] == pytest.approx(float((vec["classes"][:n] == vec["labels"][:n]).mean()))
    res = golden_run(bundle, vec["images"][:n], trace=True)
    for t in range(bundle.T):
        pred = res.scores[:, :t + 1].sum(axis=1).argmax(axis=1)
        assert a["accuracy_vs_t"][t] == pytest.approx(float((pred == vec["labels"][:n]).mean()))
    hd = bundle.hdlif_layers
    for layer in hd:
        assert a["spikes"][layer.name]["nonzero_fraction"] == pytest.approx(
            [float((res.codes[layer.name][:, t] != 0).mean()) for t in range(bundle.T)])
    # synaptic operations by brute force: for each image, non-zero input x non-zero weight
    x = np.asarray(vec["images"][:n])
    stem_w = np.asarray(hd[0].weight) != 0
    stem_ops = np.mean([stem_w[:, x[i] != 0].sum() for i in range(n)])
    rows = {r["name"]: r for r in a["ops"]["layers"]}
    assert rows[hd[0].name]["sops"] == pytest.approx(stem_ops)
    ro_w = np.asarray(bundle.readout.weight) != 0
    last = res.codes[hd[-1].name]
    ro_ops = np.mean([sum(ro_w[:, last[i, t] != 0].sum() for t in range(bundle.T)) for i in range(n)])
    assert rows[bundle.readout.name]["sops"] == pytest.approx(ro_ops)
    assert rows[bundle.readout.name]["dense_macs"] == bundle.T * ro_w.size
    # the energy model prices exactly those counts, at Horowitz's 45 nm figures written out here:
    # a ternary / binary synaptic operation is a 32-bit add (0.1 pJ), an 8-bit one adds an 8-bit
    # multiply (0.3 pJ); a neuron update 6.6 pJ (Parallel: 3.4), a readout class and step 3.2 pJ;
    # the float convention 4.6 pJ per dense MAC of the stem and 0.9 pJ per later SOP
    assert len(hd) == 1, "this count covers a stem and a readout"
    sop_pj = {"ternary": 0.1, "binary": 0.1, "int8": 0.3}
    e = a["energy"]
    assert e["integer_synapse_pj"] == pytest.approx(stem_ops * sop_pj[hd[0].weights]
                                                    + ro_ops * sop_pj[bundle.readout.weights])
    assert e["integer_neuron_pj"] == pytest.approx(
        bundle.T * hd[0].out_features * {"vanilla": 6.6, "parallel": 3.4}[hd[0].neuron]
        + bundle.T * bundle.classes * 3.2)
    assert e["float_mac_pj"] == pytest.approx(stem_w.size * 4.6)
    assert e["float_ac_pj"] == pytest.approx(ro_ops * 0.9)


def test_accuracy_vs_t_and_energy_on_hand_counted_examples():
    # two images, T = 3, two classes; the class at t is the argmax of the scores summed over 0..t
    scores = np.array([[[1, 0], [0, 3], [0, 0]],      # image 0: class 0, then 1 (1 < 3), then 1
                       [[0, 2], [5, 0], [0, 0]]])     # image 1: class 1, then 0 (5 > 2), then 0
    assert analysis.accuracy_vs_t(scores, np.array([1, 0])) == [0.0, 1.0, 1.0]
    assert analysis.accuracy_vs_t(scores, np.array([0, 1])) == [1.0, 0.0, 0.0]
    assert analysis.accuracy_vs_t(scores, np.array([1, 1])) == [0.5, 0.5, 0.5]
    # an 8-bit stem (10 SOPs, 20 dense MACs, 2 vanilla neuron updates), a ternary Parallel layer
    # (4 SOPs, 3 updates) and a ternary readout (5 SOPs, 2 class-steps)
    e = energy.estimate([
        {"weights": "int8", "sops": 10, "dense_macs": 20, "stem": True, "neuron": "vanilla", "neuron_updates": 2},
        {"weights": "ternary", "sops": 4, "dense_macs": 8, "stem": False, "neuron": "parallel", "neuron_updates": 3},
        {"weights": "ternary", "sops": 5, "dense_macs": 9, "stem": False, "neuron": None, "neuron_updates": 2}])
    assert e["integer_synapse_pj"] == pytest.approx(10 * 0.3 + 4 * 0.1 + 5 * 0.1)             # 3.9
    assert e["integer_neuron_pj"] == pytest.approx(2 * 6.6 + 3 * 3.4 + 2 * 3.2)               # 29.8
    assert e["integer_pj"] == pytest.approx(33.7)
    assert e["float_mac_pj"] == pytest.approx(20 * 4.6) and e["float_ac_pj"] == pytest.approx(9 * 0.9)
    assert e["float_convention_pj"] == pytest.approx(100.1)
    with pytest.raises(ValueError, match="weight kind must be one of"):
        energy.estimate([{"weights": "int4", "sops": 1, "dense_macs": 1, "neuron": None, "neuron_updates": 1}])


def test_page_reports_what_was_verified_and_nothing_else(digits_run, digits_page, tmp_path):
    v = digits_page["analysis"]["verification"]
    assert "rtl" not in v and "rtl_benchmark" not in v and "hls" not in v     # nothing ran: nothing claimed
    assert digits_page["html"].count("not run") >= 4
    assert v["float_vs_golden"]["agreement"] == pytest.approx(digits_run["export"]["agreement"])
    # a simulation report of this bundle shows up with its image and mismatch counts
    build = tmp_path / "digits"
    (build / "sim").mkdir(parents=True)
    (build / "rtl").mkdir()
    from golden.bundle import bundle_hash

    sha = bundle_hash(digits_run["dir"] / "model")
    (build / "rtl" / "rtl.json").write_text(json.dumps({"bundle_sha256": sha}))
    (build / "sim" / "sim.json").write_text(json.dumps({"images": 7, "mismatches": 2, "rtl_accuracy": 0.5,
                                                        "mismatch_details": ["image 3 layer fc1 step 0 neuron 5"]}))
    out = tmp_path / "r.html"
    a = write_report(digits_run["dir"], out, build=build, results=tmp_path, images=50)
    assert a["verification"]["rtl"]["mismatches"] == 2 and not a["verification"]["rtl"]["stale"]
    text = out.read_text()
    assert "2 mismatches in 7 images" in text and "image 3 layer fc1 step 0 neuron 5" in text
    # and a simulation of an older bundle is marked stale, not counted as a pass
    (build / "rtl" / "rtl.json").write_text(json.dumps({"bundle_sha256": "0" * 64}))
    a = write_report(digits_run["dir"], out, build=build, results=tmp_path, images=50)
    assert a["verification"]["rtl"]["stale"]


def test_hardware_section_follows_the_built_folding(digits_run, tmp_path):
    """Cycles and resources per block come from the generator for the folding the RTL was built with."""
    from golden.bundle import bundle_hash

    bundle = load_bundle(digits_run["dir"] / "model")
    sha = bundle_hash(digits_run["dir"] / "model")
    (tmp_path / "rtl").mkdir()
    folding = {bundle.layers[0].name: "8x8/2", bundle.readout.name: "2x4"}
    (tmp_path / "rtl" / "rtl.json").write_text(json.dumps({"bundle_sha256": sha, "folding": folding}))
    default = analysis.analyse(digits_run["dir"], build=tmp_path / "none", results=tmp_path, images=20)["hardware"]
    a = analysis.analyse(digits_run["dir"], build=tmp_path, results=tmp_path, images=20)
    hw = a["hardware"]
    assert hw["folding"] == folding and "rtl.json" in hw["source"]
    assert "default folding" in default["source"]
    # counted by hand from the folding: 8 x 8 + 2 x 4 MAC lanes; the dense fc work is the stem's
    # 64 x 128 MACs once per image and the readout's 128 x 10 at each of the T steps
    assert (bundle.layers[0].in_features, bundle.layers[0].out_features, bundle.classes) == (64, 128, 10)
    assert hw["mac_lanes"] == 8 * 8 + 2 * 4
    assert hw["mac_ops"] <= 64 * 128 + bundle.T * 128 * 10          # fewer with all-zero weight blocks skipped
    assert hw["ideal_cycles"] == -(-hw["mac_ops"] // hw["mac_lanes"])
    # the estimate is the built folding's, not the default one's
    assert default["mac_lanes"] != hw["mac_lanes"]
    assert (hw["cycles_per_inference"], hw["latency_cycles"]) != (default["cycles_per_inference"],
                                                                  default["latency_cycles"])
    assert hw["cycles_per_inference"] >= hw["ideal_cycles"]
    assert sum(p["luts"] for p in hw["resources_per_block"].values()) <= hw["resources"]["luts"]


def test_synthetic_conv_network_page(tmp_path):
    """A conv network with pooling: every section, conv zero maps, conv synaptic operations."""
    b = random_bundle(3, input_shape=(1, 8, 8), input_max=15, T=3,
                      layers=(("conv", 4, 3, 1, 1, 2), ("conv", 6, 3, 1, 1, 1), ("fc", 12)), name="conv_synth")
    run = tmp_path / "conv_synth"
    save_bundle(b, run / "model")
    b = load_bundle(run / "model")
    images = random_images(b, 16, seed=2)
    labels = np.arange(16) % b.classes
    write_vectors(b, run / "model", images, labels, run / "vectors.npz")
    out = tmp_path / "page.html"
    a = write_report(run, out, build=tmp_path / "build", results=tmp_path, images=16)
    page = _parse(out.read_text())
    assert page.sections == [sid for sid, _ in SECTIONS]
    assert all(s.startswith("data:image/png;base64,") for s in page.images)
    assert a["training"] is None and "no <code>metrics.json</code>" in out.read_text()
    # the second conv layer reads the first's pooled codes: count by brute force on image 0
    res = golden_run(b, images, trace=True)
    conv2 = b.layers[1]
    wnz = np.asarray(conv2.weight) != 0
    C, H, W = conv2.in_shape
    total = 0
    for t in range(b.T):
        x = np.pad(res.codes[b.layers[0].name][:, t].reshape(16, C, H, W) != 0, ((0, 0), (0, 0), (1, 1), (1, 1)))
        for y in range(H):
            for xx in range(W):
                total += (x[:, None, :, y:y + 3, xx:xx + 3] & wnz[None]).sum()
    rows = {r["name"]: r for r in a["ops"]["layers"]}
    assert rows[conv2.name]["sops"] == pytest.approx(total / 16)
    assert rows[conv2.name]["dense_macs"] == b.T * sum(
        6 * C * (min(y + 2, H) - max(y - 1, 0)) * (min(xx + 2, W) - max(xx - 1, 0))
        for y in range(H) for xx in range(W))


def test_bad_model_is_one_line_naming_it(tmp_path, capsys):
    from flow.__main__ import main

    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "nope") in err and err.startswith("error:")
    # a run folder without a bundle, and one whose vectors belong to another bundle
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.json" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


def test_stale_vectors_are_refused_and_nothing_is_written(digits_run, tmp_path, capsys):
    from flow.__main__ import main

    run = tmp_path / "copy"
    shutil.copytree(digits_run["dir"] / "model", run / "model")
    b = random_bundle(1, input_shape=(64,), input_max=16, T=4, layers=(("fc", 16),), name="other")
    save_bundle(b, tmp_path / "other")
    write_vectors(load_bundle(tmp_path / "other"), tmp_path / "other", random_images(b, 4, seed=0),
                  np.zeros(4, np.int64), run / "vectors.npz")
    out = tmp_path / "page" / "r.html"
    assert main(["report", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "vectors.npz" in err and "different model" in err
    assert not out.exists() and not list(tmp_path.glob("page/.*"))


def test_results_page_from_nothing_marks_absent_results(tmp_path):
    """docs/results.md from an empty results folder: every section, 'not measured yet', no numbers made up."""
    docs = tmp_path / "docs"
    md = results_md.build(results=tmp_path / "results", models=tmp_path / "models", out=docs / "results.md",
                          images=10, build=tmp_path / "build")
    text = (docs / "results.md").read_text()
    for title in results_md.SECTION_TITLES:
        assert f"## {title}" in text
    assert text.count("not measured yet") >= 5
    for fig in md["figures"]:
        assert (docs / fig).is_file() and (docs / fig).read_bytes().startswith(PNG_MAGIC)
        assert f"]({fig})" in text
    assert "Spiker+" in text and "arxiv.org" in text                       # the field, with its sources


def test_results_page_tables_come_from_the_json(tmp_path, digits_run):
    results = tmp_path / "results"
    results.mkdir()
    (results / "golden.json").write_text(json.dumps({
        "netA": {"dataset": "digits", "images": 360, "float_accuracy": 0.9612, "golden_accuracy": 0.9587,
                 "agreement": 0.99}, "command": "python -m bench.golden"}))
    (results / "boards.json").write_text(json.dumps({"networks": {"netA": {"boards": {
        "ulx3s": {"device": "LFE5U-85F", "luts": 3125, "ffs": 1860, "brams": 6, "dsps": 3, "fmax_mhz": 98.1,
                  "target_mhz": 96.875, "cycles_per_inference": 1412},
        "icebreaker": {"error": "does not fit: 140 % of the EBRs"}}}}, "command": "python -m bench.boards"}))
    models = tmp_path / "models"
    shutil.copytree(digits_run["dir"], models / "netA")
    docs = tmp_path / "docs"
    results_md.build(results=results, models=models, out=docs / "results.md", images=20, build=tmp_path / "b")
    text = (docs / "results.md").read_text()
    assert "96.12 %" in text and "95.87 %" in text
    assert "3,125" in text and "98.1" in text and "68,608" in text       # 96.875 MHz / 1412 cycles
    assert "does not fit: 140 % of the EBRs" in text


def test_bench_all_lists_every_benchmark_and_ends_with_the_results_page(capsys):
    from bench.all import STEPS, main

    names = [n for n, _ in STEPS]
    for step in ("golden", "training:memory", "training:epoch_time", "training:fashion_mnist",
                 "training:fashion_mnist_flip", "training:fashion_mnist_aug", "training:digits",
                 "hls:fc_784_128_10", "accelerator:fc_784_128_10", "accelerator:conv_fmnist",
                 "boards:digits_hdlif_online:icebreaker", "deployment"):
        assert step in names
    assert any(n.startswith("screenshot:") for n in names) and names[-1] == "results"
    assert main(["--list", "--only", "training"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 6 and all("python -m bench.training" in line for line in listed)
    with pytest.raises(SystemExit, match="unknown step"):
        main(["--only", "nope"])


def test_results_page_bad_json_is_one_line_and_leaves_the_old_page(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    out = tmp_path / "docs" / "results.md"
    out.parent.mkdir()
    out.write_text("old page\n")
    (results / "golden.json").write_text("{not json")
    assert results_md.main(["--results", str(results), "--models", str(tmp_path / "m"), "--out", str(out),
                            "--build", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "golden.json" in err and "not readable JSON" in err
    assert out.read_text() == "old page\n" and not (tmp_path / "docs" / "results").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["results.md"]


def test_hardware_section_takes_the_generated_rtls_own_estimate(digits_run, tmp_path, monkeypatch):
    """With build/<run>/rtl from `flow rtl` (any stem), the page shows that build's estimate as written."""
    from flow import steps

    monkeypatch.setattr(steps, "build_dir", lambda model: tmp_path / "build")
    steps.rtl(str(digits_run["dir"]), fold="8x4/2,2x2", stem="recompute")
    # mark the build's figures: the page must show these, not figures it computes again
    path = tmp_path / "build" / "rtl" / "rtl.json"
    rtl = json.loads(path.read_text())
    rtl["estimate"].update(cycles_per_inference=4321, latency_cycles=8765)
    first = next(iter(rtl["resources"]["parts"]))
    rtl["resources"]["parts"][first]["luts"] = 99999
    path.write_text(json.dumps(rtl))
    a = analysis.analyse(digits_run["dir"], build=tmp_path / "build", results=tmp_path, images=10)
    hw = a["hardware"]
    assert "generated RTL" in hw["source"]
    assert (hw["cycles_per_inference"], hw["latency_cycles"]) == (4321, 8765)
    assert hw["resources_per_block"][first]["luts"] == 99999
    assert [l["folding"] for l in hw["layers"]] == ["8x4/2", "2x2"]


def test_training_runs_are_compared_within_their_augmentation(tmp_path):
    """Plain, flip-only and cropped Fashion-MNIST runs land in three groups (three table blocks),
    never overwriting one another; two runs of one name in one group are an error naming both."""
    models = tmp_path / "models"

    def run(folder, **kw):
        d = models / folder
        d.mkdir(parents=True)
        m = {"dataset": "fashion_mnist", "arch": "vgg:8,p", "neuron": "hdlif", "mode": "online", "T": 4,
             "augment": False, "epochs": [{"epoch": 1, "test_accuracy": 0.5}], "test_accuracy": 0.5, **kw}
        (d / "metrics.json").write_text(json.dumps(m))

    run("hdlif_online", test_accuracy=0.9246)
    run("flip/hdlif_online", augment=True, crop_pad=0, test_accuracy=0.9301)
    run("flip/lif_online", augment=True, crop_pad=0, neuron="lif", test_accuracy=0.9123)
    run("aug/hdlif_online", augment=True, test_accuracy=0.9149)
    runs = results_md.training_runs(models)
    assert {g: sorted(r) for g, r in runs.items()} == {"fashion_mnist": ["hdlif_online"],
                                                       "fashion_mnist+flip": ["hdlif_online", "lif_online"],
                                                       "fashion_mnist+crop": ["hdlif_online"]}
    assert results_md.group_title("digits+crop") == "digits (8x8), crop ±1 px"
    assert runs["fashion_mnist+flip"]["hdlif_online"]["test_accuracy"] == 0.9301
    assert results_md.group_title("fashion_mnist+flip") == "Fashion-MNIST, flips"
    assert results_md.group_title("fashion_mnist+crop") == "Fashion-MNIST, crop ±4 px + flips"
    assert results_md.group_title("digits+crop1") == "digits (8x8), crop ±1 px"
    docs = tmp_path / "docs"
    results_md.build(results=tmp_path / "results", models=models, out=docs / "results.md", images=10,
                     build=tmp_path / "b")
    text = (docs / "results.md").read_text()
    assert "- Training, Fashion-MNIST, flips: HD-LIF, online 93.01 %; LIF, online 91.23 %." in text
    assert "| Fashion-MNIST | hdlif_online |" in text and "| Fashion-MNIST, flips | lif_online |" in text
    run("again/hdlif_online", augment=True, crop_pad=0)
    with pytest.raises(ValueError, match=r"flip/hdlif_online/metrics.json: a second hdlif_online run of "
                                         r"fashion_mnist\+flip \(the first: .*again/hdlif_online\)"):
        results_md.training_runs(models)
