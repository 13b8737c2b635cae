"""Randomized verification of the generator in every ``make test`` (:mod:`sim.fuzz`).

Each run draws ``HDLIF_FUZZ_CASES`` cases (default 8) from the seed ``HDLIF_FUZZ_SEED``
(default: a new one per session; pytest prints it in its header, and a failure names every
case's seed with the command that replays it).  Every case is built once and simulated at
full rate (every layer's codes, the scores and the class bit-exact; cycles per inference and
latency equal to the estimate) and under its drawn stimulus (idle gaps, backpressure, a reset
in the middle of an image).  ``make fuzz N=...`` runs long campaigns.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from golden.synthetic import random_bundle
from rtl_gen.folding import from_bundle
from rtl_gen.hdlif_layer import overlap_ok
from sim import fuzz


def _seed() -> int:
    return int(os.environ["HDLIF_FUZZ_SEED"])


def test_random_cases_are_bit_exact_and_the_estimate_exact(tmp_path):
    cases = int(os.environ.get("HDLIF_FUZZ_CASES", "8"))
    seeds = fuzz.seeds_of(_seed(), cases)
    lines = []
    results = fuzz.campaign(seeds, tmp_path, jobs=2, log=lines.append)
    bad = [r for r in results if not r["ok"]]
    assert len(results) == cases
    assert not bad, f"fuzz seed {_seed()}: {len(bad)} of {cases} cases failed:\n" + "\n".join(
        f"{r['case']}: {' | '.join(r['problems'])}  (replay: python -m sim.fuzz --case {r['seed']})" for r in bad)
    for r in results:          # exact, not merely near: the blocks' timing adds up to the RTL's
        assert fuzz.exact(r["measured"]["cycles_per_inference"], r["estimate"]["cycles_per_inference"]), r
        assert fuzz.exact(r["measured"]["latency_cycles"], r["estimate"]["latency_cycles"]), r


def test_random_residual_networks_are_bit_exact_and_the_estimate_exact(tmp_path):
    """``HDLIF_GRAPH_FUZZ_CASES`` (default 2) residual networks (:func:`sim.fuzz.draw_graph_case`)
    from the session's seed: built once, simulated at full rate and under the drawn stimulus."""
    cases = int(os.environ.get("HDLIF_GRAPH_FUZZ_CASES", "2"))
    seeds = fuzz.seeds_of(_seed() + 1, cases)
    results = fuzz.campaign(seeds, tmp_path, jobs=2, graphs=True, log=lambda line: None)
    bad = [r for r in results if not r["ok"]]
    assert not bad, f"fuzz seed {_seed()}: {len(bad)} of {cases} graph cases failed:\n" + "\n".join(
        f"{r['case']}: {' | '.join(r['problems'])}  (replay: python -m sim.fuzz --graphs --case {r['seed']})"
        for r in bad)
    for r in results:
        assert fuzz.exact(r["measured"]["cycles_per_inference"], r["estimate"]["cycles_per_inference"]), r
        assert fuzz.exact(r["measured"]["latency_cycles"], r["estimate"]["latency_cycles"]), r


def test_the_graph_fuzz_draws_legal_configs_and_its_corners():
    """Every drawn residual network lowers (the configs accept it), and the corners come up
    within a couple of hundred draws: T = 1, 1-bit spikes, LIF, SECA_I / II, Mem-BN, max- and sum-pooled
    stems, 1-channel stages, 2 x 2 frames, one MAC lane and many, exact and at-most lanes, both
    stem modes, every stimulus."""
    from golden.synthetic import random_graph

    seen = Counter()
    for seed in range(150):
        case = fuzz.draw_graph_case(seed)
        g = case["graph"]
        cfg = fuzz.graph_config(case, random_graph(seed, **g))
        assert cfg.layers[0].name == "stem" and cfg.readout.synapse.fold.nl == 1
        seen[f"T={g['T']}"] += 1
        seen[f"spikes={g['spike_bits']}"] += 1
        seen[g["neuron"]] += 1
        seen[f"membn={g['membn']}"] += 1
        seen[f"seca={g['seca']}"] += 1
        seen[f"pool={g['pool']}"] += 1
        seen["one-channel stage"] += any(w == 1 for w, _ in g["stages"])
        seen["2x2 frame"] += g["input_shape"][1] == 2
        seen[f"lanes={case['lanes']}"] += 1
        seen["exact"] += case["exact_lanes"]
        seen[case["stem"]] += 1
        seen[case["stimulus"]] += 1
        seen["current engine"] += any(not layer.has_neurons for layer in cfg.layers)
        seen["three-slot frame"] += any(layer.stream is not None and layer.stream.slots == 3 for layer in cfg.layers)
    for corner in ("T=1", "spikes=1", "lif", "membn=all", "membn=mixed", "seca=I", "seca=II", "seca=mixed",
                   "pool=maxpool", "pool=sumpool",
                   "one-channel stage", "2x2 frame", "lanes=1", "lanes=64", "exact", "recompute", "cache",
                   "gaps", "backpressure", "reset", "current engine", "three-slot frame"):
        assert seen[corner] > 0, (corner, seen)


