"""The boards the flow builds for, with pins and clocks from ``amaranth-boards``.

Each :class:`Board` names its ``amaranth-boards`` platform (the clock pin and frequency, the
UART pins and their IO standards come from there), the FPGA family and nextpnr's device
arguments, the accelerator's default lanes on it and the clock the automatic search starts
from.  :data:`BOARDS` is the registry; :func:`get_board` looks a name up.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Board", "BOARDS", "get_board"]


@dataclass(frozen=True, kw_only=True)
class Board:
    name: str                 # registry key, e.g. "icebreaker"
    title: str
    family: str               # "ecp5" | "ice40" | "xc7"
    platform_module: str      # amaranth_boards module
    platform_class: str
    part: str                 # the part number reported as ``device``
    pnr_args: tuple = ()      # nextpnr device arguments (Lattice only)
    lanes: int = 16           # default accelerator lanes on this board
    aim_mhz: float = 100.0    # where the automatic clock search starts
    uart_note: str = ""       # how the host's serial port reaches the UART pins

    def platform(self):
        """A fresh ``amaranth-boards`` platform instance (with the UART added where the
        board's definition lacks one)."""
        import importlib

        cls = getattr(importlib.import_module(self.platform_module), self.platform_class)
        plat = cls()
        if self.name == "orangecrab":
            from amaranth.build import Attrs
            from amaranth_boards.resources import UARTResource

            # No USB-serial bridge on the board: an external 3.3 V USB-UART adapter on the
            # Feather header's RX (pin "0") and TX (pin "1").
            plat.add_resources([UARTResource(0, rx="0", tx="1", conn=("io", 0),
                                             attrs=Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP"))])
        return plat

    @property
    def clock_mhz(self) -> float:
        """The board's oscillator (``default_clk``), from ``amaranth-boards``."""
        plat = self.platform()
        return plat.lookup(plat.default_clk).clock.frequency / 1e6


BOARDS: dict[str, Board] = {b.name: b for b in (
    Board(name="ulx3s", title="Radiona ULX3S (ECP5 LFE5U-85F)", family="ecp5",
          platform_module="amaranth_boards.ulx3s", platform_class="ULX3S_85F_Platform",
          part="LFE5U-85F-6BG381C", pnr_args=("--85k", "--package", "CABGA381", "--speed", "6"),
          lanes=16, aim_mhz=100.0, uart_note="the on-board FTDI (US1 port)"),
    Board(name="orangecrab", title="OrangeCrab r0.2 (ECP5 LFE5U-25F)", family="ecp5",
          platform_module="amaranth_boards.orangecrab_r0_2", platform_class="OrangeCrabR0_2_25FPlatform",
          part="LFE5U-25F-8MG285C", pnr_args=("--25k", "--package", "CSFBGA285", "--speed", "8"),
          lanes=16, aim_mhz=100.0,
          uart_note="a 3.3 V USB-UART adapter on the Feather header: its TX to pin 0, its RX to pin 1"),
    Board(name="icebreaker", title="1BitSquared iCEBreaker (iCE40 UP5K)", family="ice40",
          platform_module="amaranth_boards.icebreaker", platform_class="ICEBreakerPlatform",
          part="iCE40UP5K-SG48", pnr_args=("--up5k", "--package", "sg48"),
          lanes=8, aim_mhz=36.0, uart_note="the on-board FTDI (second interface of the USB port)"),
    Board(name="arty_a7_35t", title="Digilent Arty A7-35T (Artix-7 XC7A35T)", family="xc7",
          platform_module="amaranth_boards.arty_a7", platform_class="ArtyA7_35Platform",
          part="xc7a35ticsg324-1L", lanes=16, aim_mhz=100.0,
          uart_note="the on-board FTDI (USB-JTAG/UART port)"),
)}


def get_board(name: str) -> Board:
    if name not in BOARDS:
        raise ValueError(f"board must be one of {', '.join(BOARDS)}, not {name!r}")
    return BOARDS[name]
