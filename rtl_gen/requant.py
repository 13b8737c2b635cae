"""Requantizer: folded BatchNorm and weight scales, ``current = (acc * mult[n] + bias[n]) >> shift``."""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out


def _signed_bits(values) -> int:
    return max(max(int(v).bit_length() for v in values) + 1, 2)


class Requant(wiring.Component):
    """Per-neuron affine map of an accumulated sum into membrane units.  Latency: 3 clocks.

    ``mult`` and ``bias`` sit in a ROM addressed by the neuron index; the floor shift is a
    constant, so the result is exactly :func:`golden.executor.requant`.

    Members
    -------
    in_valid, in_index, in_acc : In
    out_valid, out_index, out_value : Out
    """

    def __init__(self, *, mult, bias, shift: int, acc_bits: int, product_bits: int, out_bits: int):
        if len(mult) != len(bias) or not mult:
            raise ValueError(f"Requant needs equally long, non-empty mult and bias, not {len(mult)} and {len(bias)}")
        if not (isinstance(shift, int) and shift >= 0):
            raise ValueError(f"Requant shift must be a non-negative integer, not {shift!r}")
        self.mult, self.bias, self.shift = tuple(mult), tuple(bias), shift
        self.mult_bits, self.bias_bits = _signed_bits(mult), _signed_bits(bias)
        self.product_bits = product_bits
        n = len(mult)
        super().__init__({
            "in_valid": In(1),
            "in_index": In(range(n)),
            "in_acc": In(signed(acc_bits)),
            "out_valid": Out(1),
            "out_index": Out(range(n)),
            "out_value": Out(signed(out_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        n = len(self.mult)
        mb, bb = self.mult_bits, self.bias_bits
        words = [((b & ((1 << bb) - 1)) << mb) | (k & ((1 << mb) - 1)) for k, b in zip(self.mult, self.bias)]
        m.submodules.params = rom = memory.Memory(shape=mb + bb, depth=n, init=words)
        rd = rom.read_port()
        m.d.comb += rd.addr.eq(self.in_index)
        v1, i1 = Signal(), Signal(range(n))
        acc1 = Signal.like(self.in_acc)
        m.d.sync += [v1.eq(self.in_valid), i1.eq(self.in_index), acc1.eq(self.in_acc)]
        # The ROM word is registered before the multiply (memory clock-to-out is slow).
        v2, i2 = Signal(), Signal(range(n))
        acc2 = Signal.like(self.in_acc)
        mult, bias = Signal(signed(mb)), Signal(signed(bb))
        m.d.sync += [v2.eq(v1), i2.eq(i1), acc2.eq(acc1),
                     mult.eq(rd.data[:mb].as_signed()), bias.eq(rd.data[mb:].as_signed())]
        product = Signal(signed(self.product_bits))
        m.d.sync += [product.eq(acc2 * mult + bias), self.out_valid.eq(v2), self.out_index.eq(i2)]
        m.d.comb += self.out_value.eq(product >> self.shift)
        return m
