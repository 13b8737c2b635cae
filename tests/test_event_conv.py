"""The event-driven conv synapse against the golden convolution, on random configurations.

Every case is drawn from a seed (printed on failure): kernel 1 to 5 with any padding, 2 x 2
pooling or none, frames from 1 x 1 up, any channel count, ``pe`` and ``nl`` at their extremes,
ternary / binary / int8 weights, and codes from all-zero to all at their largest, with random
sparsity.  Two items run back to back (the second started as soon as the engine is idle), and
every sum, the clock of the item's last sum, its ``done`` and the next start equal the model
(:meth:`rtl_gen.event_conv.EventConvSynapse.item_timing`).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.executor import conv2d
from rtl_gen.config import Folding, SynapseConfig
from rtl_gen.event_conv import EventConvSynapse

SEED = int(os.environ.get("HDLIF_EVENT_SEED", "20"))
CASES = int(os.environ.get("HDLIF_EVENT_CASES", "14"))


def draw(seed: int) -> tuple[SynapseConfig, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    k = int(rng.choice([1, 2, 3, 3, 3, 5]))
    p = int(rng.integers(0, k))
    pool = int(rng.choice([1, 2]))
    H, W = (int(v) for v in rng.integers(1, 8, 2))
    if pool == 2:
        H, W = max(H, k - 2 * p + 1), max(W, k - 2 * p + 1)       # at least a 2 x 2 conv output
    H, W = max(H, k - 2 * p), max(W, k - 2 * p)
    if k == 1 and H == W == 1:
        W = 2                                                       # a 1 x 1 conv of one pixel is an fc layer
    C = int(rng.choice([1, 2, 3, 5, 8, 16]))
    O = int(rng.choice([1, 2, 4, 6, 8]))
    pe = int(rng.choice([d for d in range(1, O + 1) if O % d == 0]))
    nl = int(rng.choice([d for d in (1, 2, 4, 8) if pe % d == 0 and O % d == 0]))
    kind = str(rng.choice(["ternary", "ternary", "binary", "int8"]))
    in_bits = int(rng.choice([1, 2, 4, 8]))
    lo = -127 if kind == "int8" else -1
    w = rng.integers(lo, -lo + 1, size=(O, C, k, k))
    if kind == "binary":
        w = np.where(w == 0, 1, w)
    simd = 1 << (C - 1).bit_length()
    cfg = SynapseConfig(name="ev", channels=C, height=H, width=W, out_channels=O, kernel=k, padding=p, pool=pool,
                        weight=w, weight_kind=kind, in_bits=in_bits, acc_bits=24, fold=Folding(pe=pe, simd=simd, nl=nl),
                        T=3, event=True)
    frames = []
    for n in range(2):
        density = float(rng.choice([0.0, 0.1, 0.5, 1.0]))
        x = rng.integers(1, 2 ** in_bits, size=(C, H, W)) * (rng.random((C, H, W)) < density)
        if n == 1 and rng.random() < 0.5:
            x[:] = 2 ** in_bits - 1                                 # every code at its largest
        frames.append(x.astype(np.int64))
    if rng.random() < 0.5:
        # the adders in hand-placed ECP5 carry cells (rtl_gen.carry), simulated as their model
        cfg = dataclasses.replace(cfg, carry_cells="ecp5")
    return cfg, frames


def run(cfg: SynapseConfig, frames: list[np.ndarray]):
    mem = {}
    for n, x in enumerate(frames):
        for y in range(cfg.height):
            for xx in range(cfg.width):
                word = 0
                for ch in range(cfg.channels):
                    word |= int(x[ch, y, xx]) << (ch * cfg.in_bits)
                mem[(n % 2) * cfg.words + y * cfg.width + xx] = word
    dut = EventConvSynapse(cfg, carry_model=True)
    got = [[] for _ in frames]
    log = {"start": [], "done": [], "last": []}

    async def bench(ctx):
        clock, item, data = 0, 0, 0
        limit = 200 + 40 * len(frames) * (cfg.height + cfg.padding) * (cfg.width + cfg.padding) * \
            cfg.out_folds * (cfg.channels + cfg.kernel + 4 + cfg.groups_per_fold)
        while clock < limit:
            ctx.set(dut.rd_data, data)
            data = mem.get(ctx.get(dut.rd_addr), 0)
            go = item < len(frames) and not ctx.get(dut.busy)
            ctx.set(dut.start, go)
            if go:
                ctx.set(dut.slot_off, (item % 2) * cfg.words)
                ctx.set(dut.t, item)
                log["start"].append(clock)
                item += 1
            if ctx.get(dut.done):
                log["done"].append(clock)
            if ctx.get(dut.out_valid):
                word = ctx.get(dut.out_data)
                n = ctx.get(dut.out_t)
                for j in range(cfg.fold.nl):
                    v = (word >> (j * cfg.acc_bits)) & ((1 << cfg.acc_bits) - 1)
                    got[n].append(v - (1 << cfg.acc_bits) if v >> (cfg.acc_bits - 1) else v)
                if ctx.get(dut.out_last):
                    log["last"].append(clock)
            await ctx.tick()
            clock += 1
        assert not ctx.get(dut.busy)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, log


def _corner(seed: int, *, k: int, p: int, pool: int, C: int, H: int, W: int, O: int, pe: int, nl: int,
            carry_cells=None):
    """A drawn case with its geometry and folding given (the weights and codes still drawn)."""
    rng = np.random.default_rng(seed)
    cfg = SynapseConfig(name="ev", channels=C, height=H, width=W, out_channels=O, kernel=k, padding=p, pool=pool,
                        weight=rng.integers(-1, 2, size=(O, C, k, k)), weight_kind="ternary", in_bits=4, acc_bits=24,
                        fold=Folding(pe=pe, simd=1 << (C - 1).bit_length(), nl=nl), T=3, event=True,
                        carry_cells=carry_cells)
    frames = [(rng.integers(1, 16, size=(C, H, W)) * (rng.random((C, H, W)) < d)).astype(np.int64) for d in (0.5, 1.0)]
    return cfg, frames


#: the serializer's two forms: a shadow per bank (k x pe/nl words at most
#: EventConvSynapse.BANK_SHADOW_WORDS) and one shadow behind the banks' multiplexer, shifted out;
#: and a read-after-write corner: k = 2 in a pooling block's order (the next pixel one row up
#: reads as row 0 what its predecessor wrote as row 1), pixels at their minimum beats, where a
#: bank read ahead of the flush without a longer minimum reads stale sums
CORNERS = {"pooling order, k = 2, minimum beats": dict(k=2, p=0, pool=2, C=2, H=4, W=7, O=1, pe=1, nl=1),
           "bank shadows, 3 x 8 words": dict(k=3, p=1, pool=2, C=5, H=6, W=5, O=16, pe=8, nl=1, carry_cells="ecp5"),
           "one shadow, shifted, 5 x 8 words": dict(k=5, p=2, pool=1, C=3, H=4, W=5, O=8, pe=8, nl=1),
           "one shadow, shifted, 3 x 16 words": dict(k=3, p=1, pool=1, C=2, H=3, W=4, O=16, pe=16, nl=1,
                                                     carry_cells="ecp5")}


@pytest.mark.parametrize("corner", sorted(CORNERS))
def test_event_conv_corners(corner):
    cfg, frames = _corner(SEED, **CORNERS[corner])
    assert EventConvSynapse.bank_shadows(cfg) == corner.startswith("bank shadows")
    _check(cfg, frames, f"{corner} (seed {SEED})")


@pytest.mark.parametrize("case", range(CASES))
def test_event_conv_matches_golden_and_its_timing(case):
    seed = SEED * 1000 + case
    cfg, frames = draw(seed)
    _check(cfg, frames, f"seed {seed}")


def _check(cfg, frames, what: str):
    """Every sum of both items against the golden convolution, and their clocks against the
    engine's timing model."""
    where = (f"{what}: k={cfg.kernel} p={cfg.padding} pool={cfg.pool} {cfg.channels}x{cfg.height}x{cfg.width} "
             f"-> {cfg.out_channels}, fold {cfg.fold}, {cfg.weight_kind}, {cfg.in_bits}-bit codes, "
             f"carry cells {cfg.carry_cells}")
    got, log = run(cfg, frames)
    order = [(o, y, x) for (y, x) in cfg.position_list() for o in range(cfg.out_channels)]
    for n, x in enumerate(frames):
        want = conv2d(x[None], cfg.weight, 1, cfg.padding)[0]
        assert len(got[n]) == len(order), where
        for i, (o, y, xx) in enumerate(order):
            assert got[n][i] == want[o, y, xx], f"{where}: item {n}, channel {o}, position ({y}, {xx})"
    assert len(log["start"]) == 2 and len(log["last"]) == 2 and len(log["done"]) == 2, (where, log)
    for n, x in enumerate(frames):
        tm = EventConvSynapse.item_timing(cfg, log["start"][n], EventConvSynapse.item_nnz(cfg, x))
        assert log["last"][n] == tm["last_out"], (where, n, log, tm)
        assert log["done"][n] == tm["release"], (where, n, log, tm)
        if n == 0:
            assert log["start"][1] == tm["next"], (where, log, tm)


