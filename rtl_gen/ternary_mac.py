"""Ternary MAC array: SIMD lanes of add / subtract / skip and a pipelined adder tree."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def mac_latency(lanes: int, levels_per_stage: int = 2) -> int:
    """Clocks from ``codes``/``weights`` to ``sum``: the lane stage plus the tree's stages."""
    depth = (lanes - 1).bit_length()
    return 1 + max(1, -(-depth // levels_per_stage))


class TernaryMAC(wiring.Component):
    """``sum = sum_lane w[lane] * code[lane]`` for ``w`` in {-1, 0, +1}; one result per clock.

    A weight lane is 2 bits: bit 0 = non-zero, bit 1 = negative.  A zero weight skips its lane.
    The lane terms are registered, then the balanced adder tree is registered every
    ``levels_per_stage`` levels; :func:`mac_latency` gives the total latency.

    Members
    -------
    codes : In(unsigned(lanes * in_bits))      lane ``i`` at bits ``[i*in_bits, (i+1)*in_bits)``
    weights : In(unsigned(2 * lanes))
    sum : Out(signed(sum_bits))                ``latency`` clocks after its inputs
    """

    def __init__(self, *, lanes: int, in_bits: int, levels_per_stage: int = 2):
        if not (isinstance(lanes, int) and lanes > 0):
            raise ValueError(f"TernaryMAC lanes must be a positive integer, not {lanes!r}")
        if not (isinstance(in_bits, int) and in_bits > 0):
            raise ValueError(f"TernaryMAC in_bits must be a positive integer, not {in_bits!r}")
        if not (isinstance(levels_per_stage, int) and levels_per_stage > 0):
            raise ValueError(f"TernaryMAC levels_per_stage must be a positive integer, not {levels_per_stage!r}")
        self.lanes, self.in_bits, self.levels_per_stage = lanes, in_bits, levels_per_stage
        self.sum_bits = in_bits + 1 + (lanes - 1).bit_length()
        self.latency = mac_latency(lanes, levels_per_stage)
        super().__init__({
            "codes": In(unsigned(lanes * in_bits)),
            "weights": In(unsigned(2 * lanes)),
            "sum": Out(signed(self.sum_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        level = []
        for lane in range(self.lanes):
            x = self.codes.word_select(lane, self.in_bits)
            nz, neg = self.weights[2 * lane], self.weights[2 * lane + 1]
            term = Signal(signed(self.in_bits + 1), name=f"term{lane}")
            m.d.sync += term.eq(Mux(nz, Mux(neg, -x, x), 0))
            level.append(term)
        depth, stage = 0, 0
        while len(level) > 1:
            level = [level[i] + level[i + 1] if i + 1 < len(level) else level[i]
                     for i in range(0, len(level), 2)]
            depth += 1
            if depth % self.levels_per_stage == 0 and len(level) > 1:
                stage += 1
                regs = [Signal(signed(self.sum_bits), name=f"s{stage}_{i}") for i in range(len(level))]
                m.d.sync += [r.eq(v) for r, v in zip(regs, level)]
                level = regs
        m.d.sync += self.sum.eq(level[0])
        return m
