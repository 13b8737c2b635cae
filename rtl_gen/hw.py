"""Shapes of the gateware's counters and memories, with their mapping attributes.

The Amaranth side of :mod:`rtl_gen.config`'s pure-Python sizing: :func:`ctr` is the shape of
a counter (:func:`rtl_gen.config.bits_for` bits), :func:`make_memory` a memory carrying the
Yosys ``rom_style`` / ``ram_style`` of :func:`rtl_gen.config.memory_attrs`, the same policy
:func:`rtl_gen.estimate.resources` costs.
"""

from __future__ import annotations

from amaranth import Array, Const, Shape, Signal, Value, signed, unsigned
from amaranth.hdl import Assert
from amaranth.lib import memory

from .config import bits_for, memory_attrs

__all__ = ["const_bits", "const_mul", "COPY_LOADS", "csd", "ctr", "delay_line", "DSP_LANDING", "dsp_split", "FANOUT_TREE_LATENCY", "fanout_tree",
           "fanout_tree_regs", "register_copies", "make_memory", "no_collision", "pick", "pipelined_mul",
           "pipelined_mul_latency"]

#: the widest signed operand one ECP5 MULT18X18D takes
DSP_BITS = 18


def ctr(n: int):
    """The shape of a counter over ``0 .. n - 1``: like ``range(n)``, but never zero bits wide."""
    return unsigned(bits_for(n))


def make_memory(*, shape, depth: int, init=(), rom: bool = False, no_rw_check: bool = False,
                logic_depth: int | None = None):
    """An Amaranth memory with the mapping attribute of :func:`rtl_gen.config.memory_attrs`
    (``logic_depth``: the owner's ``rom_logic_depth``).

    ``no_rw_check``: Yosys's attribute that a read never needs the word written in the same
    clock.  Without it Yosys emulates the read's old-data semantics around a block RAM (whose
    two ports give an undefined word on such a collision): the write data and a compare
    registered, and a multiplexer per bit after the block RAM's slow clock-to-out.  A memory
    that takes it must assert so in simulation (:func:`no_collision`)."""
    width = Shape.cast(shape).width
    attrs = memory_attrs(depth, width, rom=rom, logic_depth=logic_depth)
    if no_rw_check:
        attrs["no_rw_check"] = 1
    return memory.Memory(shape=shape, depth=depth, init=list(init), attrs=attrs)


def no_collision(m, *, wr_addr, wr_en, rd_addr, live, what: str) -> None:
    """Assert, at every clock, that a read whose word is used (``live``) does not hit the word
    written in the same clock: what a ``no_rw_check`` memory (:func:`make_memory`) relies on.
    Verilator checks it (``--assert``, :data:`sim.accelerator_tb.BUILD_ARGS`); the FPGA flows
    remove it before synthesis (:data:`fpga.nextpnr.DROP_CHECKS`)."""
    m.d.sync += Assert(~(wr_en.any() & (wr_addr == rd_addr) & live),
                       f"{what}: a read hit the word written in the same clock")


#: the most flip-flops one copy of a control (:func:`register_copies`) is meant to drive
COPY_LOADS = 64
#: clocks from a value to its copies at the leaves of :func:`fanout_tree`
FANOUT_TREE_LATENCY = 2
#: leaves of :func:`fanout_tree` fed by one middle copy
FANOUT_GROUP = 8


