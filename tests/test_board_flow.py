"""Board builds: the PLL arithmetic against ecppll / icepll, the board registry, the clock
search and its refusal to write a bitstream that misses timing, a real iCEBreaker bitstream
of the digits network (UP5K, at least 24 MHz), the Vivado project for the Arty A7, and
(marked slow: make test-slow) the ECP5 boards."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fpga import board_flow
from fpga.board_flow import REPORT_KEYS, build_board, build_vivado
from fpga.boards import BOARDS, get_board
from fpga.nextpnr import TimingError
from fpga.pll import ecp5_pll, ice40_pll, xc7_mmcm

BIN = Path(sys.executable).parent


# ------------------------------------------------------------------------------------ PLLs

@pytest.mark.parametrize("fin, fout", [(12, 24), (12, 30), (12, 36), (12, 48)])
def test_ice40_pll_agrees_with_icepll(fin, fout):
    cfg = ice40_pll(fin, fout)
    p = cfg.params
    assert cfg.fout_mhz == pytest.approx(fin / (p["DIVR"] + 1) * (p["DIVF"] + 1) / 2 ** p["DIVQ"])
    out = subprocess.run([str(BIN / "yowasp-icepll"), "-i", str(fin), "-o", str(fout)],
                         capture_output=True, text=True, check=True).stdout
    achieved = float(re.search(r"F_PLLOUT:\s+([0-9.]+) MHz \(achieved\)", out).group(1))
    assert cfg.fout_mhz == pytest.approx(achieved)
    assert p["FILTER_RANGE"] == int(re.search(r"FILTER_RANGE:\s+(\d+)", out).group(1))


@pytest.mark.parametrize("fin, fout", [(25, 50), (25, 62.5), (25, 100), (48, 96)])
def test_ecp5_pll_agrees_with_ecppll(fin, fout):
    cfg = ecp5_pll(fin, fout)
    p = cfg.params
    assert cfg.fout_mhz == pytest.approx(fin / p["CLKI_DIV"] * p["CLKFB_DIV"])
    assert 400 <= cfg.fout_mhz * p["CLKOP_DIV"] <= 800
    out = subprocess.run([str(BIN / "yowasp-ecppll"), "-i", str(fin), "-o", str(fout)],
                         capture_output=True, text=True, check=True).stdout
    achieved = float(re.search(r"clkout0 frequency: ([0-9.]+) MHz", out).group(1))
    assert cfg.fout_mhz == pytest.approx(achieved)


def test_pll_never_exceeds_the_limit():
    for limit in (17.3, 24.9, 30.55, 41.0):
        assert ice40_pll(12, limit).fout_mhz <= limit
        assert ecp5_pll(25, limit).fout_mhz <= limit
        assert xc7_mmcm(100, limit).fout_mhz <= limit
    assert ice40_pll(12, 15) is None          # below the iCE40 PLL's 16 MHz floor


# ---------------------------------------------------------------------------------- boards

def test_board_registry_takes_pins_and_clocks_from_amaranth_boards():
    assert set(BOARDS) >= {"ulx3s", "orangecrab", "icebreaker", "arty_a7_35t"}
    clocks = {"ulx3s": 25, "orangecrab": 48, "icebreaker": 12, "arty_a7_35t": 100}
    for name, board in BOARDS.items():
        assert board.clock_mhz == clocks[name]
        uart = board.platform().lookup("uart", 0)
        assert {s.name for s in uart.ios} >= {"rx", "tx"}
    assert BOARDS["icebreaker"].part == "iCE40UP5K-SG48"
    assert BOARDS["ulx3s"].part == "LFE5U-85F-6BG381C"
    assert BOARDS["orangecrab"].part == "LFE5U-25F-8MG285C"


def test_unknown_board_and_bad_freq_are_refused(digits_run, tmp_path):
    with pytest.raises(ValueError, match="board must be one of .*icebreaker.*, not 'de0'"):
        get_board("de0")
    with pytest.raises(ValueError, match="freq must be 'auto' or a frequency in MHz > 0, not -5"):
        build_board(digits_run["dir"] / "model", "icebreaker", tmp_path, freq=-5)
    with pytest.raises(ValueError, match="is a xc7 board: use build_vivado"):
        build_board(digits_run["dir"] / "model", "arty_a7_35t", tmp_path)


def _fake_flow(fmax_by_target, calls):
    """run_flow stand-in: timing is met when the target is at or below fmax_by_target(target)."""
    def run_flow(source, top, out_dir, *, family, part, pnr_args, target_mhz, clock, progress):
        calls.append(target_mhz)
        fmax = fmax_by_target(target_mhz)
        report = {"device": part, "top": top, "luts": 1, "ffs": 1, "brams": 0, "dsps": 0,
                  "fmax_mhz": None, "target_mhz": target_mhz, "timing_met": fmax >= target_mhz,
                  "bitstream": None, "sha256": None, "seconds": {},
                  "clocks": {"clk": {"achieved": fmax, "constraint": target_mhz}}}
        if fmax < target_mhz:
            raise TimingError("missed", report=report)
        bit = Path(out_dir) / f"{top}.bin"
        bit.write_bytes(b"bits")
        report.update(bitstream=str(bit), sha256=hashlib.sha256(b"bits").hexdigest())
        return report
    return run_flow


def test_auto_clock_steps_down_to_what_place_and_route_achieves(digits_run, tmp_path, monkeypatch):
    calls = []
    # Fmax 30.55 MHz at the board's aim (36 MHz), 31.0 MHz once built slower
    monkeypatch.setattr(board_flow, "run_flow", _fake_flow(lambda t: 30.55 if t > 31 else 31.0, calls))
    r = build_board(digits_run["dir"] / "model", "icebreaker", tmp_path, freq="auto")
    assert calls[0] == 36.0                       # the board's aim
    assert calls[1] <= 30.55 and calls[1] == ice40_pll(12, 30.55).fout_mhz
    assert r["timing_met"] and r["target_mhz"] == round(calls[1], 4) and r["fmax_mhz"] == 31.0
    assert [a["timing_met"] for a in r["attempts"]] == [False, True]
    assert json.loads((tmp_path / "report.json").read_text())["attempts"] == r["attempts"]
    assert "fmax       31.00 MHz (target 30.375 MHz, timing met)" in (tmp_path / "summary.txt").read_text()


def test_a_missed_clock_raises_and_writes_no_bitstream(digits_run, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(board_flow, "run_flow", _fake_flow(lambda t: 20.0, calls))
    with pytest.raises(TimingError, match="timing not met for board 'icebreaker'.*Fmax 20.0 MHz < PLL 24.000 MHz"):
        build_board(digits_run["dir"] / "model", "icebreaker", tmp_path, freq=24)
    assert calls == [24.0]                        # an explicit clock is built once
    assert not (tmp_path / "report.json").exists() and not list(tmp_path.glob("*.bin"))
    # auto: after the steps down, still a failure (the fake's Fmax sinks below every PLL setting)
    calls.clear()
    monkeypatch.setattr(board_flow, "run_flow", _fake_flow(lambda t: t - 3, calls))
    with pytest.raises(TimingError, match="after 3 build"):
        build_board(digits_run["dir"] / "model", "icebreaker", tmp_path, freq="auto")
    assert len(calls) == 3 and calls == sorted(calls, reverse=True)


def test_no_legal_placement_is_built_again_at_the_next_seed(digits_run, tmp_path, monkeypatch):
    """A placer that gives up is retried at the next placement seed (the same clock); the seed
    that placed is reported and kept for the next clock's build; other tool failures are not
    retried, and the last seed's failure is raised."""
    from fpga.nextpnr import ToolError

    seen = []

    def flaky(unplaced_seeds, message="ERROR: Unable to find legal placement for all cells, design is probably at "
                                      "utilisation limit."):
        calls = []
        placed = _fake_flow(lambda t: 30.55 if t > 31 else 31.0, calls)

        def run_flow(source, top, out_dir, *, pnr_args, **kw):
            seed = pnr_args[pnr_args.index("--seed") + 1] if "--seed" in pnr_args else None
            seen.append((kw["target_mhz"], seed))
            if seed in unplaced_seeds:
                raise ToolError(f"nextpnr-ice40 failed with exit code 255: {message}", tool="nextpnr-ice40")
            return placed(source, top, out_dir, pnr_args=pnr_args, **kw)
        return run_flow

    monkeypatch.setattr(board_flow, "run_flow", flaky({None}))
    r = build_board(digits_run["dir"] / "model", "icebreaker", tmp_path, freq="auto")
    # 36 MHz: default seed unplaced, seed 2 placed but missed timing; then 30.375 MHz at seed 2 at once
    assert seen == [(36.0, None), (36.0, "2"), (ice40_pll(12, 30.55).fout_mhz, "2")]
    assert r["pnr_seed"] == 2 and r["timing_met"]
    assert [(a["pnr_seed"], a["placed"], a["timing_met"]) for a in r["attempts"]] == \
        [(None, False, False), (2, True, False), (2, True, True)]

    seen.clear()
    monkeypatch.setattr(board_flow, "run_flow", flaky({None, "2", "3"}))
    with pytest.raises(ToolError, match="Unable to find legal placement"):
        build_board(digits_run["dir"] / "model", "icebreaker", tmp_path, freq=24)
    assert [s for _, s in seen] == [None, "2", "3"]

    seen.clear()
    monkeypatch.setattr(board_flow, "run_flow", flaky({None}, message="ERROR: no such cell type"))
    with pytest.raises(ToolError, match="no such cell type"):
        build_board(digits_run["dir"] / "model", "icebreaker", tmp_path, freq=24)
    assert seen == [(24.0, None)]
    with pytest.raises(ValueError, match="placement seeds must be"):
        build_board(digits_run["dir"] / "model", "icebreaker", tmp_path, freq=24, seeds=[0])


