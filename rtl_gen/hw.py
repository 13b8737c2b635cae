"""Shapes of the gateware's counters and memories, with their mapping attributes.

The Amaranth side of :mod:`rtl_gen.config`'s pure-Python sizing: :func:`ctr` is the shape of
a counter (:func:`rtl_gen.config.bits_for` bits), :func:`make_memory` a memory carrying the
Yosys ``rom_style`` / ``ram_style`` of :func:`rtl_gen.config.memory_attrs`, the same policy
:func:`rtl_gen.estimate.resources` costs.
"""

from __future__ import annotations

from amaranth import Const, Shape, Signal, signed, unsigned
from amaranth.hdl import Assert
from amaranth.lib import memory

from .config import bits_for, memory_attrs

__all__ = ["const_mul", "csd", "ctr", "delay_line", "make_memory", "no_collision"]


def ctr(n: int):
    """The shape of a counter over ``0 .. n - 1``: like ``range(n)``, but never zero bits wide."""
    return unsigned(bits_for(n))


def make_memory(*, shape, depth: int, init=(), rom: bool = False, no_rw_check: bool = False):
    """An Amaranth memory with the mapping attribute of :func:`rtl_gen.config.memory_attrs`.

    ``no_rw_check``: Yosys's attribute that a read never needs the word written in the same
    clock.  Without it Yosys emulates the read's old-data semantics around a block RAM (whose
    two ports give an undefined word on such a collision): the write data and a compare
    registered, and a multiplexer per bit after the block RAM's slow clock-to-out.  A memory
    that takes it must assert so in simulation (:func:`no_collision`)."""
    width = Shape.cast(shape).width
    attrs = memory_attrs(depth, width, rom=rom)
    if no_rw_check:
        attrs["no_rw_check"] = 1
    return memory.Memory(shape=shape, depth=depth, init=list(init), attrs=attrs)


def no_collision(m, *, wr_addr, wr_en, rd_addr, live, what: str) -> None:
    """Assert, at every clock, that a read whose word is used (``live``) does not hit the word
    written in the same clock: what a ``no_rw_check`` memory (:func:`make_memory`) relies on.
    Verilator checks it (``--assert``, :data:`sim.accelerator_tb.BUILD_ARGS`); the FPGA flows
    remove it before synthesis (:data:`fpga.nextpnr.DROP_CHECKS`)."""
    m.d.sync += Assert(~(wr_en.any() & (wr_addr == rd_addr) & live),
                       f"{what}: a read hit the word written in the same clock")


def delay_line(m, sig, n: int, name: str, valids: list | None = None):
    """``sig`` through ``n`` registers of module ``m``; each register is appended to ``valids``
    when given (a pipeline's valid bits, which its ``busy`` ORs: none can be forgotten)."""
    for i in range(n):
        nxt = Signal.like(sig, name=f"{name}_d{i}")
        m.d.sync += nxt.eq(sig)
        sig = nxt
        if valids is not None:
            valids.append(sig)
    return sig


def csd(k: int) -> list[tuple[int, int]]:
    """The canonical signed digits of ``k``: ``[(shift, +1 | -1), ...]`` with ``k = sum(d << shift)``
    and no two adjacent digits non-zero (the fewest adders of a constant product)."""
    out, i = [], 0
    while k:
        if k & 1:
            d = 2 - (k & 3)          # +1 when k = ...01, -1 when k = ...11
            out.append((i, d))
            k -= d
        k >>= 1
        i += 1
    return out


def const_mul(x, k: int):
    """``x * k`` for a constant ``k`` as shifts and adders (:func:`csd`): logic whose cost the
    estimate knows, where Yosys would map a ``$mul`` onto one or more DSP blocks."""
    x = x.as_signed()
    terms = [(x << i) if d > 0 else -(x << i) for i, d in csd(int(k))]
    if not terms:
        return Const(0, signed(1))
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total
