"""2 x 2 pooling of spike codes: the maximum (exact: the float network max-pools spikes
``code * step``) or the sum (average pooling, its ``1 / 4`` left to the next requantizer)."""

from __future__ import annotations

from amaranth import C, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .hw import COPY_LOADS, ctr, register_copies


class MaxPool(wiring.Component):
    """Max of the four codes of each channel in a pooling window.  Latency: 2 clocks.

    The layer sweeps the four positions of a window one after another (``phase`` = ``dy*2+dx``
    = 0, 1, 2, 3), each over all its channel groups ``og`` in order; one register per channel
    keeps the running value, and phase 3 emits it over the window for its group.  The running
    value of a group is read in one clock and combined and written back in the next.

    Because every phase visits the groups in the same order, the running values form a rotating
    chain (:meth:`chain`), not a register file: the group read next is always at its front, and
    a combined value enters at the back as the chain moves up by one.  No ``groups : 1``
    multiplexer sits on the read (a global-sum pool has one group per channel: 64 on the
    ResNets, the slowest path of the SECA ResNet when it was a register file), and the chain's
    alignment needs no pointer: phase 0 writes every group afresh, in order.  One group alone
    has its just-computed value forwarded (its next phase comes in the next clock).

    Members
    -------
    in_valid, in_codes, in_phase : In          ``lanes`` codes of the next channel group (in order)
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
            "in_phase": In(ctr(self.phases)),
            "out_valid": Out(1),
            "out_codes": Out(unsigned(lanes * self.out_bits)),
        })

    def combine(self, code, held):
        """One lane: the running value with the next code of its window."""
        return Mux(code > held, code, held)

    @classmethod
    def enable_copies(cls, groups: int, width: int) -> int:
        """Copies of the stage-B valid that enable the chain: one per bit slice of
        :data:`rtl_gen.hw.COPY_LOADS` flip-flops over all groups (none for a single group)."""
        if groups == 1:
            return 0
        per = max(1, COPY_LOADS // groups)
        return -(-width // per)

    @classmethod
    def resources(cls, *, groups: int, lanes: int, out_bits: int) -> dict:
        """ECP5 cost: the chain of running values (``groups`` words of ``lanes * out_bits``), the
        stage-A registers (codes and the front), the front's two-way choice, the combine and its
        phase-0 choice per bit, the valid's copies."""
        W = lanes * out_bits
        return {"luts": 3 * W, "ffs": (groups + 2) * W + cls.enable_copies(groups, W) + 8,
                "brams": 0, "dsps": 0}

    def elaborate(self, platform):
        m = Module()
        B, R = self.code_bits, self.out_bits
        W = self.lanes * R

        # Stage A: the codes and the group's running value.
        vA, phA = Signal(), Signal.like(self.in_phase)
        codesA, heldA = Signal(unsigned(W), reset_less=True), Signal(unsigned(W), reset_less=True)
        widened = [self.in_codes.word_select(j, B) for j in range(self.lanes)]
        if R > B:                                              # each lane zero-extended to R bits
            widened = [Cat(x, C(0, R - B)) for x in widened]
        m.d.sync += [vA.eq(self.in_valid), phA.eq(self.in_phase), codesA.eq(Cat(*widened))]
        # Stage B: combine, write back, emit at the last phase.
        combined = Signal(unsigned(W))
        m.d.comb += combined.eq(Cat(*[self.combine(codesA.word_select(j, R), heldA.word_select(j, R))[:R]
                                      for j in range(self.lanes)]))
        newval = Signal(unsigned(W))
        m.d.comb += newval.eq(Mux(phA == 0, codesA, combined))
        if self.groups == 1:
            run = Signal(unsigned(W), reset_less=True)
            m.d.sync += heldA.eq(Mux(vA, newval, run))           # forward the just-computed value
            with m.If(vA):
                m.d.sync += run.eq(newval)
        else:
            self.chain(m, heldA, newval)
        m.d.sync += [self.out_valid.eq(vA & (phA == self.phases - 1)), self.out_codes.eq(newval)]
        return m

    def chain(self, m, heldA, newval):
        """The running values as a chain of ``groups`` words, its front (``run0``) the group read next.
        Each stage-B valid moves the chain up by one, ``newval`` into the back; a read in the
        same clock takes the word behind the front (the group after the one being written).
        The valid reaches the chain's clock enables and the front's choice through
        :meth:`enable_copies` registers (:func:`rtl_gen.hw.register_copies`, a copy per bit slice
        of at most :data:`rtl_gen.hw.COPY_LOADS` flip-flops), loaded from ``in_valid`` alongside
        stage A."""
        G, W = self.groups, len(newval)
        words = [Signal(unsigned(W), name=f"run{g}", reset_less=True) for g in range(G)]
        per = max(1, COPY_LOADS // G)
        copies = register_copies(m, self.in_valid, self.enable_copies(G, W), "v_en")
        for i, en in enumerate(copies):
            lo, hi = i * per, min(W, (i + 1) * per)
            m.d.sync += heldA[lo:hi].eq(Mux(en, words[1][lo:hi], words[0][lo:hi]))
            with m.If(en):
                m.d.sync += [words[g][lo:hi].eq(words[g + 1][lo:hi]) for g in range(G - 1)]
                m.d.sync += words[G - 1][lo:hi].eq(newval[lo:hi])


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
