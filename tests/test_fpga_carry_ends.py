"""Tests for fpga.carry_ends: carry chains without nextpnr's feed cells where nothing needs them.

A small Amaranth design holds every kind of chain the generator builds (ternary lanes, a
read-modify-write ``select_add`` of an odd and an even width, an ``and_add``) beside one of Yosys's
own adders; Yosys synthesizes it once and the tests check the rewritten netlist: every generated
chain's carry in and every unread carry out disconnected, Yosys's first carry in (which its first
bit reads) kept, and no freed cell's outputs changed by its carry in (the CCU2C's equations, for
every value of its other inputs).  One real build on each side checks what nextpnr then packs:
4 LUTs fewer per chain that lost both feed cells, 2 per chain that lost one.
"""

import copy
import itertools
from pathlib import Path

import pytest
from yosys_netlist import netlist_fixtures

from fpga.carry_ends import first_propagate_is_zero, trim_netlist
from fpga.ecp5 import Ecp5Target, build_bitstream
from rtl_gen.carry import WRAPPER, and_add, chain_luts, select_add, ternary_lanes

#: the chains the design's generator builds (ternary lanes, select_add x2, and_add)
LANES = 3
GENERATED = LANES + 3


def _design_verilog() -> str:
    from amaranth.back import verilog
    from amaranth.hdl import Cat, Module, Signal, signed, unsigned
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Design(wiring.Component):
        x: In(unsigned(3))
        w: In(2 * LANES)
        u: In(signed(9))
        a: In(signed(7))
        b: In(signed(7))
        sel: In(1)
        lanes: Out(6 * LANES)
        odd: Out(signed(9))
        even: Out(signed(8))
        prod: Out(signed(10))
        plain: Out(signed(9))

        def elaborate(self, platform):
            m = Module()
            accs = [Signal(signed(6), name=f"acc{i}") for i in range(LANES)]
            sums = ternary_lanes(m, [(acc, self.x, self.w[2 * i], self.w[2 * i + 1]) for i, acc in enumerate(accs)],
                                 "lane")
            m.d.sync += [acc.eq(s) for acc, s in zip(accs, sums)]
            regs = [Signal(signed(9), name="r_odd"), Signal(signed(8), name="r_even"),
                    Signal(signed(10), name="r_prod"), Signal(signed(9), name="r_plain")]
            m.d.sync += [regs[0].eq(select_add(m, self.u, self.a, self.b, self.sel, "odd")),
                         regs[1].eq(select_add(m, self.u[:8], self.a, self.b, self.sel, "even")),
                         regs[2].eq(and_add(m, self.sel, self.a, self.x[0], self.b, 10, "pp")),
                         regs[3].eq(self.u + self.a)]                  # Yosys's own adder
            m.d.comb += [self.lanes.eq(Cat(*accs)), self.odd.eq(regs[0]), self.even.eq(regs[1]),
                         self.prod.eq(regs[2]), self.plain.eq(regs[3])]
            return m

    return verilog.convert(Design(), name="top") + WRAPPER


built_design, design_v, synthesized = netlist_fixtures(_design_verilog)


def _ccu2c(cell: dict, inputs: dict, cin: int) -> tuple[int, int, int]:
    """(S0, S1, COUT) of a CCU2C (Yosys's ``ccu2c_sim.vh``, ``INJECT1_x = "NO"``)."""
    p = cell["parameters"]
    t0, t1 = (int(p[k], 2) if isinstance(p[k], str) else int(p[k]) for k in ("INIT0", "INIT1"))
    i0 = inputs["A0"] | inputs["B0"] << 1 | inputs["C0"] << 2 | inputs["D0"] << 3
    i1 = inputs["A1"] | inputs["B1"] << 1 | inputs["C1"] << 2 | inputs["D1"] << 3
    p0, g0 = t0 >> i0 & 1, t0 >> (i0 & 3) & 1
    p1, g1 = t1 >> i1 & 1, t1 >> (i1 & 3) & 1
    c1 = cin if p0 else g0
    return p0 ^ cin, p1 ^ c1, c1 if p1 else g1


@pytest.fixture(scope="module")
def trimmed(synthesized):
    design = copy.deepcopy(synthesized)
    return trim_netlist(design, "top"), design["modules"]["top"]["cells"]


def _ccu2cs(cells):
    return {n: c for n, c in cells.items() if c["type"] == "CCU2C"}