# ------------------------------------------------------------------- real builds

def _check_report(r: dict, out: Path) -> None:
    assert set(REPORT_KEYS) <= set(r)
    assert json.loads((out / "report.json").read_text()) == r
    bit = Path(r["bitstream"])
    assert bit.is_file() and hashlib.sha256(bit.read_bytes()).hexdigest() == r["sha256"]
    assert r["timing_met"] and r["fmax_mhz"] >= r["target_mhz"]
    assert (out / "summary.txt").read_text().startswith("board")


@pytest.mark.slow  # 7.5 minutes of place and route on a busy 2-core machine: make test-slow
def test_icebreaker_bitstream_digits_fits_up5k_at_24mhz(digits_run, tmp_path):
    """The digits network behind its UART link on the iCE40 UP5K: fits, and meets >= 24 MHz."""
    r = build_board(digits_run["dir"] / "model", "icebreaker", tmp_path, freq=24)
    print(json.dumps({k: r[k] for k in (*REPORT_KEYS, "seconds", "attempts")}, indent=1))
    _check_report(r, tmp_path)
    assert r["device"] == "iCE40UP5K-SG48"
    assert r["target_mhz"] == 24.0 and r["fmax_mhz"] >= 24.0
    assert 0 < r["luts"] <= 5280 and r["brams"] <= 30 and r["dsps"] <= 8
    assert r["uart_divisor"] == round(24e6 / 115200)
    assert Path(r["bitstream"]).suffix == ".bin" and Path(r["bitstream"]).stat().st_size > 100_000


