"""A small real synthesis in make test: the generated HD-LIF neuron core of the digits model
through yosys synth_ecp5, nextpnr-ecp5 and ecppack."""

from __future__ import annotations

from amaranth.back import verilog

from fpga.ecp5 import Ecp5Target, build_bitstream
from rtl_gen.folding import from_bundle
from rtl_gen.neuron_core import HDLIFCore


def test_neuron_core_bitstream(digits_bundle, tmp_path):
    cfg = from_bundle(digits_bundle).layers[0].neuron
    src = tmp_path / "core.v"
    src.write_text(verilog.convert(HDLIFCore(cfg), name="hdlif_core"))
    r = build_bitstream(src, "hdlif_core", tmp_path / "out", Ecp5Target(device="25k", target_mhz=50))
    assert r["timing_met"] and r["fmax_mhz"] >= 50
    assert r["luts"] > 50 and r["ffs"] > 20
    assert r["dsps"] >= 1            # the leak multiplier lambda_t * v
    assert r["brams"] + r["synth_cells"].get("TRELLIS_DPR16X4", 0) >= 1   # the membrane memory
    assert (tmp_path / "out" / "hdlif_core.bit").stat().st_size > 0
    print(r)
