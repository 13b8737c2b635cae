"""Requantizer: folded BatchNorm and weight scales, ``value = (acc * mult + bias) >> shift``."""

from __future__ import annotations

import numpy as np
from amaranth import Cat, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import RequantConfig, add_cost, dsp_blocks, memory_cost
from .hw import DSP_BITS, ctr, dsp_split, make_memory


class Requant(wiring.Component):
    """``lanes`` channels per clock, exactly :func:`golden.executor.requant`.  Latency: 5 clocks
    (parameter ROM, registered parameters, registered partial products, their registered sum,
    registered sum with the bias).

    Lane ``j`` handles channel ``og * lanes + j``; its ``mult`` / ``bias`` sit in a ROM addressed
    by ``og`` (or ``t * channels / lanes + og`` when they change with the time step, Mem-BN).
    The floor shift is a constant.  A pure datapath: the caller carries its own valid / tags.

    Members
    -------
    in_acc : In(unsigned(lanes * acc_bits))      lane ``j`` at ``j * acc_bits`` (signed)
    in_t : In(ctr(T)), in_og : In(ctr(channels // lanes))
    out_value : Out(unsigned(lanes * out_bits))   5 clocks later
    """

    latency = 5

    #: the widest signed operand one ECP5 MULT18X18D takes
    DSP_BITS = DSP_BITS

    @classmethod
    def pieces(cls, acc_bits: int, mult_bits: int) -> tuple[str, list[tuple[int, int]]]:
        """``(operand, ranges)``: which operand (``"acc"`` or ``"mult"``) is multiplied in pieces
        (:func:`rtl_gen.hw.dsp_split`), each by the whole other operand in one MULT18X18D: the one wider than
        ``DSP_BITS`` while the other fits (a trained network's 18-bit ``mult`` and a wide
        accumulator; a synthetic one's wide ``mult`` and a short accumulator).  Both fitting, or
        both too wide, is one piece (Yosys's ``mul2dsp`` then splits a too-wide one itself)."""
        if acc_bits > cls.DSP_BITS and mult_bits <= cls.DSP_BITS:
            return "acc", dsp_split(acc_bits)
        if mult_bits > cls.DSP_BITS and acc_bits <= cls.DSP_BITS:
            return "mult", dsp_split(mult_bits)
        return "acc", [(0, acc_bits)]

    @classmethod
    def resources(cls, config: RequantConfig, *, acc_regs: int = 2, param_regs: int = 1, rom: bool = True) -> dict:
        """ECP5 cost of ``config.lanes`` lanes: a MULT18X18D per accumulator piece, the adders,
        ``acc_regs`` accumulator registers and ``param_regs`` copies of mult / bias in flip-flops
        (more where the caller's tags ride along), the product, and the parameter ROM."""
        c = config
        NL = c.lanes
        # an unsigned low piece is multiplied as a signed one a bit wider
        which, ranges = cls.pieces(c.acc_bits, c.mult_bits)
        whole, other = (c.acc_bits, c.mult_bits) if which == "acc" else (c.mult_bits, c.acc_bits)
        dsps = sum(dsp_blocks(hi - lo + (hi < whole), other) for lo, hi in ranges)
        cost = {"luts": NL * (c.product_bits + 10), "dsps": NL * dsps,
                "ffs": NL * (acc_regs * c.acc_bits + param_regs * (c.mult_bits + c.bias_bits) + c.product_bits)}
        if not rom:
            return add_cost(cost)
        r = memory_cost((c.T if c.per_step else 1) * c.channels // NL, c.mult_bits + c.bias_bits, rom=True,
                        logic_depth=c.rom_logic_depth)
        return add_cost(cost, {"luts": NL * r["luts"], "brams": NL * r["brams"]})

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
            rom = make_memory(shape=unsigned(mb + bb), depth=len(self.rom_words(j)), init=self.rom_words(j), rom=True,
                              logic_depth=c.rom_logic_depth)
            m.submodules[f"params{j}"] = rom
            rd = rom.read_port()
            m.d.comb += rd.addr.eq(addr)
            rl = dict(reset_less=True)   # data only: the callers carry valid bits
            acc1, acc2 = Signal(signed(A), name=f"acc1_{j}", **rl), Signal(signed(A), name=f"acc2_{j}", **rl)
            mult, bias = Signal(signed(mb), name=f"mult{j}", **rl), Signal(signed(bb), name=f"bias{j}", **rl)
            prod, bias3, bias4 = (Signal(signed(A + mb), name=f"prod4_{j}", **rl),
                                  Signal(signed(bb), name=f"bias3_{j}", **rl), Signal(signed(bb), name=f"bias4_{j}", **rl))
            product = Signal(signed(c.product_bits), name=f"product{j}", **rl)
            m.d.sync += [acc1.eq(self.in_acc.word_select(j, A).as_signed()), acc2.eq(acc1),
                         # the ROM word is registered before the multiply (memory clock-to-out is slow)
                         mult.eq(rd.data[:mb].as_signed()), bias.eq(rd.data[mb:].as_signed()),
                         bias3.eq(bias), bias4.eq(bias3), product.eq(prod + bias4)]
            # The multiply in DSP-sized pieces, each registered straight out of its MULT18X18D:
            # a wider product would have Yosys add the pieces behind the DSP in the same clock
            # (DSP, route and carry chain: 10 ns on ECP5).  Then their sum, then the bias.
            pieces = []
            which, ranges = self.pieces(A, mb)
            split, whole = (acc2, mult) if which == "acc" else (mult, acc2)
            for k, (lo, hi) in enumerate(ranges):
                top = hi == len(split)
                op = split[lo:].as_signed() if top else split[lo:hi].as_unsigned()
                pp = Signal(signed(hi - lo + len(whole) + 1), name=f"pp{k}_{j}", **rl)
                m.d.sync += pp.eq(op * whole)
                pieces.append(pp << lo if lo else pp)
            total = pieces[0]
            for piece in pieces[1:]:
                total = total + piece
            m.d.sync += prod.eq(total)
            value = Signal(signed(c.out_bits), name=f"value{j}")
            m.d.comb += value.eq(product >> c.shift)
            outs.append(value)
        m.d.comb += self.out_value.eq(Cat(*outs))
        return m

