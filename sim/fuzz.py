"""Randomized verification of the generator: random networks, legal foldings and stimuli.

A *case* is a seed.  :func:`draw_case` turns it into a network (:func:`golden.synthetic.random_bundle`:
conv or fc stem, 1-3 hidden layers, ternary / binary / 8-bit weights, vanilla / Parallel
neurons, per-step or per-channel parameters, T and the spike width), a legal folding of every
layer, the stem's mode (cache / recompute), zero skipping, and a stimulus besides the full-rate
one (idle gaps between images, random idle and backpressure, a reset in the middle of an
image).  Extremes are drawn on purpose, each with a fixed chance: one-beat folds with the
serializer's drain ``pe / nl`` at its largest, one membrane word per neuron lane, T = 1 and
T = 16, 1 or 2 classes, 1-bit and 8-bit spikes.

:func:`run_case` builds the accelerator once and simulates it (Verilator, cocotb):

* at full rate, checking every layer's codes (slot and address included), the scores and the
  class against the golden vectors, and that the measured cycles per inference and latency
  equal the estimate (:func:`rtl_gen.estimate.cycles` on the same images);
* under the case's drawn stimulus (``make test``) or under every stimulus (``make fuzz``),
  checking the values again.

``python -m sim.fuzz --cases N --seed S`` (``make fuzz N= SEED=``) runs a campaign; each case
line goes to ``<out>/results.jsonl`` as it finishes, so a campaign resumes where it stopped
(``--resume``), and ``--case SEED`` replays one case.  ``tests/test_fuzz.py`` runs a fixed
share of cases in every ``make test``, the seed from ``HDLIF_FUZZ_SEED`` (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from rtl_gen.estimate import exact  # noqa: F401 - the campaign's and the tests' one definition

#: what one case's stimulus (besides the full-rate run) may be
STIMULI = ("gaps", "backpressure", "reset")


def _pick(rng, options: list, extreme: float = 0.35):
    """One of ``options``; with probability ``extreme`` its first or last (the corners)."""
    if len(options) > 1 and rng.random() < extreme:
        return options[0] if rng.random() < 0.5 else options[-1]
    return options[int(rng.integers(len(options)))]


def _draw_network(rng) -> dict:
    T = int(_pick(rng, [1, 2, 3, 4, 5, 8, 16], extreme=0.3))
    spike_bits = int(_pick(rng, [1, 2, 3, 4, 5, 8], extreme=0.4))
    classes = int(_pick(rng, [1, 2, 3, 4, 5, 7, 10], extreme=0.4))
    layers = []
    if rng.random() < 0.45:
        C = int(rng.integers(1, 4))
        H, W = int(rng.integers(4, 10)), int(rng.integers(4, 10))
        shape = (C, H, W)
        h, w = H, W
        for _ in range(int(rng.integers(1, 3))):
            k = int(rng.choice([1, 2, 3]))
            s = int(rng.choice([1, 1, 2]))
            p = int(rng.integers(0, k))
            ch = (h + 2 * p - k) // s + 1
            cw = (w + 2 * p - k) // s + 1
            if ch < 1 or cw < 1:
                break
            pool = 2 if (ch >= 2 and cw >= 2 and rng.random() < 0.4) else 1
            O = int(rng.choice([1, 2, 3, 4, 6, 8]))
            layers.append(("conv", O, k, s, p, pool))
            h, w = ch // pool, cw // pool
        if not layers:
            layers.append(("conv", 2, 1, 1, 0, 1))
    else:
        shape = (int(_pick(rng, [4, 7, 8, 16, 20, 32, 64], extreme=0.2)),)
    for _ in range(int(rng.integers(0 if layers else 1, 3))):
        layers.append(("fc", int(rng.choice([1, 2, 3, 5, 7, 8, 11, 12, 16, 20, 32]))))
    weights = str(rng.choice(["ternary", "ternary", "binary"]))
    input_max = int(_pick(rng, [1, 3, 15, 200, 255]))
    return dict(input_shape=shape, input_max=input_max, T=T, spike_bits=spike_bits, layers=tuple(layers),
                classes=classes, weights=weights,
                stem_weights="int8" if rng.random() < 0.3 else None,
                readout_weights="int8" if rng.random() < 0.3 else None,
                neuron=str(rng.choice(["vanilla", "parallel", "mixed"])),
                per_channel=bool(rng.random() < 0.4), step_current=bool(rng.random() < 0.3))


#: the share of drawn networks made of LIF / IF neurons (binary spikes)
LIF_SHARE = 0.3


def _draw_neurons(rng, net: dict) -> dict:
    """Turn a drawn network into a LIF / IF one (binary spikes; each layer draws its reset, some
    layers integrate without a leak) with probability :data:`LIF_SHARE`, half of those ending in
    a layer of one neuron per class and the spike-count readout.  Its own random stream, so the
    HD-LIF networks of every seed are the ones drawn before LIF existed."""
    if rng.random() >= LIF_SHARE:
        return net
    net = dict(net, neuron="lif", spike_bits=1)
    if rng.random() < 0.5:
        net.update(layers=tuple(net["layers"]) + (("fc", net["classes"]),), readout="count")
    return net


#: the share of 2 x 2 pools drawn as sum pools (average pooling) rather than max pools
SUM_POOL_SHARE = 0.5


def _draw_pools(rng, net: dict) -> dict:
    """Make each 2 x 2 pool of a drawn network a sum pool with probability :data:`SUM_POOL_SHARE`.
    Its own random stream, so the networks of every seed are otherwise the ones drawn before."""
    layers = tuple(("conv", *spec[1:5], "sum") if spec[0] == "conv" and spec[5] == 2 and rng.random() < SUM_POOL_SHARE
                   else spec for spec in net["layers"])
    return dict(net, layers=layers)


def _draw_large_network(rng) -> dict:
    """Image-sized networks (``--large``): a 784-input fc stem or a 28 x 28 / 16 x 16 conv stem,
    so that membranes fill several block RAM banks per lane (more than 1024 words) and weight
    ROMs stack block RAMs in depth (a second read register, ``read_stages`` 2)."""
    T = int(rng.choice([1, 2]))
    if rng.random() < 0.5:
        shape = (784,)
        layers = (("fc", int(rng.choice([64, 128]))), ("fc", int(rng.choice([16, 32]))))
    else:
        shape = (1, 28, 28) if rng.random() < 0.6 else (3, 16, 16)
        layers = (("conv", int(rng.choice([4, 8])), 3, 1, 1, 2), ("fc", int(rng.choice([16, 32]))))
    return dict(input_shape=shape, input_max=255, T=T, spike_bits=4, layers=layers, classes=10,
                weights=str(rng.choice(["ternary", "binary"])), stem_weights="int8" if rng.random() < 0.3 else None,
                readout_weights=None, neuron=str(rng.choice(["vanilla", "mixed"])),
                per_channel=bool(rng.random() < 0.4), step_current=bool(rng.random() < 0.3))


def _draw_folding(rng, bundle) -> list[str]:
    """A legal folding of every synaptic layer (:mod:`rtl_gen.folding`'s rules, at most
    ``MAX_LANES`` MAC lanes a layer), drawn from the
    readout back, with the corners (``pe`` = 1 or all channels, ``simd`` = 1 or as wide as
    the inputs, ``nl`` = 1 or ``pe``) on purpose."""
    from rtl_gen.folding import MAX_LANES, divisors, legal_nl, pow2_upto

    layers = bundle.layers
    n = len(layers)
    out = [None] * n
    for i in reversed(range(n)):
        layer = layers[i]
        if layer.kind == "hdlif_conv":
            C, O = layer.in_shape[0], layer.out_channels
        else:
            C, O = layer.in_features, layer.out_features
        pe = int(_pick(rng, divisors(O), extreme=0.5))
        simd = int(_pick(rng, pow2_upto(min(1 << (C - 1).bit_length(), MAX_LANES // pe)), extreme=0.5))
        nxt = out[i + 1][1] if i + 1 < n else None
        nl = int(_pick(rng, legal_nl(bundle, i, pe, nxt), extreme=0.6))
        out[i] = (pe, simd, nl)
    return [f"{pe}x{simd}" + (f"/{nl}" if nl > 1 else "") for pe, simd, nl in out]


#: the share of drawn cases whose eligible conv layers may be event-driven
EVENT_SHARE = 0.6
#: the share of drawn fc-stem cases (whose stem simd allows it) fed several pixels a beat
PIXEL_LANES_SHARE = 0.5
#: the share of drawn fc-stem cases whose stem skips zero pixel words (their images are then
#: thinned, :func:`sparse_images`)
SKIP_ZERO_PIXELS_SHARE = 0.35


def sparse_images(images: np.ndarray, seed: int) -> np.ndarray:
    """``images`` with pixels set to zero at random, each image at its own density (the first
    two, all zero and all maximal, kept; then one with every pixel kept, one with one pixel
    left, the rest drawn), so whole pixel words are zero in some places and not in others."""
    rng = np.random.default_rng([seed, 24])
    out = images.copy()
    for i in range(2, len(out)):
        keep = {2: 1.0, 3: 0.0}.get(i, float(rng.random()))
        out[i] = np.where(rng.random(out.shape[1]) < keep, out[i], 0)
        if i == 3:
            out[i, int(rng.integers(out.shape[1]))] = images[i].max()
    return out


def _draw_event(rng, bundle, folding: list[str]) -> tuple[list[str], list[str]]:
    """With probability :data:`EVENT_SHARE`, make each conv layer after the stem of stride 1
    event-driven with probability 3/4 (its ``simd`` then covers its input channels).  Its own
    random stream, so the cases of every seed are otherwise the ones drawn before."""
    if rng.random() >= EVENT_SHARE:
        return [], folding
    folding = list(folding)
    names = []
    from rtl_gen.config import event_eligible

    for i, layer in enumerate(bundle.layers[1:], start=1):
        if event_eligible(layer, i) and rng.random() < 0.75:
            names.append(layer.name)
            pe, rest = folding[i].split("x")
            nl = rest.split("/")[1] if "/" in rest else None
            simd = 1 << (layer.in_shape[0] - 1).bit_length()
            folding[i] = f"{pe}x{simd}" + (f"/{nl}" if nl else "")
    return names, folding


#: the share of drawn cases whose ROMs go to block RAM from fewer words than the default (0, 1,
#: 16 or 32: every ROM, or all but the shallowest, in block RAM)
ROM_DEPTH_SHARE = 0.25
#: share of the cases with event-driven layers or 8-bit weights whose adders there are hand-placed
#: ECP5 carry cells (rtl_gen.carry; Verilator runs the cells' model)
CARRY_CELLS_SHARE = 0.4
#: share of the cases with 8-bit weights whose 8-bit lanes multiply in DSP blocks (int8_lanes="dsp")
INT8_DSP_SHARE = 0.3
#: the share of drawn zero-pixel-skipping cached fc stems whose lanes keep their own lists
LANE_LISTS_SHARE = 0.5


def _draw_lane_lists(rng, bundle, folding: list, pixel_lanes: int):
    """With probability :data:`LANE_LISTS_SHARE`: ``("lanes", folding, pixel_lanes)`` with the
    stem's ``simd`` redrawn to any width up to what its inputs allow (1, the widest and odd ones
    on purpose; within the layer's :data:`rtl_gen.folding.MAX_LANES`) and the pixels per beat to a
    legal count (at most that ``simd``, dividing the features; the largest a third of the time);
    else ``(True, folding, pixel_lanes)``."""
    if rng.random() >= LANE_LISTS_SHARE:
        return True, folding, pixel_lanes
    from rtl_gen.folding import MAX_LANES

    C, features = bundle.layers[0].in_features, bundle.input.features
    pe, rest = folding[0].split("x")
    widest = min(1 << (C - 1).bit_length(), MAX_LANES // int(pe))
    simd = int(_pick(rng, list(range(1, widest + 1)), extreme=0.4))
    nl = rest.split("/")[1] if "/" in rest else None
    folding = [f"{pe}x{simd}" + (f"/{nl}" if nl else "")] + list(folding[1:])
    options = [d for d in range(1, simd + 1) if features % d == 0]
    lanes = int(options[-1] if rng.random() < 1 / 3 else rng.choice(options))
    return "lanes", folding, lanes


def _draw_pixel_lanes(rng, bundle, folding: list) -> int:
    """Pixels per beat: for an fc stem, with probability :data:`PIXEL_LANES_SHARE`, a legal count
    above 1 (a divisor of the stem's ``simd`` and of the features; the largest on purpose a
    third of the time), else 1."""
    from rtl_gen.config import Folding

    simd, features = Folding.parse(folding[0]).simd, bundle.input.features
    options = [d for d in range(2, simd + 1) if simd % d == 0 and features % d == 0]
    if bundle.layers[0].kind == "hdlif_conv" or not options or rng.random() >= PIXEL_LANES_SHARE:
        return 1
    return int(options[-1] if rng.random() < 1 / 3 else rng.choice(options))


def draw_case(seed: int, large: bool = False) -> dict:
    """The whole case of ``seed``: network, folding, modes, stimulus and image count (``large``:
    an image-sized network, :func:`_draw_large_network`, on two images)."""
    from golden.synthetic import random_bundle

    rng = np.random.default_rng(seed)
    net = _draw_large_network(rng) if large else _draw_network(rng)
    net = _draw_neurons(np.random.default_rng([seed, 19]), net)
    net = _draw_pools(np.random.default_rng([seed, 21]), net)
    bundle = random_bundle(seed, **net)
    folding = _draw_folding(rng, bundle)
    event, folding = _draw_event(np.random.default_rng([seed, 20]), bundle, folding)
    conv_stem = bundle.layers[0].kind == "hdlif_conv"
    stem = "recompute" if rng.random() < 0.25 else "cache"
    skip_zero_spikes = bool(rng.random() < 0.35)
    skip_zero_weights = bool(rng.random() < 0.2)
    stimulus = str(rng.choice(STIMULI))
    images = 2 if large else int(max(3, min(10, 48 // net["T"])))
    pixel_lanes = _draw_pixel_lanes(np.random.default_rng([seed, 22]), bundle, folding)
    skip_zero_pixels = bundle.layers[0].kind != "hdlif_conv" and \
        bool(np.random.default_rng([seed, 23]).random() < SKIP_ZERO_PIXELS_SHARE)
    if skip_zero_pixels and stem == "cache":
        skip_zero_pixels, folding, pixel_lanes = _draw_lane_lists(np.random.default_rng([seed, 25]), bundle, folding,
                                                                  pixel_lanes)
    rom_rng = np.random.default_rng([seed, 26])
    rom_logic_depth = int(_pick(rom_rng, [0, 1, 16, 32], extreme=0.5)) if rom_rng.random() < ROM_DEPTH_SHARE else 64
    has_int8 = any(layer.weights == "int8" for layer in bundle.layers)
    int8_lanes = "dsp" if has_int8 and np.random.default_rng([seed, 28]).random() < INT8_DSP_SHARE else "logic"
    cells_fit = bool(event) or (has_int8 and int8_lanes == "logic")
    carry_cells = "ecp5" if cells_fit and np.random.default_rng([seed, 27]).random() < CARRY_CELLS_SHARE else None
    return dict(seed=seed, large=large, net=net, folding=folding, stem=stem, skip_zero_spikes=skip_zero_spikes,
                skip_zero_weights=skip_zero_weights, event=event, stimulus=stimulus, images=images,
                pixel_lanes=pixel_lanes, skip_zero_pixels=skip_zero_pixels, rom_logic_depth=rom_logic_depth,
                carry_cells=carry_cells, int8_lanes=int8_lanes, conv_stem=conv_stem, reset_after=int(rng.integers(5, 200)), stimulus_seed=int(rng.integers(1, 1 << 16)))


#: the graph forms the RTL takes (:mod:`rtl_gen.graph`); the others (the authors' stream
#: shortcut and head) are drawn by ``hls.fuzz``
RTL_GRAPH_FORMS = dict(shortcut="spikes", head="spikes")


def draw_graph_case(seed: int) -> dict:
    """A residual network (:func:`golden.synthetic.random_graph`) the RTL takes: the options of
    :func:`golden.synthetic.draw_graph_options` (extremes on purpose: 1-channel inputs and
    stages, 2 x 2 frames, T = 1, 1-bit spikes, LIF / IF, SECA_I / SECA_II, Mem-BN, pooled stems) with
    :data:`RTL_GRAPH_FORMS`; MAC lanes per engine (exactly ``n``, or at most ``n``: then the
    lowering picks each engine's folding and neuron lanes), the stem's mode, a stimulus."""
    from golden.synthetic import draw_graph_options

    rng = np.random.default_rng([seed, 30])
    graph = {**draw_graph_options(np.random.default_rng(seed), np.random.default_rng([seed, 21])), **RTL_GRAPH_FORMS}
    n = int(_pick(rng, [1, 2, 3, 4, 8, 16, 32, 64], extreme=0.3))
    return dict(seed=seed, graph=graph, lanes=n, exact_lanes=bool(rng.random() < 0.3),
                stem="recompute" if rng.random() < 0.3 else "cache", stimulus=str(rng.choice(STIMULI)),
                images=int(max(3, min(8, 24 // graph["T"]))), reset_after=int(rng.integers(5, 200)),
                stimulus_seed=int(rng.integers(1, 1 << 16)))


def graph_config(case: dict, graph):
    """The accelerator of a graph case: exactly ``lanes`` MAC lanes per engine where every engine
    can have them (else at most that many), or at most ``lanes``."""
    from rtl_gen.folding import AtMost
    from rtl_gen.graph import from_graph

    if case["exact_lanes"]:
        try:
            return from_graph(graph, lanes=case["lanes"], stem=case["stem"])
        except ValueError:
            pass
    return from_graph(graph, lanes=AtMost(case["lanes"]), stem=case["stem"])


def describe_graph(case: dict) -> str:
    g = case["graph"]
    shape = "x".join(str(d) for d in g["input_shape"])
    stages = "-".join(f"{w}x{b}" for w, b in g["stages"])
    return (f"graph seed {case['seed']}: {shape} -> stages {stages}, T={g['T']}, {g['spike_bits']}-bit spikes, "
            f"{g['weights']}/{g['stem_weights']}, {g['neuron']}, seca {g['seca']}, membn {g['membn']}, pool {g['pool']}"
            f"{', per-channel' if g['per_channel'] else ''}; {'exactly' if case['exact_lanes'] else 'at most'} "
            f"{case['lanes']} lanes; stem {case['stem']}; stimulus {case['stimulus']}; {case['images']} images")


def describe(case: dict) -> str:
    net = case["net"]
    shape = "x".join(str(d) for d in net["input_shape"])
    body = " ".join(f"{k[0]}{k[1]}" + (f"k{k[2]}s{k[3]}p{k[4]}" + {2: "P", "sum": "A"}.get(k[5], "") if k[0] == "conv" else "")
                    for k in net["layers"])
    return (f"seed {case['seed']}{' (large)' if case.get('large') else ''}: {shape} -> {body} -> {net['classes']} classes, T={net['T']}, "
            f"{net['spike_bits']}-bit spikes, {net['weights']}/{net['stem_weights'] or '-'}/"
            f"{net['readout_weights'] or '-'}, {net['neuron']}{', per-channel' if net['per_channel'] else ''}"
            f"{', per-step current' if net['step_current'] else ''}; folding {','.join(case['folding'])}; "
            f"stem {case['stem']}{', skip zero spikes' if case['skip_zero_spikes'] else ''}"
            f"{', skip zero weights' if case['skip_zero_weights'] else ''}"
            f"{', event-driven ' + '+'.join(case['event']) if case.get('event') else ''}"
            f"{', %d pixels a beat' % case['pixel_lanes'] if case.get('pixel_lanes', 1) > 1 else ''}"
            f"{', skip zero pixels' if case.get('skip_zero_pixels') else ''}"
            f"{' (lane lists)' if case.get('skip_zero_pixels') == 'lanes' else ''}"
            f"{', ROM_LOGIC_DEPTH=%d' % case['rom_logic_depth'] if case.get('rom_logic_depth', 64) != 64 else ''}"
            f"{', CARRY_CELLS=%s' % case['carry_cells'] if case.get('carry_cells') else ''}"
            f"{', INT8_LANES=%s' % case['int8_lanes'] if case.get('int8_lanes', 'logic') != 'logic' else ''}"
            f"; stimulus {case['stimulus']}; "
            f"{case['images']} images")


def run_case(seed: int, out: Path, *, keep: bool = False, check_estimate: bool = True,
             all_stimuli: bool = False, large: bool = False, graphs: bool = False) -> dict:
    """Build and simulate case ``seed`` under ``out``; return its result (``ok`` and why not).

    Besides the full-rate run, the case's drawn stimulus, or with ``all_stimuli`` every one of
    :data:`STIMULI` (one build, four simulations).  ``graphs``: the case is a residual network
    (:func:`draw_graph_case`)."""
    from golden import load_bundle, save_bundle
    from golden.graph import load_graph, save_graph
    from golden.synthetic import random_bundle, random_graph, random_images
    from golden.vectors import load_vectors, write_vectors
    from rtl_gen.folding import from_bundle
    from rtl_gen.emit import emit
    from rtl_gen.estimate import cycles, item_events
    from sim.accelerator_tb import simulate

    case = draw_graph_case(seed) if graphs else draw_case(seed, large)
    out = Path(out) / f"case_{seed}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.time()
    result = {"seed": seed, "case": describe_graph(case) if graphs else describe(case), "ok": False, "problems": []}
    try:
        if graphs:
            save_graph(random_graph(seed, **case["graph"]), out / "model")
            bundle = load_graph(out / "model")
        else:
            save_bundle(random_bundle(seed, **case["net"]), out / "model")
            bundle = load_bundle(out / "model")
        images = random_images(bundle, case["images"], seed=seed)
        if case.get("skip_zero_pixels"):
            images = sparse_images(images, seed)
        write_vectors(bundle, out / "model", images, np.zeros(len(images), np.int64), out / "vectors.npz")
        vec = load_vectors(out / "vectors.npz")
        if graphs:
            cfg, events = graph_config(case, bundle), None
            result["folding"] = cfg.foldings
        else:
            cfg = from_bundle(bundle, folding=case["folding"], stem=case["stem"],
                              skip_zero_spikes=case["skip_zero_spikes"], skip_zero_weights=case["skip_zero_weights"],
                              event=case.get("event") or None, pixel_lanes=case.get("pixel_lanes", 1),
                              skip_zero_pixels=case.get("skip_zero_pixels", False),
                              rom_logic_depth=case.get("rom_logic_depth", 64), carry_cells=case.get("carry_cells"),
                              int8_lanes=case.get("int8_lanes", "logic"))
            events = item_events(cfg, vec) if (case["skip_zero_spikes"] or case.get("event")
                                               or case.get("skip_zero_pixels")) else None
        desc = emit(cfg, out / "rtl")
        est = cycles(cfg, images=case["images"], events=events)
        kw = dict(manifest=out / "rtl" / "interface.json", build_dir=out / "rtl" / "verilator", cxx_opt="-O0",
                  trace=desc["trace"], pixel_lanes=cfg.pixel_lanes)
        full = simulate(out / "rtl" / "hdlif_accel.v", "hdlif_accel", out / "vectors.npz", out / "full", **kw)
        runs = [("full rate", full)]
        for stim in (STIMULI if all_stimuli else (case["stimulus"],)):
            runs.append((stim, simulate(out / "rtl" / "hdlif_accel.v", "hdlif_accel", out / "vectors.npz", out / stim,
                                        seed=case["stimulus_seed"], backpressure=stim == "backpressure",
                                        reset_midway=stim == "reset", reset_after=case["reset_after"],
                                        image_gap=200 if stim == "gaps" else 0, **kw)))
        result["stimuli"] = [name for name, _ in runs]
        result.update(measured={"cycles_per_inference": full["cycles_per_inference"],
                                "latency_cycles": full["latency_cycles"]},
                      estimate={"cycles_per_inference": est["mean_interval"],
                                "latency_cycles": est["latency_cycles"]})
        for name, r in runs:
            if r["mismatches"]:
                result["problems"].append(f"{name}: {r['mismatches']} of {r['images']} images differ; "
                                          + "; ".join(r["mismatch_details"][:3]))
        if check_estimate:
            for key, ekey in (("cycles_per_inference", "mean_interval"), ("latency_cycles", "latency_cycles")):
                if not exact(full[key], est[ekey]):
                    result["problems"].append(f"{key}: measured {full[key]:g}, estimated {est[ekey]:g}")
        result["ok"] = not result["problems"]
    except Exception as e:  # a crash is a finding too: report it with the case
        result["problems"].append(f"{type(e).__name__}: {e}")
    result["seconds"] = round(time.time() - t0, 1)
    if result["ok"] and not keep:
        shutil.rmtree(out, ignore_errors=True)
    return result


def campaign(seeds: list[int], out: Path, *, jobs: int = 1, resume: bool = False, all_stimuli: bool = False,
             large: bool = False, graphs: bool = False, log=print) -> list[dict]:
    """Run ``seeds`` (:func:`run_case`); append each result to ``out/results.jsonl`` as it finishes."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.jsonl"
    done = {}
    if resume and path.is_file():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            done[r["seed"]] = r
    elif path.exists():
        path.unlink()
    todo = [s for s in seeds if s not in done]
    log(f"fuzz: {len(seeds)} cases ({len(done)} already done), {jobs} job(s), results -> {path}")
    results = [done[s] for s in seeds if s in done]

    def record(r):
        results.append(r)
        with path.open("a") as f:
            f.write(json.dumps(r) + "\n")
        status = "ok" if r["ok"] else "FAIL: " + " | ".join(r["problems"])
        log(f"[{len(results)}/{len(seeds)}] {r['case']} ({r['seconds']} s): {status}")

    if jobs <= 1:
        for s in todo:
            record(run_case(s, out, all_stimuli=all_stimuli, large=large, graphs=graphs))
    else:
        with ProcessPoolExecutor(jobs) as pool:
            futures = [pool.submit(run_case, s, out, all_stimuli=all_stimuli, large=large, graphs=graphs)
                       for s in todo]
            for f in as_completed(futures):
                record(f.result())
    return results


def record(results: list[dict], path: Path, *, cases: int, seed: int, jobs: int, all_stimuli: bool,
           large: bool = False, graphs: bool = False) -> dict:
    """The campaign's summary and every case's result, with the command that reproduces it
    (where the cases were built and whether they were resumed do not change the results)."""
    from golden.atomic import write_json_atomic

    cmd = f"python -m sim.fuzz --cases {cases} --seed {seed} --jobs {jobs}" + (" --large" if large else "") + \
        (" --graphs" if graphs else "") + \
        ("" if all_stimuli else " --drawn-stimulus") + f" --record {path}"
    measured = [r for r in results if "measured" in r]
    out = {
        "command": cmd,
        "what": (f"{cases} random (residual network, MAC lanes, stem mode) " if graphs else
                 f"{cases} random ({'image-sized ' if large else ''}network, legal folding, stem mode, zero skipping) ")
                + "cases, each built once and "
                "simulated at full rate (every layer's codes slot by slot, the scores, the class; cycles per "
                "inference and latency against rtl_gen.estimate.cycles) and under "
                + ("idle gaps, random idle and backpressure, and a reset mid-image" if all_stimuli else
                   "its drawn stimulus"),
        "cases": len(results), "passed": sum(bool(r["ok"]) for r in results),
        "simulations": sum(len(r.get("stimuli", [])) for r in results),
        "largest_estimate_difference_cycles": max((abs(r["measured"]["cycles_per_inference"]
                                                       - r["estimate"]["cycles_per_inference"]) for r in measured),
                                                  default=None),
        "largest_latency_difference_cycles": max((abs(r["measured"]["latency_cycles"] - r["estimate"]["latency_cycles"])
                                                  for r in measured), default=None),
        "case_seconds_total": round(sum(r["seconds"] for r in results)),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {jobs} case(s) at a time",
        "results": [{k: r.get(k) for k in ("seed", "case", "ok", "problems", "stimuli", "measured", "estimate",
                                          "seconds") + (("folding",) if graphs else ())} for r in results],
    }
    write_json_atomic(path, out, indent=1)
    return out


def seeds_of(master: int, n: int) -> list[int]:
    """``n`` case seeds drawn from the campaign's ``master`` seed."""
    return [int(s) for s in np.random.default_rng(master).integers(0, 2 ** 31 - 1, size=n)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=20, help="how many random cases (default 20)")
    ap.add_argument("--seed", type=int, default=None, help="the campaign's seed (default: from the clock, printed)")
    ap.add_argument("--case", type=int, action="append", help="replay the case of this seed (repeatable)")
    ap.add_argument("--jobs", type=int, default=1, help="cases in parallel (default 1)")
    ap.add_argument("--out", default="build/fuzz", help="where cases and results.jsonl go (default build/fuzz)")
    ap.add_argument("--resume", action="store_true", help="skip the cases already in results.jsonl")
    ap.add_argument("--record", default=None,
                    help="also write the campaign's summary and every case's result to this JSON file "
                         "(bench/results/fuzz.json), with the command that reproduces it")
    ap.add_argument("--large", action="store_true",
                    help="image-sized networks (784 inputs, 28 x 28 conv): deep membrane banks, stacked ROMs")
    ap.add_argument("--graphs", action="store_true",
                    help="residual networks (integer graphs, rtl_gen/graph.py): stems, identity and strided blocks, "
                         "Mem-BN, pooled stems, the global sum head")
    ap.add_argument("--drawn-stimulus", action="store_true",
                    help="simulate each case at full rate and under its drawn stimulus only (default: every stimulus)")
    a = ap.parse_args(argv)
    if a.cases < 1 or a.jobs < 1:
        print("fuzz: --cases and --jobs must be positive integers", file=sys.stderr)
        return 2
    if a.case:
        seeds = a.case
        print(f"fuzz: replaying case(s) {seeds}")
    else:
        master = a.seed if a.seed is not None else int(time.time()) % 100000
        print(f"fuzz: campaign seed {master} (re-run with --seed {master})")
        seeds = seeds_of(master, a.cases)
    if a.graphs and a.large:
        print("fuzz: --graphs and --large are two kinds of cases: choose one", file=sys.stderr)
        return 2
    results = campaign(seeds, Path(a.out), jobs=a.jobs, resume=a.resume, all_stimuli=not a.drawn_stimulus,
                       large=a.large, graphs=a.graphs)
    bad = [r for r in results if not r["ok"]]
    ests = [r for r in results if "measured" in r]
    if a.record:
        if a.case:
            print("fuzz: --record records a campaign (--cases, --seed), not replayed cases", file=sys.stderr)
            return 2
        record(results, Path(a.record), cases=a.cases, seed=master, jobs=a.jobs, all_stimuli=not a.drawn_stimulus,
               large=a.large, graphs=a.graphs)
        print(f"fuzz: recorded in {a.record}")
    runs = sum(len(r.get("stimuli", [])) for r in results)
    print(f"fuzz: {len(results)} cases, {runs} simulations (network x folding x stimulus)")
    print(f"fuzz: {len(results) - len(bad)} passed, {len(bad)} failed")
    if ests:
        dev = [abs(r["measured"]["cycles_per_inference"] - r["estimate"]["cycles_per_inference"]) for r in ests]
        print(f"fuzz: largest estimate difference {max(dev):g} cycles per inference over {len(ests)} cases")
    for r in bad:
        print(f"  FAILED {r['case']}: " + " | ".join(r["problems"])
              + f"  (replay: python -m sim.fuzz --case {r['seed']}{' --large' if a.large else ''}"
                f"{' --graphs' if a.graphs else ''})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
