"""Amaranth blocks against the golden model, in Amaranth's own simulator (fast, no Verilator)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.bounds import hdlif_widths
from golden.bundle import HDLIFLayer
from golden.executor import hdlif_step
from rtl_gen.config import NeuronConfig, SynapseConfig
from rtl_gen.neuron_core import HDLIFCore
from rtl_gen.ternary_mac import TernaryMAC


def _run(dut, testbench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


def _neuron_case(seed: int, N: int = 12, T: int = 4):
    rng = np.random.default_rng(seed)
    R = int(rng.integers(200, 40000))
    lam = rng.integers(0, 4096, size=T)
    if seed % 3 == 0:
        lam[1] = 4095          # almost no leak
    theta = rng.integers(1, 3000, size=T)
    frac = int(rng.integers(1, 9))
    layer = HDLIFLayer(name="n", in_features=1, out_features=N, weight=np.ones((N, 1), np.int8),
                       mult=np.ones(N, np.int64), bias=np.full(N, -(R // 2)), shift=0,
                       lambda_t=lam, theta_t=theta, lambda_frac=12, frac=frac, max_code=15, direct=False)
    w = hdlif_widths(layer.weight, R, layer.mult, layer.bias, 0, lam, theta, 12, frac, T)
    cfg = NeuronConfig(neurons=N, T=T, lambda_t=tuple(map(int, lam)), theta_t=tuple(map(int, theta)),
                       lambda_frac=12, frac=frac, max_code=15, current_bits=w["current_bits"],
                       membrane_bits=w["membrane_bits"], leak_bits=w["leak_bits"])
    cur = rng.integers(-(R // 2), R - R // 2 + 1, size=(T, N))
    cur[:, 0] = R - R // 2       # the largest current every step: saturating spike codes
    cur[:, 1] = -(R // 2)        # the most negative: the membrane's lower bound
    cur[:, 2] = 0
    return layer, cfg, cur


@pytest.mark.parametrize("seed", range(6))
def test_neuron_core_matches_golden(seed):
    layer, cfg, cur = _neuron_case(seed)
    T, N = cur.shape
    want = []
    v = np.zeros(N, np.int64)
    for t in range(T):
        code, _, v = hdlif_step(layer, v, cur[t], t)
        want.append(code)
    dut = HDLIFCore(cfg)
    got = np.full((T, N), -1)

    async def testbench(ctx):
        for t in range(T):
            ctx.set(dut.t, t)
            order = list(range(N))
            seen = 0
            for n in order:
                ctx.set(dut.in_valid, 1)
                ctx.set(dut.in_index, n)
                ctx.set(dut.in_current, int(cur[t, n]))
                await ctx.tick()
                if ctx.get(dut.out_valid):
                    got[t, ctx.get(dut.out_index)] = ctx.get(dut.out_code)
                    seen += 1
            ctx.set(dut.in_valid, 0)
            while seen < N:
                await ctx.tick()
                if ctx.get(dut.out_valid):
                    got[t, ctx.get(dut.out_index)] = ctx.get(dut.out_code)
                    seen += 1
            await ctx.tick()
            assert not ctx.get(dut.busy) and not ctx.get(dut.out_valid)

    _run(dut, testbench)
    for t in range(T):
        bad = np.flatnonzero(got[t] != want[t])
        assert not bad.size, f"time step {t}, neuron {bad[0]}: RTL code {got[t, bad[0]]} != golden {want[t][bad[0]]}"
    assert (np.array(want) == 15).any(), "the case should drive some neuron to the largest code"


@pytest.mark.parametrize("lanes, in_bits", [(1, 4), (4, 4), (16, 5), (8, 8)])
def test_ternary_mac_matches_dot_product(lanes, in_bits):
    rng = np.random.default_rng(lanes * 31 + in_bits)
    dut = TernaryMAC(lanes=lanes, in_bits=in_bits)
    cases = [(np.full(lanes, 2 ** in_bits - 1), np.full(lanes, -1)),   # every code at its largest
             (np.full(lanes, 2 ** in_bits - 1), np.full(lanes, 1)),
             (np.zeros(lanes, int), rng.integers(-1, 2, lanes))]        # all-zero input
    cases += [(rng.integers(0, 2 ** in_bits, lanes), rng.integers(-1, 2, lanes)) for _ in range(40)]
    got = []

    async def testbench(ctx):
        for i in range(len(cases) + dut.latency):
            if i < len(cases):
                x, w = cases[i]
                ctx.set(dut.codes, sum(int(v) << (in_bits * k) for k, v in enumerate(x)))
                ctx.set(dut.weights, sum(((int(v) != 0) | ((int(v) < 0) << 1)) << (2 * k) for k, v in enumerate(w)))
            await ctx.tick()
            if i + 1 >= dut.latency:
                got.append(ctx.get(dut.sum))

    _run(dut, testbench)
    want = [int(np.dot(x, w)) for x, w in cases]
    assert got[:len(want)] == want


def test_config_validation_messages():
    with pytest.raises(ValueError, match="lanes must be a power of two, not 3"):
        SynapseConfig(in_features=4, out_features=2, lanes=3, in_bits=4, acc_bits=8,
                      weight=np.zeros((2, 4), np.int8))
    with pytest.raises(ValueError, match=r"weight must have shape \[2, 4\], not \[4, 2\]"):
        SynapseConfig(in_features=4, out_features=2, lanes=2, in_bits=4, acc_bits=8,
                      weight=np.zeros((4, 2), np.int8))
    with pytest.raises(ValueError, match="TernaryMAC lanes must be a positive integer, not 0"):
        TernaryMAC(lanes=0, in_bits=4)
    with pytest.raises(ValueError, match="lambda_t must have T=4 entries, not 3"):
        NeuronConfig(neurons=2, T=4, lambda_t=(1, 2, 3), theta_t=(1, 2, 3, 4), lambda_frac=12, frac=8,
                     max_code=15, current_bits=8, membrane_bits=8, leak_bits=8)
