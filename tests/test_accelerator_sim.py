"""Generated accelerators in Verilator under cocotb, bit-exact against the golden vectors.

The digits model's whole test split; random networks (golden.synthetic) that exercise every
block: conv with stride, padding and 2 x 2 max pooling, fc layers, an 8-bit stem and
classifier, binary weights, per-channel and per-step parameters (the stem then caches sums,
not currents), Parallel HD-LIF neurons, several neuron lanes, serializer stalls, a stem
that reads the pixels while they arrive, a stem that recomputes at every step, fc layers that
skip zero input words; under random idle and backpressure, with a reset in
the middle of an inference; and the corners where the generator once went wrong (issue 16).
At full rate the measured cycles per inference and latency equal the estimate
(:func:`rtl_gen.estimate.cycles` replaying the same images; a cycle or two, or 1 %).
"""

from __future__ import annotations

import numpy as np
import pytest

from golden import load_bundle, save_bundle
from golden.synthetic import random_bundle, random_images
from golden.vectors import load_vectors, write_vectors
from rtl_gen.folding import code_activity, from_bundle, input_activity
from rtl_gen.emit import emit
from rtl_gen.estimate import cycles, item_events
from rtl_gen.folding import parse_folding
from sim.accelerator_tb import simulate
from sim.fuzz import exact, sparse_images

FAST_BUILD = "-O0"      # these runs are short: compile time dominates


def _build(cfg, out):
    d = emit(cfg, out)
    return {"verilog": out / "hdlif_accel.v", "manifest": out / "interface.json", "estimate": d["estimate"],
            "config": cfg, "dir": out, "trace": d["trace"]}


def _sim(accel, vectors, name, **kw):
    return simulate(accel["verilog"], "hdlif_accel", vectors, accel["dir"] / name, manifest=accel["manifest"],
                    build_dir=accel["dir"] / "verilator", cxx_opt=FAST_BUILD,
                    pixel_lanes=accel["config"].pixel_lanes, **kw)


def _exact(report, cfg, events=None):
    """Measured cycles per inference (the mean interval between labels) and latency equal the
    estimate of the same number of images."""
    est = cycles(cfg, images=report["images"], events=events)
    assert exact(report["cycles_per_inference"], est["mean_interval"]), (report, est)
    assert exact(report["latency_cycles"], est["latency_cycles"]), (report, est)


@pytest.fixture(scope="module")
def accel(digits_run, tmp_path_factory):
    cfg = from_bundle(load_bundle(digits_run["dir"] / "model"), lanes=16)
    return _build(cfg, tmp_path_factory.mktemp("rtl"))


def test_whole_digits_test_split_bit_exact(digits_run, accel):
    vectors = digits_run["dir"] / "vectors.npz"
    vec = load_vectors(vectors, digits_run["dir"] / "model")
    r = _sim(accel, vectors, "full")
    assert r["images"] == len(vec["images"]) == 360
    assert r["mismatches"] == 0, r["mismatch_details"][:5]
    assert r["rtl_accuracy"] == pytest.approx(float((vec["classes"] == vec["labels"]).mean()))
    # Full rate: cycles per inference and latency equal the estimate.
    _exact(r, accel["config"])
    assert exact(r["cycles_per_inference"], accel["estimate"]["cycles_per_inference"])   # steady state


