"""Shapes of the gateware's counters and memories, with their mapping attributes.

The Amaranth side of :mod:`rtl_gen.config`'s pure-Python sizing: :func:`ctr` is the shape of
a counter (:func:`rtl_gen.config.bits_for` bits), :func:`make_memory` a memory carrying the
Yosys ``rom_style`` / ``ram_style`` of :func:`rtl_gen.config.memory_attrs`, the same policy
:func:`rtl_gen.estimate.resources` costs.
"""

from __future__ import annotations

from amaranth import Shape, Signal, unsigned
from amaranth.lib import memory

from .config import bits_for, memory_attrs

__all__ = ["ctr", "delay_line", "make_memory"]


def ctr(n: int):
    """The shape of a counter over ``0 .. n - 1``: like ``range(n)``, but never zero bits wide."""
    return unsigned(bits_for(n))


def make_memory(*, shape, depth: int, init=(), rom: bool = False):
    """An Amaranth memory with the mapping attribute of :func:`rtl_gen.config.memory_attrs`."""
    width = Shape.cast(shape).width
    return memory.Memory(shape=shape, depth=depth, init=list(init), attrs=memory_attrs(depth, width, rom=rom))


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