def test_every_generated_chain_loses_its_carry_in_and_out(synthesized, trimmed):
    result, cells = trimmed
    before = _ccu2cs(synthesized["modules"]["top"]["cells"])
    starts = [n for n, c in before.items() if c["connections"]["CIN"][0] in ("0", "1")]
    ours = [n for n in starts if "lane" in n or "odd" in n or "even" in n or "pp" in n]
    assert len(ours) == GENERATED, sorted(starts)
    for n in ours:
        assert cells[n]["connections"]["CIN"] == ["x"], n
    assert result["cin"] == GENERATED
    assert result["cin_kept"] == len(starts) - GENERATED >= 1        # Yosys's adder reads its carry in
    # nothing reads a chain's last carry out: every one of them is disconnected
    ends = [n for n, c in cells.items() if c["type"] == "CCU2C" and c["connections"]["COUT"] == ["x"]]
    assert result["cout"] == len(ends) == len(starts)


def test_a_freed_carry_in_changes_no_output(synthesized, trimmed):
    """For every cell whose carry in was disconnected: S1 and COUT are the same for a carry in of
    0 and of 1, whatever its non-constant inputs, and nothing reads its S0."""
    _, cells = trimmed
    loads = set()
    for c in cells.values():
        for port, bits in c["connections"].items():
            if c["port_directions"][port] == "input":
                loads.update(b for b in bits if isinstance(b, int))
    for name, cell in _ccu2cs(cells).items():
        if cell["connections"]["CIN"] != ["x"]:
            continue
        pins = [f"{x}{h}" for h in "01" for x in "ABCD"]
        choices = [(int(b),) if (b := cell["connections"][pin][0]) in ("0", "1") else (0, 1) for pin in pins]
        for values in itertools.product(*choices):
            inputs = dict(zip(pins, values))
            _, s1_0, co_0 = _ccu2c(cell, inputs, 0)
            _, s1_1, co_1 = _ccu2c(cell, inputs, 1)
            assert (s1_0, co_0) == (s1_1, co_1), (name, inputs)
        assert cell["connections"]["S0"][0] not in loads, name


@pytest.mark.parametrize("tied, free, want", [
    ({"D0": "1"}, ("A0", "B0"), True),        # the lanes' carry-in half: P = 0 where D is high
    ({}, ("A0", "B0", "C0", "D0"), False),    # D free: the table's D = 0 rows are read
])
def test_first_propagate_is_zero_reads_constants(tied, free, want):
    table = sum(1 << i for i in range(16) if not i >> 3 & 1 and (i & 1) and (i >> 1 & 1))   # 0 if D else A & B
    conn = {pin: [7 + i] for i, pin in enumerate(free)}
    conn.update({pin: [v] for pin, v in tied.items()})
    assert first_propagate_is_zero({"parameters": {"INIT0": format(table, "016b")}, "connections": conn}) is want


def test_a_read_carry_out_stays(synthesized):
    design = copy.deepcopy(synthesized)
    cells = design["modules"]["top"]["cells"]
    end = next(c for c in cells.values() if c["type"] == "CCU2C" and isinstance(c["connections"]["COUT"][0], int)
               and c["connections"]["CIN"][0] in ("0", "1"))
    # a top-level output that reads it
    design["modules"]["top"]["ports"]["peek"] = {"direction": "output", "bits": end["connections"]["COUT"]}
    before = trim_netlist(copy.deepcopy(synthesized), "top")["cout"]
    assert trim_netlist(design, "top")["cout"] <= before
    assert end["connections"]["COUT"] != ["x"]


def test_no_module_named(synthesized):
    with pytest.raises(ValueError, match="no module 'nope'"):
        trim_netlist(copy.deepcopy(synthesized), "nope")


def test_nextpnr_packs_no_feed_cells(design_v, synthesized, tmp_path):
    on = build_bitstream(design_v, "top", tmp_path / "on", Ecp5Target(device="25k"), allow_timing_fail=True)
    off = build_bitstream(design_v, "top", tmp_path / "off", Ecp5Target(device="25k", carry_ends=False),
                          allow_timing_fail=True)
    trimmed = on["carry_ends"]
    assert off["carry_ends"] is None and trimmed["cin"] == GENERATED
    # a whole CCU2C (2 LUTs) in front of each chain that kept a connected carry in, one behind each
    # that kept a carry out: what the pass removed
    assert off["luts"] - on["luts"] == 2 * (trimmed["cin"] + trimmed["cout"])
    assert on["ffs"] == off["ffs"] and Path(on["bitstream"]).is_file()


def test_chain_luts_counts_cells():
    assert [chain_luts(n) for n in (1, 2, 3, 8, 9)] == [2, 2, 4, 8, 10]