def test_event_entries_finish_positions_in_sweep_order():
    """Each position is finished by the pixel that contributes to it last, in sweep order."""
    for seed in range(60):
        cfg, _ = draw(seed)
        k, p, d = cfg.kernel, cfg.padding, cfg.event_d
        ents = cfg.event_entries()
        when = {(e.iy, e.ix): n for n, e in enumerate(ents)}
        emitted = [(e.iy - d, e.ix - d) for e in ents if e.emit]
        assert emitted == cfg.position_list(), seed
        for (y, x) in emitted:
            contrib = [when[(y - p + ky, x - p + kx)] for ky in range(k) for kx in range(k)
                       if 0 <= y - p + ky < cfg.height and 0 <= x - p + kx < cfg.width]
            assert max(contrib, default=-1) <= when[(y + d, x + d)], seed
        assert sum(e.last_emit for e in ents) == 1


def test_event_config_refusals():
    w = np.zeros((4, 3, 3, 3), np.int64)
    base = dict(name="ev", channels=3, height=4, width=4, out_channels=4, kernel=3, padding=1, weight=w,
                in_bits=4, acc_bits=12, T=2, event=True)
    with pytest.raises(ValueError, match="whole pixel per word"):
        SynapseConfig(**base, fold=Folding(pe=2, simd=2))
    with pytest.raises(ValueError, match="stride 1"):
        SynapseConfig(**{**base, "stride": 2}, fold=Folding(pe=2, simd=4))
    with pytest.raises(ValueError, match="fc layer"):
        SynapseConfig(name="ev", channels=3, out_channels=4, weight=np.zeros((4, 3, 1, 1), np.int64), in_bits=4,
                      acc_bits=12, T=2, event=True, fold=Folding(pe=2, simd=4))
    SynapseConfig(**base, fold=Folding(pe=2, simd=4))


