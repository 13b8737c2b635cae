"""2 x 2 pooling of spike codes: the maximum (exact: the float network max-pools spikes
``code * step``) or the sum (average pooling, its ``1 / 4`` left to the next requantizer)."""

from __future__ import annotations

from amaranth import Array, C, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .hw import ctr


class MaxPool(wiring.Component):
    """Max of the four codes of each channel in a pooling window.  Latency: 2 clocks.

    The layer sweeps the four positions of a window one after another (``phase`` = ``dy*2+dx``
    = 0, 1, 2, 3), each over all its channel groups ``og``; one register per channel keeps the
    running value, and phase 3 emits it over the window for its group.  The running value of a
    group is read in one clock and combined and written back in the next; the next phase of the
    same group comes ``groups`` clocks later, so only a single group needs the just-computed
    value forwarded.

    Members
    -------
    in_valid, in_codes, in_og, in_phase : In   ``lanes`` codes of channel group ``og``
    out_valid, out_codes : Out                 the pooled values (``out_bits`` each), at phase 3 only
    """

    latency = 2
    #: bits the pooled value adds to a code
    extra_bits = 0

    #: the positions pooled into one value (the 2 x 2 window)
    phases = 4

    def __init__(self, *, groups: int, lanes: int, code_bits: int, out_bits: int | None = None):
        for k, v in (("groups", groups), ("lanes", lanes), ("code_bits", code_bits)):
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"{type(self).__name__} {k} must be a positive integer, not {v!r}")
        self.groups, self.lanes, self.code_bits = groups, lanes, code_bits
        self.out_bits = code_bits + self.extra_bits if out_bits is None else out_bits
        super().__init__({
            "in_valid": In(1),
            "in_codes": In(unsigned(lanes * code_bits)),
            "in_og": In(ctr(groups)),
            "in_phase": In(ctr(self.phases)),
            "out_valid": Out(1),
            "out_codes": Out(unsigned(lanes * self.out_bits)),
        })

    def combine(self, code, held):
        """One lane: the running value with the next code of its window."""
        return Mux(code > held, code, held)

    def elaborate(self, platform):
        m = Module()
        B, R = self.code_bits, self.out_bits
        W = self.lanes * R
        regs = Array(Signal(unsigned(W), name=f"run{g}", reset_less=True) for g in range(self.groups))

        # Stage A: read the group's running value.
        vA, ogA, phA = Signal(), Signal.like(self.in_og), Signal.like(self.in_phase)
        codesA, heldA = Signal(unsigned(W), reset_less=True), Signal(unsigned(W), reset_less=True)
        widened = [self.in_codes.word_select(j, B) for j in range(self.lanes)]
        if R > B:                                              # each lane zero-extended to R bits
            widened = [Cat(x, C(0, R - B)) for x in widened]
        m.d.sync += [vA.eq(self.in_valid), ogA.eq(self.in_og), phA.eq(self.in_phase), codesA.eq(Cat(*widened))]
        # Stage B: combine, write back, emit at phase 3.
        combined = Signal(unsigned(W))
        m.d.comb += combined.eq(Cat(*[self.combine(codesA.word_select(j, R), heldA.word_select(j, R))[:R]
                                      for j in range(self.lanes)]))
        newval = Mux(phA == 0, codesA, combined)
        if self.groups == 1:
            m.d.sync += heldA.eq(Mux(vA, newval, regs[0]))          # forward the just-computed value
        else:
            m.d.sync += heldA.eq(regs[self.in_og])
        with m.If(vA):
            m.d.sync += regs[ogA].eq(newval)
        m.d.sync += [self.out_valid.eq(vA & (phA == self.phases - 1)), self.out_codes.eq(newval)]
        return m


class SumPool(MaxPool):
    """Sum of the four codes of each channel in a pooling window (two bits wider than a code);
    the same schedule and latency as :class:`MaxPool`."""

    extra_bits = 2

    def combine(self, code, held):
        return code + held


def global_sum(positions: int):
    """The global sum pool of a frame of ``positions`` positions (a graph's ``gsum`` before the
    readout): :class:`SumPool`'s schedule with one phase per position, the layer sweeping its
    positions in raster order; ``out_bits`` (what the largest sum needs) is given."""
    if not (isinstance(positions, int) and positions > 0):
        raise ValueError(f"global_sum positions must be a positive integer, not {positions!r}")
    return type(f"GlobalSum{positions}", (SumPool,), {"phases": positions, "__doc__": global_sum.__doc__})
