"""Ternary MAC array: SIMD lanes of add / subtract / skip and a registered adder tree."""

from __future__ import annotations

from amaranth import Module, Mux, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def adder_tree(values):
    """Balanced tree of additions (depth ``ceil(log2(len(values)))``)."""
    values = list(values)
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


class TernaryMAC(wiring.Component):
    """``sum = sum_lane w[lane] * code[lane]`` for ``w`` in {-1, 0, +1}; one result per clock.

    A weight lane is 2 bits: bit 0 = non-zero, bit 1 = negative.  A zero weight skips its lane.
    Latency: 1 clock (the tree's result is registered).

    Members
    -------
    codes : In(unsigned(lanes * in_bits))      lane ``i`` at bits ``[i*in_bits, (i+1)*in_bits)``
    weights : In(unsigned(2 * lanes))
    sum : Out(signed(sum_bits))                registered
    """

    def __init__(self, *, lanes: int, in_bits: int):
        if not (isinstance(lanes, int) and lanes > 0):
            raise ValueError(f"TernaryMAC lanes must be a positive integer, not {lanes!r}")
        if not (isinstance(in_bits, int) and in_bits > 0):
            raise ValueError(f"TernaryMAC in_bits must be a positive integer, not {in_bits!r}")
        self.lanes, self.in_bits = lanes, in_bits
        self.sum_bits = in_bits + 1 + (lanes - 1).bit_length()
        super().__init__({
            "codes": In(unsigned(lanes * in_bits)),
            "weights": In(unsigned(2 * lanes)),
            "sum": Out(signed(self.sum_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        terms = []
        for lane in range(self.lanes):
            x = self.codes.word_select(lane, self.in_bits)
            nz, neg = self.weights[2 * lane], self.weights[2 * lane + 1]
            terms.append(Mux(nz, Mux(neg, -x, x), 0))
        m.d.sync += self.sum.eq(adder_tree(terms))
        return m