def test_arty_vivado_project(digits_run, tmp_path):
    """The Vivado project script: every step, pins from amaranth-boards, a timing gate."""
    r = build_vivado(digits_run["dir"] / "model", "arty_a7_35t", tmp_path, estimate=False)
    tcl = (tmp_path / "hdlif_board.tcl").read_text()
    for step in ("create_project", "add_files hdlif_board.v", "read_xdc hdlif_board.xdc", "synth_design",
                 "place_design", "route_design", "hdlif: timing not met", "write_bitstream"):
        assert step in tcl, step
    assert tcl.index("hdlif: timing not met") < tcl.index("write_bitstream")
    xdc = (tmp_path / "hdlif_board.xdc").read_text()
    for pin in ("E3", "A9", "D10"):               # clk100, uart rx, uart tx (amaranth-boards)
        assert f"LOC {pin} " in xdc
    assert "MMCME2_BASE" in (tmp_path / "hdlif_board.v").read_text()
    assert r["device"] == "xc7a35ticsg324-1L" and r["target_mhz"] == 100.0
    assert r["timing_met"] is None and r["bitstream"] is None and r["fmax_mhz"] is None
    assert (tmp_path / "summary.txt").read_text().count("vivado -mode batch") == 1


@pytest.mark.slow
def test_arty_synth_xilinx_estimate(digits_run, tmp_path):
    r = build_vivado(digits_run["dir"] / "model", "arty_a7_35t", tmp_path)
    print(json.dumps({k: r[k] for k in REPORT_KEYS}, indent=1))
    assert r["luts"] > 1000 and r["ffs"] > 1000 and r["dsps"] >= 1 and r["brams"] >= 0.5
    assert r["synth_cells"]["MMCME2_BASE"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("board", ["ulx3s", "orangecrab"])
def test_ecp5_board_bitstream(digits_run, tmp_path, board):
    r = build_board(digits_run["dir"] / "model", board, tmp_path, freq="auto")
    print(json.dumps({k: r[k] for k in (*REPORT_KEYS, "seconds", "attempts")}, indent=1))
    _check_report(r, tmp_path)
    assert r["device"] == BOARDS[board].part


def test_flow_cli_unknown_board_is_one_line(digits_run, capsys):
    from flow.__main__ import main

    rc = main(["bitstream", str(digits_run["dir"]), "--board", "de0"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: board must be one of") and "'de0'" in err
    assert err.strip().count("\n") == 0