def test_event_folding_and_option_choose_layers_and_refuse_what_cannot_be():
    """``32x16/8e`` and ``EVENT=`` pick the same layers; the stem, fc layers, unknown names and a
    simd that does not cover the channels are refused with one line naming the layer."""
    from golden.synthetic import random_bundle
    from rtl_gen.config import event_layers
    from rtl_gen.folding import from_bundle

    f = Folding.parse("32x16/8e")
    assert (f.pe, f.simd, f.nl, f.event) == (32, 16, 8, True) and str(f) == "32x16/8e"
    assert not Folding.parse("4x2").event
    b = random_bundle(3, input_shape=(1, 8, 8), layers=(("conv", 4, 3, 1, 1, 2), ("conv", 8, 3, 1, 1, 1),
                                                       ("fc", 6)), classes=3, T=2)
    assert event_layers(b, "all") == {"l2"} and event_layers(b, "auto") == frozenset()
    a = from_bundle(b, folding=["4x1/2", "8x4e", "6x8", "3x2"])
    c = from_bundle(b, folding=["4x1/2", "8x4", "6x8", "3x2"], event="l2")
    assert [layer.synapse.event for layer in a.layers] == [False, True, False]
    assert [layer.synapse.event for layer in c.layers] == [False, True, False]
    assert a.foldings["l2"] == "8x4e" == c.foldings["l2"]
    with pytest.raises(ValueError, match="stem reads pixels"):
        from_bundle(b, folding=["4x1/2e", "8x4", "6x8", "3x2"])
    with pytest.raises(ValueError, match="layer l3 cannot be event-driven"):
        from_bundle(b, folding=["4x1/2", "8x4", "6x8", "3x2"], event="l3")
    with pytest.raises(ValueError, match="unknown layer 'conv9'"):
        event_layers(b, "conv9")
    with pytest.raises(ValueError, match="whole pixel per word"):
        from_bundle(b, folding=["4x1/2", "8x2e", "6x8", "3x2"])


def test_a_cycle_target_search_makes_a_layer_event_driven_only_where_that_reaches_the_goal():
    """EVENT=auto: a sparse layer of many input channels reaches a cycle count that no dense
    folding does, so the search makes it event-driven; with EVENT=none that goal is refused."""
    from golden.synthetic import random_bundle
    from rtl_gen.estimate import engine_times
    from rtl_gen.folding import from_bundle

    b = random_bundle(5, input_shape=(1, 12, 12), layers=(("conv", 64, 1, 1, 0, 1), ("conv", 8, 3, 1, 1, 1)),
                      classes=2, T=1)
    act = {"l2": 0.02}
    dense = from_bundle(b, target="fastest", event="none", activity=act)
    fastest_dense = max(engine_times(dense).values())
    ev = from_bundle(b, target="fastest", event="auto", activity=act)
    assert ev.foldings["l2"].endswith("e"), ev.foldings
    goal = max(engine_times(ev).values())
    assert goal < fastest_dense
    with pytest.raises(ValueError, match="cannot be met"):
        from_bundle(b, target=f"cycles={goal}", event="none", activity=act)
    assert from_bundle(b, target=f"cycles={goal}", event="auto", activity=act).foldings["l2"].endswith("e")