def test_the_generator_draws_legal_foldings_and_its_corners():
    """Every drawn folding is legal (the configs accept it), and the corners come up on purpose
    within a few hundred draws: one-beat folds drained over the largest ``pe / nl``, one
    membrane word per neuron lane, T = 1 and T = 16, 1 and 2 classes, 1- and 8-bit spikes,
    every stem mode, zero skipping and stimulus, sum pools (average pooling) with sums wider
    than a byte, several pixels a beat (a whole stem word a beat among them), stems that skip
    zero pixel words (cached and recomputed), stems whose lanes list their own pixels (any simd,
    fewer pixels a beat than lanes), event-driven layers with and without carry cells, 8-bit
    multipliers in carry cells and in DSP blocks."""
    seen = Counter()
    for seed in range(300):
        case = fuzz.draw_case(seed)
        bundle = random_bundle(seed, **case["net"])
        cfg = from_bundle(bundle, folding=case["folding"], stem=case["stem"],     # the user's checks, all of them
                          skip_zero_spikes=case["skip_zero_spikes"], skip_zero_weights=case["skip_zero_weights"],
                          pixel_lanes=case["pixel_lanes"], skip_zero_pixels=case["skip_zero_pixels"],
                          rom_logic_depth=case["rom_logic_depth"])
        net = case["net"]
        assert cfg.pixel_lanes == case["pixel_lanes"] and cfg.pixel_beats * cfg.pixel_lanes == cfg.features
        seen["pixel lanes > 1"] += case["pixel_lanes"] > 1
        seen["a stem word a beat"] += case["pixel_lanes"] > 1 and case["pixel_lanes"] == cfg.pixel_layout.simd
        seen["skip zero pixels"] += bool(case["skip_zero_pixels"])
        seen["skip zero pixels, recompute"] += bool(case["skip_zero_pixels"]) and case["stem"] == "recompute"
        lists = case["skip_zero_pixels"] == "lanes"
        assert cfg.pixel_layout.lane_lists == lists
        simd = cfg.pixel_layout.simd
        seen["lane lists"] += lists
        if case["carry_cells"]:
            # the event-driven layers' adders as ECP5 carry cells: on those layers, and only there
            ev = from_bundle(bundle, folding=case["folding"], stem=case["stem"], event=case["event"] or None,
                             skip_zero_spikes=case["skip_zero_spikes"], skip_zero_weights=case["skip_zero_weights"],
                             pixel_lanes=case["pixel_lanes"], skip_zero_pixels=case["skip_zero_pixels"],
                             rom_logic_depth=case["rom_logic_depth"], carry_cells=case["carry_cells"],
                             int8_lanes=case["int8_lanes"])
            placed = {layer.name for layer in list(ev.layers) + [ev.readout] if layer.synapse.carry_cells}
            want = {layer.name for layer in list(ev.layers) + [ev.readout]
                    if layer.synapse.event or layer.synapse.int8_logic}
            assert placed == want and placed, (placed, want)
            seen["event-driven, carry cells" if case["event"] else "8-bit multipliers in carry cells"] += 1
        seen["event-driven, plain adders"] += bool(case["event"]) and not case["carry_cells"]
        if case["int8_lanes"] == "dsp":
            # 8-bit lanes in DSP blocks: every 8-bit layer's, and no carry cells without event layers
            dsp = from_bundle(bundle, folding=case["folding"], stem=case["stem"], event=case["event"] or None,
                              skip_zero_spikes=case["skip_zero_spikes"], skip_zero_weights=case["skip_zero_weights"],
                              pixel_lanes=case["pixel_lanes"], skip_zero_pixels=case["skip_zero_pixels"],
                              rom_logic_depth=case["rom_logic_depth"], int8_lanes="dsp")
            syns = [layer.synapse for layer in list(dsp.layers) + [dsp.readout]]
            assert [s.int8_dsp for s in syns] == [s.weight_kind == "int8" for s in syns] and any(s.int8_dsp for s in syns)
            assert not case["carry_cells"] or case["event"]
            seen["8-bit lanes in DSP blocks"] += 1
        seen["every ROM in block RAM"] += case["rom_logic_depth"] == 0
        seen["ROMs over 32 words in block RAM"] += case["rom_logic_depth"] == 32
        seen["lane lists, simd not a power of two"] += lists and bool(simd & (simd - 1))
        seen["lane lists, a beat of lanes < simd"] += lists and 1 < case["pixel_lanes"] < simd
        seen[f"T={net['T']}"] += 1
        seen[f"classes={net['classes']}"] += 1
        seen[f"spikes={net['spike_bits']}"] += 1
        seen[case["stimulus"]] += 1
        seen[case["stem"]] += 1
        seen["skip_zero_spikes"] += case["skip_zero_spikes"]
        for layer in list(cfg.layers) + [cfg.readout]:
            syn = layer.synapse
            G = syn.groups_per_fold
            if min(syn.fold_lengths()) == 1 and G >= 4:
                seen["one-beat folds, drain >= 4"] += 1
            if G == syn.fold.pe and G == syn.out_channels and G > 1:
                seen["pe = all channels, nl = 1"] += 1
        for layer in cfg.layers:
            if layer.pool_op == "sum":
                seen["sum pool"] += 1
                seen["sum pool past a byte"] += layer.out.code_bits > 8
            if layer.neuron.kind == "vanilla" and layer.neuron.words_per_lane == 1:
                seen["one membrane word per lane"] += 1
            if layer.neuron.kind == "vanilla" and not overlap_ok(layer):
                seen["no step overlap"] += 1
    for corner in ("T=1", "T=16", "classes=1", "classes=2", "spikes=1", "spikes=8", "gaps", "backpressure",
                   "reset", "cache", "recompute", "skip_zero_spikes", "one-beat folds, drain >= 4",
                   "pe = all channels, nl = 1", "one membrane word per lane", "no step overlap", "sum pool",
                   "sum pool past a byte", "pixel lanes > 1", "a stem word a beat", "skip zero pixels",
                   "skip zero pixels, recompute", "lane lists", "lane lists, simd not a power of two",
                   "lane lists, a beat of lanes < simd", "every ROM in block RAM", "ROMs over 32 words in block RAM",
                   "event-driven, carry cells", "event-driven, plain adders", "8-bit multipliers in carry cells",
                   "8-bit lanes in DSP blocks"):
        assert seen[corner] >= 3, (corner, dict(seen))


