"""2 x 2 max pooling of spike codes (exact: the float network max-pools spikes ``code * step``)."""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import ctr


class MaxPool(wiring.Component):
    """Max of the four codes of each channel in a pooling window.  Latency: 1 clock.

    The layer sweeps the four positions of a window one after another (``phase`` = ``dy*2+dx``
    = 0, 1, 2, 3), each over all its channel groups ``og``; one register per channel keeps the
    running maximum, and phase 3 emits ``max`` over the window for its group.

    Members
    -------
    in_valid, in_codes, in_og, in_phase : In   ``lanes`` codes of channel group ``og``
    out_valid, out_codes : Out                 the pooled codes, at phase 3 only
    """

    latency = 1

    def __init__(self, *, groups: int, lanes: int, code_bits: int):
        for k, v in (("groups", groups), ("lanes", lanes), ("code_bits", code_bits)):
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"MaxPool {k} must be a positive integer, not {v!r}")
        self.groups, self.lanes, self.code_bits = groups, lanes, code_bits
        super().__init__({
            "in_valid": In(1),
            "in_codes": In(unsigned(lanes * code_bits)),
            "in_og": In(ctr(groups)),
            "in_phase": In(2),
            "out_valid": Out(1),
            "out_codes": Out(unsigned(lanes * code_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        B = self.code_bits
        regs = Array(Signal(unsigned(self.lanes * B), name=f"run{g}") for g in range(self.groups))
        held = regs[self.in_og]
        maxed = Cat(*[Mux(self.in_codes.word_select(j, B) > held.word_select(j, B),
                          self.in_codes.word_select(j, B), held.word_select(j, B)) for j in range(self.lanes)])
        with m.If(self.in_valid):
            m.d.sync += regs[self.in_og].eq(Mux(self.in_phase == 0, self.in_codes, maxed))
        m.d.sync += [self.out_valid.eq(self.in_valid & (self.in_phase == 3)), self.out_codes.eq(maxed)]
        return m
