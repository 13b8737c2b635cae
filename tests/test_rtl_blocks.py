"""Amaranth blocks against the golden model, in Amaranth's own simulator (fast, no Verilator).

Every block on random configurations and random data, with the extremes: the largest and the
most negative accumulations (saturated spike codes, the membrane's lower bound), all-zero
inputs, every code at its largest value, and random idle clocks between requests.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.bounds import hdlif_widths
from golden.bundle import HDLIFLayer
from golden.executor import conv2d, hdlif_step, max_pool, sum_pool
from rtl_gen.buffers import SlotTracker
from rtl_gen.config import Folding, NeuronConfig, RequantConfig, SynapseConfig
from rtl_gen.neuron_core import HDLIFCore
from rtl_gen.pool import MaxPool, SumPool
from rtl_gen.requant import Requant
from rtl_gen.synapse import SynapseEngine
from rtl_gen.ternary_mac import TernaryMAC
from rtl_gen.window import WindowGenerator


def _run(dut, testbench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


# ---------------------------------------------------------------------------------------------
# MAC lanes

def _encode(w, kind: str) -> int:
    bits = {"ternary": 2, "binary": 1, "int8": 8}[kind]
    word = 0
    for k, v in enumerate(w):
        v = int(v)
        code = ((v != 0) | ((v < 0) << 1)) if kind == "ternary" else (int(v < 0) if kind == "binary" else v & 0xFF)
        word |= code << (bits * k)
    return word


@pytest.mark.parametrize("lanes, in_bits, kind, cells", [
    (1, 4, "ternary", None), (4, 4, "ternary", None), (16, 5, "ternary", None), (8, 8, "ternary", None),
    (5, 4, "binary", None), (3, 8, "int8", None), (1, 5, "int8", None),
    # int8 lanes whose first partial-product adders are ECP5 carry cells (their model)
    (3, 8, "int8", "ecp5"), (2, 5, "int8", "ecp5"), (1, 2, "int8", "ecp5"), (2, 1, "int8", "ecp5"),
    # int8 lanes multiplying in DSP blocks (int8_lanes="dsp")
    (3, 8, "int8", "dsp"), (1, 8, "int8", "dsp"), (5, 4, "int8", "dsp"), (2, 1, "int8", "dsp")])
def test_mac_lanes_match_dot_product(lanes, in_bits, kind, cells):
    rng = np.random.default_rng(lanes * 31 + in_bits)
    dsp = cells == "dsp"
    dut = TernaryMAC(lanes=lanes, in_bits=in_bits, weights=kind, carry_cells=None if dsp else cells,
                     carry_model=True, int8_lanes="dsp" if dsp else "logic")
    lo = {"ternary": -1, "binary": -1, "int8": -127}[kind]
    hi = -lo

    def w_rand():
        w = rng.integers(lo, hi + 1, lanes)
        return np.where(w == 0, 1, w) if kind == "binary" else w

    top = 2 ** in_bits - 1
    cases = [(np.full(lanes, top), np.full(lanes, lo)),       # every code at its largest, most negative
             (np.full(lanes, top), np.full(lanes, hi)),
             (np.zeros(lanes, int), w_rand())]                 # all-zero input
    cases += [(rng.integers(0, top + 1, lanes), w_rand()) for _ in range(40)]
    got = []

    async def testbench(ctx):
        for i in range(len(cases) + dut.latency):
            if i < len(cases):
                x, w = cases[i]
                ctx.set(dut.codes, sum(int(v) << (in_bits * k) for k, v in enumerate(x)))
                ctx.set(dut.weights, _encode(w, kind))
            await ctx.tick()
            if i + 1 >= dut.latency:
                got.append(ctx.get(dut.sum))

    _run(dut, testbench)
    want = [int(np.dot(x, w)) for x, w in cases]
    assert got[:len(want)] == want


# ---------------------------------------------------------------------------------------------
# Window generator and synapse engine

def _syn_cfg(seed, *, C=3, H=6, W=5, O=4, k=3, s=1, p=1, pool=1, fold=Folding(pe=2, simd=2), kind="ternary",
             in_bits=4, skip=False, fc=False, int8_lanes="logic"):
    rng = np.random.default_rng(seed)
    if fc:
        H = W = k = s = 1
        p, pool = 0, 1
    lo = -127 if kind == "int8" else -1
    w = rng.integers(lo, -lo + 1, size=(O, C, k, k))
    if kind == "binary":
        w = np.where(w == 0, 1, w)
    if skip:
        w[:, :, 0, :] = 0                       # whole zero weight blocks to drop
    return SynapseConfig(name="s", channels=C, height=H, width=W, out_channels=O, kernel=k, stride=s, padding=p,
                         pool=pool, weight=w, weight_kind=kind, in_bits=in_bits, acc_bits=24, fold=fold, T=2,
                         skip_zero_weights=skip, int8_lanes=int8_lanes)


def _window_model(c: SynapseConfig):
    """(address, in-bounds) of every beat of one item, straight from the geometry."""
    out = []
    for (y, x) in c.position_list():
        for e in c.schedule():
            row, col = y * c.stride + e.di, x * c.stride + e.dj
            inb = 0 <= row < c.height and 0 <= col < c.width
            out.append(((row * c.width + col) * c.cf + e.cf if inb else 0, inb))
    return out


@pytest.mark.parametrize("geo", [dict(k=3, s=1, p=1), dict(k=3, s=2, p=0, H=7, W=7), dict(k=2, s=2, p=1, pool=2),
                                 dict(k=3, s=1, p=1, pool=2, H=7, W=6), dict(k=1, s=1, p=0), dict(fc=True, C=19),
                                 dict(k=3, s=1, p=2, skip=True, fold=Folding(pe=1, simd=1)),
                                 # 144 schedule entries: the ROM is block RAM, its word registered twice (S1b)
                                 dict(k=3, s=2, p=1, H=4, W=3, C=8, O=8, fold=Folding(pe=2, simd=2))])
def test_window_addresses_stride_padding_pool(geo):
    c = _syn_cfg(7, **geo)
    dut = WindowGenerator(c)
    want = _window_model(c)
    got, first = [], []

    async def testbench(ctx):
        ctx.set(dut.slot_off, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for cyc in range(len(want) + 10):
            if ctx.get(dut.valid):
                got.append((ctx.get(dut.addr), bool(ctx.get(dut.inb))))
                first.append(cyc)
            await ctx.tick()

    _run(dut, testbench)
    assert got == want
    # the first beat leaves S4 latency_of clocks after its S0 (the clock after start), one beat a clock
    assert first[0] == WindowGenerator.latency_of(c) and first == list(range(first[0], first[0] + len(want)))
    assert WindowGenerator.schedule_stages(c) == (2 if len(c.schedule()) > 64 and not c.is_fc else 1)
    if geo.get("skip"):
        assert c.beats_per_position < c.out_folds * c.kernel ** 2 * c.cf


@pytest.mark.parametrize("events, pe, nl", [([1, 4, 6], 2, 1), ([0], 2, 1), ([], 2, 1), ([2, 5], 6, 1), ([2, 5], 6, 2),
                                             ([3], 4, 2), ([1, 4, 6], 6, 1)])
def test_window_walks_the_list_of_non_zero_words(events, pe, nl):
    """Zero skipping: each fold visits only the listed words (one zero beat when none is listed),
    also when folds shorter than the serializer's drain (``pe / nl``) stall the window: the list
    is read (``ev_en``) only when the pipeline advances."""
    c = SynapseConfig(name="s", channels=28, out_channels=24, weight=np.ones((24, 28, 1, 1)), in_bits=4, acc_bits=12,
                      fold=Folding(pe=pe, simd=4, nl=nl), T=2, skip_zero_inputs=True)
    nf_all = c.out_folds
    assert c.words == 7
    slot_off = c.words                                   # slot 1
    dut = WindowGenerator(c, min_fold_gap=c.groups_per_fold)
    got = []

    async def testbench(ctx):
        ctx.set(dut.slot_off, slot_off)
        ctx.set(dut.count, len(events))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        data = 0
        for _ in range(120):
            ctx.set(dut.ev_data, data)
            if ctx.get(dut.ev_en):                    # a synchronous read port with an enable
                k = ctx.get(dut.ev_addr) - slot_off
                data = events[k] if 0 <= k < len(events) else 0
            if ctx.get(dut.valid):
                got.append((ctx.get(dut.addr), bool(ctx.get(dut.inb)), ctx.get(dut.entry), bool(ctx.get(dut.first)),
                            bool(ctx.get(dut.last)), bool(ctx.get(dut.last_item))))
            await ctx.tick()

    _run(dut, testbench)
    want = []
    for nf in range(nf_all):
        words = events or [None]
        for n, w in enumerate(words):
            want.append((slot_off + w if w is not None else 0, w is not None, nf * 7 + (w or 0), n == 0,
                         n == len(words) - 1, nf == nf_all - 1 and n == len(words) - 1))
    assert got == want


def test_window_holds_a_fold_end_until_the_serializer_is_free():
    c = _syn_cfg(3, fc=True, C=4, O=8, fold=Folding(pe=8, simd=2))      # folds of 2 beats, 8 groups each
    dut = WindowGenerator(c, min_fold_gap=8)
    last_at = []

    async def testbench(ctx):
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for cyc in range(60):
            if ctx.get(dut.valid) and ctx.get(dut.last):
                last_at.append(cyc)
            await ctx.tick()

    _run(dut, testbench)
    assert len(last_at) == 1 and c.out_folds == 1
    c2 = _syn_cfg(3, fc=True, C=4, O=8, fold=Folding(pe=4, simd=2))   # two folds of 2 beats, gap 4
    dut = WindowGenerator(c2, min_fold_gap=4)
    last_at.clear()
    _run(dut, testbench)
    assert len(last_at) == 2 and last_at[1] - last_at[0] >= 4


@pytest.mark.parametrize("case", [
    dict(kind="ternary", fold=Folding(pe=2, simd=2, nl=1)),
    dict(kind="int8", fold=Folding(pe=4, simd=1, nl=2), in_bits=8, C=1, H=7, W=7, pool=2),
    dict(kind="int8", fold=Folding(pe=2, simd=2, nl=1), in_bits=8, C=2, H=5, W=6, int8_lanes="dsp"),
    dict(kind="binary", fold=Folding(pe=2, simd=4, nl=1), C=5, s=2, p=0, H=7, W=7, stages=2),  # frame: block RAM
    dict(kind="binary", fold=Folding(pe=1, simd=4, nl=1), C=5, s=2, p=0, H=7, W=7),  # ... feeding one channel's lanes
    dict(kind="ternary", fold=Folding(pe=4, simd=8, nl=1), fc=True, C=21),
    dict(kind="ternary", fold=Folding(pe=2, simd=1), skip=True),
    dict(kind="ternary", fold=Folding(pe=8, simd=1), O=8, C=2),                 # shifting serializer
    dict(kind="binary", fold=Folding(pe=8, simd=2), O=8, fc=True, C=8),         # folds of 4 beats: stalls
    dict(kind="int8", fold=Folding(pe=1, simd=1), O=2, fc=True, C=2100, stages=2),  # ROM: 3 stacked BRAMs
    dict(kind="ternary", fold=Folding(pe=2, simd=4), C=8, H=12, W=12, stages=2),      # frame in block RAM
])
def test_synapse_engine_matches_golden_conv(case):
    case = dict(case)
    stages = case.pop("stages", 1)
    c = _syn_cfg(11, **case)
    assert c.read_stages == stages
    # a frame in block RAM gets its own register by the block RAM; a ROM of stacked blocks, its second
    assert c.frame_stages == (2 if 2 * c.words * c.fold.simd * c.in_bits > 1024 and c.fold.pe > 1 else 1)
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2 ** c.in_bits, size=(c.channels, c.height, c.width))
    x[:, 0, :] = 2 ** c.in_bits - 1                                    # every code at its largest
    want = conv2d(x[None], c.weight, c.stride, c.padding)[0]           # [O, Ho, Wo]
    order = [(o, y, xx) for (y, xx) in c.position_list() for o in range(c.out_channels)]
    # the input buffer: H, W, C words of simd codes, slot 1 (offset = words)
    S = c.fold.simd
    mem = {}
    for yy in range(c.height):
        for xx in range(c.width):
            for cf in range(c.cf):
                word = 0
                for lane in range(S):
                    ch = cf * S + lane
                    if ch < c.channels:
                        word |= int(x[ch, yy, xx]) << (lane * c.in_bits)
                mem[c.words + (yy * c.width + xx) * c.cf + cf] = word
    dut = SynapseEngine(c)
    got = []

    async def testbench(ctx):
        ctx.set(dut.slot_off, c.words)
        ctx.set(dut.full, 1)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        data = 0
        for _ in range(c.beats_per_item * 2 + 100):
            ctx.set(dut.rd_data, data)
            data = mem.get(ctx.get(dut.rd_addr), 0)
            if ctx.get(dut.out_valid):
                word = ctx.get(dut.out_data)
                for j in range(c.fold.nl):
                    v = (word >> (j * c.acc_bits)) & ((1 << c.acc_bits) - 1)
                    got.append(v - (1 << c.acc_bits) if v >> (c.acc_bits - 1) else v)
            await ctx.tick()
        assert not ctx.get(dut.busy)

    _run(dut, testbench)
    assert len(got) == len(order)
    for n, (o, y, xx) in enumerate(order):
        assert got[n] == want[o, y, xx], f"output {n}: channel {o}, position ({y}, {xx})"


# ---------------------------------------------------------------------------------------------
# Requantizer

@pytest.mark.parametrize("per_step, lanes, A, M", [(False, 1, 14, 17), (True, 2, 14, 17), (True, 4, 14, 17),
                                                   (False, 2, 20, 17), (True, 1, 40, 17), (True, 2, 13, 23),
                                                   (False, 1, 18, 36), (False, 1, 20, 20)])
def test_requant_per_channel_and_per_step(per_step, lanes, A, M):
    """Accumulators of 20 and 40 bits are multiplied in two and three DSP-sized pieces, a
    multiplier of 23 or 36 bits (a synthetic graph's) in two or three; both wide: one piece."""
    rng = np.random.default_rng(lanes + A)
    T, O = 3, 8
    W = max(40, A + M + 1)
    shape = (T, O) if per_step else (O,)
    mult = rng.integers(-2 ** (M - 1), 2 ** (M - 1), size=shape)
    mult.flat[0], mult.flat[-1] = -2 ** (M - 1), 2 ** (M - 1) - 1                # the extremes of the multiplier
    bias = rng.integers(-2 ** 20, 2 ** 20, size=shape)
    cfg = RequantConfig(channels=O, lanes=lanes, T=T, mult=mult, bias=bias, shift=9, acc_bits=A, product_bits=W,
                        out_bits=W)
    dut = Requant(cfg)
    K = O // lanes
    reqs = [(t, og, rng.integers(-2 ** (A - 1), 2 ** (A - 1), size=lanes)) for t in range(T) for og in range(K)]
    reqs[0] = (0, 0, np.full(lanes, -2 ** (A - 1)))                      # the extremes of the accumulator
    reqs[1] = (0, 1 % K, np.full(lanes, 2 ** (A - 1) - 1))
    got = []

    async def testbench(ctx):
        for i in range(len(reqs) + cfg_lat):
            if i < len(reqs):
                t, og, acc = reqs[i]
                ctx.set(dut.in_t, t)
                ctx.set(dut.in_og, og)
                ctx.set(dut.in_acc, sum((int(a) & ((1 << A) - 1)) << (j * A) for j, a in enumerate(acc)))
            await ctx.tick()
            if i + 1 >= cfg_lat:
                word = ctx.get(dut.out_value)
                vals = [(word >> (j * W)) & ((1 << W) - 1) for j in range(lanes)]
                got.append([v - (1 << W) if v >> (W - 1) else v for v in vals])

    cfg_lat = Requant.latency
    assert cfg.mult_bits == M
    which, ranges = Requant.pieces(A, cfg.mult_bits)
    assert (which, len(ranges)) == {(14, 17): ("acc", 1), (20, 17): ("acc", 2), (40, 17): ("acc", 3),
                                    (13, 23): ("mult", 2), (18, 36): ("mult", 3), (20, 20): ("acc", 1)}[A, M]
    _run(dut, testbench)
    for (t, og, acc), g in zip(reqs, got):
        for j in range(lanes):
            o = og * lanes + j
            m = mult[t, o] if per_step else mult[o]
            b = bias[t, o] if per_step else bias[o]
            assert g[j] == (int(acc[j]) * int(m) + int(b)) >> 9


@pytest.mark.parametrize("n, index_bits", [(1, 1), (3, 2), (4, 2), (5, 3), (24, 5), (9, 6)])
def test_pick_covers_every_index_value(n, index_bits):
    """:func:`rtl_gen.hw.pick`: ``values[i]`` for every index in range, the last value past the end
    (never Amaranth's constant 0, which Yosys maps into LUTs of their own)."""
    from amaranth import Module, Signal

    from rtl_gen.hw import pick

    rng = np.random.default_rng([n, index_bits])
    vals = [int(v) for v in rng.integers(1, 1 << 12, n)]
    m = Module()
    idx, out = Signal(index_bits), Signal(12)
    m.d.comb += out.eq(pick([Signal(12, init=v, name=f"v{i}") for i, v in enumerate(vals)], idx))

    async def bench(ctx):
        for i in range(1 << index_bits):
            ctx.set(idx, i)
            assert ctx.get(out) == vals[min(i, n - 1)], (n, index_bits, i)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("a_bits, b", [(26, 24), (10, 12), (40, 36), (26, -(2 ** 23) + 77), (19, 2 ** 22 + 5),
                                        (5, -3)])
def test_pipelined_mul_is_exact_one_product_a_clock(a_bits, b):
    """:func:`rtl_gen.hw.pipelined_mul`: ``a * b`` from DSP-sized partial products and a registered
    adder tree, a product every clock, :func:`pipelined_mul_latency` clocks later; ``b`` an operand
    of ``b`` bits (an int > 8 here) or, negative or huge, a constant."""
    from amaranth import Module, signed
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from rtl_gen.hw import DSP_LANDING, const_bits, dsp_split, pipelined_mul, pipelined_mul_latency

    const = b < 0 or b > 64
    b_bits = const_bits(b) if const else b
    rng = np.random.default_rng(a_bits)

    class Dut(wiring.Component):
        def __init__(self):
            super().__init__({"a": In(signed(a_bits)), "b": In(signed(b_bits)), "p": Out(signed(a_bits + b_bits + 1))})

        def elaborate(self, platform):
            m = Module()
            m.d.comb += self.p.eq(pipelined_mul(m, self.a, b if const else self.b, "t"))
            return m

    lat = pipelined_mul_latency(a_bits, b_bits)
    n = len(dsp_split(a_bits)) * len(dsp_split(b_bits))
    assert lat == DSP_LANDING + (n - 1).bit_length()
    lo_a, hi_a = -2 ** (a_bits - 1), 2 ** (a_bits - 1) - 1
    lo_b, hi_b = -2 ** (b_bits - 1), 2 ** (b_bits - 1) - 1
    pairs = [(lo_a, lo_b), (hi_a, hi_b), (lo_a, hi_b), (hi_a, lo_b), (0, lo_b), (-1, -1)]
    pairs += [(int(rng.integers(lo_a, hi_a + 1)), int(rng.integers(lo_b, hi_b + 1))) for _ in range(40)]
    if const:
        pairs = [(x, b) for x, _ in pairs]
    dut = Dut()
    got = []

    async def testbench(ctx):
        for i in range(len(pairs) + lat):
            if i < len(pairs):
                ctx.set(dut.a, pairs[i][0])
                if not const:
                    ctx.set(dut.b, pairs[i][1])
            await ctx.tick()
            if i + 1 >= lat:
                got.append(ctx.get(dut.p))

    _run(dut, testbench)
    assert got[:len(pairs)] == [x * y for x, y in pairs]


# ---------------------------------------------------------------------------------------------
# Neuron core

def _neuron_case(seed: int, N: int = 12, T: int = 4, *, per_channel=False, kind="vanilla", lanes=1,
                 reset="value", integrate=False, wide=False):
    rng = np.random.default_rng(seed)
    R = int(rng.integers(200, 40000)) * (64 if wide else 1)
    pshape = (T, N) if per_channel else (T,)
    lam = np.zeros(pshape, np.int64) if kind == "parallel" else rng.integers(0, 4096, size=pshape)
    if seed % 3 == 0 and kind != "parallel":
        lam[1] = 4095          # almost no leak
    if integrate:
        lam[:] = 4096          # IF: no leak at all
    theta = rng.integers(1, 3000, size=pshape)
    frac = int(rng.integers(1, 9))
    max_code = 1 if kind == "lif" else 15
    lif = dict(reset=reset, v_reset=int(rng.integers(-500, 500))) if kind == "lif" else {}
    layer = HDLIFLayer(name="n", in_features=1, out_features=N, weight=np.ones((N, 1), np.int8),
                       mult=np.ones(N, np.int64), bias=np.full(N, -(R // 2)), shift=0,
                       lambda_t=lam, theta_t=theta, lambda_frac=12, frac=frac, max_code=max_code, direct=False,
                       neuron=kind, **lif)
    w = hdlif_widths(layer.weight, R, layer.mult, layer.bias, 0, lam, theta, 12, frac, T, neuron=kind,
                     **lif)
    cfg = NeuronConfig(channels=N, neurons=N, lanes=lanes, T=T, lambda_t=lam, theta_t=theta, lambda_frac=12,
                       frac=frac, max_code=max_code, current_bits=w["current_bits"],
                       membrane_bits=w["membrane_bits"], leak_bits=w["leak_bits"], kind=kind, **lif)
    cur = rng.integers(-(R // 2), R - R // 2 + 1, size=(T, N))
    cur[:, 0] = R - R // 2       # the largest current every step: saturating spike codes
    cur[:, 1] = -(R // 2)        # the most negative: the membrane's lower bound
    cur[:, 2] = 0
    if N > 4:                    # at t = 0 (v = 0): exactly at the threshold, and one below it
        th0 = theta[0] if theta.ndim == 1 else theta[0, 3:5]
        cur[0, 3:5] = np.asarray(th0) - np.array([0, 1])
    return layer, cfg, cur


@pytest.mark.parametrize("N, latency", [(12, 10), (2600, 11)])     # 2600: 1300 membranes a lane, two banks
@pytest.mark.parametrize("early, fails", [(1, True), (0, False)])
def test_a_membrane_read_racing_its_write_is_asserted(N, latency, early, fails):
    """The membrane banks drop Yosys's read-during-write logic (``no_rw_check``): the core
    asserts that no membrane read after step 0 hits the one written in the same clock.  A
    neuron's next step read ``latency - 1`` clocks after the previous one (as its write
    lands) fails; ``latency`` clocks later it passes."""
    _, cfg, _ = _neuron_case(0, N=N, T=4)
    assert HDLIFCore.latency_of(cfg) == latency
    gap = latency - early
    dut = HDLIFCore(cfg)

    async def testbench(ctx):
        ctx.set(dut.in_valid, 1)
        for clock in range(gap + 1):
            ctx.set(dut.in_t, 0 if clock < gap else 1)      # neuron 0 at step 0, then at step 1
            ctx.set(dut.in_addr, clock if clock < gap else 0)
            await ctx.tick()
        ctx.set(dut.in_valid, 0)
        for _ in range(latency + 1):
            await ctx.tick()

    if fails:
        with pytest.raises(AssertionError, match="neuron membranes: a read hit the word written"):
            _run(dut, testbench)
    else:
        _run(dut, testbench)


@pytest.mark.parametrize("seed, per_channel, kind, lanes, N, lif", [
    (0, False, "vanilla", 1, 12, {}), (1, False, "vanilla", 1, 12, {}), (2, True, "vanilla", 2, 12, {}),
    (3, True, "vanilla", 4, 12, {}), (4, False, "parallel", 1, 12, {}), (5, True, "parallel", 2, 12, {}),
    (6, False, "vanilla", 2, 2600, {}),        # 1300 membranes per lane: several block-RAM banks
    (11, False, "vanilla", 1, 3000, dict(wide=True)),   # over 18 bits: an 18-bit column in banks, the rest in one
    # LIF resetting to a (non-zero) value and by subtraction, IF (no multiplier)
    (7, False, "lif", 1, 12, dict(reset="value")), (8, True, "lif", 2, 12, dict(reset="subtract")),
    (9, True, "lif", 1, 12, dict(reset="subtract", integrate=True)), (10, False, "lif", 2, 12, dict(reset="value", integrate=True)),
])
def test_neuron_core_matches_golden(seed, per_channel, kind, lanes, N, lif):
    layer, cfg, cur = _neuron_case(seed, N=N, T=3 if N > 100 else 4, per_channel=per_channel, kind=kind, lanes=lanes,
                                   **lif)
    assert cfg.integrates == bool(lif.get("integrate"))
    cols = HDLIFCore.membrane_columns(cfg)
    if lif.get("wide"):
        assert cfg.membrane_bits > 18 and [(lo, w) for lo, w, _ in cols] == [(0, 18), (18, cfg.membrane_bits - 18)]
    T, N = cur.shape
    want = []
    v = np.zeros(N, np.int64)
    for t in range(T):
        code, _, v = hdlif_step(layer, v, cur[t], t)
        want.append(code)
    K = N // lanes
    got = np.full((T, N), -1)
    rng = np.random.default_rng(seed)
    L = HDLIFCore.latency_of(cfg)
    # several membrane banks: a clock; a leak product: its operands' second registers and its
    # product's two, and for a membrane over 18 bits the sum of its two DSP-sized pieces
    mult = kind != "parallel" and not lif.get("integrate")
    assert HDLIFCore.multiplies(cfg) == mult
    assert L == 7 + (N // lanes > 1024 and kind != "parallel") + 3 * mult + bool(lif.get("wide"))
    for j in range(lanes):
        dut = HDLIFCore(cfg, lane=j)
        pending = []

        async def testbench(ctx, dut=dut, j=j):
            for t in range(T):
                for og in range(K):
                    while rng.random() < 0.3:                       # random idle clocks
                        ctx.set(dut.in_valid, 0)
                        await ctx.tick()
                        pending.append(None)
                        if len(pending) >= L and pending[-L] is not None:
                            got[pending[-L]] = ctx.get(dut.out_code)
                    ctx.set(dut.in_valid, 1)
                    ctx.set(dut.in_addr, og)
                    ctx.set(dut.in_t, t)
                    ctx.set(dut.in_og, og)
                    ctx.set(dut.in_current, int(cur[t, og * lanes + j]))
                    await ctx.tick()
                    pending.append((t, og * lanes + j))
                    if len(pending) >= L:
                        done = pending[-L]
                        if done is not None:
                            got[done] = ctx.get(dut.out_code)
                ctx.set(dut.in_valid, 0)
                for _ in range(L + 1):                # steps of a neuron >= latency apart
                    await ctx.tick()
                    pending.append(None)
                    done = pending[-L] if len(pending) >= L else None
                    if done is not None:
                        got[done] = ctx.get(dut.out_code)

        _run(dut, testbench)
    for t in range(T):
        bad = np.flatnonzero(got[t] != want[t])
        assert not bad.size, f"time step {t}, neuron {bad[0]}: RTL code {got[t, bad[0]]} != golden {want[t][bad[0]]}"
    assert (np.array(want) == layer.max_code).any(), "the case should drive some neuron to the largest code"
    if kind == "lif":       # the neuron exactly at its threshold fires, the one just below does not
        assert want[0][3] == 1 and want[0][4] == 0


# ---------------------------------------------------------------------------------------------
# Max pool and slot tracker

@pytest.mark.parametrize("block", [MaxPool, SumPool])
@pytest.mark.parametrize("groups, lanes, gaps", [(1, 1, False), (3, 2, False), (8, 1, False), (1, 2, True),
                                                 (2, 3, True), (5, 1, True), (70, 1, True)])
def test_pools_match_golden(groups, lanes, gaps, block):
    """MaxPool and SumPool against golden's max_pool / sum_pool, windows back to back (or with
    idle clocks drawn at random between codes, the inputs then held at random values), with
    every code at its largest (the sum then needs its two extra bits) and all zero.  70 groups:
    more than :data:`rtl_gen.hw.COPY_LOADS`, one chain bit per copy of the valid."""
    rng = np.random.default_rng(groups)
    O, windows = groups * lanes, 5
    codes = rng.integers(0, 16, size=(windows, 4, O))
    codes[0] = 15                                       # every code at its largest
    codes[1] = 0
    dut = block(groups=groups, lanes=lanes, code_bits=4)
    R = dut.out_bits
    assert R == (4 if block is MaxPool else 6)
    got = []

    async def testbench(ctx):
        for w in range(windows):
            for ph in range(4):
                for og in range(groups):
                    while gaps and rng.random() < 0.3:
                        ctx.set(dut.in_valid, 0)
                        ctx.set(dut.in_phase, int(rng.integers(0, 4)))
                        ctx.set(dut.in_codes, int(rng.integers(0, 1 << (4 * lanes))))
                        await ctx.tick()
                        if ctx.get(dut.out_valid):
                            got.append(ctx.get(dut.out_codes))
                    ctx.set(dut.in_valid, 1)
                    ctx.set(dut.in_phase, ph)
                    ctx.set(dut.in_codes, sum(int(codes[w, ph, og * lanes + j]) << (4 * j) for j in range(lanes)))
                    await ctx.tick()
                    if ctx.get(dut.out_valid):
                        got.append(ctx.get(dut.out_codes))
        ctx.set(dut.in_valid, 0)
        for _ in range(block.latency):
            await ctx.tick()
            if ctx.get(dut.out_valid):
                got.append(ctx.get(dut.out_codes))

    _run(dut, testbench)
    # golden: the four phases of a window are the 2 x 2 neighbourhood
    grid = codes.transpose(0, 2, 1).reshape(windows, O, 2, 2)[:, :, :, :]
    pool = max_pool if block is MaxPool else sum_pool
    want = pool(grid.reshape(1, windows * O, 2, 2), 2).reshape(windows, O)
    flat = [[(g >> (R * j)) & ((1 << R) - 1) for j in range(lanes)] for g in got]
    assert np.array_equal(np.array(flat).reshape(windows, O), want)
    if block is SumPool:
        assert want[0].max() == 60


def test_slot_tracker_double_buffers_and_waits_for_completion():
    """Acquire / done / release sequences, and the clock each state becomes visible: FULL
    ``FULL_AFTER_DONE`` clocks after ``w_done``, EMPTY ``EMPTY_AFTER_RELEASE`` clocks after the
    release of a full slot and one clock after FULL for a slot released before it was full
    (:meth:`SlotTracker.empty_at`, what the cycle estimate strings together)."""
    dut = SlotTracker()

    async def testbench(ctx):
        async def pulse(name):
            ctx.set(getattr(dut, name), 1)
            await ctx.tick()
            ctx.set(getattr(dut, name), 0)

        assert ctx.get(dut.w_ready) and not ctx.get(dut.r_full) and not ctx.get(dut.r_started)
        await pulse("w_acquire")                       # slot 0 FILLING
        assert ctx.get(dut.r_started) and not ctx.get(dut.r_full)
        await pulse("w_acquire")                       # slot 1 FILLING
        assert not ctx.get(dut.w_ready)                # both slots taken
        await pulse("r_release")                       # released before complete: stays until FULL
        await ctx.tick()
        assert not ctx.get(dut.w_ready)
        await pulse("w_done")                          # slot 0 FULL, then EMPTY (it was released)
        await ctx.tick()
        assert ctx.get(dut.w_ready) and ctx.get(dut.r_slot) == 1 and ctx.get(dut.w_slot) == 1
        await pulse("w_done")                          # slot 1 FULL
        assert ctx.get(dut.r_full)

    _run(dut, testbench)

    # Timing. Clock c is the c-th clock of the simulation: a strobe set during clock c is taken
    # at its end, and what it changes is visible during clock c + 1.  Both slots are acquired
    # (clocks 0 and 1), so w_ready shows slot 0 from clock 2 on; slot 0 gets w_done at clock
    # `done` and r_release at clock `release`, in every order and both together.
    for done in (2, 3, 6):
        for release in (2, 3, 6):
            seen = {"w_ready": [], "r_full": [], "r_slot": []}
            dut = SlotTracker()

            async def timing(ctx, done=done, release=release, seen=seen):
                for c in range(12):
                    for name, at in (("w_acquire", (0, 1)), ("w_done", (done,)), ("r_release", (release,))):
                        ctx.set(getattr(dut, name), int(c in at))
                    for name, v in seen.items():
                        v.append(ctx.get(getattr(dut, name)))
                    await ctx.tick()

            _run(dut, timing)
            full = done + SlotTracker.FULL_AFTER_DONE
            empty = SlotTracker.empty_at(release, full)
            case = f"done at {done}, release at {release}: {seen}"
            if full > release:                             # released early: EMPTY one clock after FULL
                assert empty == full + 1, case
            assert seen["w_ready"][2:] == [0] * (empty - 2) + [1] * (12 - empty), case
            if full <= release:                            # r_full shows slot 0 until it is released
                assert seen["r_slot"][:release + 1] == [0] * (release + 1), case
                assert seen["r_full"][:release + 1] == [0] * full + [1] * (release + 1 - full), case
            assert seen["r_slot"][release + 1:] == [1] * (11 - release), case     # the reader moves on at once


# ---------------------------------------------------------------------------------------------
# Config validation: every message names the bad value

def test_config_validation_messages():
    w = np.zeros((2, 4, 1, 1), np.int64)
    with pytest.raises(ValueError, match="Folding.simd must be a positive integer, not 0"):
        Folding(pe=1, simd=0)
    with pytest.raises(ValueError, match=r"simd=3 must be a power of two \(any width only for an fc stem"):
        SynapseConfig(name="x", channels=4, out_channels=2, weight=w, in_bits=2, acc_bits=8, fold=Folding(pe=1, simd=3))
    with pytest.raises(ValueError, match="Folding.pe must be a positive integer, not 0"):
        Folding(pe=0)
    with pytest.raises(ValueError, match="a folding is written PExSIMD or PExSIMD/NL"):
        Folding.parse("8by4")
    assert Folding.parse("8x16/2") == Folding(pe=8, simd=16, nl=2)
    with pytest.raises(ValueError, match=r"weight must have shape \[2, 4, 1, 1\], not \[4, 2, 1, 1\]"):
        SynapseConfig(name="s", channels=4, out_channels=2, weight=np.zeros((4, 2, 1, 1)), in_bits=4, acc_bits=8,
                      fold=Folding())
    with pytest.raises(ValueError, match="pe=3 must divide the 2 output channels"):
        SynapseConfig(name="s", channels=4, out_channels=2, weight=w, in_bits=4, acc_bits=8, fold=Folding(pe=3))
    with pytest.raises(ValueError, match="simd=8 is wider than the 4 input channels need"):
        SynapseConfig(name="s", channels=4, out_channels=2, weight=w, in_bits=4, acc_bits=8, fold=Folding(simd=8))
    with pytest.raises(ValueError, match="weight_kind must be one of"):
        SynapseConfig(name="s", channels=4, out_channels=2, weight=w, in_bits=4, acc_bits=8, fold=Folding(),
                      weight_kind="int4")
    with pytest.raises(ValueError, match="TernaryMAC lanes must be a positive integer, not 0"):
        TernaryMAC(lanes=0, in_bits=4)
    with pytest.raises(ValueError, match="TernaryMAC weights must be one of"):
        TernaryMAC(lanes=2, in_bits=4, weights="int4")
    with pytest.raises(ValueError, match=r"lambda_t must have shape \[4\] or \[4, 2\], not \[3\]"):
        NeuronConfig(channels=2, neurons=2, lanes=1, T=4, lambda_t=np.ones(3), theta_t=np.ones(4), lambda_frac=12,
                     frac=8, max_code=15, current_bits=8, membrane_bits=8, leak_bits=8)
    with pytest.raises(ValueError, match="must be all zero for a parallel"):
        NeuronConfig(channels=2, neurons=2, lanes=1, T=4, lambda_t=np.ones(4), theta_t=np.ones(4), lambda_frac=12,
                     frac=8, max_code=15, current_bits=8, membrane_bits=8, leak_bits=8, kind="parallel")
    with pytest.raises(ValueError, match=r"mult must have shape \[2\] or \[3, 2\], not \[4\]"):
        RequantConfig(channels=2, lanes=1, T=3, mult=np.ones(4), bias=np.ones(2), shift=0, acc_bits=4,
                      product_bits=8, out_bits=8)
    with pytest.raises(ValueError, match="HDLIFCore lane must be an integer in 0..0, not 1"):
        HDLIFCore(_neuron_case(0)[1], lane=1)


@pytest.mark.parametrize("lanes, bits", [(3, 5), (8, 15), (1, 4), (2, 1)])
def test_frame_buffer_in_columns_reads_back_what_was_written(lanes, bits):
    """``FrameBuffer(columns=True)``: the memory as 4-bit columns (one DP16KD of 4096 x 4 each,
    rtl_gen.config.column_layout), a narrower last column; every word of both slots written with
    drawn data (all ones and zero among it) reads back a clock later, and the collision check
    still names the reader."""
    from rtl_gen.buffers import FrameBuffer
    from rtl_gen.config import column_layout

    assert column_layout(3136, 120) and not column_layout(1000, 120) and not column_layout(8192, 120)
    words, width = 6, lanes * bits
    fb = FrameBuffer(words=words, lanes=lanes, bits=bits, columns=True)
    rng = np.random.default_rng(lanes * 100 + bits)
    data = [(1 << width) - 1, 0] + [int.from_bytes(rng.bytes(16), "little") % (1 << width) for _ in range(2 * words - 2)]
    got = []

    async def bench(ctx):
        for a, v in enumerate(data):
            ctx.set(fb.wr_addr, a)
            ctx.set(fb.wr_data, v)
            ctx.set(fb.wr_en, 1)
            ctx.set(fb.rd_en, 0)
            await ctx.tick()
        ctx.set(fb.wr_en, 0)
        ctx.set(fb.rd_en, 1)
        for a in range(len(data)):
            ctx.set(fb.rd_addr, a)
            await ctx.tick()
            got.append(ctx.get(fb.rd_data))

    sim = Simulator(fb)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == data
    with pytest.raises(ValueError, match="columns"):
        FrameBuffer(words=words, lanes=lanes, bits=bits, columns=True, registered_read=True)
