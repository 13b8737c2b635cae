"""Requantizer: folded BatchNorm and weight scales, ``value = (acc * mult + bias) >> shift``."""

from __future__ import annotations

import numpy as np
from amaranth import Cat, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import RequantConfig, ctr, make_memory


class Requant(wiring.Component):
    """``lanes`` channels per clock, exactly :func:`golden.executor.requant`.  Latency: 4 clocks
    (parameter ROM, registered parameters, registered product, registered sum).

    Lane ``j`` handles channel ``og * lanes + j``; its ``mult`` / ``bias`` sit in a ROM addressed
    by ``og`` (or ``t * channels / lanes + og`` when they change with the time step, Mem-BN).
    The floor shift is a constant.  A pure datapath: the caller carries its own valid / tags.

    Members
    -------
    in_acc : In(unsigned(lanes * acc_bits))      lane ``j`` at ``j * acc_bits`` (signed)
    in_t : In(ctr(T)), in_og : In(ctr(channels // lanes))
    out_value : Out(unsigned(lanes * out_bits))   4 clocks later
    """

    latency = 4

    def __init__(self, config: RequantConfig):
        if not isinstance(config, RequantConfig):
            raise TypeError(f"Requant needs a RequantConfig, not {config!r}")
        self.config = c = config
        super().__init__({
            "in_acc": In(unsigned(c.lanes * c.acc_bits)),
            "in_t": In(ctr(c.T)),
            "in_og": In(ctr(c.channels // c.lanes)),
            "out_value": Out(unsigned(c.lanes * c.out_bits)),
        })

    def rom_words(self, lane: int) -> list[int]:
        c = self.config
        mb, bb = c.mult_bits, c.bias_bits
        mult = np.asarray(c.mult)
        bias = np.asarray(c.bias)
        K = c.channels // c.lanes
        steps = range(c.T) if c.per_step else range(1)
        words = []
        for t in steps:
            mt = mult[t] if mult.ndim == 2 else mult
            bt = bias[t] if bias.ndim == 2 else bias
            for og in range(K):
                o = og * c.lanes + lane
                words.append(((int(bt[o]) & ((1 << bb) - 1)) << mb) | (int(mt[o]) & ((1 << mb) - 1)))
        return words

    def elaborate(self, platform):
        m = Module()
        c = self.config
        mb, bb, A = c.mult_bits, c.bias_bits, c.acc_bits
        K = c.channels // c.lanes
        if c.per_step:
            addr = Signal(ctr(c.T * K))
            m.d.comb += addr.eq(self.in_t * K + self.in_og)
        else:
            addr = self.in_og
        outs = []
        for j in range(c.lanes):
            rom = make_memory(shape=unsigned(mb + bb), depth=len(self.rom_words(j)), init=self.rom_words(j), rom=True)
            m.submodules[f"params{j}"] = rom
            rd = rom.read_port()
            m.d.comb += rd.addr.eq(addr)
            acc1, acc2 = Signal(signed(A), name=f"acc1_{j}"), Signal(signed(A), name=f"acc2_{j}")
            mult, bias = Signal(signed(mb), name=f"mult{j}"), Signal(signed(bb), name=f"bias{j}")
            prod3, bias3 = Signal(signed(A + mb), name=f"prod3_{j}"), Signal(signed(bb), name=f"bias3_{j}")
            product = Signal(signed(c.product_bits), name=f"product{j}")
            m.d.sync += [acc1.eq(self.in_acc.word_select(j, A).as_signed()), acc2.eq(acc1),
                         # the ROM word is registered before the multiply (memory clock-to-out is slow),
                         # the product before the bias is added (DSP output to carry chain is slow)
                         mult.eq(rd.data[:mb].as_signed()), bias.eq(rd.data[mb:].as_signed()),
                         prod3.eq(acc2 * mult), bias3.eq(bias),
                         product.eq(prod3 + bias3)]
            value = Signal(signed(c.out_bits), name=f"value{j}")
            m.d.comb += value.eq(product >> c.shift)
            outs.append(value)
        m.d.comb += self.out_value.eq(Cat(*outs))
        return m

