"""LANES / FOLD / TARGET: every option is honoured or refused with one clear line, never quietly changed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from flow.paths import build_dir
from golden import load_bundle, save_bundle
from golden.synthetic import random_bundle
from rtl_gen import folding as fm
from rtl_gen.config import build
from rtl_gen.estimate import engine_times
from rtl_gen.folding import from_bundle

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small():
    """conv 1 -> 4 channels (8 x 8, pooled), fc 64 -> 16, readout 16 -> 10."""
    return random_bundle(0)


@pytest.fixture(scope="module")
def threes():
    """A network where every layer can have exactly 3 lanes: conv 3 -> 6, fc 96 -> 12, readout 12 -> 3."""
    return random_bundle(1, input_shape=(3, 8, 8), layers=(("conv", 6, 3, 1, 1, 2), ("fc", 12)), classes=3)


@pytest.fixture(scope="module")
def digits_shaped():
    """Shaped like the digits MLP: 64 -> 128 -> 10."""
    return random_bundle(2, input_shape=(64,), input_max=16, layers=(("fc", 128),))


def _slowest(bundle, foldings, **kw):
    return max(engine_times(build(bundle, foldings, **kw)).values())


# ---------------------------------------------------------------------------------------------
# lanes

def test_exact_lanes_where_every_layer_can_have_them(threes):
    cfg = from_bundle(threes, lanes=3)
    assert cfg.lanes == (3, 3, 3)
    # the widest simd of the count: 4 lanes on a 3-channel conv are 1 x 4, not 2 x 2 or 4 x 1
    assert [(f.pe, f.simd) for f in fm.resolve(threes, lanes=4)][0] == (1, 4)


def test_lanes_a_layer_cannot_have_are_refused_naming_the_layer(small):
    with pytest.raises(ValueError) as e:
        fm.resolve(small, lanes=3)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("lanes=3: layer l1 (1 input channel, 4 output channels) cannot have exactly 3 MAC lanes")
    assert "it can have 1, 2, 4 (nearest: 2 or 4)" in msg and "every layer can have 1, 2, 4" in msg
    assert "FOLD=" in msg


def test_per_layer_lanes_are_exact_too(small):
    assert [f.lanes for f in fm.resolve(small, lanes=[4, 16, 10])] == [4, 16, 10]
    with pytest.raises(ValueError, match=r"^lanes=4,3,16: layer l2 \(64 inputs, 16 outputs\) cannot have exactly 3 "
                                         r"MAC lanes .* it can have 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 "
                                         r"\(nearest: 2 or 4\)"):
        fm.resolve(small, lanes=[4, 3, 16])
    with pytest.raises(ValueError, match=re.escape("lanes must give one count per synaptic layer "
                                                   "['l1', 'l2', 'l3'], not 2 ([4, 16])")):
        fm.resolve(small, lanes=[4, 16])


def test_lane_counts_a_layer_allows(small):
    assert list(fm.lane_options(small, 0)) == [1, 2, 4]
    opts = fm.lane_options(small, 2)                      # 16 inputs, 10 outputs
    assert list(opts)[:8] == [1, 2, 4, 5, 8, 10, 16, 20] and opts[10] == (5, 2) and opts[16] == (1, 16)
    assert max(opts) == 160


@pytest.mark.parametrize("value, shown", [(0, "0"), (-2, "-2"), (100000, "100000"), (4097, "4097"), ("100000", "100000"),
                                          (3.5, "3.5"), ("x", "'x'"), (True, "True"), (None, None)])
def test_out_of_range_lanes_are_one_clear_error(small, value, shown):
    if value is None:                                     # None is "not given": the default
        assert fm.resolve(small, lanes=value)
        return
    with pytest.raises(ValueError, match=re.escape(f"lanes must be a whole number of MAC lanes per layer from 1 to "
                                                   f"{fm.MAX_LANES}, not {shown}")):
        from_bundle(small, lanes=value)


def test_lanes_given_as_text_like_the_command_line(small):
    assert [f.lanes for f in fm.resolve(small, lanes="2")] == [2, 2, 2]
    assert [f.lanes for f in fm.resolve(small, lanes=["4", "8", "10"])] == [4, 8, 10]


def test_default_is_at_most_16_and_explicit_16_is_exact(small, digits_shaped):
    # the default never refuses: each layer the most lanes it can have up to 16
    assert from_bundle(small).lanes == (4, 16, 16)
    assert fm.resolve(small, lanes=fm.AtMost(16)) == fm.resolve(small)
    assert [f.lanes for f in fm.resolve(small, lanes=fm.AtMost(12))] == [4, 8, 10]
    with pytest.raises(ValueError, match=r"^lanes=16: layer l1 .* it can have 1, 2, 4 "):
        fm.resolve(small, lanes=16)
    # the project's networks have exactly 16 everywhere: the default and LANES=16 agree
    assert fm.resolve(digits_shaped, lanes=16) == fm.resolve(digits_shaped)
    assert [str(f) for f in fm.resolve(digits_shaped, lanes=16)] == ["1x16", "1x16"]


def test_project_networks_have_exactly_16_lanes():
    fmnist = random_bundle(3, input_shape=(784,), input_max=255, T=2, layers=(("fc", 128),))
    vgg = random_bundle(4, input_shape=(1, 28, 28), input_max=255, T=2,
                        layers=(("conv", 16, 3, 1, 1, 2), ("conv", 32, 3, 1, 1, 2), ("conv", 64, 3, 1, 1, 1)))
    for b in (fmnist, vgg):
        assert set(f.lanes for f in fm.resolve(b, lanes=16)) == {16}
    assert str(fm.resolve(vgg, lanes=16)[0]).startswith("16x1")     # the 1-channel stem: pe = 16


def test_one_choice_at_a_time(small):
    with pytest.raises(ValueError, match=re.escape("give one of lanes, folding or target (LANES=, FOLD=, TARGET=), "
                                                   "not lanes and folding")):
        fm.resolve(small, lanes=4, folding="1x1")
    with pytest.raises(ValueError, match="not lanes and target"):
        fm.resolve(small, lanes=4, target="area")


def test_a_folding_wider_than_the_limit_is_refused(small):
    with pytest.raises(ValueError, match=f"^layer l2: folding 16x512 has 8192 MAC lanes; a layer has at most "
                                         f"{fm.MAX_LANES}$"):
        fm.resolve(small, folding=["1x1", "16x512", "1x1"])


def test_a_word_wider_than_amaranth_builds_is_refused(small, monkeypatch):
    monkeypatch.setattr(fm, "_MAX_WORD_BITS", 16)
    with pytest.raises(ValueError, match=r"^layer l2: folding 1x16 makes a 32-bit weight word; the generator builds "
                                         r"at most 16 bits: choose fewer lanes$"):
        fm.resolve(small, folding=["1x1", "1x16", "1x1"])


# ---------------------------------------------------------------------------------------------
# targets

def test_met_cycle_target_keeps_every_engine_within_it(small):
    for goal in (5000, 1000, 700):
        f = fm.resolve(small, target=f"cycles={goal}")
        assert _slowest(small, f) <= goal
        assert fm.resolve(small, target=goal) == f            # an int is the same target
    # a looser target is never more lanes
    assert sum(f.lanes for f in fm.resolve(small, target="cycles=5000")) <= sum(
        f.lanes for f in fm.resolve(small, target="cycles=700"))


def test_fastest_and_an_unmet_cycle_target(small):
    fast = fm.resolve(small, target="fastest")
    best = _slowest(small, fast)
    assert best == _slowest(small, fm._search(small, None))   # no folding the search tries is faster
    assert _slowest(small, fm.resolve(small, target=f"cycles={best}")) <= best
    goal = best - 1
    with pytest.raises(ValueError) as e:
        fm.resolve(small, target=f"cycles={goal}")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"cycles={goal} cannot be met: the fastest folding needs {best} clocks per image "
                          f"(its slowest engine, ")
    assert msg.endswith(f"ask for cycles={best} or more, or for target 'fastest' (TARGET=fastest) to build that one")


def test_unmet_target_on_a_recomputed_stem(small):
    f = fm.resolve(small, target="fastest", stem="recompute")
    best = _slowest(small, f, stem="recompute")
    with pytest.raises(ValueError, match=f"^cycles=100 cannot be met: the fastest folding needs {best} clocks"):
        fm.resolve(small, target="cycles=100", stem="recompute")


@pytest.mark.parametrize("target, message", [
    ("cycles=fast", "a cycle target is written cycles=N (N clocks per image, a positive integer), not 'cycles=fast'"),
    ("cycles=", "a cycle target is written cycles=N (N clocks per image, a positive integer), not 'cycles='"),
    ("cycles=0", "a cycle target must be a positive integer, not 0"),
    ("cycles=-5", "a cycle target must be a positive integer, not -5"),
    (0, "a cycle target must be a positive integer, not 0"),
    ("fast", "target must be 'area', 'fastest', 'cycles=N' or a cycle count, not 'fast'"),
    (2.5, "target must be 'area', 'fastest', 'cycles=N' or a cycle count, not 2.5"),
    (True, "target must be 'area', 'fastest', 'cycles=N' or a cycle count, not True"),
])
def test_bad_targets_are_one_clear_error(small, target, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fm.resolve(small, target=target)


def test_area_target(small):
    assert [str(f) for f in fm.resolve(small, target="area")] == ["1x1", "1x1", "1x1"]


# ---------------------------------------------------------------------------------------------
# the command line

@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "lanes_small"
    save_bundle(random_bundle(0), run / "model")
    load_bundle(run / "model")
    return run


def _flow(*args):
    return subprocess.run([sys.executable, "-m", "flow", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("args, needles", [
    (("--lanes", "100000"), ("lanes must be a whole number of MAC lanes per layer from 1 to 4096, not 100000",)),
    (("--lanes", "3.5"), ("from 1 to 4096, not '3.5'",)),
    (("--lanes", "3"), ("lanes=3: layer l1", "it can have 1, 2, 4")),
    (("--lanes", "4,3,16"), ("lanes=4,3,16: layer l2",)),
    (("--target", "cycles=100"), ("cycles=100 cannot be met", "TARGET=fastest")),
    (("--lanes", "4", "--fold", "1x1"), ("give one of lanes, folding or target",)),
    (("--pixel-lanes", "2"), ("pixel_lanes=2: only an fc stem takes several pixels a beat",)),
    (("--pixel-lanes", "0"), ("--pixel-lanes (PIXEL_LANES=)",)),
    (("--skip-zero-pixels", "lines"), ("--skip-zero-pixels (SKIP_ZERO_PIXELS=) must be one of 0, 1, words, lanes, "
                                       "not 'lines'",)),
    (("--skip-zero-pixels", "lanes"), ("skip_zero_pixels: only an fc stem skips zero pixels",)),
    (("--rom-logic-depth", "-1"), ("--rom-logic-depth (ROM_LOGIC_DEPTH=) must be a whole number >= 0",)),
    (("--carry-cells", "ecp5"), ("hand-places the adders of event-driven layers and 8-bit multipliers in logic, "
                                 "and this network has neither",)),
    (("--carry-cells", "ice40"), ("--carry-cells (CARRY_CELLS=)",)),
    (("--int8-lanes", "dsp"), ("int8_lanes='dsp' places the lanes of 8-bit weights, and this network has none",)),
    (("--int8-lanes", "gpu"), ("--int8-lanes (INT8_LANES=)",)),
])
def test_cli_refuses_with_one_line(small_run, args, needles):
    p = _flow("rtl", small_run, *args)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr + p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not (build_dir(str(small_run)) / "rtl").exists()


# ---------------------------------------------------------------------------------------------
# pixels per beat

def test_pixel_lanes_are_honoured_or_refused(digits_shaped, small):
    """Several pixels a beat: the loader's clocks per image fall to ``features / pixel_lanes``
    (and a search plans with that); a count that does not divide the stem's ``simd`` and the
    features, a conv stem, or a count that is not a positive integer is refused in one line."""
    one = from_bundle(digits_shaped, folding=["8x8", "10x8"])
    four = from_bundle(digits_shaped, folding=["8x8", "10x8"], pixel_lanes=4)
    assert (one.pixel_beats, four.pixel_beats) == (64, 16)
    assert (engine_times(one)["loader"], engine_times(four)["loader"]) == (64, 16)
    for bad, needle in ((3, "pixel_lanes=3 must divide the input's 64 features and the stem's simd=8"),
                        (16, "choose one of [1, 2, 4, 8]"), (0, "must be a positive integer, not 0"),
                        (True, "not True"), (2.0, "not 2.0")):
        with pytest.raises(ValueError) as e:
            from_bundle(digits_shaped, folding=["8x8", "10x8"], pixel_lanes=bad)
        assert needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError, match="only an fc stem takes several pixels a beat"):
        from_bundle(small, lanes=1, pixel_lanes=2)
    # a target search plans with them: 60 clocks an image are out of reach one pixel a beat (the
    # loader alone takes 64), within reach two a beat, with a stem that takes whole beats
    with pytest.raises(ValueError, match="cycles=60 cannot be met"):
        from_bundle(digits_shaped, target="cycles=60")
    cfg = from_bundle(digits_shaped, target="cycles=60", pixel_lanes=2)
    times = engine_times(cfg)
    assert cfg.pixel_layout.simd % 2 == 0 and times["loader"] == 32 and max(times.values()) <= 60


def test_skip_zero_pixels_is_honoured_or_refused(digits_shaped, small):
    """An fc stem that skips zero pixel words walks the loader's list (not the pixels while they
    arrive), and its estimate follows the share of non-zero words it is given; the worst case
    (every word non-zero) is the dense schedule's.  A conv stem, or a setting that is not a
    bool, is refused in one line."""
    from rtl_gen.emit import describe

    dense = from_bundle(digits_shaped, folding=["8x8/4", "10x8"])
    half = from_bundle(digits_shaped, folding=["8x8/4", "10x8"], skip_zero_pixels=True, activity={"l1": 0.5})
    stem = half.layers[0].synapse
    assert stem.skip_zero_inputs and not stem.trailing and half.pixel_layout.events
    assert dense.layers[0].synapse.trailing and not dense.pixel_layout.events
    assert stem.fold_lengths() == [4] * stem.out_folds and dense.layers[0].synapse.fold_lengths() == [8] * 16
    # the stem's clocks per image follow the share (its folds drain in 2 clocks, so they do not
    # bound it); its worst case is the dense schedule
    assert engine_times(half)["l1_synapse"] < 0.6 * engine_times(dense)["l1_synapse"]
    est = describe(half)["estimate"]
    assert est["worst_cycles_per_inference"] == describe(dense)["estimate"]["cycles_per_inference"]
    with pytest.raises(ValueError, match="skip_zero_pixels: only an fc stem skips zero pixels"):
        from_bundle(small, lanes=1, skip_zero_pixels=True)
    with pytest.raises(ValueError, match=r"skip_zero_pixels must be one of \(False, True, 'words', 'lanes'\), not 1"):
        from_bundle(digits_shaped, folding=["8x8/4", "10x8"], skip_zero_pixels=1)


def test_lane_lists_are_honoured_or_refused(digits_shaped, small):
    """A stem whose lanes keep their own lists of non-zero pixels takes any ``simd`` (here 5:
    lane ``j`` holds pixels ``j, j + 5, ...``); each fold walks the longest list, so its
    clocks follow that list's share; a beat of up to ``simd`` pixels; the worst case (every
    pixel non-zero) walks every word.  Refused in one line: a recomputed stem, a conv stem, a
    beat wider than ``simd``, a non-power-of-two ``simd`` without lane lists."""
    import numpy as np

    from rtl_gen.config import lane_list_lengths
    from rtl_gen.emit import describe

    cfg = from_bundle(digits_shaped, folding=["8x5/4", "10x8"], skip_zero_pixels="lanes", pixel_lanes=4,
                      activity={"l1": 0.5})
    stem = cfg.layers[0].synapse
    assert stem.lane_lists and stem.skip_zero_inputs and not stem.trailing and cfg.pixel_layout.lane_lists
    assert stem.cf == 13 and stem.fold_lengths() == [6] * stem.out_folds          # round(0.5 * 13)
    assert not stem.registered_terms and cfg.readout.synapse.registered_terms
    full = describe(from_bundle(digits_shaped, folding=["8x5/4", "10x8"], skip_zero_pixels="lanes", pixel_lanes=4,
                                activity={"l1": 1.0}))["estimate"]
    assert describe(cfg)["estimate"]["worst_cycles_per_inference"] == full["cycles_per_inference"]
    assert engine_times(cfg)["l1_synapse"] < 0.7 * engine_times(from_bundle(
        digits_shaped, folding=["8x5/4", "10x8"], skip_zero_pixels="lanes", pixel_lanes=4))["l1_synapse"]
    # the longest list: lane j holds values j, j + simd, ... (the last word padded with zeros)
    v = np.array([[1, 0, 0, 2, 3, 0, 0], [0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1]])
    assert lane_list_lengths(v, 3).tolist() == [2, 0, 3] and lane_list_lengths(v, 7).tolist() == [1, 0, 1]
    for kw, needle in ((dict(stem="recompute"), "skip_zero_pixels='lanes' needs the cached stem"),
                       (dict(pixel_lanes=8), "pixel_lanes=8 must divide the input's 64 features and be at most the "
                                             "stem's simd=5"),
                       (dict(skip_zero_pixels="words"), "simd=5 must be a power of two (any width only for an fc "
                                                        "stem whose lanes list")):
        with pytest.raises(ValueError) as e:
            from_bundle(digits_shaped, folding=["8x5/4", "10x8"], **{"skip_zero_pixels": "lanes", **kw})
        assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)
    with pytest.raises(ValueError, match="skip_zero_pixels: only an fc stem skips zero pixels"):
        from_bundle(small, lanes=1, skip_zero_pixels="lanes")


def test_rom_logic_depth_is_honoured_or_refused(digits_shaped):
    """``rom_logic_depth``: ROMs of at most that many words are LUT logic, deeper ones block RAM,
    in the RTL and the estimate alike: the digits-shaped readout's 64-word weight ROM and the
    stem's 64-word requantizer tables leave the logic for block RAMs at 32; a negative depth is
    refused in one line."""
    from rtl_gen.emit import describe
    from rtl_gen.estimate import resources

    fold = ["16x4/2", "10x2"]
    default = from_bundle(digits_shaped, folding=fold)
    low = from_bundle(digits_shaped, folding=fold, rom_logic_depth=32)
    ro, ro_low = default.readout.synapse, low.readout.synapse
    assert ro.rom_logic_depth == 64 and ro_low.rom_logic_depth == 32 and low.layers[0].requant.rom_logic_depth == 32
    assert ro.weight_rom_shape[0] == 64 and (ro.weight_stages, ro_low.weight_stages) == (1, 2)
    a, b = resources(default), resources(low)
    assert b["brams"] > a["brams"] and b["luts"] < a["luts"], (a, b)
    assert describe(low)["rom_logic_depth"] == 32
    with pytest.raises(ValueError) as e:
        from_bundle(digits_shaped, folding=fold, rom_logic_depth=-1)
    assert "rom_logic_depth must be a whole number >= 0" in str(e.value) and "\n" not in str(e.value)


def test_int8_lanes_in_dsp_blocks_are_honoured_or_refused(small, tmp_path):
    """``int8_lanes="dsp"``: the 8-bit stem's and classifier's lanes multiply in a DSP block each
    (no LUTs for them, a block per lane in the estimate, config.json says so, the lane pipeline
    is the registers on both sides of the block); ternary layers are untouched.  Carry cells then
    have no 8-bit adders left; a network without 8-bit weights, or another value, is refused."""
    from rtl_gen.emit import describe
    from rtl_gen.estimate import resources
    from rtl_gen.hw import DSP_LANDING
    from rtl_gen.synapse import SynapseEngine

    net8 = random_bundle(5, input_shape=(1, 8, 8), layers=(("conv", 4, 3, 1, 1, 1), ("conv", 8, 3, 1, 1, 2)), classes=3,
                         stem_weights="int8", readout_weights="int8")
    fold = ["4x1/2", "8x4/2", "3x8"]
    logic, dsp = from_bundle(net8, folding=fold), from_bundle(net8, folding=fold, int8_lanes="dsp")
    syns = [layer.synapse for layer in list(dsp.layers) + [dsp.readout]]
    assert [s.int8_lanes for s in syns] == ["dsp", "logic", "dsp"]
    a, b = resources(logic), resources(dsp)
    assert b["dsps"] - a["dsps"] == 4 * 1 + 3 * 8 and b["luts"] < a["luts"] - 28 * 40, (a, b)
    assert describe(dsp)["int8_lanes"] == "dsp" and describe(logic)["int8_lanes"] == "logic"
    # the stem's lanes (one each, no tree): the operand registers, then DSP_LANDING past the block
    assert SynapseEngine(syns[0]).mac_latency == 1 + DSP_LANDING
    assert SynapseEngine(syns[2]).mac_latency == 1 + DSP_LANDING + 3      # 8 lanes: a 3-level tree
    for kw, needle in ((dict(bundle=small, folding=["4x1/2", "4x4/2", "2x8"], int8_lanes="dsp"),
                        "int8_lanes='dsp' places the lanes of 8-bit weights, and this network has none"),
                       (dict(bundle=net8, folding=fold, int8_lanes="gpu"), "int8_lanes must be one of"),
                       (dict(bundle=net8, folding=fold, int8_lanes="dsp", carry_cells="ecp5"),
                        "8-bit multipliers in logic, and this network has neither")):
        with pytest.raises(ValueError) as e:
            from_bundle(kw.pop("bundle"), **kw)
        assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_carry_cells_are_honoured_or_refused(small, tmp_path):
    """``carry_cells="ecp5"``: the event-driven layers' adders and the 8-bit multipliers' first
    adders become hand-placed ECP5 carry cells (rtl_gen/carry.py), in the Verilog (which then
    ends with the cells' wrapper), the estimate and config.json; dense ternary layers keep
    plain adders.  A network with neither, or another family, is refused in one line."""
    from rtl_gen.emit import describe, emit
    from rtl_gen.estimate import resources

    net = random_bundle(5, input_shape=(1, 8, 8), layers=(("conv", 4, 3, 1, 1, 1), ("conv", 8, 3, 1, 1, 2)), classes=3)
    fold = ["4x1/2", "8x4/2e", "3x8"]
    plain = from_bundle(net, folding=fold)
    cells = from_bundle(net, folding=fold, carry_cells="ecp5")
    assert [layer.synapse.carry_cells for layer in cells.layers] == [None, "ecp5"]
    assert resources(cells)["luts"] < resources(plain)["luts"]
    assert describe(cells)["carry_cells"] == "ecp5" and describe(plain)["carry_cells"] is None
    text = Path(emit(cells, tmp_path / "rtl")["verilog"]).read_text()
    assert "module hdlif_ccu2c" in text and text.count("hdlif_ccu2c ") > 8 * 9
    assert "hdlif_ccu2c" not in Path(emit(plain, tmp_path / "plain")["verilog"]).read_text()
    # 8-bit stem and classifier: their multipliers' first adders take cells too, dense or not
    net8 = random_bundle(5, input_shape=(1, 8, 8), layers=(("conv", 4, 3, 1, 1, 1), ("conv", 8, 3, 1, 1, 2)), classes=3,
                         stem_weights="int8", readout_weights="int8")
    dense8 = from_bundle(net8, folding=["4x1/2", "8x4/2", "3x8"], carry_cells="ecp5")
    assert [layer.synapse.carry_cells for layer in list(dense8.layers) + [dense8.readout]] == ["ecp5", None, "ecp5"]
    for kw, needle in ((dict(bundle=small, folding=["4x1/2", "4x4/2", "2x8"], carry_cells="ecp5"),
                        "and this network has neither"),
                       (dict(bundle=net, folding=fold, carry_cells="ice40"), "carry_cells must be one of")):
        with pytest.raises(ValueError) as e:
            from_bundle(kw.pop("bundle"), **kw)
        assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)
