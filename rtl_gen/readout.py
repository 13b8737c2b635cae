"""Readout engine: per-step class scores, their running sums over time, and the argmax."""

from __future__ import annotations

from amaranth import Array, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import ReadoutConfig
from .requant import Requant
from .synapse import Synapse


class ReadoutEngine(wiring.Component):
    """``score_t[c] = acc_t[c] * mult[c] + bias[c]``; ``sum[c] += score_t[c]`` (reset at t = 0).

    After the last step, an ``argmax_start`` pulse scans the sums (one class per clock, the
    lowest index wins a tie) and leaves the answer on ``label`` when ``busy`` falls.

    Members
    -------
    wr_en, wr_index, wr_code : In      the spike codes of the last HD-LIF layer
    t : In, start : In(1), busy : Out(1)
    score_index : In, score : Out      read port onto the scores of the current step
    argmax_start : In(1), label : Out
    """

    def __init__(self, config: ReadoutConfig):
        if not isinstance(config, ReadoutConfig):
            raise TypeError(f"ReadoutEngine needs a ReadoutConfig, not {config!r}")
        self.config = c = config
        C = c.classes
        super().__init__({
            "wr_en": In(1),
            "wr_index": In(range(c.synapse.in_features)),
            "wr_code": In(unsigned(c.synapse.in_bits)),
            "t": In(range(c.T)),
            "start": In(1),
            "busy": Out(1),
            "score_index": In(range(C)),
            "score": Out(signed(c.score_bits)),
            "argmax_start": In(1),
            "label": Out(range(C)),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        C = c.classes
        m.submodules.synapse = syn = Synapse(c.synapse)
        m.submodules.requant = rq = Requant(mult=c.mult, bias=c.bias, shift=0, acc_bits=c.synapse.acc_bits,
                                            product_bits=c.score_bits, out_bits=c.score_bits)
        m.d.comb += [
            syn.wr_en.eq(self.wr_en), syn.wr_index.eq(self.wr_index), syn.wr_code.eq(self.wr_code),
            syn.start.eq(self.start),
            rq.in_valid.eq(syn.out_valid), rq.in_index.eq(syn.out_index), rq.in_acc.eq(syn.out_acc),
        ]
        scores = Array(Signal(signed(c.score_bits), name=f"score{i}") for i in range(C))
        sums = Array(Signal(signed(c.sum_bits), name=f"sum{i}") for i in range(C))
        with m.If(rq.out_valid):
            m.d.sync += scores[rq.out_index].eq(rq.out_value)
            with m.If(self.t == 0):
                m.d.sync += sums[rq.out_index].eq(rq.out_value)
            with m.Else():
                m.d.sync += sums[rq.out_index].eq(sums[rq.out_index] + rq.out_value)
        m.d.comb += self.score.eq(scores[self.score_index])

        # Sequential argmax over the sums: read one sum per clock into a register, compare
        # it on the next clock.
        scanning, idx = Signal(), Signal(range(C))
        cand_valid, cand_idx = Signal(), Signal(range(C))
        cand, best = Signal(signed(c.sum_bits)), Signal(signed(c.sum_bits))
        m.d.sync += [cand_valid.eq(scanning), cand_idx.eq(idx), cand.eq(sums[idx])]
        with m.If(cand_valid & ((cand_idx == 0) | (cand > best))):
            m.d.sync += [best.eq(cand), self.label.eq(cand_idx)]
        with m.If(scanning):
            m.d.sync += idx.eq(idx + 1)
            with m.If(idx == C - 1):
                m.d.sync += [scanning.eq(0), idx.eq(0)]
        with m.Elif(self.argmax_start):
            m.d.sync += [scanning.eq(1), idx.eq(0)]
        m.d.comb += self.busy.eq(syn.busy | rq.out_valid | scanning | cand_valid)
        return m
