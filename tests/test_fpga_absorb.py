"""Tests for fpga.absorb: flip-flops moved into the DP16KD / MULT18X18D beside them.

A small Amaranth design holds one case of each rule (a block RAM read registered, with and
without an enable, with a reset, with a second load; a 36-bit ROM; a product registered on
both sides with an operand register that also feeds logic); Yosys synthesizes it once
(``synth_ecp5``, a few seconds) and each test checks the rewritten netlist.  One real build
checks that nextpnr takes the result (and that the registers are gone from its logic cells).
"""

import copy
from pathlib import Path

import pytest
from yosys_netlist import netlist_fixtures

from fpga.absorb import absorb_netlist
from fpga.ecp5 import Ecp5Target, build_bitstream


def _design_verilog() -> str:
    from amaranth.back import verilog
    from amaranth.hdl import Module, Signal, signed
    from amaranth.lib import wiring
    from amaranth.lib.memory import Memory
    from amaranth.lib.wiring import In, Out

    class Design(wiring.Component):
        addr: In(9)
        din: In(9)
        we: In(1)
        en: In(1)
        a: In(signed(16))
        b: In(signed(16))
        plain: Out(9)
        gated: Out(9)
        reset: Out(9)
        twice: Out(9)
        peek: Out(1)
        wide: Out(36)
        prod: Out(signed(32))
        a_seen: Out(signed(16))

        def elaborate(self, platform):
            m = Module()

            def ram(name, width, rom=False):
                init = [(i * 0x9E3779B1) % (1 << width) for i in range(512)] if rom else []
                mem = Memory(shape=width, depth=512, init=init, attrs={"ram_style": "block"})
                m.submodules[name] = mem
                if not rom:
                    wr = mem.write_port()
                    m.d.comb += [wr.addr.eq(self.addr), wr.data.eq(self.din), wr.en.eq(self.we)]
                rd = mem.read_port()
                m.d.comb += rd.addr.eq(self.addr)
                return rd.data

            # each memory's read word registered once, as the gateware does beside a block RAM
            for name, en, reset_less in (("plain", None, True), ("gated", self.en, True),
                                         ("reset", None, False)):
                r = Signal(9, name=f"{name}_q", reset_less=reset_less)
                dom = m.d.sync
                if en is None:
                    dom += r.eq(ram(f"mem_{name}", 9))
                else:
                    with m.If(en):
                        dom += r.eq(ram(f"mem_{name}", 9))
                m.d.comb += getattr(self, name).eq(r)
            word = ram("mem_twice", 9)
            q = Signal(9, reset_less=True)
            m.d.sync += q.eq(word)
            m.d.comb += [self.twice.eq(q), self.peek.eq(word.xor())]   # the word also feeds logic
            wq = Signal(36, reset_less=True)
            m.d.sync += wq.eq(ram("mem_wide", 36, rom=True))   # a weight ROM's shape
            m.d.comb += self.wide.eq(wq)
            # a product with its operands and its result registered
            ra, rb = Signal(signed(16), reset_less=True), Signal(signed(16), reset_less=True)
            p = Signal(signed(32), reset_less=True)
            m.d.sync += [ra.eq(self.a), rb.eq(self.b), p.eq(ra * rb)]
            m.d.comb += [self.prod.eq(p), self.a_seen.eq(ra)]           # ra also feeds a port
            return m

    return verilog.convert(Design(), name="top")


built_design, design_v, synthesized = netlist_fixtures(_design_verilog)


@pytest.fixture(scope="module")
def absorbed(synthesized):
    design = copy.deepcopy(synthesized)
    result = absorb_netlist(design, "top")
    return result, design["modules"]["top"]["cells"]


def _rams(cells, name):
    return [c for n, c in cells.items() if c["type"] == "DP16KD" and name in n]


def test_registered_reads_move_into_their_block(absorbed):
    result, cells = absorbed
    (plain,) = _rams(cells, "mem_plain")
    port = "A" if plain["parameters"]["REGMODE_A"] == "OUTREG" else "B"
    assert plain["parameters"][f"REGMODE_{port}"] == "OUTREG"
    assert plain["connections"][f"OCE{port}"] == ["1"]
    (gated,) = _rams(cells, "mem_gated")
    port = "A" if gated["parameters"]["REGMODE_A"] == "OUTREG" else "B"
    enable = gated["connections"][f"OCE{port}"][0]
    assert isinstance(enable, int)            # the flip-flops' enable became the output register's
    assert result["moved"]["dp16kd_ports"] == 3     # plain, gated, wide


def test_a_36_bit_block_moves_both_halves(absorbed):
    _, cells = absorbed
    wide = _rams(cells, "mem_wide")
    assert wide, "the 36-bit memory should map to a pseudo-dual-port DP16KD"
    for c in wide:
        assert int(c["parameters"]["DATA_WIDTH_A"], 2) == 36
        assert c["parameters"]["REGMODE_A"] == c["parameters"]["REGMODE_B"] == "OUTREG"


def test_reset_or_second_load_keeps_the_register(absorbed, synthesized):
    result, cells = absorbed
    for name in ("mem_reset", "mem_twice"):
        for c in _rams(cells, name):
            assert c["parameters"]["REGMODE_A"] == c["parameters"]["REGMODE_B"] == "NOREG"
    assert result["kept"]["DP16KD port: an output register with a reset"] == 1
    assert result["kept"]["DP16KD port: an output with other loads"] == 1


def test_product_registers_move_and_shared_operand_is_copied(absorbed, synthesized):
    result, cells = absorbed
    (mult,) = [c for c in cells.values() if c["type"] == "MULT18X18D"]
    p = mult["parameters"]
    assert p["REG_INPUTA_CLK"] == p["REG_INPUTB_CLK"] == p["REG_OUTPUT_CLK"] == "CLK0"
    assert result["moved"]["mult_inputs"] == 1 and result["moved"]["mult_outputs"] == 1
    # b's register had the block as its only load and is gone; a's also drives a port and stays
    before = sum(c["type"] == "TRELLIS_FF" for c in synthesized["modules"]["top"]["cells"].values())
    after = sum(c["type"] == "TRELLIS_FF" for c in cells.values())
    assert before - after == result["moved"]["flip_flops"]
    assert after >= 16                       # a_seen's 16 (and reset_q's 9) are still there
    # the block now reads a's and b's input ports directly: no flip-flop drives its A / B pins
    drivers = {b: c["type"] for c in cells.values() for port, bits in c["connections"].items()
               if c.get("port_directions", {}).get(port) == "output" for b in bits}
    for port in [f"{x}{i}" for x in "AB" for i in range(16)]:
        bit = mult["connections"][port][0]
        assert drivers.get(bit) != "TRELLIS_FF", port


def test_no_module_named(synthesized):
    with pytest.raises(ValueError, match="no module 'nope'"):
        absorb_netlist(copy.deepcopy(synthesized), "nope")


def test_nextpnr_takes_the_rewritten_netlist(design_v, tmp_path):
    moved = build_bitstream(design_v, "top", tmp_path / "on", Ecp5Target(device="25k"),
                            allow_timing_fail=True)
    kept = build_bitstream(design_v, "top", tmp_path / "off", Ecp5Target(device="25k", absorb=False),
                           allow_timing_fail=True)
    assert moved["absorbed"]["moved"]["flip_flops"] > 0 and kept["absorbed"] is None
    assert kept["ffs"] - moved["ffs"] == moved["absorbed"]["moved"]["flip_flops"]
    assert moved["brams"] == kept["brams"] and moved["dsps"] == kept["dsps"] == 1
    assert Path(moved["bitstream"]).is_file()