def test_backpressure_and_reset_midway(digits_run, accel):
    vectors = digits_run["dir"] / "vectors.npz"
    # the reset hits the first inference while its scores are coming out: three quarters of the
    # estimated latency after its first pixel (the last pixel goes in `features` clocks after it)
    cfg = accel["config"]
    latency = cycles(cfg)["latency_cycles"]
    r = _sim(accel, vectors, "busy", n=40, seed=7, backpressure=True, reset_midway=True,
             reset_after=latency * 3 // 4 - cfg.features)
    assert r["images"] == 40 and r["mismatches"] == 0, r["mismatch_details"][:5]
    # it hit an inference in flight: pixels in, some of its scores out, its label not yet out
    f = r["reset_in_flight"]
    T, C = cfg.T, cfg.readout.classes
    assert 0 < f["clocks_after_first_pixel"] < latency and 0 < f["score_beats"] < T * C and not f["label"], f


def test_a_wrong_model_is_caught(digits_run, accel, tmp_path):
    """The checker can fail: vectors whose expected scores are off by one are reported with
    the image, layer, time step and neuron."""
    vec = dict(np.load(digits_run["dir"] / "vectors.npz"))
    vec["scores"] = vec["scores"].copy()
    vec["scores"][3, 2, 5] += 1
    bad = tmp_path / "bad.npz"
    np.savez(bad, **vec)
    report = _sim(accel, bad, "bad", n=5)
    assert report["mismatches"] == 1
    assert report["mismatch_details"][0].startswith("image 3, layer readout, time step 2, neuron 5")


# ---------------------------------------------------------------------------------------------
# Random networks

RANDOM_NETS = {  # name -> the network (golden.synthetic.random_bundle) and how it is built
    # conv (2 input channels: stride 2, padding 1) -> conv (pad 0, pool 2) -> readout; 8-bit stem and
    # classifier, binary middle, [T, O] leaks / thresholds and mult / bias, Parallel neurons second
    "conv": dict(net=dict(input_shape=(2, 9, 7), input_max=200, layers=(("conv", 4, 3, 2, 1, 1), ("conv", 8, 3, 1, 0, 2)),
                          weights="binary", stem_weights="int8", readout_weights="int8", per_channel=True,
                          step_current=True, neuron="mixed", T=3),
                 folding=["4x1/2", "8x4/2", "2x8"]),
    # fc stem reading the pixels as they arrive (one fold of 16 outputs, drained 16 clocks per fold
    # by one neuron lane: the window stalls), per-channel parameters; the later fc layers skip
    # their zero input words (event lists), the estimate using the vectors' activity
    "fc": dict(net=dict(input_shape=(64,), input_max=15, layers=(("fc", 16), ("fc", 12)), classes=5, T=2,
                        per_channel=True),
               folding=["16x8", "4x4/2", "5x4"], skip_zero_spikes=True),
    # a stem that recomputes from the held pixel frame at every step (no cache), pooled, 8-bit,
    # its lanes (and the 8-bit classifier's) multiplying in DSP blocks (int8_lanes="dsp")
    "recompute": dict(net=dict(input_shape=(1, 8, 8), input_max=255, layers=(("conv", 4, 3, 1, 1, 2), ("fc", 8)),
                               stem_weights="int8", readout_weights="int8", classes=4, T=3),
                      folding=["4x1/2", "4x8/2", "2x8"], stem="recompute", int8_lanes="dsp"),
    # LIF / IF neurons (binary spikes, resets to a value or by subtraction, per-channel leaks and
    # thresholds) and the spike-count readout: the last layer has one neuron per class
    "lif": dict(net=dict(input_shape=(1, 8, 8), input_max=16, layers=(("conv", 4, 3, 1, 1, 2), ("fc", 12), ("fc", 10)),
                         spike_bits=1, neuron="lif", readout="count", per_channel=True, T=4),
                folding=["2x1/2", "4x16/2", "5x4", "5x16"]),
    # event-driven conv layers (rtl_gen.event_conv), 3 x 3 pooled and 2 x 2 unpadded, after a conv
    # stem: every non-zero code scattered, partial sums in the banks' ring; the estimate replays
    # each item's non-zero codes per pixel
    "event": dict(net=dict(input_shape=(1, 10, 9), input_max=255, classes=4, T=3, per_channel=True,
                           layers=(("conv", 4, 3, 1, 1, 1), ("conv", 6, 3, 1, 1, 2), ("conv", 8, 2, 1, 0, 1))),
                  folding=["4x1/2", "6x4/2e", "8x8/4e", "2x8"]),
    # the same engines with their adders in hand-placed ECP5 carry cells (rtl_gen.carry: the
    # lanes' terms and the row choice in the cells' LUTs; the 8-bit stem's and classifier's
    # first partial-product adders), simulated as the cells' model; binary weights, a 2 x 2
    # kernel padded, then 3 x 3 pooled
    "event_cells": dict(net=dict(input_shape=(1, 9, 8), input_max=255, classes=3, T=2, weights="binary",
                                 stem_weights="int8", readout_weights="int8",
                                 layers=(("conv", 4, 3, 1, 1, 1), ("conv", 4, 2, 1, 1, 1), ("conv", 8, 3, 1, 1, 2))),
                        folding=["4x1/2", "2x4/2e", "8x4/2e", "3x8"], carry_cells="ecp5"),
}


@pytest.fixture(scope="module", params=sorted(RANDOM_NETS))
def random_net(request, tmp_path_factory):
    spec = RANDOM_NETS[request.param]
    out = tmp_path_factory.mktemp(f"random_{request.param}")
    b = random_bundle(11, **spec["net"])
    save_bundle(b, out / "model")
    b = load_bundle(out / "model")
    images = random_images(b, 12, seed=3)          # includes an all-zero and an all-max image
    write_vectors(b, out / "model", images, np.zeros(len(images), np.int64), out / "vectors.npz")
    skip = spec.get("skip_zero_spikes", False)
    event = any(f.endswith("e") for f in spec["folding"])
    act = input_activity(b, parse_folding(b, spec["folding"]), load_vectors(out / "vectors.npz")) if skip else None
    if event:
        act = code_activity(b, load_vectors(out / "vectors.npz"))
    cfg = from_bundle(b, folding=spec["folding"], stem=spec.get("stem", "cache"), skip_zero_spikes=skip, activity=act,
                      carry_cells=spec.get("carry_cells"), int8_lanes=spec.get("int8_lanes", "logic"))
    events = item_events(cfg, load_vectors(out / "vectors.npz")) if (skip or event) else None
    return {"name": request.param, "vectors": out / "vectors.npz", "accel": _build(cfg, out / "rtl"), "events": events}


def test_random_network_bit_exact_at_full_rate_and_the_estimate_exact(random_net):
    """Every layer's codes (watched at the buffers between layers, slot by slot) and the
    scores, bit for bit; the cycles as estimated (zero skipping: each item's own count)."""
    accel = random_net["accel"]
    r = _sim(accel, random_net["vectors"], "full", trace=accel["trace"])
    assert r["images"] == 12 and r["mismatches"] == 0, r["mismatch_details"][:5]
    assert r["layers_checked"] == [layer.name for layer in accel["config"].layers]
    _exact(r, accel["config"], random_net["events"])


def test_a_wrong_layer_code_is_named(random_net, tmp_path):
    """A layer's expected code off by one is reported with its image, layer, time step and neuron."""
    vec = dict(np.load(random_net["vectors"]))
    name = random_net["accel"]["config"].layers[0].name
    key = f"codes.{name}"
    vec[key] = vec[key].copy()
    vec[key][2, 1, 7] = (int(vec[key][2, 1, 7]) + 1) % 16
    bad = tmp_path / "bad.npz"
    np.savez(bad, **vec)
    r = _sim(random_net["accel"], bad, "badlayer", n=4, trace=random_net["accel"]["trace"])
    assert r["mismatches"] == 1
    assert r["mismatch_details"][0].startswith(f"image 2, layer {name}, time step 1, neuron 7")


def test_random_network_under_backpressure_and_reset(random_net):
    """A reset halfway through the first inference (by the estimate's latency), then every image
    bit-exact under random idle and backpressure."""
    half = cycles(random_net["accel"]["config"])["latency_cycles"] // 2
    r = _sim(random_net["accel"], random_net["vectors"], "busy", seed=5, backpressure=True, reset_midway=True,
             reset_after=half)
    assert r["images"] == 12 and r["mismatches"] == 0, r["mismatch_details"][:5]
    assert not r["reset_in_flight"]["label"], r["reset_in_flight"]


@pytest.mark.parametrize("random_net", ["fc"], indirect=True)    # one network is enough
def test_waves_and_coverage(random_net):
    """WAVES: an FST waveform; COVERAGE: Verilator line / branch coverage, annotated and summarised."""
    r = _sim(random_net["accel"], random_net["vectors"], "wavecov", n=2, waves=True, coverage=True)
    assert r["mismatches"] == 0
    fst = r["waves"]
    head = open(fst, "rb").read(9)
    assert head[0] == 0 and len(head) == 9                       # an FST header block
    cov = r["coverage"]
    assert cov["points"] > 100 and 0 < cov["covered"] <= cov["points"]
    annotated = (random_net["accel"]["dir"] / "wavecov" / "coverage" / "hdlif_accel.v").read_text()
    assert "%000000" in annotated or cov["covered"] == cov["points"]


# ---------------------------------------------------------------------------------------------
# The corners where the generator once went wrong (issue 16), each at full rate, where the
# items follow each other closest, and after long idle gaps, where the pipeline drains

CORNERS = {
    # Parallel HD-LIF fc layers whose folds are one beat long and drained over pe / nl groups:
    # the next item's first codes followed the last ones in the very next clock, into the slot
    # the writer's tracker still named (the writers now own their slot)
    "parallel_one_beat_folds": dict(
        net=dict(input_shape=(1, 4, 4), input_max=15, layers=(("fc", 32), ("fc", 20), ("fc", 11), ("fc", 5)),
                 classes=7, T=8, neuron="parallel"),
        folding=["32x16/8", "10x32/2", "11x32", "5x16", "7x8"]),
    # an fc stem of one-beat folds drained over 16 groups: the stem's cache writes likewise
    "stem_one_beat_folds": dict(net=dict(input_shape=(16,), input_max=15, layers=(("fc", 32), ("fc", 8)),
                                         classes=4, T=2), folding=["16x16", "8x8", "4x8"]),
    # a vanilla stem with one membrane word per lane, caching sums (per-step requant): its next
    # step started while the previous one was still in the requantizer
    "stem_one_word_per_lane": dict(net=dict(input_shape=(16,), input_max=15, layers=(("fc", 32), ("fc", 32)),
                                            classes=4, T=3, step_current=True),
                                   folding=["32x16/32", "8x32", "4x8"]),
    # one and two classes: a 1-bit label
    "one_class": dict(net=dict(input_shape=(16,), input_max=15, layers=(("fc", 8),), classes=1, T=2),
                      folding=["8x8", "1x8"]),
    "two_classes": dict(net=dict(input_shape=(1, 6, 6), input_max=3, layers=(("conv", 2, 3, 1, 1, 2),), classes=2,
                                 T=1, spike_bits=1), folding=["2x1/2", "2x16"]),
    # several pixels a beat: a whole stem word a beat, the stem reading each word the clock
    # after it is complete (and stalling on the next)
    "stem_word_a_beat": dict(net=dict(input_shape=(64,), input_max=255, layers=(("fc", 32), ("fc", 8)),
                                      classes=4, T=2), folding=["8x8/2", "8x8", "4x8"], pixel_lanes=8),
    # a stem that walks only its non-zero pixel words (the loader lists them; four and two
    # pixels a beat), on images thinned to every density from none to all: cycles follow the pixels
    "stem_skips_zero_pixel_words": dict(net=dict(input_shape=(64,), input_max=255, layers=(("fc", 16), ("fc", 8)),
                                                 classes=4, T=2), folding=["8x4/2", "8x8", "4x8"], pixel_lanes=4,
                                        skip_zero_pixels=True),
    "recomputed_stem_skips_zero_pixel_words": dict(net=dict(input_shape=(30,), input_max=7, layers=(("fc", 6),),
                                                            classes=3, T=3), folding=["3x2", "3x2"],
                                                   stem="recompute", skip_zero_pixels=True, pixel_lanes=2),
    # a stem whose five lanes each walk their own list of non-zero pixels (four pixels a beat:
    # a beat's first lane rotates), on the same thinned images
    "stem_lane_lists": dict(net=dict(input_shape=(60,), input_max=255, layers=(("fc", 16), ("fc", 8)),
                                     classes=4, T=2), folding=["8x5/2", "8x8", "4x8"], pixel_lanes=4,
                            skip_zero_pixels="lanes"),
}


@pytest.mark.parametrize("name", sorted(CORNERS))
def test_corner_bit_exact_estimate_exact_and_after_idle_gaps(name, tmp_path):
    spec = CORNERS[name]
    b = random_bundle(0, **spec["net"])
    save_bundle(b, tmp_path / "model")
    b = load_bundle(tmp_path / "model")
    images = random_images(b, 8, seed=1)
    skip = spec.get("skip_zero_pixels", False)
    if skip:
        images = sparse_images(images, 1)
    write_vectors(b, tmp_path / "model", images, np.zeros(len(images), np.int64), tmp_path / "vectors.npz")
    cfg = from_bundle(b, folding=spec["folding"], pixel_lanes=spec.get("pixel_lanes", 1),
                      stem=spec.get("stem", "cache"), skip_zero_pixels=skip)
    events = item_events(cfg, load_vectors(tmp_path / "vectors.npz")) if skip else None
    if skip:   # the images' pixel words range from all zero to all non-zero
        counts = events[cfg.layers[0].name][:, 0]
        assert counts.min() == 0 and counts.max() == cfg.layers[0].synapse.cf and len(set(counts)) > 3, counts
    accel = _build(cfg, tmp_path / "rtl")
    r = _sim(accel, tmp_path / "vectors.npz", "full", trace=accel["trace"])
    assert r["images"] == 8 and r["mismatches"] == 0, r["mismatch_details"][:5]
    _exact(r, cfg, events)
    r = _sim(accel, tmp_path / "vectors.npz", "gaps", trace=accel["trace"], image_gap=300)
    assert r["mismatches"] == 0 and r["image_gap"] == 300, r["mismatch_details"][:5]