def fanout_tree_regs(n: int) -> int:
    """Flip-flops of a :func:`fanout_tree` with ``n`` leaves."""
    return n + -(-n // FANOUT_GROUP)


def register_copies(m, value, n: int, name: str) -> list:
    """``n`` registers of module ``m`` loading ``value`` (a clock later), each meant for one group
    of the flip-flops a control drives, so that no net of the control reaches more than a group.
    Every copy carries ``keep``, which :data:`fpga.nextpnr.KEEP_COPIES` turns into a keep on its
    flip-flop so that Yosys does not merge the copies back into one.  ``value`` itself drives
    ``n`` loads: register its next state here (``value`` a clock early) to keep a control's
    timing, or see :func:`fanout_tree` for many copies."""
    copies = [Signal(value.shape(), name=f"{name}_{i}", attrs={"keep": 1}) for i in range(n)]
    m.d.sync += [x.eq(value) for x in copies]
    return copies


def fanout_tree(m, value, n: int, name: str) -> list:
    """``n`` copies of ``value`` :data:`FANOUT_TREE_LATENCY` clocks later, each a register of
    module ``m`` meant for one group of the flip-flops a control drives: ``value`` is registered
    in one copy per :data:`FANOUT_GROUP` leaves, and each of those in its leaves, so no net of
    the control reaches across the die to more than that many loads within a clock.  Every copy carries
    ``keep``, which :data:`fpga.nextpnr.KEEP_COPIES` turns into a keep on its flip-flop so that
    Yosys does not merge the copies back into one."""
    mids = register_copies(m, value, -(-n // FANOUT_GROUP), f"{name}_t")
    return [leaf for g, mid in enumerate(mids)
            for leaf in register_copies(m, mid, min(FANOUT_GROUP, n - g * FANOUT_GROUP), f"{name}_{g}")]


def delay_line(m, sig, n: int, name: str, valids: list | None = None):
    """``sig`` through ``n`` registers of module ``m``; each register is appended to ``valids``
    when given (a pipeline's valid bits, which its ``busy`` ORs: none can be forgotten)."""
    for i in range(n):
        nxt = Signal.like(sig, name=f"{name}_d{i}")
        m.d.sync += nxt.eq(sig)
        sig = nxt
        if valids is not None:
            valids.append(sig)
    return sig


def onehot_select(sel, values: list):
    """``values[i]`` where bit ``i`` of ``sel`` is set (``sel`` one-hot, or zero: then 0), as a
    balanced OR-tree of masked values: a few LUT levels, not the priority chain of an index
    and a multiplexer."""
    assert len(values) == len(sel), (len(values), len(sel))
    width = max(len(Value.cast(v)) for v in values)
    terms = [Value.cast(v) & sel[i].replicate(width) for i, v in enumerate(values)]
    while len(terms) > 1:
        terms = [terms[i] | terms[i + 1] if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return terms[0]


def pick(values: list, index):
    """``values[index]`` for an index that never exceeds ``len(values) - 1``, as a multiplexer over
    every value the index's bits can take (the last value repeated past the end): Amaranth's
    ``Array`` gives 0 there, and Yosys maps those constant leaves into LUTs of their own (1,173
    of them when conv_fmnist's conv3 serializer picked its 24 words on a 5-bit index)."""
    index = Value.cast(index)
    full = 1 << len(index)
    assert len(values) <= full, (len(values), len(index))
    return Array(list(values) + [values[-1]] * (full - len(values)))[index]


def csd(k: int) -> list[tuple[int, int]]:
    """The canonical signed digits of ``k``: ``[(shift, +1 | -1), ...]`` with ``k = sum(d << shift)``
    and no two adjacent digits non-zero (the fewest adders of a constant product)."""
    out, i = [], 0
    while k:
        if k & 1:
            d = 2 - (k & 3)          # +1 when k = ...01, -1 when k = ...11
            out.append((i, d))
            k -= d
        k >>= 1
        i += 1
    return out


def const_mul(x, k: int):
    """``x * k`` for a constant ``k`` as shifts and adders (:func:`csd`): logic whose cost the
    estimate knows, where Yosys would map a ``$mul`` onto one or more DSP blocks."""
    x = x.as_signed()
    terms = [(x << i) if d > 0 else -(x << i) for i, d in csd(int(k))]
    if not terms:
        return Const(0, signed(1))
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def dsp_split(bits: int) -> list[tuple[int, int]]:
    """Bit ranges ``[lo, hi)`` of a signed operand of ``bits`` bits in DSP-sized pieces: unsigned
    low pieces of ``DSP_BITS - 1`` bits and a signed top piece of at most ``DSP_BITS`` bits."""
    out, lo = [], 0
    while bits - lo > DSP_BITS:
        out.append((lo, lo + DSP_BITS - 1))
        lo += DSP_BITS - 1
    return out + [(lo, bits)]


def const_bits(k: int) -> int:
    """Bits of the signed constant ``k``."""
    return max(1, (int(k) if k >= 0 else ~int(k)).bit_length() + 1)


#: registers straight out of a multiplier block (:func:`pipelined_mul`): the first for the
#: block, the second for what reads it.  With one, nextpnr placed a leak product's block 3.8 ns
#: of routing from its register (beside the adder that reads it), on top of the block's 3.9 ns.
DSP_LANDING = 2


def pipelined_mul_latency(a_bits: int, b_bits: int) -> int:
    """Clocks of :func:`pipelined_mul`: the partial products through :data:`DSP_LANDING`
    registers, then a registered adder level per halving of their number."""
    n = len(dsp_split(a_bits)) * len(dsp_split(b_bits))
    return DSP_LANDING + (n - 1).bit_length()


def pipelined_mul(m, a, b, name: str):
    """``a * b`` (``a`` a signed value, ``b`` a signed value or an integer constant) with no
    multiplier wider than a MULT18X18D: both operands in :func:`dsp_split` pieces, each pair's
    product registered straight out of its block (:data:`DSP_LANDING` times), then a registered adder tree two operands a
    clock.  Yosys's own split of a wide ``$mul`` adds the pieces behind the blocks in the same
    clock (block, route and carry chains: over 13 ns on ECP5).  Returns the registered product,
    :func:`pipelined_mul_latency` clocks after ``a`` and ``b``."""
    a = a.as_signed()
    const = isinstance(b, int)
    a_bits, b_bits = len(a), const_bits(b) if const else len(b)
    terms = []
    for i, (alo, ahi) in enumerate(dsp_split(a_bits)):
        pa = a[alo:].as_signed() if ahi == a_bits else a[alo:ahi].as_unsigned()
        for j, (blo, bhi) in enumerate(dsp_split(b_bits)):
            if const:
                v = int(b) >> blo
                pb = Const(v if bhi == b_bits else v & ((1 << (bhi - blo)) - 1),
                           signed(bhi - blo) if bhi == b_bits else unsigned(bhi - blo))
            else:
                bb = b.as_signed()
                pb = bb[blo:].as_signed() if bhi == b_bits else bb[blo:bhi].as_unsigned()
            pp = Signal(signed(ahi - alo + bhi - blo + 1), name=f"{name}_pp{i}_{j}", reset_less=True)
            m.d.sync += pp.eq(pa * pb)
            pp = delay_line(m, pp, DSP_LANDING - 1, f"{name}_pp{i}_{j}")
            terms.append(pp << (alo + blo) if alo + blo else pp)
    width = a_bits + b_bits + 1
    level = 0
    while len(terms) > 1:
        nxt = []
        for k in range(0, len(terms), 2):
            r = Signal(signed(width), name=f"{name}_s{level}_{k // 2}", reset_less=True)
            m.d.sync += r.eq(terms[k] + terms[k + 1] if k + 1 < len(terms) else terms[k])
            nxt.append(r)
        terms, level = nxt, level + 1
    out = Signal(signed(width), name=f"{name}_product", reset_less=True)
    m.d.comb += out.eq(terms[0])
    return out
