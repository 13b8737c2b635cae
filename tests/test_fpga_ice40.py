"""fpga.ice40: a real Yosys -> nextpnr-ice40 -> icepack build of a tiny counter, a timing
failure that writes nothing, and the target's validation messages."""


import hashlib
import json
from pathlib import Path

import pytest

from fpga.ice40 import Ice40Target, build_bitstream
from fpga.nextpnr import TimingError


@pytest.fixture(scope="module")
def counter_v(tmp_path_factory) -> Path:
    from amaranth.back import verilog
    from amaranth.hdl import Module
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Counter(wiring.Component):
        en: In(1)
        count: Out(8)

        def elaborate(self, platform):
            m = Module()
            with m.If(self.en):
                m.d.sync += self.count.eq(self.count + 1)
            return m

    path = tmp_path_factory.mktemp("src") / "counter.v"
    path.write_text(verilog.convert(Counter(), name="top"))
    return path


def test_counter_bitstream(counter_v, tmp_path):
    messages = []
    r = build_bitstream(counter_v, "top", tmp_path, Ice40Target(target_mhz=48), progress=messages.append)
    assert r["device"] == "iCE40UP5K-SG48"
    assert r["luts"] >= 8 and r["ffs"] >= 8 and r["brams"] == 0 and r["dsps"] == 0
    assert r["timing_met"] and r["fmax_mhz"] >= 48 and r["target_mhz"] == 48.0
    assert r["utilization_source"] == {"luts": "nextpnr", "ffs": "yosys", "brams": "nextpnr", "dsps": "nextpnr"}
    bit = Path(r["bitstream"])
    assert bit.name == "top.bin" and hashlib.sha256(bit.read_bytes()).hexdigest() == r["sha256"]
    assert json.loads((tmp_path / "report.json").read_text()) == r
    assert (tmp_path / "icepack.log").is_file()
    assert any(m.startswith("yosys synth_ice40 -dsp") for m in messages)
    assert any(m.startswith("nextpnr-ice40 iCE40UP5K-SG48") for m in messages)


def test_timing_failure_raises_and_writes_nothing(counter_v, tmp_path):
    with pytest.raises(TimingError, match="achieved .* MHz, target 2000 MHz"):
        build_bitstream(counter_v, "top", tmp_path, Ice40Target(target_mhz=2000))
    assert not (tmp_path / "report.json").exists() and not (tmp_path / "top.bin").exists()


@pytest.mark.parametrize("kwargs, bad", [
    ({"device": "up9k"}, "not 'up9k'"),
    ({"package": "sg 48"}, "not 'sg 48'"),
    ({"target_mhz": 0}, "not 0"),
])
def test_target_validation(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        Ice40Target(**kwargs)
