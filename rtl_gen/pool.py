"""2 x 2 max pooling of spike codes (exact: the float network max-pools spikes ``code * step``)."""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .hw import ctr


class MaxPool(wiring.Component):
    """Max of the four codes of each channel in a pooling window.  Latency: 2 clocks.

    The layer sweeps the four positions of a window one after another (``phase`` = ``dy*2+dx``
    = 0, 1, 2, 3), each over all its channel groups ``og``; one register per channel keeps the
    running maximum, and phase 3 emits ``max`` over the window for its group.  The running
    maximum of a group is read in one clock and compared and written back in the next; the
    next phase of the same group comes ``groups`` clocks later, so only a single group needs
    the just-computed maximum forwarded.

    Members
    -------
    in_valid, in_codes, in_og, in_phase : In   ``lanes`` codes of channel group ``og``
    out_valid, out_codes : Out                 the pooled codes, at phase 3 only
    """

    latency = 2

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
        B, W = self.code_bits, self.lanes * self.code_bits
        regs = Array(Signal(unsigned(W), name=f"run{g}", reset_less=True) for g in range(self.groups))

        # Stage A: read the group's running maximum.
        vA, ogA, phA = Signal(), Signal.like(self.in_og), Signal(2)
        codesA, heldA = Signal(unsigned(W), reset_less=True), Signal(unsigned(W), reset_less=True)
        m.d.sync += [vA.eq(self.in_valid), ogA.eq(self.in_og), phA.eq(self.in_phase), codesA.eq(self.in_codes)]

        # Stage B: compare, write back, emit at phase 3.
        maxed = Signal(unsigned(W))
        m.d.comb += maxed.eq(Cat(*[Mux(codesA.word_select(j, B) > heldA.word_select(j, B),
                                       codesA.word_select(j, B), heldA.word_select(j, B))
                                   for j in range(self.lanes)]))
        newval = Mux(phA == 0, codesA, maxed)
        if self.groups == 1:
            m.d.sync += heldA.eq(Mux(vA, newval, regs[0]))          # forward the just-computed max
        else:
            m.d.sync += heldA.eq(regs[self.in_og])
        with m.If(vA):
            m.d.sync += regs[ogA].eq(newval)
        m.d.sync += [self.out_valid.eq(vA & (phA == 3)), self.out_codes.eq(maxed)]
        return m