def test_a_case_is_reproducible_from_its_seed():
    a, b = fuzz.draw_case(12345), fuzz.draw_case(12345)
    assert a == b and fuzz.describe(a) == fuzz.describe(b)
    assert fuzz.seeds_of(7, 5) == fuzz.seeds_of(7, 5) != fuzz.seeds_of(8, 5)


def test_the_checker_fails_on_a_wrong_estimate(tmp_path, monkeypatch):
    """The campaign can fail: an estimate off by a few cycles is reported with the case."""
    import rtl_gen.estimate as est

    real = est.cycles

    def off(*a, **kw):
        r = dict(real(*a, **kw))
        r["mean_interval"] += 7
        return r

    monkeypatch.setattr(est, "cycles", off)
    seed = next(s for s in range(100) if fuzz.draw_case(s)["net"]["T"] <= 2 and not fuzz.draw_case(s)["conv_stem"])
    r = fuzz.run_case(seed, tmp_path)
    assert not r["ok"]
    assert any(p.startswith("cycles_per_inference: measured") for p in r["problems"]), r["problems"]


@pytest.mark.parametrize("argv, message", [(["--cases", "0"], "must be positive"), (["--jobs", "0"], "must be positive")])
def test_bad_campaign_settings_are_refused(argv, message, capsys):
    assert fuzz.main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_campaign_is_recorded_with_the_command_that_reproduces_it(tmp_path):
    """``--record``: the summary counts what the cases say (a failure and the largest difference
    included), and its command is the campaign's, whatever folder the cases were built in."""
    import json

    case = {"seed": 1, "case": "seed 1: ...", "ok": True, "problems": [], "stimuli": ["full rate", "gaps"],
            "measured": {"cycles_per_inference": 100.0, "latency_cycles": 300.0},
            "estimate": {"cycles_per_inference": 100.0, "latency_cycles": 301}, "seconds": 10.0}
    bad = {**case, "seed": 2, "ok": False, "problems": ["full rate: 1 of 3 images differ"], "stimuli": ["full rate"],
           "measured": {"cycles_per_inference": 97.0, "latency_cycles": 300.0}}
    path = tmp_path / "fuzz.json"
    fuzz.record([case, bad], path, cases=2, seed=5, jobs=2, all_stimuli=True)
    d = json.loads(path.read_text())
    assert d["command"] == f"python -m sim.fuzz --cases 2 --seed 5 --jobs 2 --record {path}"
    assert (d["cases"], d["passed"], d["simulations"]) == (2, 1, 3)
    assert d["largest_estimate_difference_cycles"] == 3 and d["largest_latency_difference_cycles"] == 1
    assert [r["seed"] for r in d["results"]] == [1, 2]


def test_large_draws_reach_deep_membranes_and_stacked_roms():
    """``--large`` (image-sized networks) reaches what the small draws cannot: a lane's membranes
    in several block RAM banks, and a weight ROM of block RAMs stacked in depth (read_stages 2)."""
    banks = stacked = 0
    for seed in fuzz.seeds_of(2027, 20):
        case = fuzz.draw_case(seed, large=True)
        bundle = random_bundle(seed, **case["net"])
        cfg = from_bundle(bundle, folding=case["folding"], stem=case["stem"],
                          skip_zero_spikes=case["skip_zero_spikes"], skip_zero_weights=case["skip_zero_weights"],
                          pixel_lanes=case["pixel_lanes"], skip_zero_pixels=case["skip_zero_pixels"],
                          rom_logic_depth=case["rom_logic_depth"])
        banks += any(layer.neuron.kind == "vanilla" and layer.neuron.words_per_lane > 1024 for layer in cfg.layers)
        stacked += any(layer.synapse.read_stages == 2 for layer in list(cfg.layers) + [cfg.readout])
    assert banks >= 3 and stacked >= 3, (banks, stacked)
